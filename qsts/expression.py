"""`Expression`: a root node of the unique-node table and its variable order."""
from __future__ import annotations

from .graph import Node, topological, tree_size
from .printing import infix


class Expression:
    """A hash-consed expression DAG.

    >>> import qsts
    >>> e = qsts.parse("(x+y)+x*(x+y)")
    >>> e.variables, e.node_count, e.tree_size
    (('x', 'y'), 5, 9)
    """

    __slots__ = ("root", "variables", "_gradient")

    def __init__(self, root: Node, variables: tuple[str, ...]):
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "variables", tuple(variables))
        object.__setattr__(self, "_gradient", None)

    def __setattr__(self, name, value):
        raise AttributeError("Expression is immutable")

    @property
    def node_count(self) -> int:
        """Number of unique nodes in the DAG."""
        return len(topological([self.root]))

    @property
    def tree_size(self) -> int:
        """Number of nodes of the same expression written out as a tree."""
        return tree_size(self.root)

    def gradient(self) -> tuple["Expression", ...]:
        """The partial derivatives, one `Expression` per variable, in `variables` order.
        Built once per expression (graphs are immutable, so this cannot go stale)."""
        if self._gradient is None:
            from .diff import gradient

            grads = tuple(Expression(g, _present(self.variables, g)) for g in gradient(self.root, self.variables))
            object.__setattr__(self, "_gradient", grads)
        return self._gradient

    def __str__(self) -> str:
        return infix(self.root)

    def __repr__(self) -> str:
        return f"Expression({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Expression) and other.root is self.root and other.variables == self.variables

    def __hash__(self) -> int:
        return hash((id(self.root), self.variables))


def _present(order: tuple[str, ...], root: Node) -> tuple[str, ...]:
    """The names of `order` that still occur under `root`, in that order."""
    names = {n.value for n in topological([root]) if n.op == "var"}
    return tuple(v for v in order if v in names)
