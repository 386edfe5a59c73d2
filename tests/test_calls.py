"""Calls of compiled functions: values by position, and out= buffers.

Oracles are hand-derived: for f = (x+y) + x*(x+y) = (x+y)*(1+x), df/dx = 1 + 2x + y
and df/dy = 1 + x; for arrays the gradient is that of the sum of the outputs, so a
broadcast input's partial is summed over the axes it was broadcast along.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qsts
from qsts import optimize
from qsts.backends import ARRAY_BACKENDS
from qsts.function import plan
from conftest import examples
from test_properties import expressions

HEADLINE = "(x+y)+x*(x+y)"
SETTINGS = settings(max_examples=examples(150), suppress_health_check=[HealthCheck.too_slow])


def same(a, b):
    """Bit for bit, NaN equal to NaN, and of the same type (float or array) and shape."""
    return type(a) is type(b) and np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)


def same_grads(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(same(a[k], b[k]) for k in a)


def by_hand(x, y):
    """Value and partials of HEADLINE at each point."""
    return (x + y) * (1 + x), 1 + 2 * x + y, 1 + x


# ---------------------------------------------------------------- positional calls

def test_positional_floats_are_the_keyword_results():
    f = qsts.compile(HEADLINE)
    assert f(1.0, 2.0) == f(x=1.0, y=2.0) == 6.0
    assert f.grad(1.0, 2.0) == {"x": 5.0, "y": 2.0}
    assert f.value_and_grad(1.0, 2.0) == (6.0, {"x": 5.0, "y": 2.0})
    assert np.array_equal(f.hessian(1.0, 2.0), [[2.0, 1.0], [1.0, 0.0]])
    for x, y in [(1, 2), (np.float64(1.0), 2.0), (True, 2.0)]:  # the checked path: ints, numpy scalars
        assert f(x, y) == 6.0 and f.grad(x, y) == {"x": 5.0, "y": 2.0}


def test_positional_and_keyword_mix():
    f = qsts.compile(HEADLINE)
    assert f(1.0, y=2.0) == 6.0
    assert f.grad(1.0, y=2.0) == {"x": 5.0, "y": 2.0}
    assert f.value_and_grad(3.0, y=-1.0) == (8.0, {"x": 6.0, "y": 4.0})
    x = np.array([0.0, 1.0, 2.0])
    value, g = f.value_and_grad(x, y=2.0)
    want, dx, dy = by_hand(x, 2.0)
    assert np.array_equal(value, want) and np.array_equal(g["x"], dx) and g["y"] == dy.sum() == 6.0


def test_positional_order_is_the_variables_order():
    f = qsts.compile("sum((a*t + b)^2)", wrt=["a", "b"])  # variables in order of first appearance
    assert f.variables == ("a", "t", "b")
    t = np.array([1.0, 2.0, 3.0, 6.0])
    # sum(t^2) = 50; d/da = sum(2*t*t) = 100; d/db = sum(2*t) = 24
    assert f.value_and_grad(1.0, t, 0.0) == (50.0, {"a": 100.0, "b": 24.0})
    assert f(1.0, t, b=0.0) == 50.0
    assert f.grad(1.0, t, 0.0) == f.grad(a=1.0, t=t, b=0.0)


def test_positional_arrays_broadcast_as_keywords_do():
    f = qsts.compile(HEADLINE)
    x, y = np.array([[0.5], [1.0], [2.0]]), np.array([-1.0, 0.0, 1.0, 3.0])  # points (3, 4)
    value, g = f.value_and_grad(x, y)
    k_value, k_g = f.value_and_grad(x=x, y=y)
    assert same(value, k_value) and same_grads(g, k_g)
    assert same(f(x, y), f(x=x, y=y)) and same_grads(f.grad(x, y), f.grad(x=x, y=y))
    want, dx, dy = by_hand(x, y)
    assert value.shape == (3, 4) and np.allclose(value, want, rtol=1e-15)
    assert g["x"].shape == (3, 1) and np.allclose(g["x"], dx.sum(axis=1, keepdims=True), rtol=1e-15)
    assert g["y"].shape == (4,) and np.allclose(g["y"], np.broadcast_to(dy, (3, 4)).sum(axis=0), rtol=1e-15)


def test_positional_values_reach_the_ieee_kernels():
    f = qsts.compile("log(x) + 1/y")
    assert f(0.0, 1.0) == -math.inf and f(1.0, 0.0) == math.inf
    assert same(f.value_and_grad(0.0, 0.0)[0], f.value_and_grad(x=0.0, y=0.0)[0])
    assert same_grads(f.grad(-1.0, 0.0), f.grad(x=-1.0, y=0.0))
    assert math.isnan(f(-1.0, 1.0))


@SETTINGS
@given(expressions, st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3), st.integers(0, 3))
def test_positional_is_keyword_bit_for_bit(expr, point, split):
    """Any expression, any point: the first `split` variables by position and the
    rest by keyword give the very bits of the all-keyword call, floats and arrays."""
    f = qsts.compile(expr[0])
    names = f.variables
    for values in ([point[i] for i in range(len(names))],
                   [np.linspace(-1.0, 1.0, 5) * (i + 1) + point[i] for i in range(len(names))]):
        keywords = dict(zip(names, values))
        args, rest = values[:split], dict(zip(names[split:], values[split:]))
        assert same(f(*values), f(**keywords)) and same(f(*args, **rest), f(**keywords))
        value, g = f.value_and_grad(*args, **rest)
        k_value, k_g = f.value_and_grad(**keywords)
        assert same(value, k_value) and same_grads(g, k_g)
        assert same_grads(f.grad(*values), k_g)


def test_wrt_keeps_positions_for_every_variable():
    f = qsts.compile("a*x + b", wrt=["b", "a"])
    assert f.variables == ("a", "x", "b") and f.wrt == ("a", "b")
    x = np.array([1.0, 2.0, 4.0])
    g = f.grad(2.0, x, 1.0)
    assert g == {"a": 7.0, "b": 3.0} and same_grads(g, f.grad(a=2.0, x=x, b=1.0))


def test_a_value_given_twice_or_too_many_is_an_argument_error():
    f = qsts.compile(HEADLINE)
    for call in (f, f.grad, f.value_and_grad, f.hessian):
        with pytest.raises(qsts.ArgumentError, match=r"'x' given both by position and by keyword"):
            call(1.0, x=2.0)
        with pytest.raises(qsts.ArgumentError, match=r"3 values by position, but the expression has 2 "
                                                      r"variables \(x, y\)"):
            call(1.0, 2.0, 3.0)
        with pytest.raises(qsts.MissingVariableError, match="'y'"):
            call(1.0)
        with pytest.raises(qsts.UnknownVariableError, match="'z'"):
            call(1.0, 2.0, z=3.0)
    assert issubclass(qsts.ArgumentError, qsts.QstsError) and issubclass(qsts.ArgumentError, TypeError)
    with pytest.raises(qsts.ArgumentError, match=r"1 value by position, but the expression has 0 variables \(none\)"):
        qsts.compile("2+3")(1.0)
    assert qsts.compile("2+3")() == 5.0


def test_reserved_keywords_stay_errors_beside_positions():
    with pytest.raises(qsts.ReservedNameError, match="'pi'"):
        qsts.compile("x*y")(1.0, pi=2.0)


def test_names_of_the_generated_entry_are_free_variable_names():
    """The entry's own parameters (s0, A, V, M, ...) never shadow a variable: its
    positional parameters are positional-only and the rest are *A and **V."""
    f = qsts.compile("s0 + 2*A + 3*V + 4*M + 5*SLOW + 6*self")
    values = dict(zip(f.variables, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    want = 1 + 4 + 9 + 16 + 25 + 36
    assert f(**values) == f(*values.values()) == want
    assert f.grad(**values) == f.grad(*values.values()) == dict(zip(f.variables, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    assert f.variables == ("s0", "A", "V", "M", "SLOW", "self")  # the partials are the coefficients 1..6


def test_vector_function_takes_positions():
    f = qsts.compile(["x*y", "x+z"])
    assert f(1.0, 2.0, 3.0).tolist() == f(1, 2, z=3).tolist() == [2.0, 4.0]
    assert f.jacobian(1.0, 2.0, 3.0).tolist() == [[2.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    x = np.array([1.0, 2.0])
    assert same(f.jacobian(x, 2.0, 3.0), f.jacobian(x=x, y=2.0, z=3.0))
    with pytest.raises(qsts.ArgumentError, match="'z' given both"):
        f(1.0, 2.0, 3.0, z=1.0)
    with pytest.raises(qsts.ArgumentError, match="4 values by position"):
        f.jacobian(1.0, 2.0, 3.0, 4.0)


# ---------------------------------------------------------------- out= buffers

def broadcast_inputs():
    """x (3, 1) against y (4,): points (3, 4), and both partials reduced."""
    return np.array([[0.5], [1.0], [2.0]]), np.array([-1.0, 0.0, 1.0, 3.0])


def test_value_into_out():
    f = qsts.compile(HEADLINE)
    x, y = broadcast_inputs()
    buf = np.full((3, 4), 7.0)
    assert f(x, y, out=buf) is buf
    assert same(buf, f(x, y)) and np.allclose(buf, by_hand(x, y)[0], rtol=1e-15)
    assert f(x=x, y=y, out=buf) is buf and same(buf, f(x, y))


def test_grad_into_a_dict_of_buffers():
    f = qsts.compile(HEADLINE)
    x, y = broadcast_inputs()
    out = {"y": np.empty(4), "x": np.empty((3, 1))}  # any key order: filled by name
    bx, by = out["x"], out["y"]
    result = f.grad(x, y, out=out)
    assert result is out and out["x"] is bx and out["y"] is by and list(out) == ["y", "x"]
    _, dx, dy = by_hand(x, y)
    assert np.allclose(bx, dx.sum(axis=1, keepdims=True), rtol=1e-15)
    assert np.allclose(by, np.broadcast_to(dy, (3, 4)).sum(axis=0), rtol=1e-15)
    assert same(bx, f.grad(x, y)["x"]) and same(by, f.grad(x, y)["y"])


def test_value_and_grad_into_a_tuple():
    f = qsts.compile(HEADLINE)
    x = np.array([0.0, 1.0, 2.0])
    out = (np.empty(3), {"x": np.empty(3), "y": np.empty(())})  # y is a float: its sum of partials
    value, g = f.value_and_grad(x, 2.0, out=out)
    assert f.value_and_grad(x, 2.0, out=out) is out and value is out[0] and g is out[1]
    want, dx, dy = by_hand(x, 2.0)
    assert np.array_equal(value, want) and np.array_equal(g["x"], dx)
    assert g["y"].shape == () and g["y"] == dy.sum() == 6.0
    fresh_value, fresh_g = f.value_and_grad(x, 2.0)
    assert same(value, fresh_value) and same(g["x"], fresh_g["x"]) and float(g["y"]) == fresh_g["y"]


def test_float_results_take_0d_buffers():
    """As numpy's ufuncs: np.add(1.0, 2.0, out=np.empty(())) fills and returns the 0-d array."""
    f = qsts.compile(HEADLINE)
    buf = np.empty(())
    assert f(1.0, 2.0, out=buf) is buf and buf.shape == () and buf == 6.0
    out = (np.empty(()), {"x": np.empty(()), "y": np.empty(())})
    assert f.value_and_grad(1.0, 2.0, out=out) is out
    assert [float(out[0]), float(out[1]["x"]), float(out[1]["y"])] == [6.0, 5.0, 2.0]
    g = {"x": np.empty(()), "y": np.empty(())}
    assert f.grad(x=1.0, y=2.0, out=g) is g and (float(g["x"]), float(g["y"])) == (5.0, 2.0)
    loss = qsts.compile("mean((a*t + b - y)^2)", wrt=["a", "b"])
    t, y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])  # y = 2t + 1: residuals of (a, b) = (1, 0) are -1-t
    out = (np.empty(()), {"a": np.empty(()), "b": np.empty(())})
    loss.value_and_grad(1.0, t, 0.0, y, out=out)
    # mean((1+t)^2) = (1+4+9)/3; d/da = mean(2*(-1-t)*t) = -16/3; d/db = mean(2*(-1-t)) = -4
    assert (float(out[0]), float(out[1]["a"]), float(out[1]["b"])) == (14 / 3, -16 / 3, -4.0)


