"""The optimizer driver: SPEC section 7."""
import math
import subprocess
import sys

import numpy as np
import pytest

import qsts

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"
QUADRATIC = "(x-1)^2 + 2*(y+2)^2 + (x-y)^2/2"  # convex; its minimum is solved for below


def quadratic_minimum():
    # gradient: 2(x-1) + (x-y) = 0, 4(y+2) - (x-y) = 0  ->  3x - y = 2, -x + 5y = -8
    a = np.array([[3.0, -1.0], [-1.0, 5.0]])
    return np.linalg.solve(a, [2.0, -8.0])


@pytest.mark.parametrize("method, lr", [("gd", 0.1), ("momentum", 0.05), ("nesterov", 0.05), ("adam", 0.05)])
def test_convex_quadratic_to_1e_8_with_every_method(method, lr):
    r = qsts.minimize(QUADRATIC, x0={"x": 5.0, "y": 5.0}, method=method, lr=lr, gtol=1e-10, max_iter=100_000)
    assert r.converged and r.success and "gtol" in r.message
    assert np.max(np.abs([r.x["x"], r.x["y"]] - quadratic_minimum())) < 1e-8


@pytest.mark.parametrize("method, lr, line_search", [("nesterov", 1e-3, False), ("adam", 0.02, False),
                                                     ("gd", 1.0, True)])
def test_rosenbrock_from_the_classic_start(method, lr, line_search):
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method=method, lr=lr, line_search=line_search,
                      gtol=1e-8, max_iter=100_000)
    assert r.converged
    assert abs(r.x["x"] - 1) < 1e-4 and abs(r.x["y"] - 1) < 1e-4
    assert r.nfev >= r.nit and len(r.history) == r.nit + 1
    assert r.history[-1] == r.fun and r.history[0] == 24.199999999999996  # f(-1.2, 1)


TEST_FUNCTIONS = {
    "rosenbrock": (ROSENBROCK, (-1.2, 1.0)),
    "beale": ("(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2", (1.0, 1.0)),
    "booth": ("(x + 2*y - 7)^2 + (2*x + y - 5)^2", (0.0, 0.0)),
    "himmelblau": ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", (0.0, 0.0)),
    "matyas": ("0.26*(x^2 + y^2) - 0.48*x*y", (1.0, 2.0)),
}


@pytest.mark.parametrize("name", sorted(TEST_FUNCTIONS))
def test_same_minimum_as_scipy_bfgs(name):
    so = pytest.importorskip("scipy.optimize")
    text, start = TEST_FUNCTIONS[name]
    objective = qsts.ScipyObjective(text, variables=["x", "y"])
    reference = so.minimize(objective.fun, np.array(start), jac=objective.jac, method="BFGS", options={"gtol": 1e-10})
    r = qsts.minimize(text, x0={"x": start[0], "y": start[1]}, method="gd", lr=1.0, line_search=True,
                      gtol=1e-9, max_iter=200_000)
    assert r.converged
    assert np.allclose([r.x["x"], r.x["y"]], reference.x, atol=1e-6)


def test_one_step_is_a_simultaneous_update():
    # f = x*y from (1, 2), lr 0.1: both partials are taken at (1, 2) before either moves.
    r = qsts.minimize("x*y", x0={"x": 1.0, "y": 2.0}, method="gd", lr=0.1, max_iter=1, gtol=0.0)
    assert r.x == {"x": 1.0 - 0.1 * 2.0, "y": 2.0 - 0.1 * 1.0}  # a sequential update would give y = 1.92
    r = qsts.minimize("x*y", x0={"x": 1.0, "y": 2.0}, method="adam", lr=0.1, max_iter=1, gtol=0.0)
    assert r.x["x"] == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-8), rel=1e-15)
    assert r.x["y"] == pytest.approx(2.0 - 0.1 * 1.0 / (1.0 + 1e-8), rel=1e-15)


def test_non_finite_stops_with_the_last_finite_point():
    r = qsts.minimize("x^4", x0={"x": 3.0}, method="gd", lr=1.0, max_iter=1000)
    assert not r.converged and "not finite" in r.message
    assert math.isfinite(r.x["x"]) and math.isfinite(r.fun) and math.isfinite(r.grad["x"])


