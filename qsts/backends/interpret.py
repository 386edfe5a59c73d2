"""The reference interpreter: the program run one instruction at a time with the
op table's kernels, reading the schedule's kind of each instruction.

It is the oracle the generated backends are tested against, and the one-shot
API (`qsts.evaluate`, `grad`, `value_and_grad`) runs through it. Arrays are
whole (every value over all the points), under `np.errstate(all="ignore")`, so
IEEE results come back instead of exceptions whatever the caller's numpy error
state; sums over the points are `kernels.points_sum`, as every backend adds them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..kernels import points_sum
from ..ops import OPS
from ..program import Program
from ..schedule import COUNT, OF_SCALAR, OVER_POINTS, VARYING, Schedule
from ..values import POINTS, SUM, spread


def run(program: Program, plan: Schedule, inputs: Sequence, n: int, modes: Sequence[str],
        out: Sequence | None = None) -> list:
    """`inputs` are floats or flat float64 arrays of length n; output k comes
    back as `modes[k]` says (POINTS, SUM or NATURAL), copied into `out[k]` (a
    flat float64 array of length n) where that is given for an output over the
    points, as `passes.PassBackend.run` writes it."""
    out = [None] * len(modes) if out is None else out
    values: list = [*inputs, *[None] * (program.n_slots - len(inputs))]
    for slot, v in program.constants:
        values[slot] = v
    with np.errstate(all="ignore"):
        for ins, kind, drops in zip(program.instructions, plan.kinds, plan.drops):
            row, args = OPS[ins.op], [values[a] for a in ins.args]
            for a in drops:  # what no later instruction reads is let go: memory stays bounded
                values[a] = None
            if kind == VARYING:
                values[ins.out] = row.array(*args)
            elif kind == OVER_POINTS:
                values[ins.out] = row.reduction.over(points_sum(args[0]), n)
            elif kind == COUNT:
                values[ins.out] = row.reduction.over(0.0, n)
            elif kind == OF_SCALAR:
                values[ins.out] = row.reduction.scalar(args[0], n)
            else:
                values[ins.out] = row.scalar(*args)
        return [_finish(values[o], varies, mode, n, copy, given)
                for o, varies, mode, copy, given in zip(program.outputs, plan.out_varies, modes, plan.copies, out)]


def _finish(x, varies: bool, mode: str, n: int, copy: bool, given):
    """Output `x` in `mode`; an array that is an input, or an earlier output, is
    copied; one over the points goes into `given` if that is an array."""
    if given is not None and (mode == POINTS or varies and mode != SUM):
        given[...] = x
        return given
    if not varies:
        return spread(x, mode, n)
    return points_sum(x) if mode == SUM else np.array(x) if copy else x


class Interpreter:
    """The interpreter behind the backends' interface (for tests, and for comparing)."""

    def __init__(self, program: Program, schedule: Schedule):
        self.program, self.schedule = program, schedule

    def run(self, inputs: Sequence, n: int, modes: Sequence[str], options=None, out: Sequence | None = None) -> list:
        return run(self.program, self.schedule, inputs, n, modes, out)