def test_out_none_is_no_buffer():
    f = qsts.compile(HEADLINE)
    assert f(1.0, 2.0, out=None) == 6.0 and f.value_and_grad(x=1.0, y=2.0, out=None) == (6.0, {"x": 5.0, "y": 2.0})


def test_vector_function_into_out():
    f = qsts.compile(["x*y", "x+z"])
    x = np.array([1.0, 2.0])
    out = np.empty((2, 3, 2))
    assert f.jacobian(x, 2.0, 3.0, out=out) is out and same(out, f.jacobian(x, 2.0, 3.0))
    assert out[:, :, 1].tolist() == [[2.0, 2.0, 0.0], [1.0, 0.0, 1.0]]
    values = np.empty(2)
    assert f(1.0, 2.0, 3.0, out=values) is values and values.tolist() == [2.0, 4.0]
    with pytest.raises(qsts.InputValueError, match=r"has shape \(2,\), but the result has shape \(2, 3\)"):
        f.jacobian(1.0, 2.0, 3.0, out=np.empty(2))


@pytest.mark.parametrize("name", sorted(ARRAY_BACKENDS))
def test_every_array_backend_writes_into_out(name):
    """The backends' interface: out[k], a flat float64 array of the points, takes
    output k when it is over the points (POINTS, or NATURAL and varying), and comes back."""
    e = qsts.parse("x*y + sum(x)")
    x, y = np.linspace(0.0, 1.0, 600), 2.0
    p = plan(e, (True, False), e.variables)  # outputs: value (varies), d/dx (points), d/dy (a sum)
    backend = ARRAY_BACKENDS[name](p.program, p.schedule)
    fresh = p.run([x, y], x.shape, backend)
    targets = [np.full(600, 7.0), np.full(600, 7.0), None]
    outs = p.run([x, y], x.shape, backend, out=targets)
    assert outs[0] is targets[0] and outs[1] is targets[1]
    assert all(same(a, b) for a, b in zip(outs, fresh))
    # value x*y + sum(x) = 2x + 300; d/dx = y + 600 (each x_i is in every point's sum); d/dy = sum(x)
    assert np.allclose(outs[0], 2 * x + 300.0) and np.allclose(outs[1], 602.0) and outs[2] == pytest.approx(300.0)


