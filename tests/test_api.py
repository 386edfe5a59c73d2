"""The Python API and reverse-mode semantics: SPEC sections 3 and 4."""
import math

import numpy as np
import pytest

import qsts


def test_headline():
    assert qsts.grad("(x+y)+x*(x+y)", x=1, y=2) == {"x": 5.0, "y": 2.0}
    assert qsts.value_and_grad("(x+y)+x*(x+y)", x=1, y=2) == (6.0, {"x": 5.0, "y": 2.0})
    assert list(qsts.grad("(x+y)+x*(x+y)", y=2, x=1)) == ["x", "y"]  # variables order, not kwargs order


def test_a_plus_a_sums_contributions():
    assert qsts.grad("a + a", a=3.0) == {"a": 2.0}
    assert qsts.grad("a * a", a=3.0) == {"a": 6.0}
    assert str(qsts.diff("a + a", "a")) == "2"


def test_nested_shared_nodes():
    # u = x*y is used by v = u + sin(u), and v is used twice at the top.
    text = "(x*y + sin(x*y)) * (x*y + sin(x*y)) + x*y"
    x, y = 0.7, -1.3
    u = x * y
    v = u + math.sin(u)
    dv_du = 1 + math.cos(u)
    df_du = 2 * v * dv_du + 1
    g = qsts.grad(text, x=x, y=y)
    # the same libm kernels; each side rounds at most ~8 times, on terms at most 1.2
    # times the result (2v*dv_du + 1 cancels that little here): 2e-15 apart at most
    assert g["x"] == pytest.approx(df_du * y, rel=1e-14)
    assert g["y"] == pytest.approx(df_du * x, rel=1e-14)
    assert qsts.parse(text).node_count == 7  # x, y, x*y, sin, +, *, +


def test_value_used_by_two_parents():
    # f = p*q + p with p = x+1: p gets q from the product and 1 from the sum
    assert qsts.grad("(x+1)*y + (x+1)", x=2.0, y=5.0) == {"x": 6.0, "y": 3.0}


def test_hand_derived_values():
    # the same libm kernels as math's; no cancellation: each side is a few roundings
    # (at most ~1e-15 relative) from the truth, inside the rel asked
    assert qsts.evaluate("sin(x)^2 + 1", x=0.5) == pytest.approx(math.sin(0.5) ** 2 + 1, rel=1e-15)
    g = qsts.grad("x^2*sin(x)", x=1.3)
    assert g["x"] == pytest.approx(2 * 1.3 * math.sin(1.3) + 1.3 ** 2 * math.cos(1.3), rel=1e-14)
    g = qsts.grad("exp(-(x^2+y^2)/2)", x=0.5, y=-1.0)
    f = math.exp(-(0.25 + 1.0) / 2)
    assert g == pytest.approx({"x": -0.5 * f, "y": 1.0 * f}, rel=1e-14)


def test_hessian_by_differentiating_twice():
    text = "x^2*y + y^3"
    e = qsts.parse(text)
    rows = [[qsts.evaluate(qsts.diff(qsts.diff(text, a), b), **_only(qsts.diff(qsts.diff(text, a), b), x=1, y=2))
             for b in e.variables] for a in e.variables]
    assert rows == [[4.0, 2.0], [2.0, 12.0]]


def _only(expr, **values):
    return {k: v for k, v in values.items() if k in expr.variables}


@pytest.mark.parametrize("text, value", [
    ("1/0", math.inf), ("-1/0", -math.inf), ("0/0", math.nan), ("log(-1)", math.nan), ("log(0)", -math.inf),
    ("exp(1000)", math.inf), ("exp(1000)-exp(1000)", math.nan), ("sqrt(-1)", math.nan),
    ("(-8)^(1/3)", math.nan), ("0^-1", math.inf), ("10^400", math.inf), ("asin(2)", math.nan),
    ("cosh(1000)", math.inf), ("sin(1e999)", math.nan), ("1/(-0)", -math.inf), ("sign(0/0)", math.nan),
])
def test_ieee_semantics_never_raise(text, value):
    with np.errstate(all="raise"):  # whatever the caller's numpy error state
        got = qsts.evaluate(text)
        arr = qsts.evaluate(text + " + 0*x", x=np.zeros(2))
    assert (math.isnan(got) and math.isnan(value)) or got == value
    assert np.array_equal(arr, [value, value], equal_nan=True)


def test_array_gradients_never_raise_either():
    with np.errstate(all="raise"):
        g = qsts.grad("x*y", x=np.array([1e999, -1e999]), y=1.0)
        assert np.array_equal(g["x"], [1.0, 1.0]) and math.isnan(g["y"])  # inf + -inf
        assert qsts.grad("x*y", x=np.array([1e308, 1e308]), y=1.0)["y"] == math.inf


