"""The one boundary between user values and points.

Every entry point (the one-shot API, `Function`, the optimizer, the front ends)
goes through here: names are checked, values coerced to floats or float64
arrays, arrays broadcast to the *points* (the inputs' shapes broadcast
together, as numpy's do) and flattened for the backends, and what the backends
return is shaped back. Nothing else shapes what a backend returns.

An output comes back from a backend in one of three modes: an array over the
points (POINTS), its sum over the points (SUM, a float), or as it is (NATURAL: an
array if it varies, a float if not).
"""
from __future__ import annotations

import functools
import math
from numbers import Real
from typing import Mapping, Sequence

import numpy as np

from .errors import (ArgumentError, InputValueError, MissingVariableError, QstsError, ReservedNameError,
                     UnknownVariableError)
from .expression import Expression
from .ops import CONSTANTS, FUNCTIONS, RESERVED
from .shapes import check

POINTS, SUM, NATURAL = "points", "sum", "natural"

# Values the API takes as floats (float("inf") and friends), though not words of the language
_IEEE_WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
               "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}


def ieee_word(text: str) -> float | None:
    """inf, -inf or nan for the words that name them (any case), else None: for
    front ends that read values as text (`qsts eval x+1 x=inf`, `x = nan` in the REPL)."""
    return _IEEE_WORDS.get(text.strip().lower())


# ---------------------------------------------------------------- names and values

def check_names(names, what: str = "") -> None:
    """Refuse names that cannot be variables: a constant (`pi`, `e`), a function
    name or `neg` would silently read as something else in an expression. `what`
    says where the names come from ("data key", "column ... of FILE")."""
    lead = f"{what} " if what else ""
    for name in names:
        if not isinstance(name, str):
            raise QstsError(f"{lead}names must be strings, got {name!r:.40}")
        if name in CONSTANTS:
            raise ReservedNameError(f"{lead}'{name}' is the constant {CONSTANTS[name]!r}, not a variable; "
                                    "rename it")
        if name in RESERVED:
            kind = "a function" if name in FUNCTIONS else "an operator's"
            raise ReservedNameError(f"{lead}'{name}' is {kind} name, not a variable; rename it")


def bind(variables: Sequence[str], values: Mapping[str, object], args: Sequence = ()) -> dict:
    """`values` checked against the names `variables` and coerced, in that order;
    `args` are values by position, in `variables` order."""
    if args:
        if not values and len(args) == len(variables):  # all by position: only the values to check
            return {k: coerce(k, a) for k, a in zip(variables, args)}
        values = positional(variables, args, values)
    check_names(values)
    missing = [v for v in variables if v not in values]
    if missing:
        raise MissingVariableError(f"no value for variable{'s' if len(missing) > 1 else ''} "
                                   + ", ".join(repr(m) for m in missing))
    known_names = set(variables)
    extra = [k for k in values if k not in known_names]
    if extra:
        known = ", ".join(variables) or "none"
        raise UnknownVariableError(f"{', '.join(repr(x) for x in extra)} not in the expression "
                                   f"(its variables: {known})")
    return {k: coerce(k, values[k]) for k in variables}


def positional(variables: Sequence[str], args: Sequence, values: Mapping[str, object]) -> dict:
    """The keyword `values` with `args` bound to `variables` by position, or an
    `ArgumentError` for too many of them or a variable given both ways."""
    if len(args) > len(variables):
        raise ArgumentError(f"{len(args)} value{'' if len(args) == 1 else 's'} by position, but the expression "
                            f"has {len(variables)} variable{'' if len(variables) == 1 else 's'} "
                            f"({', '.join(variables) or 'none'})")
    named = dict(zip(variables, args))
    twice = [k for k in named if k in values]
    if twice:
        raise ArgumentError(f"{', '.join(map(repr, twice))} given both by position and by keyword")
    return {**named, **values}


def is_lazy(value) -> bool:
    """Whether `value` is a Dask collection (checked without importing dask)."""
    return hasattr(type(value), "__dask_graph__")