def bad_buffers():
    """(buffer, message) for the value of HEADLINE at points of shape (3,)."""
    strided = np.empty(6)[::2]
    read_only = np.empty(3)
    read_only.flags.writeable = False
    return [
        (np.empty(4), r"out has shape \(4,\), but the result has shape \(3,\)"),
        (np.empty((3, 1)), r"out has shape \(3, 1\), but the result has shape \(3,\)"),
        (np.empty(3, dtype=np.float32), "out has dtype float32; it must be float64"),
        (np.empty(3, dtype=">f8"), "out has dtype >f8; it must be float64"),
        (read_only, "out is read-only"),
        (strided, "out is not C-contiguous"),
        ([0.0, 0.0, 0.0], "out must be a numpy array, got list"),
        (np.ma.masked_array(np.empty(3)), "out must be a numpy array, got MaskedArray"),
    ]


@pytest.mark.parametrize("buffer, message", bad_buffers())
def test_a_buffer_that_does_not_fit_is_refused(buffer, message):
    f = qsts.compile(HEADLINE)
    with pytest.raises(qsts.InputValueError, match=message):
        f(np.array([1.0, 2.0, 3.0]), 2.0, out=buffer)


def test_a_float_result_needs_a_0d_buffer():
    f = qsts.compile(HEADLINE)
    with pytest.raises(qsts.InputValueError, match=r"out has shape \(1,\), but the result is a float: pass a "
                                                   r"0-d array, np.empty\(\(\)\)"):
        f(1.0, 2.0, out=np.empty(1))
    with pytest.raises(qsts.InputValueError, match=r"out\[1\]\['y'\] has shape \(3,\), but the result is a float"):
        f.value_and_grad(np.zeros(3), 2.0, out=(np.empty(3), {"x": np.empty(3), "y": np.empty(3)}))


