"""The optimizer driver: SPEC section 7."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import qsts
from conftest import sigint_after_evaluations

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"
QUADRATIC = "(x-1)^2 + 2*(y+2)^2 + (x-y)^2/2"  # convex; its minimum is solved for below


def quadratic_minimum():
    # gradient: 2(x-1) + (x-y) = 0, 4(y+2) - (x-y) = 0  ->  3x - y = 2, -x + 5y = -8
    a = np.array([[3.0, -1.0], [-1.0, 5.0]])
    return np.linalg.solve(a, [2.0, -8.0])


@pytest.mark.parametrize("line_search", [False, True])
@pytest.mark.parametrize("method, lr", [("gd", 0.1), ("momentum", 0.05), ("nesterov", 0.05), ("adam", 0.05)])
def test_convex_quadratic_to_1e_8_with_every_method(method, lr, line_search):
    # converged: every partial <= 1e-10, so within sqrt(2)*1e-10/lambda_min (2.7, the
    # Hessian's smallest eigenvalue) = 5e-11 of the minimum, well inside 1e-8
    r = qsts.minimize(QUADRATIC, x0={"x": 5.0, "y": 5.0}, method=method, lr=lr, gtol=1e-10, max_iter=100_000,
                      line_search=line_search)
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
    r = qsts.minimize("x*y", x0={"x": 1.0, "y": 2.0}, method="gd", lr=0.1, max_iter=1, gtol=0.0, line_search=False)
    assert r.x == {"x": 1.0 - 0.1 * 2.0, "y": 2.0 - 0.1 * 1.0}  # a sequential update would give y = 1.92
    r = qsts.minimize("x*y", x0={"x": 1.0, "y": 2.0}, method="adam", lr=0.1, max_iter=1, gtol=0.0,
                      line_search=False)
    # Adam's first step is lr*g/(|g| + 1e-8) per variable; a few roundings (sqrt, hypot,
    # the bias corrections) separate qsts's value from this formula's: 1e-15 covers them
    assert r.x["x"] == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-8), rel=1e-15)
    assert r.x["y"] == pytest.approx(2.0 - 0.1 * 1.0 / (1.0 + 1e-8), rel=1e-15)


def test_non_finite_stops_with_the_last_finite_point():
    r = qsts.minimize("x^4", x0={"x": 3.0}, method="gd", lr=1.0, max_iter=1000, line_search=False)
    assert not r.converged and "not finite" in r.message
    assert math.isfinite(r.x["x"]) and math.isfinite(r.fun) and math.isfinite(r.grad["x"])


def test_data_is_held_fixed():
    r = qsts.minimize("(x - a)^2 + a*y^2", x0={"x": 0.0, "y": 1.0}, data={"a": 3.0}, method="gd", lr=0.1,
                      gtol=1e-10, max_iter=10_000)
    assert r.x == pytest.approx({"x": 3.0, "y": 0.0}, abs=1e-9) and set(r.x) == {"x", "y"}


def test_stopping_on_progress_and_on_the_cap_and_by_callback():
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method="gd", lr=1e-4, ftol=1e-3, max_iter=10_000,
                      line_search=False)
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
                          "nesterov", "--lr", "0.001", "--max-iter", "20000", "--no-line-search"],
                         capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("minimizing over x, y: nesterov, lr 0.001")
    assert lines[1].startswith("iter 1000  f = ")
    assert "converged: gradient below gtol (1e-06)" in lines and lines[-4].startswith("x = 0.99999")
    assert lines[-2].startswith("d/dx = ") and lines[-1].startswith("d/dy = ")


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

    assert main(["minimize", "x^2", "x=1", "--max-iter=5", "--method=gd", "--lr=0.1", "--no-line-search"]) == 1
    assert "iterations 5, evaluations 6" in capsys.readouterr().out
    assert main(["minimize", "x^2", "x=1", "--gtol", "nan"]) == 2


# ---------------------------------------------------------------- defaults (issue 11, finding 7)

@pytest.mark.parametrize("name", sorted(TEST_FUNCTIONS))
def test_the_defaults_converge_on_every_test_function(name):
    """The README's table: defaults only (Adam with the line search, lr 1e-3 as the
    first step, gtol 1e-6, max_iter 10,000)."""
    so = pytest.importorskip("scipy.optimize")
    text, start = TEST_FUNCTIONS[name]
    r = qsts.minimize(text, x0={"x": start[0], "y": start[1]})
    assert r.converged and "gtol" in r.message and r.nit < 2_000
    # |partials| <= 1e-6 puts x within ~1e-6/lambda_min (>= 0.04 here) of a minimum;
    # BFGS to 1e-10 finds the same one (Himmelblau has four)
    objective = qsts.ScipyObjective(text, variables=["x", "y"])
    reference = so.minimize(objective.fun, np.array(start), jac=objective.jac, method="BFGS",
                            options={"gtol": 1e-10})
    assert np.allclose([r.x["x"], r.x["y"]], reference.x, atol=1e-4)


def test_the_readme_line_converges_with_the_defaults_and_exits_0():
    out = subprocess.run([sys.executable, "-m", "qsts", "minimize", ROSENBROCK, "x=-1.2", "y=1"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "converged: gradient below gtol (1e-06)" in out.stdout.splitlines()


def test_not_converging_exits_1():
    out = subprocess.run([sys.executable, "-m", "qsts", "minimize", ROSENBROCK, "x=-1.2", "y=1", "--max-iter", "3"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "not converged: reached max_iter (3)" in out.stdout


def test_the_repl_uses_the_same_defaults():
    from qsts.repl import Session

    lines = []
    s = Session(out=type("Out", (), {"write": lambda self, t: lines.append(t), "flush": lambda self: None})())
    for line in ["x = -1.2", "y = 1", f":minimize {ROSENBROCK}"]:
        s.run(line)
    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0})
    assert f"converged: {r.message}; {r.nit} iterations" in "".join(lines)
    assert s.values == r.x


def test_the_line_search_grows_the_step():
    # from lr 1e-6, fixed steps would need ~1e7 iterations; doubling reaches the scale in ~20
    r = qsts.minimize("(x - 1000)^2", x0={"x": 0.0}, method="gd", lr=1e-6)
    assert r.converged and r.nit < 100 and abs(r.x["x"] - 1000) < 1e-6
    fixed = qsts.minimize("(x - 1000)^2", x0={"x": 0.0}, method="gd", lr=1e-6, line_search=False, max_iter=100)
    assert not fixed.converged and fixed.x["x"] < 1


# ---------------------------------------------------------------- the result (finding 8)

def test_the_result_prints_a_summary_not_its_history():
    r = qsts.minimize("x^2 + y^2", x0={"x": 1.0, "y": 2.0}, method="gd", lr=1e-4, line_search=False,
                      max_iter=10_000, gtol=0.0)
    text = repr(r)
    assert len(r.history) == 10_001 and len(text) < 600 and str(r) == text
    assert "history: 10001 entries (5.0 -> " in text and "success: False" in text and "nit: 10000" in text
    assert text.splitlines()[0] == " message: reached max_iter (10000)"
    big = qsts.minimize("sum(w^2)", x0={"w": np.ones(5000)}, max_iter=2)
    assert len(repr(big)) < 800  # an array parameter is summarized as numpy does


# ---------------------------------------------------------------- Ctrl-C (finding 4)

def test_keyboard_interrupt_returns_the_point_reached():
    def stop_at_5(r):
        if r.nit == 5:
            raise KeyboardInterrupt

    r = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method="gd", lr=1e-4, line_search=False,
                      callback=stop_at_5)
    assert (r.success, r.converged, r.message, r.nit, len(r.history)) == (False, False, "interrupted", 5, 6)
    again = qsts.minimize(ROSENBROCK, x0={"x": -1.2, "y": 1.0}, method="gd", lr=1e-4, line_search=False,
                          max_iter=5)
    assert r.x == again.x and r.fun == again.fun and r.grad == again.grad  # the 5th point, whole


def test_a_real_sigint_interrupts_minimize():
    """SIGINT (Ctrl-C) sent to this process mid-run: minimize returns what it reached."""
    with sigint_after_evaluations(200):  # the run would need a billion steps
        r = qsts.minimize("x^2 + y^2", x0={"x": 1.0, "y": 1.0}, method="gd", lr=1e-12, line_search=False,
                          gtol=0.0, max_iter=10**9)
    assert r.message == "interrupted" and not r.success and r.nit >= 198  # the 200th evaluation is iteration 199's
    assert len(r.history) == r.nit + 1 and r.history[-1] == r.fun and 0 < r.x["x"] < 1.0
    assert len(r.grad_norms) == len(r.history) and r.grad_norms[-1] == abs(r.grad["x"])  # kept in step too


# ---------------------------------------------------------------- --plot (finding 6)

PLOT_RUN = ["minimize", "(x-1)^2 - 5", "x=3"]


@pytest.mark.parametrize("target, words", [
    ("{tmp}/missing/run.png", "does not exist"),
    ("{tmp}/run.xyz", "cannot write .xyz files"),
    ("{tmp}", "is a directory"),
    ("", "needs a file name"),
    pytest.param("/proc/qsts-plot.png", "cannot write", marks=pytest.mark.skipif(
        not os.path.isdir("/proc/self"), reason="a folder even root cannot write to: Linux's /proc")),
])
def test_a_bad_plot_target_is_refused_before_the_run(capsys, tmp_path, target, words):
    pytest.importorskip("matplotlib")
    from qsts.cli import main

    assert main([*PLOT_RUN, "--plot", target.format(tmp=tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and words in err  # nothing ran


def test_plot_without_matplotlib_is_refused_before_the_run(capsys, tmp_path, monkeypatch):
    from qsts.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main([*PLOT_RUN, "--plot", str(tmp_path / "run.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--plot needs matplotlib" in err


def test_plot_says_the_file_it_wrote(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from qsts.cli import main

    assert main([*PLOT_RUN, "--plot", str(tmp_path / "run")]) == 0
    assert f"wrote {tmp_path / 'run.png'}" in capsys.readouterr().out.splitlines()
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "run").exists()
    assert main([*PLOT_RUN, "--plot", str(tmp_path / "run.svg")]) == 0
    assert (tmp_path / "run.svg").read_text().lstrip().startswith("<?xml")


def test_plot_after_no_iteration_and_no_file_from_a_refused_run(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from qsts.cli import main

    assert main(["minimize", "(x-1)^2", "x=1", "--plot", str(tmp_path / "zero.png")]) == 0  # converged at the start
    assert (tmp_path / "zero.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["minimize", "x + y", "x=1", "--plot", str(tmp_path / "never.png")]) == 2  # y has no start
    out, err = capsys.readouterr()
    assert "no starting value or data for 'y'" in err and "minimizing" not in out  # the error prints alone
    assert not (tmp_path / "never.png").exists()  # the check's trial file is gone


def test_plot_spans_beyond_the_largest_float_odd_targets_and_symlinks(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from qsts.cli import main

    # f - min(f) overflows, and values near 1.7e308 broke matplotlib's log axis (review of issue 11)
    assert main(["minimize", "1.7e308*sin(x)", "x=1.5", "--plot", str(tmp_path / "big.png")]) == 1  # gtol: never
    assert (tmp_path / "big.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.path.exists("/dev/null"):  # a device without an extension: not turned into /dev/null.png
        assert main(["minimize", "x^2", "x=1", "--plot", "/dev/null"]) == 2
        assert "not a regular file" in capsys.readouterr().err and not os.path.exists("/dev/null.png")
    if hasattr(os, "mkfifo"):  # opening a pipe to test it would block until a reader comes
        os.mkfifo(tmp_path / "pipe.png")
        assert main(["minimize", "x^2", "x=1", "--plot", str(tmp_path / "pipe.png")]) == 2
        assert "not a regular file" in capsys.readouterr().err
    link, target = tmp_path / "link.png", tmp_path / "target.png"
    link.symlink_to(target)  # dangling: a refused run leaves both as they were
    assert main(["minimize", "x + y", "x=1", "--plot", str(link)]) == 2
    assert link.is_symlink() and not target.exists()
    assert main(["minimize", "x^2", "x=1", "--plot", str(link)]) == 0  # written through the link
    assert link.is_symlink() and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_negative_objective_is_plotted_above_its_minimum():
    from qsts.plotting import plotted_values

    assert plotted_values([4.0, 2.0, 1.0]) == ([4.0, 2.0, 1.0], "f")  # positive: f on the log scale
    shown, label = plotted_values([3.0, -1.0, -4.0, -5.0])  # |f| would dip to 1 then rise: a V
    assert shown == [8.0, 4.0, 1.0, 0.0] and label.startswith("f - min(f)")
    assert all(a >= b for a, b in zip(shown, shown[1:]))
