"""Reverse-mode differentiation: gradient graphs in the same unique-node table.

Adjoints live in dicts for one pass only and are summed with the graph's own
`+`, so a node used by several parents (or twice by one, as in `a + a`) gets the
sum of their contributions. Only nodes on a path to a requested variable are
visited, and a zero contribution (a rule returning None) creates no adjoint.

With array inputs (`arrays` names them) an adjoint is one of two kinds. Below a
node that varies over the points it is *per point*: the gradient of the sum of
the outputs splits into one term per point, so nothing needs summing yet. Below
a scalar that only reductions and scalars use it is a *total*. A reduction
needs a total (the same scalar reaches every point of its argument), so where a
per-point adjoint meets a scalar that needs a total, it is summed over the
points with the internal `total`. Elsewhere the sum over the points of a
scalar input's partial is left to the evaluator, which adds it block by block.
With scalar inputs only, every adjoint is a total and no `total` appears.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from .algebra import apply
from .errors import MissingRuleError
from .graph import VAR, Node, const, topological, var as var_node
from .ops import OPS
from .shapes import varying


def gradient(root: Node, wrt: Sequence[str]) -> list[Node]:
    """The nodes of d root / d v for each variable name v in `wrt` (scalar inputs)."""
    return [node for node, _ in partials(root, wrt)]


def per_point(root: Node, var: str, variables: Sequence[str]) -> Node:
    """d root / d var at each point when every variable is an array over the same
    points, written in the language (so it prints and parses back): a per-point
    adjoint p that must be summed is `sum(p)`, or `p*size(v)` when p is the same
    at every point. At scalars (one point) it is the ordinary derivative."""
    first = var_node(variables[0]) if variables else None

    def sum_points(p: Node) -> Node:
        if p in varying(topological([p]), variables):
            return apply("sum", p)
        return p * apply("size", first)

    return partials(root, [var], variables, sum_points)[0][0]


def partials(root: Node, wrt: Sequence[str], arrays: Iterable[str] = (),
             sum_points: Callable[[Node], Node] | None = None) -> list[tuple[Node, bool]]:
    """For each name in `wrt`, its partial and whether it is a total (True) or
    per point (False, to be summed over the points where the variable is a scalar).
    `sum_points(p)` builds the sum over the points of a per-point adjoint `p`
    (default: the internal `total`)."""
    order = topological([root])
    targets = set(wrt)
    # nodes whose value depends on a requested variable: the only ones that get adjoints
    live = set()
    for node in order:
        if (node.op == VAR and node.value in targets) or any(a in live for a in node.args):
            live.add(node)
    vary = varying(order, arrays)
    pointwise: dict[Node, Node] = {}  # per-point adjoints
    total: dict[Node, Node] = {}
    if root in live:
        (pointwise if root in vary else total)[root] = const(1.0)

    def add(adjoints: dict, node: Node, contribution: Node) -> None:
        adjoints[node] = adjoints[node] + contribution if node in adjoints else contribution

    def settle(node: Node) -> tuple[Node | None, bool]:
        """The adjoint of `node` and whether it is a total; a per-point part that
        meets a total, or feeds a reduction over the points, is summed into it."""
        p, t = pointwise.get(node), total.get(node)
        reduction = bool(node.args) and OPS[node.op].reduction is not None
        if p is not None and (t is not None or (reduction and node.args[0] in vary)):
            summed = apply("total", p) if sum_points is None else sum_points(p)
            return (summed if t is None else t + summed), True
        return (p, False) if p is not None else (t, True)

    for node in reversed(order):
        if not node.args or node not in live:
            continue
        g, is_total = settle(node)
        if g is None:
            continue
        row = OPS[node.op]
        for i, arg in enumerate(node.args):
            if arg not in live:
                continue
            rule = row.grads[i]
            if rule is None:
                raise MissingRuleError(f"no derivative rule for argument {i + 1} of {node.op}")
            contribution = rule(g, node, *node.args)
            if contribution is None:
                continue
            # a reduction's total reaches every point of an argument that varies
            spread = row.reduction is not None and arg in vary
            add(total if is_total and not spread else pointwise, arg, contribution)
    by_name = {n.value: n for n in live if n.op == VAR}
    out = []
    for name in wrt:
        node = by_name.get(name)
        if node is None:
            out.append((const(0.0), True))
            continue
        g, is_total = settle(node)
        out.append((const(0.0), True) if g is None else (g, is_total))
    return out
