"""Gradient-descent driver (SPEC section 7): plain, heavy-ball and Nesterov
momentum, and Adam, with an optional backtracking (Armijo) line search.

Every step takes the whole gradient at one point before any variable moves.
The methods are rows of a table (state -> step); the driver loop, stopping
rules and bookkeeping are shared.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from .errors import QstsError

DEFAULT_LR = {"gd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adam": 1e-3}
MOMENTUM, BETA1, BETA2, EPS = 0.9, 0.9, 0.999, 1e-8
ARMIJO_C, SHRINK, MAX_HALVINGS = 1e-4, 0.5, 60
APPROX_WOLFE_DELTA = 0.1  # Hager and Zhang's delta


@dataclass
class OptimizeResult:
    """What `minimize` found, in the style of scipy's OptimizeResult."""

    x: dict
    fun: float
    grad: dict
    nit: int
    nfev: int
    converged: bool
    message: str
    history: list = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.converged

    def __getitem__(self, key):  # result["x"], as scipy's result allows
        return getattr(self, key)


class _Problem:
    """The compiled objective over a flat parameter vector; the rest held fixed."""

    def __init__(self, expr, x0: Mapping, data: Mapping | None):
        from .api import _compiled, parse

        e = parse(expr)
        data = dict(data or {})
        unknown = [k for k in list(x0) + list(data) if k not in e.variables]
        if unknown:
            raise QstsError(f"{', '.join(map(repr, unknown))} not in the expression (its variables: "
                            f"{', '.join(e.variables)})")
        both = [k for k in x0 if k in data]
        if both:
            raise QstsError(f"{', '.join(map(repr, both))} given both in x0 and in data")
        missing = [v for v in e.variables if v not in x0 and v not in data]
        if missing:
            raise QstsError(f"no starting value or data for {', '.join(map(repr, missing))}")
        from .evaluate import coerce

        self.names = [v for v in e.variables if v in x0]
        self.f = _compiled(e, tuple(self.names))  # no partials for the data: they may be millions
        self.data = {k: coerce(k, v) for k, v in data.items()}  # checked and converted once, not per step

        start = {k: coerce(k, x0[k]) for k in self.names}
        self.shapes = [np.shape(start[k]) for k in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.x0 = np.concatenate([np.ravel(start[k]) for k in self.names]) if self.names else np.zeros(0)
        self.nfev = 0

    def unflatten(self, x: np.ndarray) -> dict:
        out, i = {}, 0
        for k, shape, n in zip(self.names, self.shapes, self.sizes):
            out[k] = float(x[i]) if shape == () else x[i:i + n].reshape(shape).copy()
            i += n
        return out

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.nfev += 1
        value, grads = self.f.value_and_grad(**self.unflatten(x), **self.data)
        parts = [np.ravel(grads[k]) for k in self.names]
        return float(np.sum(value)), np.concatenate(parts) if parts else np.zeros(0)

    def value(self, x: np.ndarray) -> float:
        self.nfev += 1
        return float(np.sum(self.f(**self.unflatten(x), **self.data)))


# ---------------------------------------------------------------- methods
# A method proposes a step from the gradient at x (and may ask for the gradient
# at a look-ahead point); its state lives in a dict for one run.

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
    v = state["v"] = BETA2 * state.get("v", 0.0) + (1 - BETA2) * g * g
    return -lr * (m / (1 - BETA1 ** t)) / (np.sqrt(v / (1 - BETA2 ** t)) + EPS)


METHODS: dict[str, Callable] = {"gd": _gd, "momentum": _momentum, "nesterov": _nesterov, "adam": _adam}


def _armijo(problem: _Problem, x, fx, g, step, state) -> np.ndarray | None:
    """Shrink `step` until f(x + step) <= f(x) + c * g.step, or None if no shrink
    helps. A step that goes uphill is swapped for steepest descent of its length.

    Near a minimum the decrease c * g.step falls below the rounding of f, and
    comparing values can no longer tell a good step from a bad one (plain Armijo
    then stalls about sqrt(eps) away). There, as Hager and Zhang's approximate
    Wolfe condition does, a step whose value is within rounding of f(x) is judged
    by the slope at its end, which the gradient gives accurately:
    g(x + step).step <= (1 - 2 delta) |g.step|.
    """
    slope = float(g @ step)
    if not slope < 0:
        step = -g * (np.linalg.norm(step) / np.linalg.norm(g))
        slope = float(g @ step)
    scale = state.get("scale", 1.0)
    step = step * scale
    noise = 8 * np.finfo(float).eps * abs(fx)  # what rounding can hide in f
    for _ in range(MAX_HALVINGS):
        f_new = problem.value(x + step)
        accept = f_new <= fx + ARMIJO_C * scale * slope
        if not accept and f_new <= fx + noise and abs(ARMIJO_C * scale * slope) <= noise:
            end_slope = float(problem.value_and_grad(x + step)[1] @ step)
            accept = end_slope <= (1 - 2 * APPROX_WOLFE_DELTA) * abs(scale * slope)
        if accept:
            state["scale"] = min(1.0, scale / SHRINK)  # next time, start a little bolder
            if "velocity" in state:
                state["velocity"] = step  # momentum remembers the step taken, not the one proposed
            return step
        step, scale = step * SHRINK, scale * SHRINK
    return None


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def minimize(expr, /, x0: Mapping, *, method: str = "adam", lr: float | None = None, max_iter: int = 10_000,
             gtol: float = 1e-6, ftol: float = 0.0, line_search: bool = False,
             callback: Callable | None = None, data: Mapping | None = None) -> OptimizeResult:
    """Minimize `expr` from `x0` (name -> start) with the others held at `data`.

    Stops when the largest partial is at most `gtol`, when an iteration improves
    the value by at most `ftol * max(1, |f|)`, or after `max_iter` iterations. A
    non-finite value or gradient stops it too, keeping the last finite point.
    `callback(result)` runs after each iteration; returning True stops the run.

    >>> import qsts
    >>> r = qsts.minimize("(x-3)^2 + (y+1)^2", x0={"x": 0.0, "y": 0.0}, method="gd", lr=0.1)
    >>> r.converged, round(r.x["x"], 6), round(r.x["y"], 6)
    (True, 3.0, -1.0)
    """
    if method not in METHODS:
        raise QstsError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    lr = DEFAULT_LR[method] if lr is None else lr
    if not (_real(lr) and lr > 0):
        raise QstsError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(max_iter, numbers.Integral) and not isinstance(max_iter, bool) and max_iter >= 0):
        raise QstsError(f"max_iter must be a whole number >= 0, got {max_iter!r}")
    for name, tol in (("gtol", gtol), ("ftol", ftol)):
        if not (_real(tol) and tol >= 0):
            raise QstsError(f"{name} must be a number >= 0, got {tol!r}")
    if not isinstance(x0, Mapping):
        raise QstsError(f"x0 must map names to starting values, got {type(x0).__name__}")
    lr, max_iter = float(lr), int(max_iter)
    problem = _Problem(expr, x0, data)
    step_of = METHODS[method]
    x = problem.x0.copy()
    fx, g = problem.value_and_grad(x)
    if not (math.isfinite(fx) and np.all(np.isfinite(g))):
        raise QstsError(f"the value or gradient is not finite at the start (value {fx})")
    history, state = [fx], {}
    converged, message, nit = False, f"reached max_iter ({max_iter})", 0

    def lookahead(offset):
        return problem.value_and_grad(x + offset)[1]

    for nit in range(1, max_iter + 1):
        if g.size == 0 or np.max(np.abs(g)) <= gtol:
            converged, message, nit = True, f"gradient below gtol ({gtol:g})", nit - 1
            break
        step = step_of(state, g, lr, lookahead)  # every partial of this step is already in g
        if line_search:
            step = _armijo(problem, x, fx, g, step, state)
            if step is None:
                message, nit = f"stopped at iteration {nit}: the line search found no decrease", nit - 1
                break
        x_new = x + step
        f_new, g_new = problem.value_and_grad(x_new)
        if not (math.isfinite(f_new) and np.all(np.isfinite(g_new)) and np.all(np.isfinite(x_new))):
            message = f"stopped at iteration {nit}: the value or gradient is not finite; kept the last finite point"
            nit -= 1
            break
        progress = fx - f_new
        x, fx, g = x_new, f_new, g_new
        history.append(fx)
        if callback is not None and callback(_result(problem, x, fx, g, nit, False, "running", history, copy=False)):
            message = f"stopped by the callback at iteration {nit}"
            break
        if ftol and abs(progress) <= ftol * max(1.0, abs(fx)):
            converged, message = True, f"progress below ftol ({ftol:g})"
            break
    else:  # max_iter steps without another stop: the last point may still qualify
        if g.size == 0 or np.max(np.abs(g)) <= gtol:
            converged, message = True, f"gradient below gtol ({gtol:g})"
    return _result(problem, x, fx, g, nit, converged, message, history)


