"""Gradient-descent driver (SPEC section 7): plain, heavy-ball and Nesterov
momentum, and Adam, with an optional backtracking (Armijo) line search.

Every step takes the whole gradient at one point before any variable moves.
The methods are rows of a table (state -> step), with the line search, in
`qsts.steps`; here are the driver loop, stopping rules and bookkeeping they share.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from . import lazy
from .api import compiled, parse
from .errors import InputValueError, QstsError
from .expression import Expression
from .kernels import points_sum
from .plotting import draw_run
from .steps import METHODS, line_search
from .values import check_names, coerce, is_lazy

# The defaults converge on every function of the README's table (Rosenbrock,
# Beale, Booth, Himmelblau, Matyas) and on badly scaled ones: Adam's per-variable
# scaling with a line search that may also grow the step, so lr is only the first trial.
DEFAULT_METHOD, DEFAULT_LINE_SEARCH, DEFAULT_MAX_ITER, DEFAULT_GTOL = "adam", True, 10_000, 1e-6
DEFAULT_LR = {"gd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adam": 1e-3}
# Steps reuse out= buffers once a result has this many points: fresh arrays that
# large are mapped and page-faulted anew by each call (4x slower at 2**18 points
# than filling kept ones), while smaller ones come back from the allocator for
# less than checking the buffers costs (about 8 us a call)
KEEP_BUFFERS = 1 << 17
INTERRUPTED = "interrupted"


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
    # max |partial| at each point of `history` (what gtol tests): one float per iteration,
    # kept by the driver, so a plot needs no callback
    grad_norms: list = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.converged

    def __getitem__(self, key):  # result["x"], as scipy's result allows
        return getattr(self, key)

    def __repr__(self) -> str:
        """scipy's layout (names right-aligned), with the history summarized: it
        holds one value per iteration, too many to print."""
        h = self.history
        trend = f" ({h[0]!r} -> {h[-1]!r})" if h else ""
        entries = "1 entry" if len(h) == 1 else f"{len(h)} entries"
        fields = [("message", self.message), ("success", self.converged), ("fun", repr(self.fun)),
                  ("x", _short(self.x)), ("grad", _short(self.grad)), ("nit", self.nit), ("nfev", self.nfev),
                  ("history", f"{entries}{trend}")]
        return "\n".join(f"{name:>8}: {value}" for name, value in fields)

    __str__ = __repr__

    def plot(self, ax=None, label: str | None = None):
        """A matplotlib Figure of the run: log10 of the value (top) and of the
        largest partial, max |partial| (bottom), against iteration. The value is
        drawn as `plotting.plotted_values` says (f - min(f) once f reaches 0 or below).

        `ax` draws into existing axes instead, so runs overlay: a pair (top,
        bottom), e.g. the `.axes` of an earlier plot, or one Axes for both curves
        (the norm dashed); `label` names this run's lines in a legend. The Figure
        is not pyplot's (no backend is chosen, nothing stays open): a notebook
        shows it, `fig.savefig(path)` writes it; to use pyplot's windows, pass
        `ax` from `plt.subplots(2)`. Needs matplotlib (`pip install 'qsts[plot]'`).

        >>> import qsts
        >>> fig = qsts.minimize("(x-3)^2", {"x": 0.0}).plot()   # doctest: +SKIP
        >>> qsts.minimize("(x-3)^2", {"x": 9.0}).plot(ax=fig.axes, label="from 9")   # doctest: +SKIP
        """
        return draw_run(self.history, self.grad_norms, ax, label)


def _short(values: dict) -> str:
    with np.printoptions(threshold=20, edgeitems=3):  # a parameter may be an array of thousands
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in values.items()) + "}"


def _inf_norm(g: np.ndarray) -> float:
    """max |partial|, what gtol tests (0 without parameters)."""
    return float(np.max(np.abs(g))) if g.size else 0.0


def _data(data) -> Mapping:
    """`data` as given (a mapping of names to values), {} for None, or a clear error."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise QstsError(f"data must map names to values, got {type(data).__name__}")
    return data


