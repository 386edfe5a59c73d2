"""Postfix to graph: build the interned DAG with one stack pass."""
from __future__ import annotations

from .errors import QstsError
from .graph import Node, const, make, var
from .ops import BY_TOKEN, CONSTANTS


def build(postfix: list) -> tuple[Node, tuple[str, ...]]:
    """Build the node of `postfix` as written; also return its variables in
    order of first appearance. Linear in the length of `postfix`."""
    stack: list[Node] = []
    names: dict[str, None] = {}  # an ordered set
    for item in postfix:
        if isinstance(item, float):
            stack.append(const(item))
        elif item in BY_TOKEN:
            op = BY_TOKEN[item]
            if len(stack) < op.arity:
                raise QstsError(f"malformed postfix: {item!r} needs {op.arity} operands")
            args = tuple(stack[len(stack) - op.arity:])
            del stack[len(stack) - op.arity:]
            stack.append(make(op.name, args, op.commutative))
        elif item in CONSTANTS:
            stack.append(const(CONSTANTS[item]))
        else:
            names.setdefault(item)
            stack.append(var(item))
    if len(stack) != 1:
        raise QstsError(f"malformed postfix: {len(stack)} values left, expected 1")
    return stack[0], tuple(names)
