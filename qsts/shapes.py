"""Which nodes vary over the points, and the one shape rule reductions need.

With array inputs, qsts evaluates over the *points*: the inputs' shapes
broadcast together, as numpy does. A node varies over the points when an array
input reaches it through elementwise operators; a reduction (`sum`, `mean`,
`size`) is one number, and so is anything built only from scalars and
reductions.

Reductions sum over the points, block by block, so the argument of a reduction
that varies must span all the points: `sum(t)` with `t` of shape (3,) while
another input has shape (4, 3) would need numpy to sum 3 numbers where the
points are 12. Such inputs are refused with a clear message (the result itself,
when it varies, must span the points too, or its gradient would count an output
more than once). Expressions without reductions are never refused.
"""
from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

from .errors import InputValueError
from .graph import VAR, Node, topological
from .ops import OPS
from .printing import preview


def has_reductions(nodes: Iterable[Node]) -> bool:
    return any(OPS[n.op].reduction is not None for n in nodes if n.args)


def reach(steps: Iterable[tuple[Hashable, str, Sequence[Hashable]]], inputs: Mapping[Hashable, int]) -> dict:
    """The one "does this vary over the points" analysis, for graphs and programs
    alike. `steps` are (key, op, argument keys) in topological order, `inputs` the
    bit mask of each array input; each key gets the mask of the array inputs that
    reach it elementwise (0: the same at every point). A reduction stops them."""
    mask = dict(inputs)
    for key, op, args in steps:
        m = 0
        if OPS[op].reduction is None:
            for a in args:
                m |= mask.get(a, 0)
        mask[key] = m
    return mask


def _reach(order: Sequence[Node], arrays: Sequence[str]) -> dict[Node, int]:
    """`reach` over the nodes of `order` (topological), by the variables in `arrays`."""
    bit = {name: 1 << i for i, name in enumerate(arrays)}
    inputs = {n: bit.get(n.value, 0) for n in order if n.op == VAR}
    return reach(((n, n.op, n.args) for n in order if n.args), inputs)


def varying(order: Sequence[Node], arrays: Iterable[str]) -> set[Node]:
    """The nodes of `order` (topological) that vary over the points when the
    variables named in `arrays` hold arrays."""
    return {node for node, m in _reach(order, tuple(set(arrays))).items() if m}


def regions(root: Node, arrays: Iterable[str]) -> list[tuple[Node, tuple[str, ...]]]:
    """The nodes whose shape must be the points' shape (the argument of each
    reduction, and the root, where they vary), each named by the reduction (or
    the root) and given with the array inputs that reach it elementwise."""
    arrays = tuple(sorted(set(arrays)))
    order = topological([root])
    support = _reach(order, arrays)
    wanted = [(root, root)]  # (node whose shape counts, what to name in a message)
    wanted += [(node.args[0], node) for node in order if node.args and OPS[node.op].reduction is not None]
    seen, out = set(), []
    for node, named in wanted:
        if support.get(node) and named not in seen:
            seen.add(named)
            out.append((named, tuple(a for i, a in enumerate(arrays) if support[node] >> i & 1)))
    return out


def check(found: Sequence[tuple[Node, tuple[str, ...]]], root: Node, shapes: Mapping[str, tuple],
          points: tuple) -> None:
    """Refuse inputs under which a reduction's argument (or the result) would not
    span the points; `found` is `regions(root, ...)`."""
    for node, names in found:
        shape = np.broadcast_shapes(*(shapes[n] for n in names))
        if shape != points:
            text = preview(node, 60)  # stops after 60 characters: the node's tree may be huge
            given = ", ".join(f"{n}: {shapes[n]}" for n in names)
            if node is root:
                raise InputValueError(
                    f"the result has shape {shape} ({given}), but the inputs broadcast to {points} "
                    "through the reductions in it; give the arrays the same shape")
            raise InputValueError(
                f"{text} reduces an array of shape {shape} ({given}), but the inputs broadcast to "
                f"{points}; sum, mean and size work over all the points, so give the arrays they "
                "reduce the full shape")
