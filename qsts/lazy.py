"""Dask arrays in, lazy Dask arrays out: a call's passes as one Dask graph.

A call with a dask array among its inputs runs the plan the in-memory call of
as many points runs, on the backend that call would take (chosen once for the
whole array, never per block). Each pass of the schedule is one task per block
(`_sweep`): the backend's `sweep_pass` over the block's points, giving the
block's per-point outputs and, for each sum the pass completes, the exact sum
(`kernels.ExactSum`) of its 256-point chunk sums. Per-point outputs are those
blocks; sums go through `dask.array.reduction` and are rounded once, as
`math.fsum` rounds the in-memory call's chunk sums; later passes and the
outputs that are the same at every point take them as 0-d arrays.

So where every block is a run of whole 256-point chunks of the points (each
holds a multiple of 256 points, and is a contiguous run of them in C order: a
1-d array, or chunks along the first axis only), every result is the in-memory
call's bit for bit; elsewhere chunk boundaries differ and sums agree to
rounding. Inputs are aligned as Dask aligns the operands of `x + y`: broadcast,
and rechunked to the common refinement of their chunks (a refinement of
multiples of 256 is one too); numpy arrays join as one block each, adding no
boundaries. Nothing runs until the user computes.

dask is imported here only, inside the functions: `import qsts` never pays for it.
"""
from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from .errors import QstsError
from .kernels import CHUNK, ExactSum, chunk_sums
from .options import Options
from .values import NATURAL, POINTS, SUM, is_array, is_lazy


def run(owner, key, name: str, plan, args: Sequence, points: tuple, options: Options) -> list:
    """The outputs of `plan` (a `function.Plan`) for `args` (floats, numpy and
    dask arrays) over `points`, lazily: per output, a dask array of the points'
    shape where it is per point, else a 0-d one (`plan.modes` as in memory).
    A task gets the backend from `owner._backend(key, name)` in whatever
    process it runs (owners pickle compactly, see `qsts.function`)."""
    n = math.prod(points)
    options = options if options.threads else replace(options, threads=1)  # Dask runs the blocks in parallel
    inputs, chunks = _aligned(args, len(points))
    modes = tuple(plan.modes)
    task = (owner, key, name, n, modes)
    done: dict = {}  # instruction -> 0-d dask array of its reduction's result
    results: list = [None] * len(modes)
    for level, this in enumerate(plan.schedule.passes):
        parts = _blockwise(functools.partial(_sweep, *task, level, options, tuple(done)), done, inputs, chunks,
                           object)
        tags = [("out", k) for k in this.outputs if modes[k] == SUM] + [("sum", i) for i in this.sums]
        totals = _totals(parts) if tags else None  # the pass's sums in one reduction
        for k in this.outputs:
            results[k] = (_take(totals, ("out", k), None) if modes[k] == SUM else
                          parts.map_blocks(_pick, k, dtype=np.float64, meta=np.empty((0,) * len(points))))
        for i in this.sums:
            done[i] = _take(totals, ("sum", i), functools.partial(_finished, owner, key, name, i, n))
    scalars = [(None, None) if index else (x, index) for x, index in inputs]  # what the same-at-every-point need
    for k, varies in enumerate(plan.schedule.out_varies):
        if not varies:
            value = _blockwise(functools.partial(_scalar, *task, k, tuple(done)), done, scalars, (), np.float64)
            results[k] = _broadcast(value, points, chunks) if modes[k] == POINTS else value
    return results


def _aligned(args: Sequence, ndim: int) -> tuple[list, tuple]:
    """`args` as (value, index) pairs for `blockwise`, and the points' chunks.
    Arrays are aligned as Dask aligns elementwise operands (numpy ones join as
    one block); a 0-d dask array is a lazy float, index (); a float is itself, index None."""
    import dask.array as da

    index = tuple(range(ndim))
    arrays = [(a if is_lazy(a) else da.from_array(a, chunks=a.shape), index[ndim - a.ndim:])
              for a in args if is_array(a)]
    chunks, aligned = da.core.unify_chunks(*[x for pair in arrays for x in pair]) if arrays else ({}, [])
    aligned = iter(aligned)
    inputs = [(next(aligned), index[ndim - a.ndim:]) if is_array(a) else (a, () if is_lazy(a) else None)
              for a in args]
    return inputs, tuple(chunks[i] for i in index)


def _blockwise(task, done: dict, inputs: list, chunks: tuple, dtype):
    """`task` per block of the points (one task in all where `chunks` is ()):
    its arguments are the reductions' results `done`, then the `inputs`' blocks."""
    import dask.array as da

    index = tuple(range(len(chunks)))
    meta = np.empty((0,) * len(chunks), dtype=dtype) if chunks else np.empty((), dtype=dtype)
    # adjust_chunks: a dimension that every input broadcasts (size 1 in some) takes the points' chunks
    return da.blockwise(task, index, *[x for i in done for x in (done[i], ())],
                        *[x for pair in inputs for x in pair], align_arrays=False,
                        adjust_chunks=dict(enumerate(chunks)), dtype=dtype, meta=meta)


def _broadcast(value, points: tuple, chunks: tuple):
    import dask.array as da

    return da.broadcast_to(value, points, chunks=chunks)


def unbroadcast(g, points: tuple, shape: tuple):
    """A per-point partial reduced to its input's `shape` (as `values.unbroadcast`),
    lazily: sums over the broadcast axes, IEEE and silent under overflow as in memory."""
    import dask.array as da

    extra = len(points) - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and points[extra + i] != 1)
    if not axes:
        return g
    summed = da.reduction(g, _quiet_sum, _quiet_sum, axis=axes, keepdims=True, dtype=np.float64,
                          meta=np.empty((0,) * len(points)), name="qsts-unbroadcast")
    return summed.reshape(shape)