class _Problem:
    """The compiled objective over a flat parameter vector (`names`, in that
    order); the rest held fixed at `data`.

    The Function's variables are the parameters in `names` order, then the
    data, so a step calls its fastest entry: values by position, all floats
    for a problem without arrays. Where a result is a large array (array data
    or parameters, KEEP_BUFFERS points), the first call's results give the
    shapes of out= buffers that every later call reuses (a step consumes its
    results before the next call).
    """

    def __init__(self, expr, x0: Mapping, data: Mapping | None, names=None):
        e = parse(expr)
        data = _data(data)
        check_names(x0, "x0 key")
        check_names(data, "data key")
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
        self.names = list(names) if names is not None else [v for v in e.variables if v in x0]
        fixed = [v for v in e.variables if v in data]
        # no partials for the data: they may be millions
        self.f = compiled(Expression.within(e.root, (*self.names, *fixed)), tuple(self.names))
        self.data = {k: coerce(k, v) for k, v in data.items()}  # checked and converted once, not per step
        self.fixed = [self.data[v] for v in fixed]  # the call's values after the parameters
        self.buffers: dict = {}  # "value", "both" -> out= buffers (None: the results need none)

        start = {k: coerce(k, x0[k]) for k in self.names}
        lazy_starts = [k for k, v in start.items() if is_lazy(v)]
        if lazy_starts:
            raise QstsError(f"the start of {', '.join(map(repr, lazy_starts))} is a dask array; the parameters "
                            "live in memory: pass a number or numpy array (.compute() it)")
        self.shapes = [np.shape(start[k]) for k in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.x0 = np.concatenate([np.ravel(start[k]) for k in self.names]) if self.names else np.zeros(0)
        self.scalars = all(shape == () for shape in self.shapes)  # then x is the parameters, one float each
        self.nfev = 0
        # with dask arrays among the data, each evaluation is one Dask graph, computed at once
        self.lazy = any(is_lazy(v) for v in self.data.values())
        self.iteration = 0  # the iteration under way, for errors

    def unflatten(self, x: np.ndarray) -> dict:
        out, i = {}, 0
        for k, shape, n in zip(self.names, self.shapes, self.sizes):
            out[k] = float(x[i]) if shape == () else x[i:i + n].reshape(shape).copy()
            i += n
        return out

    def args(self, x: np.ndarray) -> list:
        """The Function's values by position: the parameters from `x` (floats,
        and views for arrays), then the data."""
        if self.scalars:
            return x.tolist() + self.fixed
        args, i = [], 0
        for shape, n in zip(self.shapes, self.sizes):
            args.append(float(x[i]) if shape == () else x[i:i + n].reshape(shape))
            i += n
        return args + self.fixed

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.nfev += 1
        out = self.buffers.get("both")
        if self.lazy:
            value, grads = self.f.value_and_grad(*self.args(x))
            value, grads = lazy.compute((lazy.summed(value), grads), self.evaluation("value and gradient"))
        elif out is None:
            value, grads = self.f.value_and_grad(*self.args(x))
            self.keep("both", value, grads)
        else:
            value, grads = self.f.value_and_grad(*self.args(x), out=out)
        if self.scalars:  # a float (or 0-d buffer) per parameter
            return _total(value), np.array([grads[k] for k in self.names], dtype=np.float64)
        parts = [np.ravel(grads[k]) for k in self.names]
        return _total(value), np.concatenate(parts) if parts else np.zeros(0)

    def value(self, x: np.ndarray) -> float:
        self.nfev += 1
        out = self.buffers.get("value")
        if self.lazy:
            value = lazy.compute(lazy.summed(self.f(*self.args(x))), self.evaluation("value"))
        elif out is None:
            value = self.f(*self.args(x))
            self.keep("value", value)
        else:
            value = self.f(*self.args(x), out=out)
        return _total(value)

    def evaluation(self, what: str) -> str:
        """Names an evaluation in errors: which, of what, in which iteration."""
        where = "at the starting point" if self.iteration == 0 else f"in iteration {self.iteration}"
        return f"evaluation {self.nfev} of the {what} ({where})"

    def keep(self, key: str, value, grads: dict | None = None) -> None:
        """After the first call of `key`: buffers shaped like its results when one
        is an array of KEEP_BUFFERS points or more (0-d ones for its floats), else
        None. A variable named `out` takes the keyword, so then there are none."""
        if key in self.buffers:
            return
        results = [value, *(grads or {}).values()]
        if "out" in self.f.variables or not any(np.size(r) >= KEEP_BUFFERS for r in results):
            self.buffers[key] = None
        elif grads is None:
            self.buffers[key] = np.empty(np.shape(value))
        else:
            self.buffers[key] = (np.empty(np.shape(value)), {k: np.empty(np.shape(g)) for k, g in grads.items()})


def _total(value) -> float:
    """The objective: the value, summed over the points where it is an array,
    as a `sum(...)` in the expression adds them (and as a fit on Dask does)."""
    return value if type(value) is float else points_sum(value)


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def minimize(expr, /, x0: Mapping, *, method: str = DEFAULT_METHOD, lr: float | None = None,
             max_iter: int = DEFAULT_MAX_ITER, gtol: float = DEFAULT_GTOL, ftol: float = 0.0,
             line_search: bool = DEFAULT_LINE_SEARCH, callback: Callable | None = None,
             data: Mapping | None = None) -> OptimizeResult:
    """Minimize `expr` from `x0` (name -> start) with the others held at `data`.

    Stops when the largest partial is at most `gtol`, when an iteration improves
    the value by at most `ftol * max(1, |f|)`, or after `max_iter` iterations. A
    non-finite value or gradient stops it too, keeping the last finite point.
    `callback(result)` runs after each iteration; returning True stops the run.
    Ctrl-C (KeyboardInterrupt) ends the run with the point reached, message
    "interrupted". The line search is on by default (Armijo, growing and
    shrinking the step); `line_search=False` takes fixed steps of size `lr`.

    >>> import qsts
    >>> r = qsts.minimize("(x-3)^2 + (y+1)^2", x0={"x": 0.0, "y": 0.0})
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
    caller = np.geterr()  # the callback runs under the caller's numpy error state
    with np.errstate(all="ignore"):  # overflow in a step is a non-finite stop, never an exception
        problem = _Problem(expr, x0, data)
        run = _Run(problem, METHODS[method], float(lr), bool(line_search), float(gtol), float(ftol))
        try:
            run.start()
            run.loop(int(max_iter), callback, caller)
        except KeyboardInterrupt:  # as scipy's callbacks allow: stop, and keep what was reached
            run.converged, run.message = False, INTERRUPTED
        return run.result()


class _Run:
    """One run's state. The point, its value and gradient and the iteration
    count change together in one assignment (`self.at`), so a KeyboardInterrupt
    between two statements never leaves them out of step."""

    def __init__(self, problem: _Problem, step_of: Callable, lr: float, line_search: bool, gtol: float,
                 ftol: float):
        self.problem, self.step_of, self.lr, self.line_search = problem, step_of, lr, line_search
        self.gtol, self.ftol = gtol, ftol
        nan = np.full_like(problem.x0, math.nan)
        self.at = (problem.x0.copy(), math.nan, nan, 0)  # (x, f(x), gradient, iterations done)
        self.history: list[float] = []
        self.grad_norms: list[float] = []  # one per entry of history
        self.converged, self.message = False, ""

    def start(self) -> None:
        x = self.at[0]
        fx, g = self.problem.value_and_grad(x)
        if not (math.isfinite(fx) and np.all(np.isfinite(g))):
            raise QstsError(f"the value or gradient is not finite at the start (value {fx})")
        self.at = (x, fx, g, 0)
        self.history.append(fx)
        self.grad_norms.append(_inf_norm(g))

    def small(self, g) -> bool:
        return _inf_norm(g) <= self.gtol

    def loop(self, max_iter: int, callback: Callable | None, caller: dict) -> None:
        problem, state = self.problem, {}
        self.message = f"reached max_iter ({max_iter})"

        def lookahead(offset):
            return problem.value_and_grad(self.at[0] + offset)[1]

        while True:
            x, fx, g, nit = self.at
            problem.iteration = nit + 1
            if self.small(g):
                self.converged, self.message = True, f"gradient below gtol ({self.gtol:g})"
                return
            if nit >= max_iter:
                return
            step = self.step_of(state, g, self.lr, lookahead)  # every partial of this step is already in g
            if self.line_search:
                step = line_search(problem, x, fx, g, step, state)
                if step is None:
                    self.message = f"stopped at iteration {nit + 1}: the line search found no decrease"
                    return
            x_new = x + step
            f_new, g_new = problem.value_and_grad(x_new)
            if not (math.isfinite(f_new) and np.all(np.isfinite(g_new)) and np.all(np.isfinite(x_new))):
                self.message = (f"stopped at iteration {nit + 1}: the value or gradient is not finite; "
                                "kept the last finite point")
                return
            self.at = (x_new, f_new, g_new, nit + 1)
            self.history.append(f_new)
            self.grad_norms.append(_inf_norm(g_new))
            if callback is not None:
                with np.errstate(**caller):
                    stop = callback(self.result(live=True))
                if stop:
                    self.message = f"stopped by the callback at iteration {nit + 1}"
                    return
            if self.ftol and abs(fx - f_new) <= self.ftol * max(1.0, abs(f_new)):
                self.converged, self.message = True, f"progress below ftol ({self.ftol:g})"
                return

    def result(self, live: bool = False) -> OptimizeResult:
        x, fx, g, nit = self.at
        del self.history[nit + 1:]  # an interrupt may land between the two updates
        if len(self.history) == nit and nit:
            self.history.append(fx)
        del self.grad_norms[len(self.history):]
        if len(self.grad_norms) < len(self.history):
            self.grad_norms.append(_inf_norm(g))
        unflatten = self.problem.unflatten
        # a callback sees the live history (copying it each iteration would make long runs quadratic)
        return OptimizeResult(unflatten(x), fx, unflatten(g), nit, self.problem.nfev,
                              bool(self.converged) and not live,
                              "running" if live else self.message, self.history if live else list(self.history),
                              self.grad_norms if live else list(self.grad_norms))


class ScipyObjective:
    """A compiled expression as scipy.optimize wants it: functions of one vector
    whose order is `variables`, with the rest held at `data`.

    >>> import qsts
    >>> obj = qsts.ScipyObjective("(x-1)^2 + 10*(y-x^2)^2", variables=["x", "y"])
    >>> obj.fun([1.0, 1.0]), obj.jac([1.0, 1.0]).tolist()
    (0.0, [0.0, 0.0])
    """

    def __init__(self, expr, /, variables=None, data: Mapping | None = None):
        e = parse(expr)
        data = _data(data)
        if variables is None:
            names = tuple(v for v in e.variables if v not in data)
        elif isinstance(variables, str) or not all(isinstance(v, str) for v in variables):
            raise QstsError(f"variables must be a list of names, got {variables!r:.60}")
        else:
            names = tuple(variables)
        self.variables = names
        self._problem = _Problem(e, dict.fromkeys(names, 0.0), data, names=names)  # the caller's order
        self._f = self._problem.f

    def x0(self, start: Mapping) -> np.ndarray:
        """The start vector from a name -> value mapping, in `variables` order."""
        if not isinstance(start, Mapping):
            raise QstsError(f"the start must map names to values, got {type(start).__name__}")
        missing = [v for v in self.variables if v not in start]
        if missing:
            raise QstsError(f"no starting value for {', '.join(map(repr, missing))}")
        values = [coerce(v, start[v]) for v in self.variables]
        if any(isinstance(v, np.ndarray) for v in values):
            raise QstsError("ScipyObjective works over one number per variable")
        return np.array(values, dtype=np.float64)

    def _args(self, x) -> list:
        """The compiled function's values by position: the point's, then the data."""
        vector = np.atleast_1d(coerce("the point", x))
        if vector.shape != (len(self.variables),):
            raise InputValueError(f"the point must hold {len(self.variables)} numbers "
                                  f"({', '.join(self.variables)}), got shape {vector.shape}")
        return vector.tolist() + self._problem.fixed

    def fun(self, x) -> float:
        return float(self._computed(self._f(*self._args(x)), "value"))

    def jac(self, x) -> np.ndarray:
        g = self._computed(self._f.grad(*self._args(x)), "gradient")  # one float per variable: nothing to keep
        return np.array([g[v] for v in self.variables], dtype=np.float64)

    def _computed(self, result, what: str):
        """`result`, computed in one graph where the data are dask arrays."""
        return lazy.compute(result, f"the {what} of the ScipyObjective") if self._problem.lazy else result

    def hess(self, x) -> np.ndarray:
        full = compiled(self._f.expression)  # the same variables, in the same order
        h = full.hessian(*self._args(x))
        order = [full.variables.index(v) for v in self.variables]
        return h[np.ix_(order, order)]
