"""Properties over random expressions (hypothesis).

The oracle for gradients is forward-mode dual numbers written here with
Python's `math`, independent of qsts's kernels and derivative rules; central
differences are a second, looser check.
"""
import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import qsts
from qsts.postfix import build
from conftest import central_difference

VARS = ("x", "y", "z")


class Dual:
    """A value with its partials d/dx, d/dy, d/dz."""

    def __init__(self, v, d):
        self.v, self.d = v, d

    def lift(self, v, dv):  # chain rule for a unary function with derivative dv
        return Dual(v, [dv * a for a in self.d])

    def __add__(self, o): return Dual(self.v + o.v, [a + b for a, b in zip(self.d, o.d)])
    def __sub__(self, o): return Dual(self.v - o.v, [a - b for a, b in zip(self.d, o.d)])
    def __mul__(self, o): return Dual(self.v * o.v, [a * o.v + self.v * b for a, b in zip(self.d, o.d)])
    def __truediv__(self, o):
        return Dual(self.v / o.v, [(a * o.v - self.v * b) / o.v ** 2 for a, b in zip(self.d, o.d)])


def const(c): return Dual(c, [0.0, 0.0, 0.0])


def sig(v): return 1 / (1 + math.exp(-v))


# (text template, dual-number implementation): smooth, and defined on all reals
UNARY = [
    ("sin({})", lambda a: a.lift(math.sin(a.v), math.cos(a.v))),
    ("cos({})", lambda a: a.lift(math.cos(a.v), -math.sin(a.v))),
    ("tanh({})", lambda a: a.lift(math.tanh(a.v), 1 - math.tanh(a.v) ** 2)),
    ("atan({})", lambda a: a.lift(math.atan(a.v), 1 / (1 + a.v ** 2))),
    ("sigmoid({})", lambda a: a.lift(sig(a.v), sig(a.v) * (1 - sig(a.v)))),
    ("softplus({})", lambda a: a.lift(math.log1p(math.exp(a.v)), sig(a.v))),
    ("exp(sin({}))", lambda a: a.lift(math.exp(math.sin(a.v)), math.exp(math.sin(a.v)) * math.cos(a.v))),
    ("log(1 + ({})^2)", lambda a: a.lift(math.log(1 + a.v ** 2), 2 * a.v / (1 + a.v ** 2))),
    ("sqrt(1 + ({})^2)", lambda a: a.lift(math.sqrt(1 + a.v ** 2), a.v / math.sqrt(1 + a.v ** 2))),
    ("-({})", lambda a: a.lift(-a.v, -1.0)),
    ("({})^3", lambda a: a.lift(a.v ** 3, 3 * a.v ** 2)),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b),
    ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b),
    ("({}) / (2 + sin({}))", None),  # built below: uses b twice
]


def leaves():
    names = st.sampled_from(VARS).map(lambda v: (v, lambda env, v=v: env[v]))
    numbers = st.sampled_from([0.5, 1.0, 2.0, 3.0, 0.25]).map(lambda c: (repr(c), lambda env, c=c: const(c)))
    return st.one_of(names, names, numbers)


def extend(children):
    def unary(pair, row):
        text, f = pair
        return row[0].format(text), lambda env: row[1](f(env))

    def binary(p, q, i):
        (ta, fa), (tb, fb) = p, q
        template = BINARY[i][0]
        if i == 3:
            return template.format(ta, tb), lambda env: fa(env) / (const(2.0) + UNARY[0][1](fb(env)))
        return template.format(ta, tb), lambda env: BINARY[i][1](fa(env), fb(env))

    return st.one_of(
        st.builds(unary, children, st.sampled_from(UNARY)),
        st.builds(binary, children, children, st.integers(0, 3)),
    )


expressions = st.recursive(leaves(), extend, max_leaves=10)
points = st.fixed_dictionaries({v: st.floats(-2.0, 2.0) for v in VARS})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def environment(point):
    return {v: Dual(point[v], [1.0 if v == w else 0.0 for w in VARS]) for v in VARS}


@SETTINGS
@given(expressions, points)
def test_gradient_matches_dual_numbers(expr, point):
    text, f = expr
    e = qsts.parse(text)
    values = {v: point[v] for v in e.variables}
    oracle = f(environment(point))
    assume(math.isfinite(oracle.v) and abs(oracle.v) < 1e6)
    value, g = qsts.value_and_grad(e, **values)
    assert math.isclose(value, oracle.v, rel_tol=1e-12, abs_tol=1e-12)
    for i, v in enumerate(VARS):
        expected = oracle.d[i]
        assert math.isclose(g.get(v, 0.0), expected, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(oracle.v))), (text, v)


@SETTINGS
@given(expressions, points)
def test_gradient_matches_central_differences(expr, point):
    text, _ = expr
    e = qsts.parse(text)
    values = {v: point[v] for v in e.variables}
    value, g = qsts.value_and_grad(e, **values)
    assume(math.isfinite(value) and abs(value) < 1e4)
    for v in e.variables:
        numeric = central_difference(e, v, values)
        # central differences are good to about 1e-8 here (see conftest)
        assert math.isclose(g[v], numeric, rel_tol=1e-5, abs_tol=1e-5 * max(1.0, abs(value))), (text, v)


@SETTINGS
@given(expressions)
def test_printing_parses_back_to_the_same_node(expr):
    text, _ = expr
    e = qsts.parse(text)
    assert qsts.parse(str(e)).root is e.root
    for d in e.gradient():
        assert build(qsts.to_postfix(str(d)))[0] is d.root


@SETTINGS
@given(expressions)
def test_parsing_twice_gives_the_same_node(expr):
    text, _ = expr
    first, second = build(qsts.to_postfix(text)), build(qsts.to_postfix(text))  # no parse cache
    assert first[0] is second[0] and first[1] == second[1]


@SETTINGS
@given(expressions, st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3))
def test_scalar_and_array_evaluation_agree(expr, xs):
    text, _ = expr
    e = qsts.parse(text)
    arrays = {v: np.array(xs) * (i + 1) / 2 for i, v in enumerate(e.variables)}
    value, g = qsts.value_and_grad(e, **arrays)
    for k in range(3):
        point = {v: float(a[k]) for v, a in arrays.items()}
        s_value, s_g = qsts.value_and_grad(e, **point)
        assert np.allclose(np.broadcast_to(value, (3,))[k], s_value, rtol=1e-13, atol=1e-300, equal_nan=True)
        for v in e.variables:
            assert np.allclose(g[v][k], s_g[v], rtol=1e-12, atol=1e-300, equal_nan=True)
