"""sum, mean and size over arrays (SPEC sections 1 and 4), in the reference
evaluator and in compiled programs.

The oracle is forward mode written here with numpy: every value carries its
full Jacobian with respect to the scalar x and each element of the arrays y and
z, so it shares nothing with qsts's rules or reverse pass. Central differences
are a second check, and hand-derived values a third.

Tolerances: the oracle also carries magnitudes, as test_properties.Dual does
(its docstring gives the argument): each correct computation of a value or a
partial is within gamma(n)*M of the exact one, so two of them (qsts with libm
on scalars and numpy on arrays, against the oracle with numpy; or two graphs of
the same derivative) agree within 2*gamma(n)*M, elementwise. A sum over the
points adds its M terms' magnitudes, and counts as M nodes (its roundings).
"""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qsts
from qsts.backends.array import WORKING_SET
from qsts.backends import ARRAY_BACKENDS
from qsts.backends.llvm_ir import LIBM
from qsts.function import plan
from qsts.kernels import CHUNK
from qsts.options import Options
from conftest import examples
from test_properties import BETA, ROUGH, TINY, gamma

M = 5                      # elements of y and z in the oracle tests


def _sig(v):
    return np.where(v >= 0, 1 / (1 + np.exp(-v)), np.exp(v) / (1 + np.exp(v)))


def _sech2(v):
    a = np.abs(v)
    return np.where(a > 700, 4 * np.exp(-2 * a), 1 / np.cosh(np.minimum(a, 700)) ** 2)


# name: (value, first and second derivative, floor, scale), as test_properties.FUNCTIONS
FUNCTIONS = {
    "sin": lambda v: (np.sin(v), np.cos(v), -np.sin(v), 0.0, 1.0),
    "tanh": lambda v: (np.tanh(v), _sech2(v), -2 * np.tanh(v) * _sech2(v), 1.0, 1.0),
    "sigmoid": lambda v: (_sig(v), _sig(v) * _sig(-v), _sig(v) * _sig(-v) * (1 - 2 * _sig(v)), 1.0, 1.0),
    "exp": lambda v: (np.exp(v),) * 3 + (0.0, 1.0),
    "log": lambda v: (np.log(v), 1 / v, -1 / (v * v), 0.0, np.abs(v)),
    "neg": lambda v: (-v, -np.ones_like(v), np.zeros_like(v), 0.0, 1.0),
    "cube": lambda v: (v * v * v, 3 * v * v, 6 * v, 0.0, np.abs(v)),
    "square": lambda v: (v * v, 2 * v, 2 * np.ones_like(v), 0.0, np.abs(v)),
    "recip": lambda v: (1 / v, -1 / (v * v), 2 / (v * v * v), 0.0, np.abs(v)),
}


