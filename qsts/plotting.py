"""Drawing a minimize run with matplotlib (`OptimizeResult.plot`, the CLI's `--plot`).

matplotlib is optional (the `plot` extra): imported inside the functions only.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import QstsError


def draw_run(history, grad_norms, ax=None, label: str | None = None):
    """The Figure `OptimizeResult.plot` returns (see there): log10 of the value
    and of max |partial| against iteration, into `ax` if given."""
    if not history:
        raise QstsError("nothing to plot: the result has no history")
    top, bottom, fig = _plot_axes(ax)
    shown, what = plotted_values(history)
    norms = grad_norms[:len(history)]
    same = top is bottom
    name = (label + ": ") if label and same else (label or "")
    top.plot(range(len(shown)), _log10(shown), label=(name + what) if same else name or None)
    bottom.plot(range(len(norms)), _log10(norms), linestyle="--" if same else "-",
                label=(name + "max |partial|") if same else name or None)
    top.set_ylabel("log10" if same else f"log10 of {what}")
    if not same:
        bottom.set_ylabel("log10 max |partial|")
    bottom.set_xlabel("iteration")
    if label or same:
        for a in [top] if same else [top, bottom]:
            a.legend()
    if ax is None:
        fig.tight_layout()
    return fig


def _plot_axes(ax) -> tuple:
    """(top, bottom, figure) for `OptimizeResult.plot`: two new stacked axes on a
    new Figure, or the ones given (a pair, or one Axes for both)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise QstsError("OptimizeResult.plot needs matplotlib: pip install 'qsts[plot]'") from None
    if ax is None:
        fig = Figure(figsize=(7, 6))
        top, bottom = fig.subplots(2, 1, sharex=True)
        return top, bottom, fig
    axes = [ax] if hasattr(ax, "plot") else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) not in (1, 2) or not all(hasattr(a, "plot") for a in axes):
        raise QstsError(f"ax must be a matplotlib Axes or a pair of them (value, gradient norm), got {ax!r:.80}")
    return axes[0], axes[-1], axes[0].figure


def plotted_values(values) -> tuple[list[float], str]:
    """What the value's panel draws on a log scale: f itself while it stays positive;
    once it goes to 0 or below, f - min(f) (a log scale of |f| would draw a V)."""
    low = min(values)
    if low > 0:
        return list(values), "f"
    with np.errstate(over="ignore"):  # a span beyond the largest float is not drawn (nan), not an error
        shown = [d if math.isfinite(d) else math.nan for d in (float(np.float64(v) - low) for v in values)]
    return shown, f"f - min(f)   (min(f) = {low:.6g})"


def _log10(values) -> list[float]:
    """Base-10 logarithms to draw on a linear axis (matplotlib's log axis fails
    on values near the largest float); 0 and below are not drawn (nan)."""
    return [math.log10(v) if v > 0 else math.nan for v in values]
