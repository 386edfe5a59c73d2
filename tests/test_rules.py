"""Every row of the operator table: derivative against central differences at
several points of its domain, and the float kernel against the numpy kernel.

Why the tolerances hold: every input here is a fixed number, so what could
change a result on another machine (or after a correct change to qsts) is only
the last bits of the kernels and of the rules' arithmetic. That moves a central
difference by at most 2*K ulps of |f| over 2h (K = 8 ulps per kernel, as in
test_properties): at most 3.5e-15*|f|/h, under a tenth of the tolerance in every
case here, first and second derivatives (checked case by case). Truncation,
fixed by the points, is below 0.3% of the tolerance in every case (measured).
"""
import math
import re

import numpy as np
import pytest

import qsts
from qsts.ops import OPS
from conftest import central_difference, close

# One line per operator: an expression using it and points away from kinks.
CASES = {
    "add": ("x + y", [(0.3, -1.2), (2.0, 5.0)]),
    "sub": ("x - y", [(0.3, -1.2), (2.0, 5.0)]),
    "mul": ("x * y", [(0.3, -1.2), (2.0, 5.0)]),
    "div": ("x / y", [(0.3, -1.2), (2.0, 5.0), (-4.0, 0.25)]),
    "pow": ("x ^ y", [(0.3, -1.2), (2.0, 1.5), (1.7, 3.0)]),
    "neg": ("-x", [(0.3,), (-2.0,)]),
    "sin": ("sin(x)", [(0.3,), (-2.0,), (10.0,)]),
    "cos": ("cos(x)", [(0.3,), (-2.0,), (10.0,)]),
    "tan": ("tan(x)", [(0.3,), (-1.2,), (4.0,)]),
    "asin": ("asin(x)", [(0.3,), (-0.9,), (0.5,)]),
    "acos": ("acos(x)", [(0.3,), (-0.9,), (0.5,)]),
    "atan": ("atan(x)", [(0.3,), (-20.0,), (3.0,)]),
    "sinh": ("sinh(x)", [(0.3,), (-2.0,), (5.0,)]),
    "cosh": ("cosh(x)", [(0.3,), (-2.0,), (5.0,)]),
    "tanh": ("tanh(x)", [(0.3,), (-2.0,), (5.0,)]),
    "exp": ("exp(x)", [(0.3,), (-2.0,), (5.0,)]),
    "log": ("log(x)", [(0.3,), (2.0,), (50.0,)]),
    "sqrt": ("sqrt(x)", [(0.3,), (2.0,), (50.0,)]),
    "abs": ("abs(x)", [(0.3,), (-2.0,)]),
    "sign": ("sign(x)", [(0.3,), (-2.0,)]),
    "sigmoid": ("sigmoid(x)", [(0.3,), (-2.0,), (8.0,)]),
    "relu": ("relu(x)", [(0.3,), (-2.0,)]),
    "softplus": ("softplus(x)", [(0.3,), (-2.0,), (8.0,)]),
    "atan2": ("atan2(x, y)", [(0.3, -1.2), (2.0, 5.0), (-1.0, 0.5)]),
    "min": ("min(x, y)", [(0.3, -1.2), (2.0, 5.0)]),
    "max": ("max(x, y)", [(0.3, -1.2), (2.0, 5.0)]),
    "heaviside": ("heaviside(x, y)", [(0.3, 0.5), (-2.0, 0.5)]),
    "log10": ("log10(x)", [(0.3,), (2.0,), (50.0,)]),
    "log2": ("log2(x)", [(0.3,), (2.0,), (50.0,)]),
    "log1p": ("log1p(x)", [(0.3,), (-0.5,), (5.0,)]),
    "expm1": ("expm1(x)", [(0.3,), (-2.0,), (5.0,)]),
    "erf": ("erf(x)", [(0.3,), (-1.2,), (2.0,)]),
    "erfc": ("erfc(x)", [(0.3,), (-1.2,), (2.0,)]),
    "cbrt": ("cbrt(x)", [(0.3,), (-2.0,), (50.0,)]),
    "hypot": ("hypot(x, y)", [(0.3, -1.2), (2.0, 5.0), (-4.0, 0.25)]),
    "sum": ("sum(x)", [(0.3,), (-2.0,)]),
    "mean": ("mean(x)", [(0.3,), (-2.0,)]),
    "size": ("size(x) * x + size(x)", [(0.3,), (-2.0,)]),
}
# Rows the language cannot write: each is tested where it is made (test_reductions.py).
INTERNAL = {"total"}


