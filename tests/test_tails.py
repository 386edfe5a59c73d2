"""Derivatives that keep their digits in the tails (issue 11, finding 11).

Oracle: each derivative written by hand and evaluated with mpmath at 50 digits,
at points where rules such as y*(1 - y) for sigmoid or 1 - y^2 for tanh round to
exactly 0 (relative error 1). qsts must be within 1e-13 relative on the scalar
path and on the array path. Why that holds: each rule is a product or quotient
of a few kernels (each within 8 ulps, 1.8e-15) and exact sign flips, with no
cancellation, so the error is at most about 6 x 1.8e-15 = 1.1e-14; where the
true value is below float64's range the correctly rounded answer, 0, is asked.
"""
import mpmath
import numpy as np
import pytest

import qsts

mpmath.mp.dps = 50
M = mpmath


def _sigmoid(x):
    return 1 / (1 + M.exp(-x))


# (expression, variable, other values, the derivative at 50 digits, points)
CASES = [
    ("sigmoid(x)", lambda x: _sigmoid(x) * _sigmoid(-x), [20.0, 40.0, 700.0, -20.0, -40.0, -700.0, 0.0]),
    ("tanh(x)", lambda x: 1 / M.cosh(x) ** 2, [20.0, 40.0, 300.0, 700.0, -20.0, -40.0, -300.0, -700.0, 1e-3]),
    ("softplus(x)", _sigmoid, [-40.0, -700.0, 40.0, 700.0]),
    ("exp(x)", M.exp, [-700.0, 700.0, -1e-3]),
    ("log(x)", lambda x: 1 / x, [1e-300, 1e300, 1.0 + 2.0 ** -40]),
    ("x^3", lambda x: 3 * x ** 2, [1e-100, -1e100, 1e-3]),
    # 1/(1 + x^2) holds while the truth is a normal float, |x| < 6.7e153; beyond, x^2
    # overflows and the derivative is 0 where the truth is subnormal (README, tails)
    ("atan(x)", lambda x: 1 / (1 + x ** 2), [1e10, 1e150, -1e100, 6.7e153, -6.7e153]),
    ("asin(x)", lambda x: 1 / M.sqrt(1 - x ** 2), [1 - 2.0 ** -30, -(1 - 2.0 ** -40), 1 - 2.0 ** -52]),
    ("acos(x)", lambda x: -1 / M.sqrt(1 - x ** 2), [1 - 2.0 ** -30, -(1 - 2.0 ** -40), 1 - 2.0 ** -52]),
    ("2^x", lambda x: M.mpf(2) ** x * M.log(2), [-1000.0, 1000.0]),
]
POINTS = [(text, d, x) for text, d, points in CASES for x in points]


def _check(got: float, exact) -> None:
    expected = float(exact)  # the correctly rounded value (0.0 below float64's range)
    if expected == 0.0:
        assert got == 0.0
    else:
        assert abs(got - exact) <= 1e-13 * abs(exact), (got, expected)


@pytest.mark.parametrize("text, derivative, x", POINTS, ids=[f"{t}@{x:g}" for t, _, x in POINTS])
def test_derivative_in_the_tails_against_50_digits(text, derivative, x):
    exact = derivative(M.mpf(x))  # x is a float: mpf holds it exactly
    _check(qsts.grad(text, x=x)["x"], exact)
    _check(float(qsts.grad(text, x=np.array([x, x]))["x"][1]), exact)  # numpy kernels
    _check(qsts.compile(text).grad(x=x)["x"], exact)  # generated code


@pytest.mark.parametrize("x", [-800.0, -745.0, -720.0, -709.5, -40.0, 40.0, 800.0])
def test_sigmoid_keeps_its_tail(x):
    """sigmoid's own value down to the subnormals, scalar and array, as 1/(1 + e^-x)."""
    exact = _sigmoid(M.mpf(x))
    for got in (qsts.evaluate("sigmoid(x)", x=x), float(qsts.evaluate("sigmoid(x)", x=np.array([x]))[0])):
        if abs(exact) < 2.2250738585072014e-308:  # subnormal: within the 8 ulps of a kernel, absolute there
            assert abs(got - exact) <= 8 * 2.0 ** -1074
        else:
            _check(got, exact)