class Jet:
    """A value of shape (1,) (a scalar) or (M,), its Jacobian d of shape (k, 1) or
    (k, M) over the k inputs, and their magnitudes V and P (S sums P over the nodes,
    n counts them, `rough` says no bound holds: see test_properties.Dual)."""

    def __init__(self, v, d, V, P, S, n, rough=False):
        self.v, self.d, self.V, self.P, self.S, self.n, self.rough = v, d, V, P, S, n, rough

    @staticmethod
    def input(v, d):
        v, d = np.asarray(v, dtype=float), np.asarray(d, dtype=float)
        return Jet(v, d, np.maximum(np.abs(v), TINY), d, d, 0)

    def const(self, c):
        zero = np.zeros((self.d.shape[0], 1))
        return Jet(np.array([c]), zero, np.array([max(abs(c), TINY)]), zero, zero, 0)

    def _apply(self, name):
        f0, f1, f2, floor, scale = FUNCTIONS[name](self.v)
        factor = np.maximum(np.abs(f1), floor) + np.abs(f2) * self.V
        P = np.where(self.P > 0, factor * self.P + TINY, 0.0)
        return Jet(f0, f1 * self.d, np.maximum(np.abs(f0), TINY) + np.abs(f1) * self.V, P, self.S + P,
                   self.n + 1, self.rough or not np.all(BETA * self.V <= ROUGH * scale))

    def _combine(self, o, v, d, V, fa, fb, nodes=1):
        P = np.where((self.P > 0) | (o.P > 0), fa * self.P + fb * o.P + TINY, 0.0)
        return Jet(v, d, np.maximum(np.abs(v), TINY) + V, P, self.S + o.S + P, self.n + o.n + nodes,
                   self.rough or o.rough)

    def __add__(self, o):
        return self._combine(o, self.v + o.v, self.d + o.d, self.V + o.V, 1.0, 1.0)

    def __sub__(self, o):
        return self._combine(o, self.v - o.v, self.d - o.d, self.V + o.V, 1.0, 1.0)

    def __mul__(self, o):
        return self._combine(o, self.v * o.v, self.d * o.v + self.v * o.d, np.abs(o.v) * self.V + np.abs(self.v) * o.V,
                             np.abs(o.v) + o.V, np.abs(self.v) + self.V)

    def __truediv__(self, o):
        return self * o._apply("recip")

    def __neg__(self):
        return self._apply("neg")

    def __getattr__(self, name):
        if name in FUNCTIONS:
            return lambda: self._apply(name)
        raise AttributeError(name)

    def sum(self):  # over the points; a scalar stays as it is, as the SPEC says
        v = self.v.sum(keepdims=True)
        P = self.P.sum(axis=1, keepdims=True)
        P = np.where(P > 0, P + TINY, 0.0)
        return Jet(v, self.d.sum(axis=1, keepdims=True), np.maximum(np.abs(v), TINY) + self.V.sum(keepdims=True),
                   P, self.S.sum(axis=1, keepdims=True) + P, self.n + self.v.size, self.rough)

    def mean(self):
        total, n = self.sum(), self.v.size
        P = np.where(total.P > 0, total.P / n + TINY, 0.0)
        return Jet(total.v / n, total.d / n, np.maximum(np.abs(total.v / n), TINY) + total.V / n, P,
                   total.S + P, total.n + 1, total.rough)

    def times_size(self):
        return self * self.const(float(self.v.size))


UNARY = [
    ("sin({})", lambda a: a.sin()),
    ("tanh({})", lambda a: a.tanh()),
    ("sigmoid({})", lambda a: a.sigmoid()),
    ("exp(sin({}))", lambda a: a.sin().exp()),
    ("log(1 + ({})^2)", lambda a: (a.const(1.0) + a.square()).log()),
    ("-({})", lambda a: -a),
    ("({})^3", lambda a: a.cube()),
    # reductions: a scalar (shape (1,)) stays as it is, as the SPEC says
    ("sum({})", lambda a: a.sum()),
    ("mean({})", lambda a: a.mean()),
    ("size({})*({})", lambda a: a.times_size()),
    # one node before and after a reduction of it: compiled programs need two passes
    ("({}) - mean({})", lambda a: a - a.mean()),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b),
    ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b),
    ("({}) / (2 + sin({}))", lambda a, b: a / (a.const(2.0) + b.sin())),
]


def inputs(point):
    """Jets of x, y and z at `point`, over the inputs x (one, or M if x is an array), y and z."""
    sizes = {v: np.size(point[v]) for v in "xyz"}
    k = sum(sizes.values())
    jets, row = {}, 0
    for v in "xyz":
        n = sizes[v]
        d = np.zeros((k, n))
        d[row:row + n] = np.eye(n)
        jets[v] = Jet.input(np.atleast_1d(point[v]), d)
        row += n
    return jets


def leaf(name):
    return name, lambda env: env[name]


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
                   st.sampled_from([0.5, 2.0]).map(lambda c: (repr(c), lambda env, c=c: env["x"].const(c))))
