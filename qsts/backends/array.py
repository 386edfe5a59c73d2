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
from typing import Sequence

import numpy as np

from ..kernels import CHUNK, chunk_sums
from ..ops import OPS
from ..options import Options
from ..program import Program, allocate
from ..schedule import Pass, Schedule
from .passes import PassBackend, share, threads

WORKING_SET = 2 << 20    # bytes of block buffers per thread: about one core's L2
MIN_BLOCK = 16 * CHUNK   # below this, Python's cost per instruction outweighs the cache's help
MAX_WORKING_SET = 32 << 20  # ...unless a huge program would need more than this per thread


def block_size(buffers: int) -> int:
    """Points per block: `buffers` block buffers fill about WORKING_SET, but a
    block is never so small that interpreting the program dominates."""
    per_point = 8 * max(1, buffers)
    floor = max(CHUNK, min(MIN_BLOCK, (MAX_WORKING_SET // per_point) // CHUNK * CHUNK))
    return max(floor, min(1 << 16, (WORKING_SET // per_point) // CHUNK * CHUNK))


class ArrayBackend(PassBackend):
    """`program` run as `schedule` says (one call signature), numpy block by block."""

    def __init__(self, program: Program, schedule: Schedule):
        super().__init__(program, schedule)
        self.steps = [_steps(program, p) for p in schedule.passes]
        self.buffers = max((b for _, b in self.steps), default=0)

    def sweep(self, level: int, inputs: Sequence, base: list, goals: list, n: int, options: Options) -> None:
        steps, buffers = self.steps[level]
        block = min(options.block or block_size(self.buffers), -(-max(n, 1) // CHUNK) * CHUNK)
        starts = list(range(0, n, block))
        workers = max(1, min(options.threads or threads(), len(starts)))
        per = max(1, -(-len(starts) // workers))  # contiguous runs of blocks per thread: each streams its own memory
        work = functools.partial(_work, inputs, base, steps, buffers, goals, block, n)
        share(work, [starts[i:i + per] for i in range(0, len(starts), per)], errstate=True)


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
