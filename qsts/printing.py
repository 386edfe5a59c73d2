"""Readable text of graphs: infix with the fewest parentheses that keep the
node's structure (printing then parsing gives back the same node), the shared
form for expressions too long to write out, and views of the DAG.

Infix follows the tree, not the DAG, so a shared expression (a derivative
above all) can be exponentially longer than its graph. `text` therefore first
computes the exact length the infix would have, one pass over the DAG, and
past `LIMIT` characters writes the *shared form*: the REPL's own `name = expr`
lines, one per shared subexpression, and last the result written with those
names. Pasted into the REPL, the lines rebuild the very same node, and the
form stays proportional to the DAG. Every printer here costs what it prints.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

from .graph import CONST, VAR, Node, parent_counts, topological
from .ops import ATOM, OPS, RESERVED, UNARY, CONSTANTS

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


def infix(node: Node, limit: int | None = None, names: Mapping[Node, str] | None = None) -> str:
    """Infix text of `node`, e.g. `2*x`, `x^2*cos(x) + sin(x)*(2*x)`.

    With `limit`, only the first `limit` characters: the walk stops there, so a
    cut view costs what it prints (plus the descent to its first character).
    Nodes in `names`, other than `node` itself, print as their names.
    """
    out: list[str] = []
    produced = 0
    stack: list = [(node, None)]  # (node, parenthesize) or a literal string
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            produced += len(item)
            if limit is not None and produced >= limit:
                break
            continue
        n, paren = item
        if names and n is not node and n in names:
            stack.append(names[n])  # a name is an atom: no parentheses
            continue
        if paren:
            stack.append(")")
        stack.extend(reversed(_pieces(n)))
        if paren:
            stack.append("(")
    text = "".join(out)
    return text if limit is None else text[:limit]


def preview(node: Node, width: int) -> str:
    """The infix of `node` cut to `width` characters, ending in `...` when cut
    (for messages and reprs, which must stay short whatever the expression)."""
    text = infix(node, limit=width + 1)
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


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


# ---------------------------------------------------------------- length and the shared form

LIMIT = 10**6  # characters: a longer infix prints as the shared form
INLINE = 12    # characters: a shared subexpression this short is written out at each use
REPR_WIDTH = 300  # characters of infix in a repr: a debugger or traceback prints it whole
Node.show = staticmethod(lambda node: preview(node, REPR_WIDTH))  # what repr(node) shows


def _width(n: Node, width: Mapping[Node, int], names: Mapping[Node, str], cap: int) -> int:
    """Length of the infix of `n` from its children's lengths (`width`), counting
    their parentheses, and a child in `names` as its name; at most `cap`."""
    total = 0
    for piece in _pieces(n):
        if isinstance(piece, str):
            total += len(piece)
        elif piece[0] in names:
            total += len(names[piece[0]])
        else:
            total += width[piece[0]] + 2 * piece[1]
    return min(total, cap)


def length(node: Node, cap: int) -> int:
    """The exact length of `infix(node)`, or `cap` if it is at least that long:
    one pass over the DAG, children first, so it costs the DAG, not the tree.
    (Capping keeps the numbers small: the true length can have hundreds of digits.)"""
    width: dict[Node, int] = {}
    for n in topological([node]):
        width[n] = _width(n, width, {}, cap)
    return width[node]


def text(node: Node, limit: int | None = None) -> str:
    """The infix of `node` when it has at most `limit` characters (default
    `LIMIT`), else its shared form: what `str()` of an expression prints."""
    limit = LIMIT if limit is None else limit
    return infix(node) if length(node, limit + 1) <= limit else shared(node)


def shared(root: Node) -> str:
    """The shared form of `root`: a line `name = expr` per named subexpression,
    children first, then `root` written with the names. Each line parses back to
    its node (the REPL puts earlier names in as their graphs), and the whole is
    O(DAG size): what is not named is unshared, or at most `INLINE` long, or a leaf.

    >>> from qsts import parse
    >>> print(shared(parse("(x*y + sin(x*y))*(x*y + sin(x*y))").root))
    t1 = x*y + sin(x*y)
    t1*t1
    """
    names = shared_names(root)
    lines = [f"{name} = {infix(n, names=names)}" for n, name in names.items()]
    return "\n".join(lines + [infix(root, names=names)])


def shared_names(root: Node) -> dict[Node, str]:
    """The nodes the shared form names, in topological order, with their names.

    A node is named when it has two or more parent edges, is not a leaf, has a
    variable (the REPL evaluates a line without variables to a number, so such
    a name would not stand for the node), and its text, with the names already
    chosen below it, is longer than `INLINE` characters."""
    parents = parent_counts([root])  # its keys are in topological order
    prefix = _prefix(n.value for n in parents if n.op == VAR)
    names: dict[Node, str] = {}
    width: dict[Node, int] = {}
    has_var: dict[Node, bool] = {}
    for n in parents:
        has_var[n] = n.op == VAR or any(has_var[a] for a in n.args)
        # only `> INLINE` is asked, and a capped sum still answers it exactly
        width[n] = _width(n, width, names, INLINE + 1)
        if parents[n] > 1 and n.args and has_var[n] and width[n] > INLINE:
            names[n] = f"{prefix}{len(names) + 1}"
    return names


def _prefix(variables: Iterable[str]) -> str:
    """`t` (names t1, t2, ...), or `tt`, `ttt`, ... if a variable or a reserved
    word is that prefix followed by digits."""
    taken = set(variables) | RESERVED
    prefix = "t"
    while any(re.fullmatch(re.escape(prefix) + "[0-9]+", w) for w in taken):
        prefix += "t"
    return prefix


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