expressions = st.recursive(leaves, extend, max_leaves=8)
values = st.fixed_dictionaries({
    "x": st.floats(-1.5, 1.5),
    "y": st.lists(st.floats(-1.5, 1.5), min_size=M, max_size=M).map(np.array),
    "z": st.lists(st.floats(-1.5, 1.5), min_size=M, max_size=M).map(np.array),
})
SETTINGS = settings(max_examples=examples(500), suppress_health_check=[HealthCheck.too_slow])


def oracle(f, point):
    with np.errstate(all="ignore"):  # the oracle's own overflows make its bounds infinite: no claim
        return f(inputs(point))


def gradient(jet, point):
    """The oracle's gradient of the sum of the outputs for x, y and z, each with its
    bound: summing over the outputs adds M terms (M more nodes)."""
    with np.errstate(all="ignore"):
        g, P, S = (a.sum(axis=1) for a in (jet.d, jet.P, jet.S))
        bound = np.nan if jet.rough else 2 * gamma(jet.n + M) * (P + TINY * S)
    out, row = {}, 0
    for v in "xyz":
        n = np.size(point[v])
        out[v] = g[row:row + n], np.broadcast_to(bound, g.shape)[row:row + n]
        row += n
    return out


def value_bound(jet):
    with np.errstate(all="ignore"):
        return np.full(jet.v.shape, np.nan) if jet.rough else 2 * gamma(jet.n) * jet.V


def agree(a, b, bound):
    """Elementwise as test_properties.agree: the same IEEE values, or within a bound
    that is finite (else nothing is claimed)."""
    a, b, bound = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float), bound)
    with np.errstate(all="ignore"):
        ok = (a == b) | (np.isnan(a) & np.isnan(b)) | ~np.isfinite(bound) | (np.abs(a - b) <= bound)
    return bool(np.all(ok))


@SETTINGS
@given(expressions, values)
def test_values_and_gradients_match_forward_mode(expr, point):
    text, f = expr
    e = qsts.parse(text)
    env = {v: point[v] for v in e.variables}
    jet = oracle(f, point)
    value, grads = qsts.value_and_grad(e, **env)
    # the value's shape: the points' where it varies, a float where reductions made it one
    if jet.v.shape == (M,):
        assert isinstance(value, np.ndarray) and value.shape == (M,)
    else:
        assert isinstance(value, float)
    assert agree(value, jet.v, value_bound(jet)), (text, value, jet.v)
    for name, (expected, bound) in gradient(jet, point).items():
        if name not in grads:
            assert np.all(expected == 0), (text, name)
            continue
        got = grads[name]
        assert np.shape(got) == np.shape(env[name]), (text, name)  # SPEC 4: the shape of its input
        assert agree(got, expected, bound), (text, name, got, expected)


@SETTINGS
@given(expressions, values, st.sampled_from([(CHUNK, 1), (CHUNK, 2), (3 * CHUNK, 2)]))
def test_compiled_equals_reference_bit_for_bit(expr, point, setting):
    """Blocks, threads and passes never change a bit, and match the reference,
    which sums over the points the same way. Bit for bit by construction: both run
    the same numpy kernels on the same floats (an elementwise kernel's result does
    not depend on where an element sits in a block), the scalar parts with the same
    float kernels, and every sum over the points as chunk sums added exactly."""
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