def any_lazy(args) -> bool:
    """Whether a call with `args` runs on Dask: then its results are lazy too."""
    return any(is_lazy(a) for a in args)


def is_array(value) -> bool:
    """Whether a coerced value varies over the points: a numpy array, or a dask
    array of one dimension or more (a 0-d dask array is a lazy float, as a 0-d
    numpy array is a float)."""
    return isinstance(value, np.ndarray) or (is_lazy(value) and value.ndim > 0)


def coerce(name: str, value) -> float | np.ndarray:
    """A user's value as a float or a float64 array (a dask array stays one,
    lazily converted), or a clear error."""
    if type(value) is float:  # the common case, first
        return value
    if is_lazy(value):
        return _lazy_float64(name, value)
    if isinstance(value, np.ma.MaskedArray):
        raise InputValueError(f"{name} is a masked array; pass value.filled(...) instead")
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)  # no dtype: strings must stay strings and be refused
        except ValueError as err:  # ragged nesting
            raise InputValueError(f"{name} must be a real number or array: {err}") from None
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in "biuf":
            raise InputValueError(f"{name} must hold real numbers, got {value.dtype}")
        array = _float64(name, np.asarray(value))
        return array if array.ndim else float(array)
    if isinstance(value, Real):
        try:
            return float(value)
        except OverflowError as err:
            raise InputValueError(f"{name} must be a real number: {err}") from None
    raise InputValueError(f"{name} must be a real number, got {type(value).__name__} {value!r:.40}")


def _float64(name: str, array: np.ndarray) -> np.ndarray:
    """`array` as float64, whatever the caller's numpy error state: a longdouble
    beyond float64's range is refused (as a Python int that large is), one too
    small to represent becomes 0 or a subnormal, as any rounding does."""
    with np.errstate(all="ignore"):
        out = array.astype(np.float64, copy=False)
        if array.dtype.itemsize > 8 and array.dtype.kind == "f" and np.any(np.isinf(out) & np.isfinite(array)):
            raise InputValueError(f"{name} holds values beyond the range of float64 (about 1.8e308)")
    return out


def _lazy_float64(name: str, value):
    """A dask array as float64, converted block by block as `coerce` converts numpy arrays."""
    import dask.array as da  # imported already: `value` is a Dask collection

    if not isinstance(value, da.Array):
        raise InputValueError(f"{name} must be a real number or array, got {type(value).__name__} (a dask "
                              "collection that is not a dask array)")
    if isinstance(value._meta, np.ma.MaskedArray):
        raise InputValueError(f"{name} is a masked dask array; pass da.ma.filled(value, ...) instead")
    if value.dtype.kind not in "biuf":
        raise InputValueError(f"{name} must hold real numbers, got {value.dtype}")
    if any(math.isnan(c) for dim in value.chunks for c in dim):
        raise InputValueError(f"{name} is a dask array of unknown chunk sizes; call {name}.compute_chunk_sizes(), "
                              "or to_dask_array(lengths=True) on a dataframe")
    if value.dtype == np.float64:
        return value
    return value.map_blocks(functools.partial(_float64, name), dtype=np.float64)


# ---------------------------------------------------------------- the points

def out_shape(env: Mapping[str, object]) -> tuple:
    """The shape of the result: the inputs' shapes broadcast together."""
    try:
        return np.broadcast_shapes(*(np.shape(v) for v in env.values()))
    except ValueError:
        shapes = ", ".join(f"{k}: {np.shape(v)}" for k, v in env.items())
        raise InputValueError(f"the inputs' shapes do not broadcast together ({shapes})") from None


def frame(e: Expression, env: Mapping[str, object]) -> tuple:
    """The points' shape for `env` (the inputs' shapes broadcast together), after
    checking that reductions span them (`qsts.shapes`)."""
    points = out_shape(env)
    if points and e.reduces:
        arrays = frozenset(k for k, v in env.items() if is_array(v))
        check(e.regions(arrays), e.root, {k: np.shape(v) for k, v in env.items()}, points)
    return points


