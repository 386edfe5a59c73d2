"""Graphs to flat programs: a topologically ordered list of single assignments.

A program is plain data you can print and test: instructions
`(out_slot, op, in_slots)`, the constants' slots and the outputs' slots. Inputs
take slots 0..n-1 in variable order, constants the next ones, and each
instruction a slot of its own: every slot is assigned once. Reusing the storage
of dead values is a backend's decision (`qsts.backends.array` allocates block
buffers per pass), not a property of the program.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

from .graph import CONST, VAR, Node, topological, var
from .ops import OPS


class Instruction(NamedTuple):  # a tuple: programs of 100,000 instructions are built per signature
    out: int
    op: str
    args: tuple[int, ...]


@dataclass(frozen=True)
class Program:
    inputs: tuple[str, ...]                    # slot i holds inputs[i]
    constants: tuple[tuple[int, float], ...]   # (slot, value)
    instructions: tuple[Instruction, ...]
    outputs: tuple[int, ...]                   # the slot of each output
    n_slots: int

    def __str__(self) -> str:
        lines = [f"in  s{i} = {name}" for i, name in enumerate(self.inputs)]
        lines += [f"    s{s} = {v!r}" for s, v in self.constants]
        lines += [f"    s{i.out} = {i.op}({', '.join(f's{a}' for a in i.args)})" for i in self.instructions]
        lines.append("out " + ", ".join(f"s{o}" for o in self.outputs))
        return "\n".join(lines)


def compile_program(roots: Sequence[Node], inputs: Sequence[str]) -> Program:
    """Lay `roots` out as one program, sharing every common subexpression."""
    order = topological(roots)
    slot: dict[Node, int] = {}
    for i, name in enumerate(inputs):
        slot[var(name)] = i
    # Subexpressions of constants only (-1 is neg(1), 1/3 is div(1, 3)) are folded
    # here, with the same IEEE kernels, so backends see plain numbers.
    folded: dict[Node, float] = {}
    for node in order:
        if node.op == CONST:
            folded[node] = node.value
        elif node.args and OPS[node.op].folds and all(a in folded for a in node.args):
            folded[node] = OPS[node.op].scalar(*(folded[a] for a in node.args))
    constants = []
    for node in order:
        if node in folded:
            slot[node] = len(inputs) + len(constants)
            constants.append((slot[node], folded[node]))
    instructions = []
    for node in order:
        if node in folded:
            continue
        if node.op == VAR:
            if node not in slot:
                raise KeyError(node.value)  # a variable the caller did not list as input
            continue
        slot[node] = len(inputs) + len(constants) + len(instructions)
        instructions.append(Instruction(slot[node], node.op, tuple(slot[a] for a in node.args)))
    return Program(tuple(inputs), tuple(constants), tuple(instructions),
                   tuple(slot[r] for r in roots), len(inputs) + len(constants) + len(instructions))


def allocate(instructions: Sequence[Instruction], keep: set[int]) -> tuple[dict[int, int], int]:
    """Storage for the values of `instructions`, run in order: a number per output
    slot, and how many numbers there are. A number is reused once the value in it
    is dead: after its last reader has placed its own output (so no instruction
    writes over its input), and never for the slots in `keep`. Backends name
    their locals or buffers with these numbers."""
    last = {a: k for k, ins in enumerate(instructions) for a in ins.args}
    where: dict[int, int] = {}
    free: list[int] = []
    count = 0
    for k, ins in enumerate(instructions):
        if free:
            where[ins.out] = free.pop()
        else:
            where[ins.out], count = count, count + 1
        for a in sorted(set(ins.args)):
            if a in where and last[a] == k and a not in keep:
                free.append(where[a])
    return where, count
