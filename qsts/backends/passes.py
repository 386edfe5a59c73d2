"""The driver that every backend running a schedule's passes over the points shares.

A call allocates the outputs (or takes the caller's `out=` arrays), runs each
pass of the schedule over all the points, finishes the sums the pass completes
from their 256-point chunk sums, and computes the scalar instructions between
passes. How a pass runs over the points is the backend's one method, `sweep`:
numpy kernels block by block (`array`), or a compiled loop (`native`).
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..kernels import CHUNK, exact_total
from ..ops import OPS
from ..options import Options
from ..program import Program
from ..schedule import COUNT, OF_SCALAR, SCALAR, VARYING, Schedule
from ..values import POINTS, SUM, spread

_pool: ThreadPoolExecutor | None = None


@functools.cache  # os.cpu_count() takes microseconds: once is enough
def threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="qsts")
    return _pool


def share(work, parts: list, errstate: bool = False) -> None:
    """Run `work(part)` for each of `parts`, one thread each (the first on this
    thread); `errstate` silences numpy's floating-point errors in every thread
    (numpy's error state is per thread). It returns only when no part runs any
    more, even on Ctrl-C: a part may be writing memory the caller owns."""
    if errstate:
        work = functools.partial(_in_errstate, work)
    futures = [executor().submit(work, p) for p in parts[1:]]
    try:
        if parts:
            work(parts[0])
    except BaseException:
        for f in futures:
            f.cancel()  # those not started never will
        _settle(futures)
        raise
    _settle(futures)
    for f in futures:
        f.result()  # a part's exception, if any


def _settle(futures: list) -> None:
    """Wait until every future is done, whatever interrupts the wait (Ctrl-C:
    the parts still run), then let the interruption surface."""
    interrupted = None
    while True:
        try:
            concurrent.futures.wait(futures)
            break
        except BaseException as err:
            interrupted = err
    if interrupted is not None:
        raise interrupted


def _in_errstate(work, part):
    with np.errstate(all="ignore"):
        work(part)


class PassBackend:
    """A program run as its schedule says (one call signature); subclasses say
    how one pass sweeps the points (`sweep`)."""

    def __init__(self, program: Program, schedule: Schedule):
        self.program, self.schedule = program, schedule

    def sweep(self, level: int, inputs: Sequence, base: list, goals: list, n: int, options: Options) -> None:
        """Pass `level` over the n points. `base` holds the slot values known
        before it (floats); `goals` are (slot, target, summed): the slot's value
        per point goes into `target`, or its chunk sums when `summed`."""
        raise NotImplementedError

    def run(self, inputs: Sequence, n: int, modes: Sequence[str], options: Options = Options(),
            out: Sequence | None = None) -> list:
        """`inputs` are floats or flat float64 arrays of length n; output k comes
        back as `modes[k]` says (POINTS, SUM or NATURAL), written into `out[k]`
        (a flat float64 array of length n) where that is given for a POINTS output."""
        program, plan = self.program, self.schedule
        out = list(out) if out is not None else [None] * len(modes)
        outputs = [(np.zeros(-(-n // CHUNK)) if mode == SUM else np.empty(n) if given is None else given)
                   if v else None for mode, v, given in zip(modes, plan.out_varies, out)]
        done: dict[int, float] = {}  # instruction -> its value, for those that are scalars
        with np.errstate(all="ignore"):
            for level in range(len(plan.passes)):
                for i, sums in self.sweep_pass(level, inputs, n, done, modes, outputs, options).items():
                    done[i] = self.finished(i, exact_total(sums), n)
            final = self._scalars(inputs, n, plan.final_level, done)
        return [_finish(float(final[o]), mode, n, given) if target is None else
                exact_total(target) if mode == SUM else target
                for o, mode, target, given in zip(program.outputs, modes, outputs, out)]

    def sweep_pass(self, level: int, inputs: Sequence, n: int, done: dict, modes: Sequence[str], outputs: list,
                   options: Options, total: int | None = None) -> dict:
        """Pass `level` over the n points of `inputs`: the pass's outputs go into
        `outputs` (per output: its points, or its chunk sums when its mode is
        SUM), and the chunk sums of each reduction it completes come back (by
        instruction). `done` holds the reductions' results of earlier passes.
        `total` is the points of the whole call when these n are a block of it
        (`qsts.lazy`: reductions such as mean and size count all of them)."""
        program, this = self.program, self.schedule.passes[level]
        sums = {i: np.zeros(-(-n // CHUNK)) for i in this.sums}
        base = self._scalars(inputs, n if total is None else total, level, done)
        goals = [(program.outputs[k], outputs[k], modes[k] == SUM) for k in this.outputs]
        goals += [(program.instructions[i].args[0], sums[i], True) for i in this.sums]
        self.sweep(level, inputs, base, goals, n, options)
        return sums

    def finished(self, i: int, total: float, n: int) -> float:
        """Reduction `i`'s result from the sum of its argument over the n points."""
        return OPS[self.program.instructions[i].op].reduction.over(total, n)

    def scalar_output(self, k: int, inputs: Sequence, n: int, done: dict, mode: str):
        """Output k where it is the same at every point, in `mode`, from the
        float `inputs` and the reductions' results `done`."""
        value = float(self._scalars(inputs, n, self.schedule.final_level, dict(done))[self.program.outputs[k]])
        return _finish(value, mode, n, None)

    def _scalars(self, inputs, n: int, level: int, done: dict) -> list:
        """Slot values of the inputs that are floats, the constants and the scalar
        instructions known by pass `level`, in program order; fills `done`."""
        program, plan = self.program, self.schedule
        values: list = [x if not isinstance(x, np.ndarray) else None for x in inputs]
        values += [None] * (program.n_slots - len(values))
        for s, v in program.constants:
            values[s] = v
        for i, ins in enumerate(program.instructions):
            kind = plan.kinds[i]
            if kind == VARYING or plan.levels[i] > level:
                continue
            if i not in done:
                row = OPS[ins.op]
                if kind == SCALAR:
                    done[i] = row.scalar(*[values[a] for a in ins.args])
                elif kind == OF_SCALAR:
                    done[i] = row.reduction.scalar(values[ins.args[0]], n)
                elif kind == COUNT:
                    done[i] = row.reduction.over(0.0, n)
            values[ins.out] = done[i]
        return values


def _finish(x: float, mode: str, n: int, given):
    """An output that is the same at every point, in `mode` (into `given` if that is an array)."""
    if given is not None and mode == POINTS:
        given[...] = x
        return given
    return spread(x, mode, n)