@SETTINGS
@given(expressions, values, st.sampled_from([(CHUNK, 1), (3 * CHUNK, 2)]), st.booleans())
def test_every_backend_in_the_table_equals_the_interpreter(expr, point, setting, x_is_array):
    """A backend plugs in as a row of `ARRAY_BACKENDS`; this runs each row on the
    same plan as the reference interpreter, under each signature, bit for bit."""
    text, _ = expr
    e = qsts.parse(text)
    rng = np.random.default_rng(len(text))
    big = {"x": rng.uniform(-1.5, 1.5, 2 * CHUNK + 5) if x_is_array else point["x"],
           "y": rng.uniform(-1.5, 1.5, 2 * CHUNK + 5), "z": rng.uniform(-1.5, 1.5, 2 * CHUNK + 5)}
    args = [big[v] for v in e.variables]
    points = (2 * CHUNK + 5,) if any(isinstance(a, np.ndarray) for a in args) else ()
    for wrt in (None, e.variables):
        p = plan(e, tuple(isinstance(a, np.ndarray) for a in args), wrt)
        expected = p.run(args, points)
        for name, backend in ARRAY_BACKENDS.items():
            if name == "native" and any(ins.op in LIBM for ins in p.program.instructions):
                continue  # the C library's functions, as the scalar program: test_native checks those
            got = p.run(args, points, backend(p.program, p.schedule), Options(*setting))
            assert len(got) == len(expected)
            for g, x in zip(got, expected):
                assert type(g) is type(x), (name, text)
                np.testing.assert_array_equal(g, x, err_msg=f"{name}: {text}")


@pytest.mark.parametrize("text", [
    "sum(sin(y)) * sin(y)",                                   # sin(y) in pass 0 and again in pass 1
    "sum(exp(y) * (y - mean(y)))",
    "mean((y - mean(y))^2) + sum(sin(y) * mean(sin(y) * x))",
    "sum(y / sum(y / sum(y * x)))",                           # three passes
])
@pytest.mark.parametrize("setting", [(CHUNK, 1), (CHUNK, 2), (5 * CHUNK, 2), (None, None)])
def test_passes_recompute_what_later_passes_need(text, setting):
    # bit for bit, as in test_compiled_equals_reference_bit_for_bit
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
    same points, it gives grad's partials; and it prints in the language. The two
    are different graphs of the same derivative: each within the oracle's bound."""
    text, f = expr
    e = qsts.parse(text)
    point = {**point, "x": np.full(M, point["x"])}
    env = {v: point[v] for v in e.variables}
    _, grads = qsts.value_and_grad(e, **env)
    bounds = gradient(oracle(f, point), point)
    for v in e.variables:
        d = qsts.diff(e, v)
        assert qsts.parse(str(d)).root is d.root, (text, v)
        got = qsts.evaluate(d, **{k: env[k] for k in d.variables})
        assert agree(np.broadcast_to(got, (M,)), grads[v], bounds[v][1]), (text, v, got, grads[v])


# ---------------------------------------------------------------- by hand

def test_hand_derived_values():
    # exact where the numbers are small dyadic ones: these sums, means, t - mean(t) and
    # the variance's gradient involve no rounding at all
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
    # softmax: the outputs sum to 1 whatever t, so the gradient of their sum is 0.
    # The value: the same numpy exp; sums of 4 positive terms at most 3 eps/2 apart
    # (qsts rounds its sum once), then a division each: under 5 eps/2 = 5.6e-16 apart.
    value, g = qsts.value_and_grad("exp(t)/sum(exp(t))", t=t)
    np.testing.assert_allclose(value, np.exp(t) / np.exp(t).sum(), rtol=1e-15)
    # The gradient, s_k*(1 - sum of s_i) with s_k <= 0.94, is what remains of the
    # cancellation of 1/S against (sum of s_i)/S: their few roundings (at most ~8, eps/2
    # each), times e^t_k: under 8*1.1e-16*0.94 = 8.3e-16
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
    # exact: small integers, whatever the order of the sums
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

    # Fixed data (seeded). Step 1e-5: the first and third functions are quadratics in
    # each input, so their central differences have no truncation error; the other two
    # are smooth with derivatives of order 1 on these data, so h^2 |f'''|/6 is ~1e-10.
    # Rounding: a value is within ~8 eps of its terms' summed magnitudes (at most ~200
    # here) whatever its kernels' last bits, which moves the quotient by 1.8e-8 at the
    # very worst, against a tolerance of 1e-8 + 1e-6 |partial| with partials of order
    # 1 to 100 (measured: at most 1% of the tolerance, over 60 draws of the data).
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
