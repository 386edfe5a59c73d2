"""Node construction with local simplification, for derivative rules.

`parse` builds exactly what was written (`graph.make`); rules build through
`apply`, so `d/dx x^2` is `2*x` and not `1*(2*x^(2-1))`. Each rewrite is exact
in IEEE arithmetic, or is listed with its exception (the rules live in the op
table's `simplify` column):

| rewrite | exact? |
|---|---|
| constants fold, `2-1 -> 1` | yes (same kernels); a non-finite result is kept as written, e.g. `1/0` |
| `1*x`, `x*1`, `x/1`, `x^1 -> x` | yes |
| `-1*x`, `x/-1 -> -x`; `c*-x -> (-c)*x`; `a*-x -> -(a*x)` | yes: sign flips are exact |
| `a + -x -> a - x`, `a - -x -> a + x`, `--x -> x` | yes |
| `x + 0`, `x - 0 -> x`; `0 - x -> -x` | up to the sign of zero (`-0.0 + 0.0` is `0.0`) |
| d/dx of `x^0` is no term at all | yes: the derivative is 0 |
| `0*x -> 0`, `x - x -> 0`, `x/x -> 1` | never done: each is nan when x is inf or nan |

Negative numbers are built as parsing builds them, neg(positive), so printing
a derivative and parsing it gives back the very same node.
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
    if None not in values and op.folds:
        folded = op.scalar(*values)
        if math.isfinite(folded):  # keep 1/0 as written: it prints and parses back
            return number(folded)
    if op.simplify is not None:
        simpler = op.simplify(*nodes)
        if simpler is not None:
            return simpler
    return make(name, nodes, op.commutative)


Node.build = staticmethod(apply)  # node arithmetic (`a + b`, `2*x`) builds through `apply`
