"""Node construction with local simplification, for derivative rules.

`parse` builds exactly what was written (`graph.make`); rules build through
`apply`, which folds constants and drops identities, so `d/dx x^2` is `2*x` and
not `1*(2*x^(2-1))`. Only IEEE-safe rewrites happen (each row's `simplify`):
`0*x`, `x-x` and `x/x` are left alone, being nan, not 0 or 1, at inf or nan.
"""
from __future__ import annotations

import math
from numbers import Real

from .graph import CONST, Node, const, make
from .ops import OPS


def node(x: Node | Real) -> Node:
    return x if isinstance(x, Node) else const(x)


def apply(name: str, *args: Node | Real) -> Node:
    """The node `name(*args)`, simplified where that is exact."""
    op = OPS[name]
    nodes = tuple(node(a) for a in args)
    if all(a.op == CONST for a in nodes):
        folded = op.scalar(*(a.value for a in nodes))
        if math.isfinite(folded):  # keep 1/0 as written: it prints and parses back
            return const(folded)
    if op.simplify is not None:
        simpler = op.simplify(*nodes)
        if simpler is not None:
            return simpler
    return make(name, nodes, op.commutative)