def _result(problem, x, fx, g, nit, converged, message, history, copy=True) -> OptimizeResult:
    # a callback sees the live history (copying it each iteration would make long runs quadratic)
    return OptimizeResult(problem.unflatten(x), fx, problem.unflatten(g), nit, problem.nfev, bool(converged),
                          message, list(history) if copy else history)


class ScipyObjective:
    """A compiled expression as scipy.optimize wants it: functions of one vector
    whose order is `variables`, with the rest held at `data`.

    >>> import qsts
    >>> obj = qsts.ScipyObjective("(x-1)^2 + 10*(y-x^2)^2", variables=["x", "y"])
    >>> obj.fun([1.0, 1.0]), obj.jac([1.0, 1.0]).tolist()
    (0.0, [0.0, 0.0])
    """

    def __init__(self, expr, /, variables=None, data: Mapping | None = None):
        from .api import parse

        e = parse(expr)
        self.variables = tuple(variables) if variables is not None else tuple(v for v in e.variables
                                                                              if v not in (data or {}))
        self._problem = _Problem(e, dict.fromkeys(self.variables, 0.0), data)
        self._problem.names = list(self.variables)  # the caller's order, not the expression's
        self._f = self._problem.f

    def x0(self, start: Mapping) -> np.ndarray:
        """The start vector from a name -> value mapping, in `variables` order."""
        missing = [v for v in self.variables if v not in start]
        if missing:
            raise QstsError(f"no starting value for {', '.join(map(repr, missing))}")
        return np.array([float(start[v]) for v in self.variables])

    def _env(self, x) -> dict:
        return {**dict(zip(self.variables, map(float, x))), **self._problem.data}

    def fun(self, x) -> float:
        return float(self._f(**self._env(x)))

    def jac(self, x) -> np.ndarray:
        g = self._f.grad(**self._env(x))
        return np.array([g[v] for v in self.variables])

    def hess(self, x) -> np.ndarray:
        from .api import _compiled

        full = _compiled(self._f.expression)
        h = full.hessian(**self._env(x))
        order = [full.variables.index(v) for v in self.variables]
        return h[np.ix_(order, order)]