def test_data_is_held_fixed():
    r = qsts.minimize("(x - a)^2 + a*y^2", x0={"x": 0.0, "y": 1.0}, data={"a": 3.0}, method="gd", lr=0.1,
                      gtol=1e-10, max_iter=10_000)
    assert r.x == pytest.approx({"x": 3.0, "y": 0.0}, abs=1e-9) and set(r.x) == {"x", "y"}


def test_stopping_on_progress_and_on_the_cap_and_by_callback():
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method="gd", lr=1e-4, ftol=1e-3, max_iter=10_000)
    assert r.converged and "ftol" in r.message and r.nit < 10_000
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method="gd", lr=1e-4, max_iter=7)
    assert not r.converged and r.nit == 7 and "max_iter" in r.message
    seen = []
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, lr=1e-3,
                      callback=lambda state: seen.append(state.nit) or state.nit == 5)
    assert seen == [1, 2, 3, 4, 5] and "callback" in r.message and r["nit"] == 5


@pytest.mark.parametrize("kwargs, words", [
    ({"method": "bfgs"}, "unknown method"), ({"lr": -1.0}, "lr must be"), ({"max_iter": -1}, "max_iter"),
    ({"x0": {"q": 1.0}}, "not in the expression"), ({"x0": {"x": 1.0}}, "no starting value or data for 'y'"),
    ({"x0": {"x": 1.0, "y": 1.0}, "data": {"x": 2.0}}, "both in x0 and in data"),
])
def test_bad_arguments(kwargs, words):
    kwargs = {"x0": {"x": 1.0, "y": 1.0}, **kwargs}
    with pytest.raises(qsts.QstsError, match=words):
        qsts.minimize(ROSENBROCK, **kwargs)


def test_scipy_objective_with_hessian_in_the_callers_order():
    so = pytest.importorskip("scipy.optimize")
    objective = qsts.ScipyObjective("x^2*y^2 + (x-1)^2 + (y-2)^2", variables=["y", "x"])
    assert objective.hess([2.0, 1.0]).tolist() == [[4.0, 8.0], [8.0, 10.0]]  # rows and columns: y, x
    r = so.minimize(objective.fun, objective.x0({"x": 1.0, "y": 0.5}), jac=objective.jac, hess=objective.hess,
                    method="trust-exact", options={"gtol": 1e-10})
    assert r.success and np.allclose(objective.jac(r.x), 0, atol=1e-8)


def test_command_line_minimize_piped():
    out = subprocess.run([sys.executable, "-m", "qsts", "minimize", ROSENBROCK, "x=-1.2", "y=1", "--method",
                          "nesterov", "--lr", "0.001", "--max-iter", "20000"], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("iter 1000  f = ")
    assert "converged: gradient below gtol (1e-06)" in lines and lines[-2].startswith("x = 0.99999")


def test_plot_needs_matplotlib_or_draws(tmp_path, monkeypatch, capsys):
    from qsts.cli import main

    out = tmp_path / "run.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main(["minimize", "x^2", "x=1", "--lr", "0.1", "--plot", str(out)]) == 2
        assert "needs matplotlib" in capsys.readouterr().err
        return
    assert main(["minimize", "x^2", "x=1", "--lr", "0.1", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "adam"])
def test_line_search_never_raises_the_value(method):
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method=method, lr=1.0, line_search=True, max_iter=300)
    assert all(b <= a for a, b in zip(r.history, r.history[1:]))


def test_nothing_to_optimize_and_bad_tolerances():
    r = qsts.minimize("y^2", x0={}, data={"y": 2.0})
    assert r.converged and r.nit == 0 and r.fun == 4.0
    for bad in [{"gtol": float("nan")}, {"gtol": -1.0}, {"ftol": -1.0}, {"x0": None}, {"max_iter": True}]:
        with pytest.raises(qsts.QstsError):
            qsts.minimize("x^2", **{"x0": {"x": 1.0}, **bad})
    assert qsts.minimize("x^2", x0={"x": 1.0}, max_iter=np.int64(3), lr=np.float32(0.1)).nit == 3


def test_command_line_accepts_option_equals_value(capsys):
    from qsts.cli import main

    assert main(["minimize", "x^2", "x=1", "--max-iter=5", "--method=gd", "--lr=0.1"]) == 0
    assert "iterations 5, evaluations 6" in capsys.readouterr().out
    assert main(["minimize", "x^2", "x=1", "--gtol", "nan"]) == 2
