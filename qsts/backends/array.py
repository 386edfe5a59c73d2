"""The array backend: a program over n points, in cache-sized blocks spread over threads.

Elementwise work runs block by block and no array of the points is kept but
the inputs and the outputs asked for. Each pass of the schedule is one sweep
over the blocks: a block runs the pass's steps with numpy kernels into buffers
of one block, adds the chunk sums of the reductions the pass completes, and
writes the outputs the pass owns. What uses a reduction's result runs in a
later pass, which recomputes the elementwise work it needs (so memory stays
bounded: passes trade time for it). Scalar instructions run once per pass.

Buffers are this backend's allocation: a program assigns every slot once, and
here a block buffer is reused as soon as the value in it is dead in the pass.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..kernels import CHUNK, chunk_sums, exact_total
from ..ops import OPS
from ..options import Options
from ..program import Program, allocate
from ..schedule import COUNT, OF_SCALAR, SCALAR, VARYING, Pass, Schedule
from ..values import SUM, spread

WORKING_SET = 2 << 20    # bytes of block buffers per thread: about one core's L2
MIN_BLOCK = 16 * CHUNK   # below this, Python's cost per instruction outweighs the cache's help
MAX_WORKING_SET = 32 << 20  # ...unless a huge program would need more than this per thread
_pool: ThreadPoolExecutor | None = None


@functools.cache  # os.cpu_count() takes microseconds: once is enough
def threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="qsts")
    return _pool


def block_size(buffers: int) -> int:
    """Points per block: `buffers` block buffers fill about WORKING_SET, but a
    block is never so small that interpreting the program dominates."""
    per_point = 8 * max(1, buffers)
    floor = max(CHUNK, min(MIN_BLOCK, (MAX_WORKING_SET // per_point) // CHUNK * CHUNK))
    return max(floor, min(1 << 16, (WORKING_SET // per_point) // CHUNK * CHUNK))


class ArrayBackend:
    """`program` run as `schedule` says (one call signature)."""

    def __init__(self, program: Program, schedule: Schedule):
        self.program, self.schedule = program, schedule
        self.steps = [_steps(program, p) for p in schedule.passes]
        self.buffers = max((b for _, b in self.steps), default=0)

    def run(self, inputs: Sequence, n: int, modes: Sequence[str], options: Options = Options()) -> list:
        """`inputs` are floats or flat float64 arrays of length n; output k comes
        back as `modes[k]` says (POINTS, SUM or NATURAL)."""
        program, plan = self.program, self.schedule
        block = min(options.block or block_size(self.buffers), -(-max(n, 1) // CHUNK) * CHUNK)
        n_chunks = -(-n // CHUNK)
        outputs = [(np.zeros(n_chunks) if mode == SUM else np.empty(n)) if v else None
                   for mode, v in zip(modes, plan.out_varies)]
        sums = {i: np.zeros(n_chunks) for p in plan.passes for i in p.sums}
        done: dict[int, float] = {}  # instruction -> its value, for those that are scalars
        starts = list(range(0, n, block))
        workers = max(1, min(options.threads or threads(), len(starts)))
        with np.errstate(all="ignore"):
            for level, (this, (steps, buffers)) in enumerate(zip(plan.passes, self.steps)):
                base = self._scalars(inputs, n, level, done)
                goals = [(program.outputs[k], outputs[k], modes[k] == SUM) for k in this.outputs]
                goals += [(program.instructions[i].args[0], sums[i], True) for i in this.sums]
                work = functools.partial(_work, inputs, base, steps, buffers, goals, block, n)
                _spread(work, starts, workers)
                for i in this.sums:
                    done[i] = OPS[program.instructions[i].op].reduction.over(exact_total(sums[i]), n)
            final = self._scalars(inputs, n, plan.final_level, done)
            return [(exact_total(out) if mode == SUM else out) if out is not None else
                    spread(float(final[o]), mode, n) for o, mode, out in zip(program.outputs, modes, outputs)]

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


def _steps(program: Program, this: Pass) -> tuple[list, int]:
    """A block's steps in pass `this`, (buffer, kernel, output slot, argument
    slots), and how many buffers they need: a buffer is freed after the last
    use of its value, once the using step's own output is placed (a kernel
    never writes over its input), and the goals' buffers live to the end."""
    goals = {program.outputs[k] for k in this.outputs} | {program.instructions[i].args[0] for i in this.sums}
    instructions = [program.instructions[i] for i in this.steps]
    buffer_of, count = allocate(instructions, goals)
    steps = [(buffer_of[ins.out], OPS[ins.op].array, ins.out, ins.args) for ins in instructions]
    return steps, count


def _work(inputs: Sequence, base: list, steps: list, buffers: int, goals: list, block: int, n: int,
          mine: Sequence[int]) -> None:
    """A thread's share of a pass: the blocks starting at `mine`."""
    full = np.empty((buffers, block))
    values = list(base)
    arrays = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray)]
    for start in mine:
        stop = min(start + block, n)
        rows = full if stop - start == block else full[:, :stop - start]
        for i in arrays:
            values[i] = inputs[i][start:stop]
        for buffer, kernel, out, args in steps:
            values[out] = kernel(*[values[a] for a in args], out=rows[buffer])
        first, count = start // CHUNK, -(-(stop - start) // CHUNK)
        for slot, target, summed in goals:
            if summed:
                chunk_sums(values[slot], target[first:first + count])
            else:
                target[start:stop] = values[slot]


def _spread(work, starts: list, workers: int) -> None:
    """Run `work` over the blocks at `starts`: contiguous runs of blocks per
    thread, so each streams its own part of memory."""
    if workers <= 1:
        work(starts)
        return
    per = -(-len(starts) // workers)
    parts = [starts[i:i + per] for i in range(0, len(starts), per)]
    for f in [_executor().submit(_in_errstate, work, p) for p in parts]:
        f.result()


def _in_errstate(work, part):
    with np.errstate(all="ignore"):  # numpy's error state is per thread
        work(part)
