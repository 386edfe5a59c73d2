"""Fitting models to data with `minimize(..., data=...)` (issue 7).

Oracles: numpy.polyfit for the straight line, scipy's curve_fit for the curve,
and Newton's method written here in numpy for the logistic regression's maximum
likelihood. "Within the noise" means within 4 standard errors, each computed
from the data (the Jacobian at the fit, or the Fisher information).

Why the tolerances hold. A run that converged has every partial at most gtol,
so it is within sqrt(n)*gtol/lambda_min of the minimum, lambda_min the Hessian's
smallest eigenvalue there (0.49 for the line, 0.060 for the decay, 0.056 for the
logistic loss, on these data): 3e-12, 3e-10 and 3e-9, far inside the 1e-8, 1e-6
(relative) and 1e-7 asked. The oracles are exact to rounding: polyfit and Newton
(run until its step is below 1e-15) solve to about cond*eps, and curve_fit's
Levenberg-Marquardt stops on a relative step below 1.5e-8, after which its error
is smaller still. The statistical checks (4 standard errors: a 6e-5 chance per
parameter for fresh data) run on data fixed by seeds, so they cannot flake.
"""
import numpy as np
import pytest

import qsts


def line_data(n=200, seed=7):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 10, n)
    return t, 1.7 * t - 3.2 + rng.normal(0, 0.5, n)


@pytest.mark.parametrize("method, lr, line_search", [
    ("nesterov", 0.005, False), ("adam", 0.05, False), ("gd", 0.005, False),
    # Armijo alone stalls ~1e-8 away here: decreases fall below f's rounding (see _armijo)
    ("gd", 1.0, True),
])
def test_straight_line_matches_polyfit(method, lr, line_search):
    t, y = line_data()
    before = t.copy(), y.copy()
    r = qsts.minimize("mean((a*t + b - y)^2)", x0={"a": 0.0, "b": 0.0}, data={"t": t, "y": y},
                      method=method, lr=lr, gtol=1e-12, max_iter=50_000, line_search=line_search)
    slope, intercept = np.polyfit(t, y, 1)
    assert r.converged, r.message
    assert abs(r.x["a"] - slope) < 1e-8 and abs(r.x["b"] - intercept) < 1e-8
    assert set(r.x) == {"a", "b"} and set(r.grad) == {"a", "b"}  # the data are held, not fitted
    assert np.array_equal(t, before[0]) and np.array_equal(y, before[1])  # and not touched


def test_straight_line_recovers_its_parameters_within_the_noise():
    t, y = line_data(n=500, seed=8)
    r = qsts.minimize("mean((a*t + b - y)^2)", x0={"a": 0.0, "b": 0.0}, data={"t": t, "y": y},
                      method="nesterov", lr=0.005, gtol=1e-10, max_iter=50_000)
    X = np.column_stack([t, np.ones_like(t)])
    sigma2 = np.sum((X @ [r.x["a"], r.x["b"]] - y) ** 2) / (len(t) - 2)
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))
    assert abs(r.x["a"] - 1.7) < 4 * se[0] and abs(r.x["b"] + 3.2) < 4 * se[1]


def test_exponential_decay_matches_curve_fit_and_the_truth():
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(9)
    t = np.linspace(0, 4, 300)
    true = {"A": 2.5, "k": 1.3, "c": 0.5}
    y = true["A"] * np.exp(-true["k"] * t) + true["c"] + rng.normal(0, 0.05, t.size)
    r = qsts.minimize("mean((A*exp(-k*t) + c - y)^2)", x0={"A": 1.0, "k": 0.5, "c": 0.0},
                      data={"t": t, "y": y}, method="adam", lr=0.01, gtol=1e-11, max_iter=100_000)
    assert r.converged, r.message
    popt, pcov = curve_fit(lambda t, A, k, c: A * np.exp(-k * t) + c, t, y, p0=[1.0, 0.5, 0.0])
    got = np.array([r.x["A"], r.x["k"], r.x["c"]])
    np.testing.assert_allclose(got, popt, rtol=1e-6)
    se = np.sqrt(np.diag(pcov))
    assert np.all(np.abs(got - [true["A"], true["k"], true["c"]]) < 4 * se)


def logistic_mle(t, y):
    """Newton's method on the mean logistic loss: the maximum likelihood, and its standard errors."""
    X = np.column_stack([t, np.ones_like(t)])
    w = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(y * (X @ w)))          # sigmoid(-y*z)
        grad = -(X * (y * p)[:, None]).mean(axis=0)
        H = (X * (p * (1 - p))[:, None]).T @ X / len(t)
        step = np.linalg.solve(H, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-15:
            break
    se = np.sqrt(np.diag(np.linalg.inv(H * len(t))))
    return w, se


def test_logistic_regression_finds_the_maximum_likelihood():
    rng = np.random.default_rng(10)
    t = rng.normal(0, 1.5, 4000)
    y = np.where(rng.uniform(size=t.size) < 1 / (1 + np.exp(-(2.0 * t - 0.5))), 1.0, -1.0)
    r = qsts.minimize("mean(log(1 + exp(-y*(a*t + b))))", x0={"a": 0.0, "b": 0.0},
                      data={"t": t, "y": y}, method="nesterov", lr=0.5, gtol=1e-10, max_iter=50_000)
    assert r.converged, r.message
    w, se = logistic_mle(t, y)
    assert abs(r.x["a"] - w[0]) < 1e-7 and abs(r.x["b"] - w[1]) < 1e-7
    assert abs(w[0] - 2.0) < 4 * se[0] and abs(w[1] + 0.5) < 4 * se[1]


def test_function_calls_take_data_by_name():
    t, y = line_data()
    f = qsts.compile("sum((a*t + b - y)^2)", wrt=["a", "b"])
    value, g = f.value_and_grad(a=1.7, b=-3.2, t=t, y=y)
    r = 1.7 * t - 3.2 - y
    # the same residuals bit for bit (the same IEEE operations); the sums of 200 terms
    # differ by at most ~8 eps times the sum of |terms|, which is 12 times |sum r*t| and
    # |sum r| on these data (1 for sum r^2): 2e-14 relative at most
    assert value == pytest.approx(np.sum(r ** 2), rel=1e-13)
    assert g["a"] == pytest.approx(2 * np.sum(r * t), rel=1e-12)
    assert g["b"] == pytest.approx(2 * np.sum(r), rel=1e-12)
