"""Reverse-mode differentiation: gradient graphs in the same unique-node table.

Adjoints live in a dict for one pass only and are summed with the graph's own
`+`, so a node used by several parents (or twice by one, as in `a + a`) gets the
sum of their contributions. Only nodes on a path to a requested variable are
visited, and a zero contribution (a rule returning None) creates no adjoint.
"""
from __future__ import annotations

from typing import Sequence

from .errors import MissingRuleError
from .graph import VAR, Node, const, topological
from .ops import OPS


def gradient(root: Node, wrt: Sequence[str]) -> list[Node]:
    """The nodes of d root / d v for each variable name v in `wrt`."""
    order = topological([root])
    targets = set(wrt)
    # nodes whose value depends on a requested variable: the only ones that get adjoints
    live = set()
    for node in order:
        if (node.op == VAR and node.value in targets) or any(a in live for a in node.args):
            live.add(node)
    adjoint: dict[Node, Node] = {root: const(1.0)} if root in live else {}
    for node in reversed(order):
        g = adjoint.get(node)
        if g is None or not node.args:
            continue
        rules = OPS[node.op].grads
        for i, arg in enumerate(node.args):
            if arg not in live:
                continue
            rule = rules[i]
            if rule is None:
                raise MissingRuleError(f"no derivative rule for argument {i + 1} of {node.op}")
            contribution = rule(g, node, *node.args)
            if contribution is not None:
                adjoint[arg] = adjoint[arg] + contribution if arg in adjoint else contribution
    zero = const(0.0)
    by_name = {n.value: n for n in live if n.op == VAR}
    return [adjoint.get(by_name.get(name), zero) for name in wrt]
