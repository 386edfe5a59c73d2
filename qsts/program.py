"""Graphs to flat programs: a topologically ordered list of single assignments.

A program is plain data you can print and test: instructions
`(out_slot, op, in_slots)`, the constants' slots and the outputs' slots. Inputs
take slots 0..n-1 in variable order and constants the next ones; every other
slot is reused once the value in it is dead, so a program with thousands of
nodes runs in a working set of a few dozen slots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .graph import CONST, VAR, Node, topological, var
from .ops import OPS


@dataclass(frozen=True)
class Instruction:
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

    @property
    def temporaries(self) -> range:
        """Slots written by instructions (the rest hold inputs and constants)."""
        return range(len(self.inputs) + len(self.constants), self.n_slots)

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
    n_fixed = len(inputs) + len(constants)

    last_use = {}
    for k, node in enumerate(order):
        for a in node.args:
            last_use[a] = k
    keep = set(roots)  # outputs stay in their slots to the end
    free: list[int] = []
    n_slots = n_fixed
    instructions = []
    for k, node in enumerate(order):
        if node in folded:
            continue
        if node.op == VAR:
            if node not in slot:
                raise KeyError(node.value)  # a variable the caller did not list as input
            continue
        if free:
            out = free.pop()
        else:
            out, n_slots = n_slots, n_slots + 1
        slot[node] = out
        instructions.append(Instruction(out, node.op, tuple(slot[a] for a in node.args)))
        # free dead arguments after the output is placed, so no instruction writes over its own input
        for a in set(node.args):
            if last_use[a] == k and a not in keep and slot[a] >= n_fixed:
                free.append(slot[a])
    return Program(tuple(inputs), tuple(constants), tuple(instructions),
                   tuple(slot[r] for r in roots), n_slots)