def test_power_rules_take_the_limit_at_zero():
    # as JAX: x^0 has derivative 0 everywhere; d/dy x^y at x = 0 is the limit 0
    assert qsts.grad("x^0", x=0.0) == {"x": 0.0}
    assert qsts.grad("0^x", x=1.0) == {"x": 0.0}
    assert qsts.grad("x^y", x=0.0, y=2.0) == {"x": 0.0, "y": 0.0}
    assert qsts.grad("x^y", x=2.0, y=3.0) == pytest.approx({"x": 12.0, "y": 8 * math.log(2)}, rel=1e-15)


def test_gradients_at_singular_points_are_ieee():
    with np.errstate(all="raise"):
        assert qsts.grad("log(x)", x=0.0) == {"x": math.inf}
        assert math.isnan(qsts.grad("sqrt(x)*0", x=0.0)["x"])  # inf*0, as autograd and PyTorch


def test_any_identifier_can_be_a_variable():
    assert qsts.grad("lambda*expr + self - x0", **{"lambda": 2, "expr": 3, "self": 1, "x0": 4}) == \
        {"lambda": 3.0, "expr": 2.0, "self": 1.0, "x0": -1.0}
    assert qsts.evaluate("var*2", var=1) == 2.0


def test_array_inputs_give_gradients_of_their_shape():
    x = np.array([1.0, 2.0, 3.0])
    value, g = qsts.value_and_grad("x*y + y", x=x, y=2.0)
    assert np.array_equal(value, [4.0, 6.0, 8.0])
    assert np.array_equal(g["x"], [2.0, 2.0, 2.0])
    assert g["y"] == 9.0 and isinstance(g["y"], float)  # summed over the points: sum(x) + 3
    # broadcasting (3,1) against (4,): per-point partials reduced to each input's shape
    a, b = np.arange(3.0).reshape(3, 1), np.arange(4.0)
    g = qsts.grad("a*b", a=a, b=b)
    assert g["a"].shape == (3, 1) and g["b"].shape == (4,)
    assert np.array_equal(g["a"][:, 0], [b.sum()] * 3) and np.array_equal(g["b"], [a.sum()] * 4)
    # a constant gradient still has its input's shape
    assert np.array_equal(qsts.grad("2*x", x=x)["x"], [2.0, 2.0, 2.0])


def test_array_and_scalar_evaluation_agree():
    xs = np.linspace(-3, 3, 11)
    text = "sin(x)*exp(-x^2) + softplus(x) - atan2(x, 2)"
    arr = qsts.evaluate(text, x=xs)
    # numpy's kernels against libm's: each within 8 ulps (1.8e-15 relative). Each of the
    # three terms takes at most 3 kernels and 2 roundings (5.6e-15 relative), and on this
    # grid the terms' magnitudes add to at most 3.4 times |f| (at x = -0.6): so the two
    # evaluations are within 2*5.6e-15*3.4 = 3.8e-14 of each other, relative
    assert np.allclose(arr, [qsts.evaluate(text, x=float(v)) for v in xs], rtol=5e-14, atol=0)


def test_diff_returns_expressions():
    d = qsts.diff("x^2", "x")
    assert isinstance(d, qsts.Expression) and str(d) == "2*x" and d.variables == ("x",)
    assert str(qsts.diff("x^2", "y")) == "0"
    assert qsts.diff("x*y", "x").variables == ("y",)


def test_check_grad():
    # fixed points: check_grad's central differences (step h = cbrt(eps)) are off by ~1e-11
    # here, a 600th of the bound; kernels 8 ulps off would move them by 16 eps |f|/h, under
    # 3e-9 for the |f| <= 8 here
    assert qsts.check_grad("sin(x*y) + exp(-(x^2+y^2)/2)*log(1+z^2) + tanh(x-z)", x=0.3, y=-0.7, z=1.1) < 1e-8
    assert qsts.check_grad("x^3", x=2.0) < 1e-8


def test_expressions_are_accepted_where_text_is():
    e = qsts.parse("x*y")
    assert qsts.grad(e, x=2, y=3) == {"x": 3.0, "y": 2.0}
    assert qsts.parse(e) is e


def test_repeated_calls_do_not_go_stale():
    text = "x*x + y"
    first = qsts.value_and_grad(text, x=1.0, y=1.0)
    qsts.value_and_grad(text, x=5.0, y=-2.0)
    assert qsts.value_and_grad(text, x=1.0, y=1.0) == first


def test_the_compile_cache_keeps_each_expressions_order_in_a_tuple():
    """api.compiled of a tuple of Expressions (compile takes tuples): equal Expressions
    whose variables are in another order are other VectorFunctions (other positions)."""
    from qsts.api import compiled
    from qsts.expression import Expression

    a = qsts.parse("x - 2*y")
    b = Expression(a.root, ("y", "x"))
    assert a == b  # equal math, another order of positions
    assert compiled((a,)).variables == ("x", "y")
    assert compiled((b,)).variables == ("y", "x")
    assert compiled((b,))(1.0, 2.0).tolist() == [0.0]  # y=1, x=2