def test_every_operator_has_a_case():
    assert set(CASES) | INTERNAL == set(OPS)
    # and no name the grammar accepts (SPEC: [A-Za-z_][A-Za-z0-9_]*) reaches them
    assert not any(OPS[n].callable or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", OPS[n].token) for n in INTERNAL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivative_matches_central_differences(name):
    text, points = CASES[name]
    names = qsts.parse(text).variables
    for point in points:
        values = dict(zip(names, point))
        g = qsts.grad(text, **values)
        for v in names:
            assert close(g[v], central_difference(text, v, values)), (name, point, v)


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivative_matches_central_differences(name):
    text, points = CASES[name]
    names = qsts.parse(text).variables
    for point in points:
        values = dict(zip(names, point))
        for v in names:
            d = str(qsts.diff(text, v))  # printed derivative, parsed back and differentiated again
            dd = qsts.grad(d, **{k: values[k] for k in qsts.parse(d).variables}) if qsts.parse(d).variables else {}
            for w in names:
                numeric = central_difference(d, w, {k: values[k] for k in qsts.parse(d).variables}) \
                    if w in dd else 0.0
                assert close(dd.get(w, 0.0), numeric, rtol=1e-5, atol=1e-6), (name, point, v, w)


POINTS = np.array([-np.inf, -1e300, -700.0, -2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.5, 700.0, 1e300, np.inf, np.nan])


POINTWISE = sorted(n for n in OPS if OPS[n].reduction is None)  # reductions are not pointwise


@pytest.mark.parametrize("name", POINTWISE)
def test_scalar_and_array_kernels_agree(name):
    op = OPS[name]
    grid = np.meshgrid(*[POINTS] * op.arity) if op.arity > 1 else [POINTS]
    columns = [g.ravel() for g in grid]
    with np.errstate(all="raise"):  # the kernels must not depend on the caller's error state
        scalar = np.array([op.scalar(*(float(c[i]) for c in columns)) for i in range(columns[0].size)])
    with np.errstate(all="ignore"):
        array = op.array(*columns)
    # At a fixed float each kernel is within K = 8 ulps (1.8e-15 relative) of the exact
    # result, so the two agree within 3.6e-15 < 1e-14 (they differ by 1 ulp at most today);
    # no result on this grid is subnormal, and where IEEE fixes it (0, inf, nan) both give it.
    assert np.allclose(scalar, array, rtol=1e-14, atol=0, equal_nan=True), name
    numbers = ~np.isnan(scalar)  # and the sign of zero (a NaN's sign means nothing)
    assert np.array_equal(np.signbit(scalar[numbers]), np.signbit(array[numbers])), name


@pytest.mark.parametrize("text, values, expected", [
    ("abs(x)", {"x": 0.0}, {"x": 0.0}),                  # abs'(0) = 0, as PyTorch
    ("relu(x)", {"x": 0.0}, {"x": 0.0}),                 # relu'(0) = 0
    ("max(x, x)", {"x": 1.5}, {"x": 1.0}),               # ties split evenly, as JAX
    ("min(x, x)", {"x": 1.5}, {"x": 1.0}),
    ("max(x, y)", {"x": 2.0, "y": 2.0}, {"x": 0.5, "y": 0.5}),
    ("sqrt(x)", {"x": 0.0}, {"x": math.inf}),
    ("sign(x)", {"x": 0.0}, {"x": 0.0}),
    ("heaviside(x, h)", {"x": 0.0, "h": 0.3}, {"x": 0.0, "h": 1.0}),
    ("heaviside(x, h)", {"x": 2.0, "h": 0.3}, {"x": 0.0, "h": 0.0}),
    ("x^3", {"x": -2.0}, {"x": 12.0}),                   # constant exponent: finite for x < 0
    ("x^2", {"x": 0.0}, {"x": 0.0}),
    ("x^0.5", {"x": 0.0}, {"x": math.inf}),
])
def test_non_smooth_and_edge_points(text, values, expected):
    # exact: every expected value is 0, a half, a small integer or inf, with no rounding on the way
    assert qsts.grad(text, **values) == expected


@pytest.mark.parametrize("text, printed", [
    ("abs(x)", "sign(x)"),
    ("relu(x)", "heaviside(x, 0)"),
    ("max(x, y)", "heaviside(x - y, 0.5)"),
    ("min(x, 2)", "heaviside(2 - x, 0.5)"),
])
def test_derivatives_of_non_smooth_functions_print_and_parse_back(text, printed):
    d = qsts.diff(text, "x")
    assert str(d) == printed
    assert qsts.parse(printed).root is d.root


def test_reductions_are_the_identity_on_scalars():
    assert qsts.value_and_grad("sum(x)*mean(x)", x=3.0) == (9.0, {"x": 6.0})
    assert qsts.value_and_grad("size(x)*x", x=3.0) == (3.0, {"x": 1.0})
    assert str(qsts.diff("mean(x)", "x")) == "1/size(x)"  # the derivative per point, also for arrays
    assert str(qsts.diff("sum(x*sum(x))", "x")) == "sum(x) + sum(x)"


@pytest.mark.parametrize("name", [n for n in POINTWISE if OPS[n].arity == 1])
def test_array_kernels_accept_a_scalar_beside_arrays(name):
    # y is a scalar while x is an array: the array column then gets a Python float
    text = f"{name}(y) * x" if OPS[name].callable else "-y * x"
    got = qsts.evaluate(text, x=np.ones(2), y=0.3)
    # f(0.3) by either kernel is within 8 ulps of the truth, and the product with 1 is exact
    assert np.allclose(got, [qsts.evaluate(text, x=1.0, y=0.3)] * 2, rtol=1e-14)