def signature(args: Sequence) -> tuple[bool, ...]:
    """Which inputs are arrays (`is_array`): what a schedule, and so a compiled plan, depends on."""
    return tuple(is_array(a) for a in args)


def flatten(args: Sequence, points: tuple) -> list:
    """Inputs for the backends: floats stay floats; arrays become flat float64
    vectors over the points (a view when already contiguous)."""
    return [a if not isinstance(a, np.ndarray) else
            np.ascontiguousarray(np.broadcast_to(a, points)).reshape(-1) for a in args]


def partial_mode(is_array: bool, is_total: bool) -> str:
    """How a variable's partial comes back: per point for an array input; for a
    scalar, summed over the points, unless the graph already made it a total."""
    return POINTS if is_array else NATURAL if is_total else SUM


def spread(x: float, mode: str, n: int) -> float | np.ndarray:
    """An output that is the same at every point, in `mode`."""
    return x * n if mode == SUM else np.full(n, x) if mode == POINTS else x


# ---------------------------------------------------------------- out= buffers
# A result goes into the caller's buffer: a writeable, C-contiguous float64
# array of the result's shape, 0-d for a float result (as numpy's ufuncs take
# `out=np.empty(())` for a scalar). Buffers are checked before anything runs.

def split_out(variables: Sequence[str], values: dict) -> tuple[dict, object]:
    """`values` without `out=`, and what `out=` gave (None if nothing). A
    variable named `out` keeps the keyword: `out=` is then its value."""
    if "out" in variables or "out" not in values:
        return values, None
    values = dict(values)
    return values, values.pop("out")


def dict_buffers(what: str, out, wrt: Sequence[str]) -> list:
    """The buffers of the partials from `out` (named `what` in errors), a dict
    with one per variable of `wrt`, as (name, array) in `wrt` order."""
    keys = ", ".join(wrt) or "no variables"
    if not isinstance(out, Mapping):
        raise InputValueError(f"{what} must be a dict of arrays keyed by {keys}, as the gradient is; "
                              f"got {type(out).__name__}")
    if len(out) != len(wrt) or not all(w in out for w in wrt):
        missing, extra = [w for w in wrt if w not in out], [k for k in out if k not in wrt]
        problems = ([f"no buffer for {', '.join(map(repr, missing))}"] if missing else []) + \
            ([f"{', '.join(map(repr, extra))} not in the gradient"] if extra else [])
        raise InputValueError(f"{what} must have a buffer for each of {keys}: {'; '.join(problems)}")
    return [(f"{what}[{w!r}]", out[w]) for w in wrt]


def pair_buffers(out, wrt: Sequence[str]) -> list:
    """The buffers of value_and_grad's `out=`, a tuple (value buffer, dict of partials' buffers)."""
    if not (isinstance(out, tuple) and len(out) == 2):
        got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise InputValueError(f"out= of value_and_grad must be a tuple (value buffer, dict of the partials' "
                              f"buffers), got {got}")
    return [("out[0]", out[0]), *dict_buffers("out[1]", out[1], wrt)]


def checked(buffers: list | None, shapes: Sequence[tuple], args: list) -> list | None:
    """The arrays of `buffers` ((name, array) per output, (None, None) where the
    call returns no such output) checked against the outputs' `shapes` before
    anything runs; inputs in `args` that overlap one are replaced by copies
    (`separate`)."""
    if buffers is None:
        return None
    given = [None if name is None else buffer(name, b, shape) for (name, b), shape in zip(buffers, shapes)]
    separate(given, args)
    return given


