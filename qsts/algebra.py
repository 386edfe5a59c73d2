"""Node construction with local simplification, for derivative rules.

`parse` builds exactly what was written (`graph.make`); rules build through
`apply`, which folds constants and drops identities, so `d/dx x^2` is `2*x` and
not `1*(2*x^(2-1))`. Only IEEE-safe rewrites happen (each row's `simplify`):
`0*x`, `x-x` and `x/x` are left alone, being nan, not 0 or 1, at inf or nan.
"""
from __future__ import annotations

import math
from numbers import Real

from .graph import Node, const, constant_value, make
from .ops import OPS


def number(value: float) -> Node:
    """A number as the parser builds it: a negative one is neg(positive), so that
    printing and parsing a derivative gives back the very same node."""
    if value < 0 or math.copysign(1.0, value) < 0:
        return make("neg", (const(-value),))
    return const(value)


def node(x: Node | Real) -> Node:
    return x if isinstance(x, Node) else number(x)


def apply(name: str, *args: Node | Real) -> Node:
    """The node `name(*args)`, simplified where that is exact."""
    op = OPS[name]
    nodes = tuple(node(a) for a in args)
    values = [constant_value(a) for a in nodes]
    if None not in values:
        folded = op.scalar(*values)
        if math.isfinite(folded):  # keep 1/0 as written: it prints and parses back
            return number(folded)
    if op.simplify is not None:
        simpler = op.simplify(*nodes)
        if simpler is not None:
            return simpler
    return make(name, nodes, op.commutative)
