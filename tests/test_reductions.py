"""sum, mean and size over arrays (SPEC sections 1 and 4), in the reference
evaluator and in compiled programs.

The oracle is forward mode written here with numpy: every value carries its
full Jacobian with respect to the scalar x and each element of the arrays y and
z, so it shares nothing with qsts's rules, kernels or reverse pass. Central
differences are a second check, and hand-derived values a third.
"""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import qsts
from qsts.backends import WORKING_SET
from qsts.kernels import CHUNK

M = 5                      # elements of y and z in the oracle tests
K = 1 + 2 * M              # inputs: x, then y's elements, then z's


class Jet:
    """A value of shape (1,) (a scalar) or (M,) and its Jacobian, shape (K, 1) or (K, M)."""

    def __init__(self, v, d):
        self.v, self.d = np.asarray(v, dtype=float), np.asarray(d, dtype=float)

    def chain(self, v, dv):  # a unary function with derivative dv at self.v
        return Jet(v, self.d * dv)

    def __add__(self, o): return Jet(self.v + o.v, self.d + o.d)
    def __sub__(self, o): return Jet(self.v - o.v, self.d - o.d)
    def __mul__(self, o): return Jet(self.v * o.v, self.d * o.v + self.v * o.d)
    def __truediv__(self, o): return Jet(self.v / o.v, (self.d * o.v - self.v * o.d) / o.v ** 2)


def number(c):
    return Jet([c], np.zeros((K, 1)))


def sig(v):
    return 1 / (1 + np.exp(-v))


UNARY = [
    ("sin({})", lambda a: a.chain(np.sin(a.v), np.cos(a.v))),
    ("tanh({})", lambda a: a.chain(np.tanh(a.v), 1 - np.tanh(a.v) ** 2)),
    ("sigmoid({})", lambda a: a.chain(sig(a.v), sig(a.v) * (1 - sig(a.v)))),
    ("exp(sin({}))", lambda a: a.chain(np.exp(np.sin(a.v)), np.exp(np.sin(a.v)) * np.cos(a.v))),
    ("log(1 + ({})^2)", lambda a: a.chain(np.log(1 + a.v ** 2), 2 * a.v / (1 + a.v ** 2))),
    ("-({})", lambda a: a.chain(-a.v, -1.0)),
    ("({})^3", lambda a: a.chain(a.v ** 3, 3 * a.v ** 2)),
    # reductions: a scalar (shape (1,)) stays as it is, as the SPEC says
    ("sum({})", lambda a: Jet(a.v.sum(keepdims=True), a.d.sum(axis=1, keepdims=True))),
    ("mean({})", lambda a: Jet(a.v.mean(keepdims=True), a.d.mean(axis=1, keepdims=True))),
    ("size({})*({})", lambda a: Jet(a.v * a.v.size, a.d * a.v.size)),
    # one node before and after a reduction of it: compiled programs need two passes
    ("({}) - mean({})", lambda a: Jet(a.v - a.v.mean(keepdims=True), a.d - a.d.mean(axis=1, keepdims=True))),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b),
    ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b),
    ("({}) / (2 + sin({}))", lambda a, b: a / (number(2.0) + UNARY[0][1](b))),
]


def leaf(name):
    def make(env):
        i = {"x": 0, "y": 1, "z": 1 + M}[name]
        if name == "x":
            d = np.zeros((K, 1))
            d[0, 0] = 1.0
            return Jet([env["x"]], d)
        d = np.zeros((K, M))
        d[i:i + M] = np.eye(M)
        return Jet(env[name], d)
    return name, make


def extend(children):
    def unary(pair, row):
        text, f = pair
        return row[0].format(text, text), lambda env: row[1](f(env))

    def binary(p, q, row):
        (ta, fa), (tb, fb) = p, q
        return row[0].format(ta, tb), lambda env: row[1](fa(env), fb(env))

    return st.one_of(st.builds(unary, children, st.sampled_from(UNARY)),
                     st.builds(binary, children, children, st.sampled_from(BINARY)))


leaves = st.one_of(st.sampled_from([leaf("x"), leaf("y"), leaf("z")]),
                   st.sampled_from([0.5, 2.0]).map(lambda c: (repr(c), lambda env, c=c: number(c))))
expressions = st.recursive(leaves, extend, max_leaves=8)
values = st.fixed_dictionaries({
    "x": st.floats(-1.5, 1.5),
    "y": st.lists(st.floats(-1.5, 1.5), min_size=M, max_size=M).map(np.array),
    "z": st.lists(st.floats(-1.5, 1.5), min_size=M, max_size=M).map(np.array),
})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def jet_gradient(jet):
    """The oracle's gradient of the sum of the outputs: x's partial, y's, z's."""
    g = jet.d.sum(axis=1)
    return g[0], g[1:1 + M], g[1 + M:]


