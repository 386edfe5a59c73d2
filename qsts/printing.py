"""Readable text of graphs: infix with the fewest parentheses that keep the
node's structure (printing then parsing gives back the same node), and a text
view of the DAG that shows sharing.
"""
from __future__ import annotations

import math
from typing import Iterable

from .graph import CONST, VAR, Node, parent_counts, topological
from .ops import ATOM, OPS, UNARY, CONSTANTS

_NAMED = {v: k for k, v in CONSTANTS.items()}


def number(value: float, names: bool = True) -> str:
    """Full precision (`repr`), integers without `.0`, inf as `1e999` so it parses
    back; with `names`, the values of pi and e print as `pi` and `e`."""
    if names and value in _NAMED:
        return _NAMED[value]
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value)) if value or math.copysign(1, value) > 0 else "-0"
    return repr(value)


def _precedence(node: Node) -> int:
    if node.op == CONST:
        return UNARY if node.value < 0 or math.copysign(1, node.value) < 0 else ATOM
    return ATOM if node.op == VAR else OPS[node.op].precedence


def _needs_parens(child: Node, parent_prec: int, side: str, right_assoc: bool) -> bool:
    prec = _precedence(child)
    if side == "operand":  # of unary minus, or the exponent (grammar: a `unary`)
        return prec < UNARY
    tighter = (side == "right") != right_assoc  # the side that must bind strictly tighter
    return prec <= parent_prec if tighter else prec < parent_prec


def infix(node: Node) -> str:
    """Infix text of `node`, e.g. `2*x`, `x^2*cos(x) + sin(x)*(2*x)`."""
    out: list[str] = []
    stack: list = [(node, None)]  # (node, parenthesize) or a literal string
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        n, paren = item
        if paren:
            stack.append(")")
        stack.extend(reversed(_pieces(n)))
        if paren:
            stack.append("(")
    return "".join(out)


def _pieces(n: Node) -> list:
    """The parts of `n` in print order: strings and (child, parenthesize) pairs."""
    if n.op == CONST:
        return [number(n.value)]
    if n.op == VAR:
        return [n.value]
    op = OPS[n.op]
    if not op.symbol:
        parts: list = [op.name + "("]
        for i, a in enumerate(n.args):
            parts += ([", "] if i else []) + [(a, False)]
        return parts + [")"]
    if op.arity == 1:
        return [op.symbol, (n.args[0], _needs_parens(n.args[0], op.precedence, "operand", False))]
    a, b = n.args
    right_side = "operand" if op.right_assoc else "right"
    gap = " " if op.precedence == 1 else ""  # spaces around + and - only
    return [(a, _needs_parens(a, op.precedence, "left", op.right_assoc)), f"{gap}{op.symbol}{gap}",
            (b, _needs_parens(b, op.precedence, right_side, op.right_assoc))]


# ---------------------------------------------------------------- graph views

def _label(n: Node, ids: dict[Node, str]) -> str:
    if n.op in (CONST, VAR):
        return infix(n)
    op = OPS[n.op]
    args = [ids[a] for a in n.args]
    if op.symbol and op.arity == 2:
        return f"{args[0]} {op.symbol} {args[1]}"
    if op.symbol:
        return f"{op.symbol}{args[0]}"
    return f"{op.name}({', '.join(args)})"


def graph_text(roots: Iterable[Node], names: Iterable[str] | None = None) -> str:
    """One line per node, children first: id, operation, number of parents."""
    roots = list(roots)
    order = topological(roots)
    parents = parent_counts(roots)
    ids = {n: f"n{i}" for i, n in enumerate(order)}
    names = list(names) if names is not None else [f"out{i}" for i in range(len(roots))]
    outputs: dict[Node, list[str]] = {}
    for name, r in zip(names, roots):
        outputs.setdefault(r, []).append(name)
    lines = []
    width = max(len(_label(n, ids)) for n in order)
    for n in order:
        notes = []
        if parents[n] > 1:
            notes.append(f"shared: {parents[n]} parents")
        elif parents[n] == 1:
            notes.append("1 parent")
        if n in outputs:
            notes.append("<- " + ", ".join(outputs[n]))
        lines.append(f"{ids[n]:>5} = {_label(n, ids):<{width}}  {'; '.join(notes)}".rstrip())
    return "\n".join(lines)


def graph_dot(roots: Iterable[Node], names: Iterable[str] | None = None) -> str:
    """Graphviz DOT of the DAG: one node per graph node, an edge per argument."""
    roots = list(roots)
    order = topological(roots)
    ids = {n: f"n{i}" for i, n in enumerate(order)}
    lines = ["digraph qsts {", "  rankdir=BT;", '  node [fontname="Helvetica"];']
    for n in order:
        label = infix(n) if n.op in (CONST, VAR) else (OPS[n.op].symbol or OPS[n.op].name)
        shape = "box" if n.op in (CONST, VAR) else "ellipse"
        lines.append(f'  {ids[n]} [label="{_dot_escape(label)}", shape={shape}];')
    for n in order:
        for i, a in enumerate(n.args):
            port = f' [label="{i}"]' if len(n.args) > 1 and not OPS[n.op].commutative else ""
            lines.append(f"  {ids[a]} -> {ids[n]}{port};")
    names = list(names) if names is not None else [f"out{i}" for i in range(len(roots))]
    for i, (name, r) in enumerate(zip(names, roots)):
        lines.append(f'  o{i} [label="{_dot_escape(name)}", shape=plaintext];')
        lines.append(f"  {ids[r]} -> o{i} [style=dashed];")
    lines.append("}")
    return "\n".join(lines)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