def test_a_wrong_structure_is_refused():
    f = qsts.compile(HEADLINE)
    x = np.zeros(3)
    cases = [
        (f, {"x": np.empty(3)}, "out must be a numpy array, got dict"),
        (f.grad, np.empty(3), "out must be a dict of arrays keyed by x, y, as the gradient is; got ndarray"),
        (f.grad, {"x": np.empty(3)}, "out must have a buffer for each of x, y: no buffer for 'y'"),
        (f.grad, {"x": np.empty(3), "y": np.empty(()), "z": np.empty(())}, "'z' not in the gradient"),
        (f.grad, {"x": np.empty(3), "y": None}, r"out\['y'\] must be a numpy array, got NoneType"),
        (f.value_and_grad, [np.empty(3), {}], r"must be a tuple \(value buffer, dict of the partials' buffers\), "
                                               "got list"),
        (f.value_and_grad, (np.empty(3),), "must be a tuple .*got a tuple of 1"),
        (f.value_and_grad, (np.empty(3), np.empty(3)), r"out\[1\] must be a dict of arrays"),
        (f.value_and_grad, (None, {"x": np.empty(3), "y": np.empty(())}), r"out\[0\] must be a numpy array"),
    ]
    for call, out, message in cases:
        with pytest.raises(qsts.InputValueError, match=message):
            call(x, 2.0, out=out)


