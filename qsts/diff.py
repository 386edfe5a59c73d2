"""Reverse-mode differentiation: gradient graphs in the same unique-node table.

`partials` is the one entry. Its core is `backward`, the reverse sweep: adjoints
live in a dict for one pass only and are summed with the graph's own `+`, so a
node used by several parents (or twice by one, as in `a + a`) gets the sum of
their contributions. Only nodes on a path to a requested variable are visited,
and a zero contribution (a rule returning None) creates no adjoint.

With array inputs (`arrays` names them) a contribution is one of two kinds, and
the dict keeps the two apart (its key is the node and the kind). Below a node
that varies over the points it is *per point*: the gradient of the sum of the
outputs splits into one term per point, so nothing needs summing yet. Below a
scalar that only reductions and scalars use it is a *total*. `settle`, the
reduce step, decides what a node passes on: a reduction needs a total (the same
scalar reaches every point of its argument), so where a per-point adjoint meets
a total, or a reduction over the points, it is summed over the points with the
internal `total`. Elsewhere the sum over the points of a scalar input's partial
is left to the evaluator, which adds it block by block. With scalar inputs
only, every adjoint is a total and no `total` appears.
"""
from __future__ import annotations

import functools
from typing import Callable, Iterable, NamedTuple, Sequence

from .algebra import apply
from .errors import MissingRuleError
from .graph import VAR, Node, const, topological, var as var_node
from .ops import OPS
from .shapes import varying

Adjoints = dict  # (node, per point?) -> the sum of the contributions of that kind
SumPoints = Callable[[Node], Node]  # the sum over the points of a per-point adjoint


class Partial(NamedTuple):
    node: Node
    total: bool  # False: per point, still to be summed over the points where the variable is a scalar


def partials(root: Node, wrt: Sequence[str], arrays: Iterable[str] = (), written: bool = False) -> tuple:
    """The one entry for derivatives: a `Partial` of `root` for each name in `wrt`
    when the variables in `arrays` hold arrays. A per-point adjoint that must be
    summed becomes the internal `total(p)`; with `written`, it is written in the
    language instead (`sum(p)`, or `p*size(v)` when p is the same at every point,
    v the first of `arrays`), so the derivative prints and parses back."""
    order = topological([root])
    arrays = tuple(arrays)
    vary = varying(order, arrays)
    sum_points = _written(arrays) if written else lambda p: apply("total", p)
    live = _live(order, set(wrt))
    seeds = {(root, root in vary): const(1.0)} if root in live else {}
    settled = functools.partial(settle, vary=vary, sum_points=sum_points)
    adjoints = backward(order, seeds, live, vary, settled)
    by_name = {n.value: n for n in live if n.op == VAR}
    out = []
    for name in wrt:
        g, per_point = settled(adjoints, by_name[name]) if name in by_name else (None, False)
        out.append(Partial(const(0.0), True) if g is None else Partial(g, not per_point))
    return tuple(out)


def backward(order: Sequence[Node], seeds: Adjoints, live: set, vary: set, settled: Callable) -> Adjoints:
    """The reverse sweep over `order` (topological) from `seeds`: each live node's
    adjoint, `settled(adjoints, node)` (the reduce step below), goes to its live
    arguments through the op table's rules; contributions of one kind are summed
    with the graph's own `+`."""
    adjoints = dict(seeds)
    for node in reversed(order):
        if not node.args or node not in live:
            continue
        g, per_point = settled(adjoints, node)
        if g is None:
            continue
        row = OPS[node.op]
        for i, arg in enumerate(node.args):
            if arg not in live:
                continue
            if row.grads[i] is None:
                raise MissingRuleError(f"no derivative rule for argument {i + 1} of {node.op}")
            contribution = row.grads[i](g, node, *node.args)
            if contribution is not None:
                spread = row.reduction is not None and arg in vary  # a total reaches every point of arg
                key = (arg, per_point or spread)
                adjoints[key] = adjoints[key] + contribution if key in adjoints else contribution
    return adjoints


def settle(adjoints: Adjoints, node: Node, *, vary: set, sum_points: SumPoints) -> tuple[Node | None, bool]:
    """The reduce step: the adjoint of `node` and whether it is per point. Its
    per-point part is summed over the points where it meets a total part, or
    where `node` reduces an argument that varies (one number needs one adjoint)."""
    p, t = adjoints.get((node, True)), adjoints.get((node, False))
    reduces = bool(node.args) and OPS[node.op].reduction is not None and node.args[0] in vary
    if p is None or (t is None and not reduces):
        return (t, False) if p is None else (p, True)
    summed = sum_points(p)
    return (summed if t is None else t + summed), False


def _live(order: Sequence[Node], targets: set) -> set:
    """The nodes whose value depends on a variable in `targets`: the only ones that get adjoints."""
    live = set()
    for node in order:
        if (node.op == VAR and node.value in targets) or any(a in live for a in node.args):
            live.add(node)
    return live


def _written(arrays: Sequence[str]) -> SumPoints:
    """`sum_points` in the language, when every variable is an array over the same points."""
    first = var_node(arrays[0]) if arrays else None
    return lambda p: apply("sum", p) if p in varying(topological([p]), arrays) else p * apply("size", first)
