"""The reference evaluator: walks the graph in topological order with the op
table's kernels. Values live in a dict for one call only, never on nodes.

Scalars run the float kernels. Array inputs are broadcast to the points (their
shapes broadcast together) and every node that varies over the points runs the
numpy kernels, under `np.errstate(all="ignore")`, so IEEE results come back
instead of exceptions whatever the caller's numpy error state. Reductions sum
over the points as compiled programs do (`kernels.points_sum`). (Compiled
programs replace this on the fast path; it stays the oracle they are tested
against.)
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Mapping, Sequence

import numpy as np

from .errors import InputValueError
from .graph import CONST, VAR, Node, topological
from .kernels import points_sum
from .ops import OPS


def coerce(name: str, value) -> float | np.ndarray:
    """A user's value as a float or a float64 array, or a clear error."""
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


def evaluate(roots: Sequence[Node], env: Mapping[str, float | np.ndarray]) -> list:
    """Values of `roots` with variables bound by `env` (names checked by the
    caller): a float for a node that does not vary, else an array of the points' shape."""
    arrays = [v for v in env.values() if isinstance(v, np.ndarray)]
    points = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
    n = math.prod(points)
    value: dict[Node, object] = {}
    with np.errstate(all="ignore"):
        for node in topological(roots):
            if node.op == CONST:
                value[node] = node.value
            elif node.op == VAR:
                x = env[node.value]
                value[node] = np.broadcast_to(x, points) if isinstance(x, np.ndarray) else x
            else:
                row = OPS[node.op]
                args = [value[a] for a in node.args]
                if row.reduction is not None:
                    (x,) = args
                    if isinstance(x, np.ndarray):
                        value[node] = row.reduction.over(points_sum(x) if row.reduction.sums else 0.0, n)
                    else:
                        value[node] = row.reduction.scalar(x, n)
                elif any(isinstance(a, np.ndarray) for a in args):
                    value[node] = row.array(*args)
                else:
                    value[node] = row.scalar(*args)
    return [value[r] for r in roots]


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
