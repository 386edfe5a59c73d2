"""What runs where, for one program and one call signature (which inputs are arrays).

A schedule is plain data that every evaluator reads: each instruction's kind,
the pass from which its value is known, and what each pass over the points
does. It is decided once per signature, from the one "does this vary" analysis
(`qsts.shapes.reach`), so no backend tests a value's type per instruction.

Kinds: elementwise over the points (VARYING); elementwise on scalars, run once
(SCALAR); a reduction of a scalar (OF_SCALAR); `size` of an argument that varies
(COUNT, it is n); a reduction summing over the points (OVER_POINTS). A reduction
over the points is known only after a pass over all of them, so what uses it
runs in a later pass: an instruction's *level* is the number of such sums under
it, and pass k runs the varying work of level <= k that its goals need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .ops import OPS
from .program import Program
from .shapes import reach

VARYING, SCALAR, OF_SCALAR, COUNT, OVER_POINTS = "varying", "scalar", "of scalar", "count", "over points"


@dataclass(frozen=True)
class Pass:
    """One pass over the points, block by block (instruction indices, in program order)."""
    steps: tuple[int, ...]    # the varying instructions a block runs: only those the goals need
    sums: tuple[int, ...]     # reductions over the points whose argument's chunk sums this pass adds
    outputs: tuple[int, ...]  # the varying outputs (output indices) this pass writes


@dataclass(frozen=True)
class Schedule:
    kinds: tuple[str, ...]        # per instruction
    levels: tuple[int, ...]       # per instruction: the pass from which its value is known
    out_varies: tuple[bool, ...]  # per output
    out_levels: tuple[int, ...]   # per output
    passes: tuple[Pass, ...]
    drops: tuple[tuple[int, ...], ...]  # per instruction: the slots it reads last (outputs excepted)
    copies: tuple[bool, ...]      # per output: its slot is an input's or an earlier output's

    @property
    def final_level(self) -> int:
        """The level by which every scalar instruction is known."""
        return max(self.levels, default=0)


def schedule(program: Program, is_array: Sequence[bool]) -> Schedule:
    """The schedule of `program` when the inputs flagged in `is_array` are arrays."""
    mask = reach(((ins.out, ins.op, ins.args) for ins in program.instructions),
                 {i: 1 for i, a in enumerate(is_array) if a})
    level = [0] * program.n_slots
    kinds = []
    for ins in program.instructions:
        reduction = OPS[ins.op].reduction
        if reduction is None:
            kinds.append(VARYING if mask[ins.out] else SCALAR)
            level[ins.out] = max((level[a] for a in ins.args), default=0)
        elif not mask.get(ins.args[0]):
            kinds.append(OF_SCALAR)
            level[ins.out] = level[ins.args[0]]
        else:
            kinds.append(OVER_POINTS if reduction.sums else COUNT)
            level[ins.out] = level[ins.args[0]] + 1 if reduction.sums else 0
    levels = tuple(level[ins.out] for ins in program.instructions)
    out_varies = tuple(bool(mask.get(o)) for o in program.outputs)
    out_levels = tuple(level[o] for o in program.outputs)
    needed = [lv for lv, v in zip(out_levels, out_varies) if v]
    needed += [lv - 1 for lv, k in zip(levels, kinds) if k == OVER_POINTS]
    passes = tuple(_pass(program, kinds, levels, out_varies, out_levels, k) for k in range(max(needed, default=-1) + 1))
    return Schedule(tuple(kinds), levels, out_varies, out_levels, passes, _drops(program), _copies(program))


def _drops(program: Program) -> tuple[tuple[int, ...], ...]:
    """For each instruction, the slots no later instruction reads and no output is."""
    last = {a: i for i, ins in enumerate(program.instructions) for a in ins.args}
    outputs = set(program.outputs)
    drops: list[list[int]] = [[] for _ in program.instructions]
    for slot, i in last.items():
        if slot not in outputs:
            drops[i].append(slot)
    return tuple(map(tuple, drops))


def _copies(program: Program) -> tuple[bool, ...]:
    """Which outputs an evaluator that returns its own values must copy, so that no
    two results, and no result and input, share memory."""
    seen = set(range(len(program.inputs)))
    copies = []
    for o in program.outputs:
        copies.append(o in seen)
        seen.add(o)
    return tuple(copies)


def _pass(program: Program, kinds, levels, out_varies, out_levels, level: int) -> Pass:
    """Pass `level`: its goals (varying outputs of that level, arguments of the sums
    it completes) and, backwards from them, the varying work they need."""
    outputs = tuple(k for k, (v, lv) in enumerate(zip(out_varies, out_levels)) if v and lv == level)
    sums = tuple(i for i, (k, lv) in enumerate(zip(kinds, levels)) if k == OVER_POINTS and lv == level + 1)
    wanted = {program.outputs[k] for k in outputs} | {program.instructions[i].args[0] for i in sums}
    steps = []
    for i in reversed(range(len(program.instructions))):
        ins = program.instructions[i]
        if kinds[i] == VARYING and ins.out in wanted:
            steps.append(i)
            wanted.update(ins.args)
    return Pass(tuple(reversed(steps)), sums, outputs)