@SETTINGS
@given(expressions, values)
def test_values_and_gradients_match_forward_mode(expr, point):
    text, f = expr
    e = qsts.parse(text)
    env = {v: point[v] for v in e.variables}
    jet = f(point)
    assume(np.all(np.isfinite(jet.v)) and np.max(np.abs(jet.v)) < 1e6)
    value, grads = qsts.value_and_grad(e, **env)
    # the value's shape: the points' where it varies, a float where reductions made it one
    if jet.v.shape == (M,):
        assert isinstance(value, np.ndarray) and value.shape == (M,)
    else:
        assert isinstance(value, float)
    np.testing.assert_allclose(np.ravel(value) * np.ones_like(jet.v), jet.v, rtol=1e-12, atol=1e-12)
    gx, gy, gz = jet_gradient(jet)
    scale = 1e-9 * max(1.0, float(np.max(np.abs(jet.v))))
    for name, expected in (("x", gx), ("y", gy), ("z", gz)):
        if name not in grads:
            assert np.all(expected == 0), (text, name)
            continue
        got = grads[name]
        assert np.shape(got) == np.shape(env[name]), (text, name)  # SPEC 4: the shape of its input
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=scale, err_msg=f"{text} d/d{name}")


@SETTINGS
@given(expressions, values, st.sampled_from([(CHUNK, 1), (CHUNK, 2), (3 * CHUNK, 2)]))
def test_compiled_equals_reference_bit_for_bit(expr, point, setting):
    """Blocks, threads and passes never change a bit, and match the reference,
    which sums over the points the same way."""
    text, _ = expr
    e = qsts.parse(text)
    rng = np.random.default_rng(len(text))
    big = {"x": point["x"], "y": rng.uniform(-1.5, 1.5, 4 * CHUNK + 77), "z": rng.uniform(-1.5, 1.5, 4 * CHUNK + 77)}
    env = {v: big[v] for v in e.variables}
    block, threads = setting
    ref_value, ref_grads = qsts.value_and_grad(e, **env)
    value, grads = qsts.compile(e, block=block, threads=threads).value_and_grad(**env)
    assert type(value) is type(ref_value)
    np.testing.assert_array_equal(value, ref_value)
    assert list(grads) == list(ref_grads)
    for v in grads:
        assert type(grads[v]) is type(ref_grads[v])
        np.testing.assert_array_equal(grads[v], ref_grads[v], err_msg=f"{text} d/d{v}")
    np.testing.assert_array_equal(qsts.compile(e, block=block, threads=threads)(**env), ref_value)


@pytest.mark.parametrize("text", [
    "sum(sin(y)) * sin(y)",                                   # sin(y) in pass 0 and again in pass 1
    "sum(exp(y) * (y - mean(y)))",
    "mean((y - mean(y))^2) + sum(sin(y) * mean(sin(y) * x))",
    "sum(y / sum(y / sum(y * x)))",                           # three passes
])
@pytest.mark.parametrize("setting", [(CHUNK, 1), (CHUNK, 2), (5 * CHUNK, 2), (None, None)])
def test_passes_recompute_what_later_passes_need(text, setting):
    rng = np.random.default_rng(4)
    env = {"x": 0.3, "y": rng.uniform(0.5, 1.5, 7 * CHUNK + 5)}
    env = {k: env[k] for k in qsts.parse(text).variables}
    block, threads = setting
    ref_value, ref_grads = qsts.value_and_grad(text, **env)
    value, grads = qsts.compile(text, block=block, threads=threads).value_and_grad(**env)
    np.testing.assert_array_equal(value, ref_value)
    for v in grads:
        np.testing.assert_array_equal(grads[v], ref_grads[v])


@SETTINGS
@given(expressions, values)
def test_diff_is_the_derivative_per_point(expr, point):
    """diff with reductions: evaluated where every variable is an array over the
    same points, it gives grad's partials; and it prints in the language."""
    text, _ = expr
    e = qsts.parse(text)
    env = {v: (np.full(M, point["x"]) if v == "x" else point[v]) for v in e.variables}
    value, grads = qsts.value_and_grad(e, **env)
    assume(np.all(np.isfinite(value)) and np.max(np.abs(value)) < 1e6)
    for v in e.variables:
        d = qsts.diff(e, v)
        assert qsts.parse(str(d)).root is d.root, (text, v)
        got = qsts.evaluate(d, **{k: env[k] for k in d.variables})
        scale = 1e-9 * max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(np.broadcast_to(got, (M,)), grads[v], rtol=1e-9, atol=scale, err_msg=f"{text} d/d{v}")


