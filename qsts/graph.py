"""The unique-node table: immutable, interned expression nodes and graph walks.

A node is interned under a key made of its operator and the *identities* of its
children (never their printed text), a variable under its name and a constant
under the bit pattern of its value. Only the factories below make nodes, so two
equal keys always give the very same object and `is` is equality.

The table holds nodes weakly: a node lives as long as something (an expression,
or a parent node) refers to it, and interning never leaks memory.

A node pickles as its whole graph in flat postfix (`dump`), and loads interned
again (`load`): the very same node in the same process, an equal one elsewhere.
"""
from __future__ import annotations

import hashlib
import math
import struct
import threading
import weakref
from typing import Callable, Iterable

CONST, VAR = "const", "var"

_table: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
_lock = threading.Lock()  # get-or-create must be atomic, or two threads could mint twins


class Node:
    """One interned node: `op` is a row name of `qsts.ops.OPS`, or `const`/`var`;
    `args` are child nodes; `value` is a constant's float or a variable's name.

    Nodes hold no values, adjoints or counters, so nothing on them can go stale.
    """

    __slots__ = ("op", "args", "value", "digest", "__weakref__")

    op: str
    args: tuple["Node", ...]
    value: float | str | None
    # A structural digest (BLAKE2b of the operator and the children's digests),
    # the same in every run: it orders commutative arguments, so `sin(a)*sin(b)`
    # and `sin(b)*sin(a)` are one node and printing never depends on history.
    digest: bytes

    def __setattr__(self, name, value):
        raise AttributeError("qsts nodes are immutable")

    def __reduce__(self):
        """Pickle the graph as flat postfix (`dump`): the text is exponential in shared graphs."""
        return _load_node, (dump([self]),)

    def __copy__(self):  # interned and immutable: a copy is the node itself (not a pickle round trip)
        return self

    def __deepcopy__(self, memo):
        return self

    # Operators and text come from the layers above, which know the op table (built on
    # nodes, so graph cannot import it): qsts.algebra installs `build(name, *args)`, the
    # simplifying constructor, and qsts.printing `show(node)`, a short infix.
    build: Callable[..., "Node"]
    show: Callable[["Node"], str] = staticmethod(lambda node: f"{node.op} node")

    def __repr__(self) -> str:
        return f"<Node {Node.show(self)}>"

    # Arithmetic on nodes builds (simplified) nodes; derivative rules use it.
    def __add__(self, o): return Node.build("add", self, o)
    def __radd__(self, o): return Node.build("add", o, self)
    def __sub__(self, o): return Node.build("sub", self, o)
    def __rsub__(self, o): return Node.build("sub", o, self)
    def __mul__(self, o): return Node.build("mul", self, o)
    def __rmul__(self, o): return Node.build("mul", o, self)
    def __truediv__(self, o): return Node.build("div", self, o)
    def __rtruediv__(self, o): return Node.build("div", o, self)
    def __pow__(self, o): return Node.build("pow", self, o)
    def __rpow__(self, o): return Node.build("pow", o, self)
    def __neg__(self): return Node.build("neg", self)


def _intern(key: tuple, op: str, args: tuple, value, digest: bytes) -> Node:
    with _lock:
        node = _table.get(key)
        if node is None:
            node = object.__new__(Node)
            for name, v in (("op", op), ("args", args), ("value", value), ("digest", digest)):
                object.__setattr__(node, name, v)
            _table[key] = node
        return node


def _digest(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"\0".join(parts), digest_size=16).digest()


def const(value: float) -> Node:
    """The constant node of `value`. `2` and `2.0` are one node; `0.0` and `-0.0`
    are two (they differ under division), and every NaN is one node."""
    value = float(value)
    bits = struct.unpack("<q", struct.pack("<d", math.nan if value != value else value))[0]
    return _intern((CONST, value.hex()), CONST, (), value, _digest(b"c", struct.pack("<q", bits)))


def var(name: str) -> Node:
    """The variable node named `name`."""
    return _intern((VAR, name), VAR, (), name, _digest(b"v", name.encode("utf-8", "surrogatepass")))


def make(op: str, args: tuple[Node, ...], commutative: bool = False) -> Node:
    """The node `op(*args)` exactly as written; commutative args are put in
    canonical order (constants, variables by name, then the rest), the only rewrite."""
    if commutative:
        args = tuple(sorted(args, key=_canonical))
    return _intern((op, args), op, args, None, _digest(op.encode(), *(a.digest for a in args)))


def _canonical(node: Node) -> tuple:
    if node.op == VAR:
        return (1, node.value, b"")
    return (0 if constant_value(node) is not None else 2, "", node.digest)


def constant_value(node: Node) -> float | None:
    """The value of a number as parsed: a constant, or minus one (`-2` parses as
    neg(2), and derivative rules make negative numbers the same way)."""
    if node.op == CONST:
        return node.value
    if node.op == "neg" and node.args[0].op == CONST:
        return -node.args[0].value
    return None


def is_const(node: Node, value: float | None = None) -> bool:
    v = constant_value(node)
    return v is not None and (value is None or v == value)


# ---------------------------------------------------------------- walks
# Every walk uses an explicit stack: graphs 100,000 deep are normal input.

def topological(roots: Iterable[Node]) -> list[Node]:
    """All nodes reachable from `roots`, each once, children before parents."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in roots:
        if root in seen:
            continue
        stack = [(root, iter(root.args))]
        seen.add(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.args)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def tree_size(root: Node) -> int:
    """How many nodes the same expression has as a tree (no sharing)."""
    size: dict[Node, int] = {}
    for node in topological([root]):
        size[node] = 1 + sum(size[a] for a in node.args)
    return size[root]


def parent_counts(roots: Iterable[Node]) -> dict[Node, int]:
    """Number of parent edges of each node (a parent using a child twice, as in
    `a*a`, counts twice: reverse mode sums two contributions there)."""
    order = topological(roots)
    counts = dict.fromkeys(order, 0)
    for node in order:
        for a in node.args:
            counts[a] += 1
    return counts


# ---------------------------------------------------------------- pickling
# A graph is stored as postfix, each unique node once: a constant as its float (pickle
# keeps a float's bits), a variable as its name, any other node as (op, *child indices)
# into the entries before it. Flat, because pickle recurses on nested objects.

def dump(roots: Iterable[Node]) -> tuple:
    """`(entries, root indices)`: the graph under `roots` in flat postfix, linear in its unique nodes."""
    roots = tuple(roots)
    order = topological(roots)
    index = {node: i for i, node in enumerate(order)}
    return tuple(_entry(node, index) for node in order), tuple(index[r] for r in roots)


def _entry(node: Node, index: dict[Node, int]) -> float | str | tuple:
    """One node's entry: leaves by value, so loading interns them under the same key."""
    if node.op == CONST or node.op == VAR:
        return node.value
    return (node.op, *[index[a] for a in node.args])


def load(encoded: tuple) -> list[Node]:
    """The roots of a `dump`, interned again: stored children are in canonical order
    already, so the raw `make` gives the original key and digest (no sorting, no simplifying)."""
    entries, roots = encoded
    nodes: list[Node] = []  # holds every node until its parents are made
    for entry in entries:
        if isinstance(entry, tuple):
            nodes.append(make(entry[0], tuple([nodes[i] for i in entry[1:]])))
        else:
            nodes.append(const(entry) if isinstance(entry, float) else var(entry))
    return [nodes[i] for i in roots]


def _load_node(encoded: tuple) -> Node:
    """The node of `Node.__reduce__`: a module-level function, so pickle stores it by name."""
    return load(encoded)[0]