def test_nothing_is_written_unless_every_buffer_fits():
    f = qsts.compile(HEADLINE)
    x = np.array([1.0, 2.0, 3.0])
    good_value, good_x = np.full(3, 7.0), np.full(3, 7.0)
    for bad in (np.empty(3), np.empty((), dtype=np.float32)):  # y's partial is a float: a 0-d float64
        with pytest.raises(qsts.InputValueError, match=r"out\[1\]\['y'\]"):
            f.value_and_grad(x, 2.0, out=(good_value, {"x": good_x, "y": bad}))
    with pytest.raises(qsts.MissingVariableError):
        f.value_and_grad(x, out=(good_value, {"x": good_x, "y": np.empty(())}))
    with pytest.raises(qsts.InputValueError, match="overlap one another"):
        f.value_and_grad(x, 2.0, out=(good_value, {"x": good_value[:], "y": np.empty(())}))
    assert np.all(good_value == 7.0) and np.all(good_x == 7.0)
    with pytest.raises(qsts.InputValueError, match="0-d array"):
        f(1.0, 2.0, out=np.full(1, 7.0))


def test_out_may_be_an_input():
    """As numpy's ufuncs make `np.add(x, 1, out=x)` right: the inputs are read as
    they were, whichever pass or thread writes the buffer."""
    f = qsts.compile(HEADLINE)
    x0, y0 = np.linspace(-1.0, 1.0, 1000), np.linspace(0.0, 2.0, 1000)
    want_value, want_g = f.value_and_grad(x0, y0)
    x = x0.copy()
    assert f(x, y0, out=x) is x and same(x, want_value)
    x, y = x0.copy(), y0.copy()
    out = (y, {"x": x, "y": np.empty(1000)})  # crossed: the value into y, d/dx into x
    assert f.value_and_grad(x, y, out=out) is out
    assert same(y, want_value) and same(x, want_g["x"]) and same(out[1]["y"], want_g["y"])
    centred = qsts.compile("x - mean(x)")  # two passes: the sum of all of x, then the points
    want = centred(x0)
    assert np.allclose(want, x0 - np.mean(x0), rtol=0, atol=1e-15)
    x = x0.copy()
    assert centred(x, out=x) is x and same(x, want)
    later = qsts.compile("x*y + sum(y)")  # d/dx = y is written in the first pass, the value (reading x) in the second
    want_value, want_g = later.value_and_grad(x0, y0)
    x, y = x0.copy(), y0.copy()
    out = (np.empty(1000), {"x": x, "y": np.empty(1000)})
    later.value_and_grad(x, y, out=out)
    assert same(out[0], want_value) and same(x, want_g["x"]) and np.array_equal(x, y0)
    x = x0.copy()  # inputs overlapping a buffer in part, and a broadcast partial
    g = f.grad(x.reshape(10, 100)[:, :1], x[:100], out={"x": np.empty((10, 1)), "y": x[:100]})
    fresh = f.grad(x0.reshape(10, 100)[:, :1], x0[:100])
    assert same(g["x"], fresh["x"]) and same(g["y"], fresh["y"])