# ---------------------------------------------------------------- by hand

def test_hand_derived_values():
    t = np.array([1.0, 2.0, 3.0, 6.0])
    assert qsts.evaluate("sum(t)", t=t) == 12.0
    assert qsts.evaluate("mean(t)", t=t) == 3.0
    assert qsts.evaluate("size(t)", t=t) == 4.0
    assert qsts.evaluate("sum(t)", t=2.5) == 2.5 and qsts.evaluate("size(t)", t=2.5) == 1.0
    np.testing.assert_array_equal(qsts.evaluate("t - mean(t)", t=t), [-2.0, -1.0, 0.0, 3.0])
    # variance, mean((t - mean(t))^2) = (4 + 1 + 0 + 9)/4; its gradient 2 (t - mean(t)) / n
    value, g = qsts.value_and_grad("mean((t - mean(t))^2)", t=t)
    assert value == 3.5
    np.testing.assert_allclose(g["t"], [-1.0, -0.5, 0.0, 1.5], rtol=1e-15)
    # softmax: the outputs sum to 1 whatever t, so the gradient of their sum is 0
    value, g = qsts.value_and_grad("exp(t)/sum(exp(t))", t=t)
    np.testing.assert_allclose(value, np.exp(t) / np.exp(t).sum(), rtol=1e-15)
    np.testing.assert_allclose(g["t"], 0.0, atol=1e-15)


@pytest.mark.parametrize("text, env, expected", [
    # a scalar used against an array sums its partials; a reduction's result does not
    ("a + t", {"a": 2.0, "t": [1.0, 2.0, 4.0]}, {"a": 3.0, "t": [1.0, 1.0, 1.0]}),
    ("sum(t) * a", {"a": 2.0, "t": [1.0, 2.0, 4.0]}, {"t": [2.0, 2.0, 2.0], "a": 7.0}),
    ("sum(a * t) + a^2", {"a": 3.0, "t": [1.0, 2.0]}, {"a": 9.0, "t": [3.0, 3.0]}),
    ("mean(a * t)", {"a": 3.0, "t": [1.0, 2.0]}, {"a": 1.5, "t": [1.5, 1.5]}),
    ("sum(t) + t", {"t": [1.0, 2.0]}, {"t": [3.0, 3.0]}),  # each output holds sum(t)
    ("a * size(t)", {"a": 3.0, "t": [1.0, 2.0]}, {"a": 2.0, "t": [0.0, 0.0]}),
    ("sum(a)", {"a": 3.0}, {"a": 1.0}),
])
def test_gradient_shapes_and_sums(text, env, expected):
    value, g = qsts.value_and_grad(text, **env)
    assert list(g) == list(qsts.parse(text).variables)
    for name, want in expected.items():
        assert np.shape(g[name]) == np.shape(env[name])
        np.testing.assert_array_equal(g[name], want)
    f_value, f_g = qsts.compile(text).value_and_grad(**env)
    np.testing.assert_array_equal(f_value, value)
    for name in g:
        np.testing.assert_array_equal(f_g[name], g[name])


def test_broadcast_inputs_spanning_the_points():
    # y of shape (3, 1) against t of shape (4,): the points are (3, 4)
    y, t = np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 0.0, -1.0, 2.0])
    value, g = qsts.value_and_grad("sum(y * t) + a", y=y, t=t, a=0.5)
    assert value == 6 * 2 + 0.5
    assert g["y"].shape == (3, 1) and g["t"].shape == (4,) and isinstance(g["a"], float)
    np.testing.assert_array_equal(g["y"], [[2.0], [2.0], [2.0]])  # sum(t), for each row
    np.testing.assert_array_equal(g["t"], [6.0, 6.0, 6.0, 6.0])   # sum(y), for each column
    assert g["a"] == 1.0


def test_reductions_over_fewer_than_all_points_are_refused():
    t, y = np.ones(3), np.ones((4, 3))
    with pytest.raises(qsts.InputValueError, match=r"sum\(t\).*\(3,\).*\(4, 3\)"):
        qsts.evaluate("sum(t) + y", t=t, y=y)
    with pytest.raises(qsts.InputValueError, match="the result has shape"):
        qsts.grad("y * sum(t)", y=np.ones((4, 1)), t=np.ones((4, 3)))
    with pytest.raises(qsts.InputValueError, match="size"):
        qsts.compile("size(t) * y").grad(t=t, y=y)
    # the same shapes are fine without reductions, and with the full shape
    assert qsts.evaluate("t + y", t=t, y=y).shape == (4, 3)
    assert qsts.evaluate("sum(t * y)", t=t, y=y) == 12.0