def buffer(what: str, given, shape: tuple) -> np.ndarray:
    """`given` checked as the buffer (named `what` in errors) of a result of `shape`."""
    if not isinstance(given, np.ndarray) or isinstance(given, np.ma.MaskedArray):
        raise InputValueError(f"{what} must be a numpy array, got {type(given).__name__}")
    result = f"the result has shape {shape}" if shape else "the result is a float: pass a 0-d array, np.empty(())"
    problem = (f"has dtype {given.dtype}; it must be float64" if given.dtype != np.float64 else
               f"has shape {given.shape}, but {result}" if given.shape != shape else
               "is read-only" if not given.flags.writeable else
               "is not C-contiguous; pass np.empty(shape)" if not given.flags.c_contiguous else "")
    if problem:
        raise InputValueError(f"{what} {problem}")
    return given


def separate(buffers: Sequence, args: list) -> None:
    """Refuse buffers that overlap one another; replace each array of `args` that
    overlaps a buffer by a copy, so writing the result cannot change an input
    still to be read (numpy's ufuncs make `out=` over an input correct too)."""
    given = [b for b in buffers if b is not None]
    overlap = np.may_share_memory  # plain loops: this runs on every call with out=
    for i in range(1, len(given)):
        for j in range(i):
            if overlap(given[i], given[j]):
                raise InputValueError("out= buffers overlap one another; pass a separate array for each result")
    for k, a in enumerate(args):
        if isinstance(a, np.ndarray):
            for b in given:
                if overlap(a, b):
                    args[k] = a.copy()
                    break


def targets(buffers: Sequence, points: tuple) -> list:
    """For the backends: per output, its buffer flattened where it has the points'
    shape (the backend writes the points there), else None."""
    return [b.reshape(-1) if b is not None and b.shape == points else None for b in buffers]


def rows(into: np.ndarray, count: int, points: tuple) -> list:
    """For the backends: `count` outputs over the points stacked in `into`, as
    one flat row each (views: the backend writes the points there)."""
    return list(into.reshape(count, math.prod(points)))


def place(result, into: np.ndarray | None):
    """`result`, or with a buffer `into`, `result` written there and `into`. A
    result sharing memory with `into` is already there: the backend wrote it
    (inputs that overlap a buffer were copied, so nothing else can)."""
    if into is None:
        return result
    if not (isinstance(result, np.ndarray) and np.may_share_memory(result, into)):
        into[...] = result
    return into


# ---------------------------------------------------------------- results

def value(out, points: tuple, into: np.ndarray | None = None) -> float | np.ndarray:
    """An output as the user gets it: an array of the points' shape, or a float
    (or either written into the buffer `into`, which comes back)."""
    return place(out.reshape(points) if isinstance(out, np.ndarray) else float(out), into)


def partial(out, points: tuple, shape: tuple, into: np.ndarray | None = None) -> float | np.ndarray:
    """A variable's partial as the user gets it: in the shape of its input
    (`shape`), or written into the buffer `into`, which comes back."""
    if not isinstance(out, np.ndarray):
        return place(float(out), into)
    if shape == points:
        return place(out.reshape(points), into)
    with np.errstate(all="ignore"):  # summing may overflow: IEEE, not an exception
        return place(unbroadcast(out.reshape(points), points, shape), into)


def stacked(outs: Sequence, lead: tuple, points: tuple, into: np.ndarray | None = None) -> np.ndarray:
    """Several outputs (floats, or arrays over the points) as one array of shape
    `lead + points`, or written into `into` (of that shape), which comes back."""
    if into is None:
        return np.array(list(outs), dtype=np.float64).reshape(lead + points)
    rows = into.reshape(len(outs), math.prod(points))
    for row, out in zip(rows, outs):
        place(out, row)
    return into


def unbroadcast(g, out_shape: tuple, shape: tuple) -> float | np.ndarray:
    """Reduce a per-point partial (broadcast over the output, `out_shape`) to its
    input's `shape`: a scalar used against an array gets the sum of its partials,
    as `jax.grad` of the sum of outputs gives."""
    g = np.broadcast_to(np.asarray(g, dtype=np.float64), out_shape)
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return np.array(g) if shape else float(g)
