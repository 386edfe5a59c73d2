"""`OptimizeResult.plot()`: value and max |partial| per iteration, as the CLI's --plot draws them."""
import math
import sys

import pytest

import qsts
from qsts.cli import main
from qsts.errors import QstsError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # no window, whatever the environment says


def logs(values):
    return [math.log10(v) if v > 0 else math.nan for v in values]


def ydata(line):
    return [float(v) for v in line.get_ydata()]


def same(a, b):
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


def test_the_driver_keeps_max_abs_partial_per_iteration():
    seen = []
    r = qsts.minimize("(x-3)^2 + 10*(y+1)^2", {"x": 0.0, "y": 0.0}, callback=lambda r: seen.append(r.grad_norms[-1]))
    assert r.converged and len(r.grad_norms) == len(r.history) == r.nit + 1
    assert r.grad_norms[0] == 20.0  # max(|2*(0-3)|, |20*(0+1)|) at the start: the infinity norm, as gtol
    assert r.grad_norms[-1] == max(abs(v) for v in r.grad.values()) <= 1e-6
    assert seen == r.grad_norms[1:]  # the callback sees each iteration's as it comes


def test_plot_draws_history_and_norms():
    from matplotlib.figure import Figure

    r = qsts.minimize("(x-3)^2 + 1", {"x": 0.0}, method="gd", line_search=False, lr=0.1, max_iter=30)
    fig = r.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    (value,), (norm,) = fig.axes[0].get_lines(), fig.axes[1].get_lines()
    assert same(ydata(value), logs(r.history)) and list(value.get_xdata()) == list(range(31))
    assert same(ydata(norm), logs(r.grad_norms)) and list(norm.get_xdata()) == list(range(31))
    assert fig.axes[0].get_ylabel() == "log10 of f" and fig.axes[1].get_ylabel() == "log10 max |partial|"


def test_a_negative_objective_is_drawn_above_its_minimum():
    r = qsts.minimize("(x-1)^2 - 5", {"x": 3.0})
    fig = r.plot()
    low = min(r.history)
    assert same(ydata(fig.axes[0].get_lines()[0]), logs([v - low for v in r.history]))
    assert fig.axes[0].get_ylabel().startswith("log10 of f - min(f)")


def test_runs_overlay_on_given_axes():
    a = qsts.minimize("(x-3)^2", {"x": 0.0}, method="gd")
    b = qsts.minimize("(x-3)^2", {"x": 0.0}, method="adam")
    fig = a.plot(label="gd")
    assert b.plot(ax=fig.axes, label="adam") is fig
    top, bottom = fig.axes
    assert [line.get_label() for line in top.get_lines()] == ["gd", "adam"] == [t.get_text() for t in
                                                                                top.get_legend().get_texts()]
    assert same(ydata(bottom.get_lines()[1]), logs(b.grad_norms))
    from matplotlib.figure import Figure

    one = Figure().subplots()  # one Axes: both curves of both runs on it
    a.plot(ax=one)
    b.plot(ax=one, label="adam")
    assert len(one.get_lines()) == 4 and one.get_lines()[3].get_label() == "adam: max |partial|"
    assert same(ydata(one.get_lines()[2]), logs(b.history))
    with pytest.raises(QstsError, match="ax must be a matplotlib Axes"):
        a.plot(ax=[one, one, one])


def test_without_matplotlib_plot_says_how_to_install(monkeypatch):
    r = qsts.minimize("x^2", {"x": 1.0})
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # importing it now raises ImportError
    with pytest.raises(QstsError, match=r"pip install 'qsts\[plot\]'"):
        r.plot()


def test_the_cli_writes_the_same_figure(tmp_path, capsys):
    path = tmp_path / "run.svg"
    assert main(["minimize", "(x-1)^2 - 5", "x=3", "--plot", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "max |partial|" in svg and "iteration" in svg