def test_empty_arrays():
    assert qsts.evaluate("sum(t)", t=np.zeros(0)) == 0.0
    assert math.isnan(qsts.evaluate("mean(t)", t=np.zeros(0)))
    assert qsts.compile("sum(t*a)").grad(t=np.zeros(0), a=1.0) == {"t": pytest.approx(np.zeros(0)), "a": 0.0}


@pytest.mark.parametrize("text", [
    "sum((a*t + b - y)^2)",
    "mean(log(1 + exp(-y*(a*t + b))))",
    "mean((t - mean(t))^2) * a + b",
    "sum(exp(a*t) / sum(exp(b*t)))",
])
def test_gradients_through_sum_and_mean_match_central_differences(text):
    rng = np.random.default_rng(1)
    env = {"a": 0.7, "b": -0.3, "t": rng.normal(size=50), "y": np.sign(rng.normal(size=50))}
    env = {k: env[k] for k in qsts.parse(text).variables}
    _, g = qsts.value_and_grad(text, **env)

    def f(name, i, h):
        moved = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in env.items()}
        if isinstance(moved[name], np.ndarray):
            moved[name][i] += h
        else:
            moved[name] += h
        return qsts.evaluate(text, **moved)

    # step 1e-5: truncation ~h^2 f'''/6 ~ 1e-10, rounding ~eps*|f|/h ~ 1e-10 (|f| < 50)
    h = 1e-5
    for name in env:
        for i in ([0, 17, 49] if isinstance(env[name], np.ndarray) else [None]):
            numeric = (f(name, i, h) - f(name, i, -h)) / (2 * h)
            analytic = g[name][i] if i is not None else g[name]
            assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8), (text, name, i)


def test_compile_wrt_takes_the_rest_as_data():
    rng = np.random.default_rng(2)
    t, y = rng.normal(size=1000), rng.normal(size=1000)
    f = qsts.compile("sum((a*t + b - y)^2)", wrt=["b", "a"])
    assert f.wrt == ("a", "b")  # in `variables` order
    value, g = f.value_and_grad(a=0.5, b=1.0, t=t, y=y)
    full_value, full = qsts.value_and_grad("sum((a*t + b - y)^2)", a=0.5, b=1.0, t=t, y=y)
    assert value == full_value and g == {"a": full["a"], "b": full["b"]}
    assert f.grad(a=0.5, b=1.0, t=1.0, y=2.0) == {"a": -1.0, "b": -1.0}  # 2*(0.5 + 1 - 2)
    with pytest.raises(qsts.UnknownVariableError, match="'c'"):
        qsts.compile("a*t", wrt=["c"])
    for bad in ("a", 5, [1]):
        with pytest.raises(qsts.QstsError, match="list of variable names"):
            qsts.compile("a*t", wrt=bad)
    assert qsts.compile("a*t", wrt=(v for v in ["a"])).grad(a=1.0, t=2.0) == {"a": 2.0}  # an iterator, used once


def test_several_outputs_with_reductions_take_scalars():
    f = qsts.compile(["sum(x)*y", "mean(x)"])
    np.testing.assert_array_equal(f.jacobian(x=2.0, y=3.0), [[3.0, 2.0], [1.0, 0.0]])
    with pytest.raises(qsts.InputValueError, match="compile each expression"):
        f(x=np.ones(3), y=1.0)


def test_a_fit_step_on_many_rows_allocates_no_array_of_the_rows():
    """One gradient step of a least-squares fit on 1M rows: beyond the data, the
    call allocates its blocks' working set only (no residual or partial array)."""
    rng = np.random.default_rng(3)
    t, y = rng.normal(size=1_000_000), rng.normal(size=1_000_000)
    f = qsts.compile("mean((a*t + b - y)^2)", wrt=["a", "b"], threads=2)
    f.value_and_grad(a=1.0, b=0.0, t=t[:1000], y=y[:1000])  # compile the array program first
    tracemalloc.start()
    try:
        value, g = f.value_and_grad(a=1.0, b=0.0, t=t, y=y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(value, float) and set(g) == {"a", "b"}
    # one array of the rows is 8 MB; the working set is about WORKING_SET per thread,
    # plus the chunk sums (8 bytes per 256 rows per sum)
    assert peak < 2 * WORKING_SET + 200_000 < 8_000_000, peak
