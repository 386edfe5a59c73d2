"""`minimize`'s methods and its line search (the driver is `qsts.optimize`).

A method proposes a step from the gradient at x, and may ask for the gradient
at a look-ahead point; its state lives in a dict for one run. `line_search`
scales a proposed step; `problem` is anything with `value(x)` and
`value_and_grad(x)` over a vector of the variables.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

MOMENTUM, BETA1, BETA2, EPS = 0.9, 0.9, 0.999, 1e-8
ARMIJO_C, SHRINK = 1e-4, 0.5
MAX_TRIALS, MAX_SCALE = 2100, 2.0 ** 1023  # halvings span every float; doubling up to overflow
APPROX_WOLFE_DELTA = 0.1  # Hager and Zhang's delta


def _gd(state, g, lr, lookahead):
    return -lr * g


def _momentum(state, g, lr, lookahead):
    v = MOMENTUM * state.get("velocity", 0.0) - lr * g
    state["velocity"] = v
    return v


def _nesterov(state, g, lr, lookahead):
    v = state.get("velocity", np.zeros_like(g))
    g_ahead = lookahead(MOMENTUM * v)  # the gradient where momentum is about to carry x
    v = MOMENTUM * v - lr * g_ahead
    state["velocity"] = v
    return v


def _adam(state, g, lr, lookahead):
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = BETA1 * state.get("m", 0.0) + (1 - BETA1) * g
    # r = sqrt(v), Adam's root mean square, updated with hypot: v itself (g*g) would
    # overflow once |g| > 1e154 and freeze the step at 0
    r = state["r"] = np.hypot(math.sqrt(BETA2) * state.get("r", 0.0), math.sqrt(1 - BETA2) * g)
    return -lr * (m / (1 - BETA1 ** t)) / (r / math.sqrt(1 - BETA2 ** t) + EPS)


METHODS: dict[str, Callable] = {"gd": _gd, "momentum": _momentum, "nesterov": _nesterov, "adam": _adam}


def line_search(problem, x, fx, g, step, state) -> np.ndarray | None:
    """Scale `step` until f(x + step) <= f(x) + c * g.step, or None if no scale
    helps. A step that goes uphill is swapped for steepest descent of its length,
    one that overflowed for steepest descent as long as floats go; and when the
    method's direction finds no decrease (a momentum that lags, a descent lost to
    rounding at x's resolution), steepest descent is tried before giving up.
    Each search starts from twice the last accepted scale, so steps grow as well
    as shrink: `lr` sets only the first trial.

    Near a minimum the decrease c * g.step falls below the rounding of f, and
    comparing values can no longer tell a good step from a bad one (plain Armijo
    then stalls about sqrt(eps) away). There, as Hager and Zhang's approximate
    Wolfe condition does, a step whose value is within rounding of f(x) is judged
    by the slope at its end, which the gradient gives accurately:
    g(x + step).step <= (1 - 2 delta) |g.step|.
    """
    steepest = -g * (_norm(step) / _norm(g))
    if not _slope(g, step)[0] < 0:
        step = steepest
    found = _search(problem, x, fx, g, step, state)
    if found is None and step is not steepest and np.all(np.isfinite(step)):
        found = _search(problem, x, fx, g, steepest, state)
    return found


def _norm(v: np.ndarray) -> float:
    """The 2-norm, also where squaring the entries overflows (|v| past 1e154)."""
    n = float(np.linalg.norm(v))
    if n == math.inf and np.all(np.isfinite(v)):
        big = float(np.max(np.abs(v)))
        n = big * float(np.linalg.norm(v / big))
    return n


def _slope(g: np.ndarray, step: np.ndarray) -> tuple[float, float, float]:
    """g.step as (s, a, b) with g.step = a * b * s: (g.step, 1, 1) where it is a
    float, else the slope of the two scaled to a largest entry of 1, and their sizes."""
    slope = float(g @ step)
    if math.isfinite(slope) or not (np.all(np.isfinite(g)) and np.all(np.isfinite(step))):
        return slope, 1.0, 1.0
    a, b = float(np.max(np.abs(step))), float(np.max(np.abs(g)))
    return float((g / b) @ (step / a)), a, b


def _search(problem, x, fx, g, step, state) -> np.ndarray | None:
    """The backtracking of `line_search` along one direction.

    Two scales are remembered: `scale`, a multiple of the method's step, and
    `reach`, the largest entry of a step taken, for the steepest descent that
    replaces a step that overflowed (its size has nothing to do with lr).
    """
    if np.all(np.isfinite(step)):
        scale, key = min(state.get("scale", 1.0), MAX_SCALE), "scale"
    else:  # the step overflowed: steepest descent, from the last reach (at first, the largest float)
        step = -g / np.max(np.abs(g))
        scale, key = min(state.get("reach", MAX_SCALE), MAX_SCALE), "reach"
    # Armijo's c * scale * g.step as c * (scale * a) * b * slope: where g.step overflows, the
    # product still is a float for every trial step that is one (in the usual case a = b = 1)
    slope, a, b = _slope(g, step)
    if not slope < 0:
        return None  # no descent direction (the gradient is 0, or nan)
    noise = 8 * np.finfo(float).eps * abs(fx)  # what rounding can hide in f
    rejected = False
    for _ in range(MAX_TRIALS):
        trial = step * scale
        x_new = x + trial
        if np.array_equal(x_new, x):
            if rejected:
                return None  # shrunk below x's resolution: no decrease to find
            scale = min(scale / SHRINK, MAX_SCALE)  # started below it (a scale learned on another step): grow
            continue
        f_new = problem.value(x_new)
        decrease = ARMIJO_C * (scale * a) * b * slope
        accept = f_new <= fx + decrease
        if not accept and f_new <= fx + noise and abs(decrease) <= noise:
            end_slope = float(problem.value_and_grad(x_new)[1] @ trial)
            accept = end_slope <= (1 - 2 * APPROX_WOLFE_DELTA) * ((scale * a) * b * abs(slope))
        if accept:
            state[key] = min(scale / SHRINK, MAX_SCALE)  # next time, start bolder
            state["reach"] = min(float(np.max(np.abs(trial))) / SHRINK, MAX_SCALE)
            if "velocity" in state:
                state["velocity"] = trial  # momentum remembers the step taken, not the one proposed
            return trial
        rejected = True
        scale *= SHRINK
    return None