def _quiet_sum(x: np.ndarray, axis=None, keepdims=False, **_) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.sum(x, axis=axis, keepdims=keepdims)


def stacked(outs: Sequence, lead: tuple, points: tuple):
    """Several outputs over the points as one dask array of shape `lead + points` (as `values.stacked`)."""
    import dask.array as da

    return da.stack(list(outs)).reshape(lead + points)


def summed(value):
    """`value` summed over its points if it is an array (the objective of a
    fit of per-point values), exactly as `kernels.points_sum` adds."""
    if not is_lazy(value) or value.ndim == 0:
        return value
    parts = value.reshape(-1).map_blocks(_chunk_sums, dtype=object, meta=np.empty((0,), dtype=object))
    return _take(_totals(parts), ("sum",), None)


def _chunk_sums(block: np.ndarray) -> tuple:
    """A block of a per-point array as `_sweep` gives its sums: (no points, {tag: ExactSum})."""
    sums = np.empty(-(-block.size // CHUNK))
    chunk_sums(block.reshape(-1), sums)
    return {}, {("sum",): ExactSum.of(sums)}


def compute(results, what: str):
    """`results` (any nesting of dask objects) computed in one graph on the
    active scheduler. A failure of Dask's (a worker lost, a task cancelled) is
    a QstsError naming `what`; qsts's own errors pass as they are."""
    import dask

    try:
        (out,) = dask.compute(results)
    except QstsError:
        raise
    except Exception as err:  # what Dask raises when workers die or tasks are lost varies by version
        raise QstsError(f"{what} failed on Dask: {type(err).__name__}: {err}") from err
    return out


# ---------------------------------------------------------------- tasks

def _sweep(owner, key, name: str, total: int, modes: tuple, level: int, options: Options, ids: tuple,
           *values) -> tuple[dict, dict]:
    """Pass `level` over one block: the inputs' blocks follow the earlier
    reductions' results (`ids`). Returns the per-point outputs in the block's
    shape, and an ExactSum of the chunk sums of each sum (by ("out", k) or ("sum", i))."""
    backend = owner._backend(key, name)
    done = {i: float(v) for i, v in zip(ids, values)}
    blocks = [float(b) if isinstance(b, np.ndarray) and b.ndim == 0 else b for b in values[len(ids):]]  # lazy floats
    shape = np.broadcast_shapes(*(b.shape for b in blocks if isinstance(b, np.ndarray)))
    m = math.prod(shape)
    inputs = [np.ascontiguousarray(np.broadcast_to(b, shape), dtype=np.float64).reshape(-1)
              if isinstance(b, np.ndarray) else b for b in blocks]
    this = backend.schedule.passes[level]
    outputs: list = [None] * len(modes)
    for k in this.outputs:
        outputs[k] = np.zeros(-(-m // CHUNK)) if modes[k] == SUM else np.empty(m)
    with np.errstate(all="ignore"):
        sums = backend.sweep_pass(level, inputs, m, done, modes, outputs, options, total)
    exact = {("sum", i): ExactSum.of(s) for i, s in sums.items()}
    exact.update({("out", k): ExactSum.of(outputs[k]) for k in this.outputs if modes[k] == SUM})
    return {k: outputs[k].reshape(shape) for k in this.outputs if modes[k] != SUM}, exact


def _pick(part: tuple, k: int) -> np.ndarray:
    return part[0][k]


def _totals(parts):
    """Every sum of a pass over all blocks of `parts`, each rounded once: a 0-d
    object array holding {tag: float}."""
    import dask.array as da

    return da.reduction(parts, _chunk, _aggregate, combine=_combine, axis=None, keepdims=False,
                        concatenate=False, dtype=object, meta=np.empty((), dtype=object), name="qsts-sums")


def _take(totals, tag: tuple, finish):
    """The sum `tag` of `totals` (then `finish`ed), as a 0-d float64 dask array."""
    import dask.array as da

    return da.blockwise(functools.partial(_taken, tag, finish), (), totals, (), dtype=np.float64,
                        meta=np.empty(()))


def _chunk(part: tuple, **_) -> dict:
    return part[1]


def _combine(pieces, **_) -> dict:
    return _added(pieces)


def _aggregate(pieces, **_) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = {tag: total.rounded() for tag, total in _added(pieces).items()}
    return out


def _taken(tag: tuple, finish, totals: np.ndarray) -> np.float64:
    total = totals[()][tag]
    return np.float64(total if finish is None else finish(total))  # a numpy scalar, as dask's own sums give


def _added(pieces) -> dict:
    """Per tag, the sum of the ExactSums in `pieces`: {tag: ExactSum} dicts in
    nested lists, as Dask hands them over."""
    total: dict = {}
    stack = [pieces]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for tag, x in item.items():
                total[tag] = total[tag] + x if tag in total else x
        else:
            stack.extend(item)
    return total


def _finished(owner, key, name: str, i: int, n: int, total: float) -> float:
    return owner._backend(key, name).finished(i, total, n)


def _scalar(owner, key, name: str, n: int, modes: tuple, k: int, ids: tuple, *values) -> np.float64:
    """Output k where it is the same at every point (a float; summed over the
    points if its mode is SUM), from the reductions' results and the float inputs (None for arrays)."""
    backend = owner._backend(key, name)
    done = {i: float(v) for i, v in zip(ids, values)}
    floats = [None if v is None else float(v) for v in values[len(ids):]]
    with np.errstate(all="ignore"):
        value = backend.scalar_output(k, floats, n, done, SUM if modes[k] == SUM else NATURAL)
    return np.float64(value)