def test_a_variable_named_out_keeps_the_keyword():
    f = qsts.compile("x + 2*out")
    assert f.variables == ("x", "out")
    assert f(1.0, out=3.0) == f(x=1.0, out=3.0) == f(1.0, 3.0) == 7.0
    assert f.grad(1.0, out=3.0) == {"x": 1.0, "out": 2.0}
    given = np.array([1.0, 2.0])
    result = f(0.0, out=given)  # a value of the variable, not a buffer
    assert result is not given and result.tolist() == [2.0, 4.0] and given.tolist() == [1.0, 2.0]
    with pytest.raises(qsts.ArgumentError, match="'out' given both"):
        f(1.0, 2.0, out=np.empty(()))
    vector = qsts.compile(["out", "out*x"])
    assert vector(out=2.0, x=3.0).tolist() == [2.0, 6.0]


@SETTINGS
@given(expressions, st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3))
def test_out_holds_the_fresh_results_bit_for_bit(expr, point):
    f = qsts.compile(expr[0])
    args = [np.linspace(-1.0, 1.0, 5) * (i + 1) + point[i] for i in range(len(f.variables))]
    value, g = f.value_and_grad(*args)
    out = (np.empty(np.shape(value)), {k: np.empty(np.shape(v)) for k, v in g.items()})
    assert f.value_and_grad(*args, out=out) is out
    assert np.array_equal(out[0], value, equal_nan=True)
    assert all(np.array_equal(out[1][k], g[k], equal_nan=True) for k in g)
    buf = np.empty(np.shape(value))
    assert f(*args, out=buf) is buf and np.array_equal(buf, f(*args), equal_nan=True)


# ---------------------------------------------------------------- the optimizer's calls

def test_minimize_with_kept_buffers_is_minimize_without(monkeypatch):
    """Large array parameters: steps reuse out= buffers, and take the very steps
    fresh arrays give. The minimum of (x-t)^2 + 0.1*x^2 is x = t/1.1, which a
    gradient step of 0.4 (x <- 0.12*x + 0.8*t) reaches to rounding in 40."""
    n = optimize.KEEP_BUFFERS
    t = np.random.default_rng(3).normal(size=n)
    runs = {}
    for keep in (n, 2 * n + 1):  # the second never keeps buffers
        monkeypatch.setattr(optimize, "KEEP_BUFFERS", keep)
        runs[keep] = qsts.minimize("(x - t)^2 + 0.1*x^2", x0={"x": np.zeros(n)}, data={"t": t}, max_iter=40,
                                   method="gd", lr=0.4, line_search=False, gtol=0.0)
    kept, fresh = runs[n], runs[2 * n + 1]
    assert same(kept.x["x"], fresh.x["x"]) and kept.history == fresh.history and kept.nfev == fresh.nfev
    assert np.allclose(kept.x["x"], t / 1.1, rtol=0, atol=1e-12)
    named_out = qsts.minimize("(out - t)^2", x0={"out": np.zeros(n)}, data={"t": t}, max_iter=5, method="gd",
                              lr=0.5, line_search=False)  # out= is the variable: no buffers
    assert np.array_equal(named_out.x["out"], t)


def test_scipy_objective_calls_by_position_with_data_between_parameters():
    """The data may sit between the parameters in the expression's order."""
    t = np.array([0.0, 1.0, 2.0])
    obj = qsts.ScipyObjective("mean((a*t + b - y)^2)", variables=["b", "a"], data={"t": t, "y": 2 * t + 1})
    assert obj.fun([1.0, 2.0]) == 0.0 and obj.jac([1.0, 2.0]).tolist() == [0.0, 0.0]
    # at (b, a) = (0, 2) the residuals are -1: d/db = mean(-2) = -2, d/da = mean(-2t) = -2
    assert obj.fun([0.0, 2.0]) == 1.0 and obj.jac([0.0, 2.0]).tolist() == [-2.0, -2.0]
