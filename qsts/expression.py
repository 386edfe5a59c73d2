"""`Expression`: a root node of the unique-node table and its variable order.

`str()` is the infix when it has at most `printing.LIMIT` characters, else the
shared form (one line per shared subexpression, see `qsts.printing`), so
printing never costs more than the DAG; `repr()` is cut to a few hundred
characters; `_repr_latex_()` is the LaTeX Jupyter shows (`qsts.typeset`).
"""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from . import grammar, printing, symbolic, typeset
from .diff import Partial, partials
from .drawing import Graph
from .errors import QstsError
from .graph import VAR, Node, topological, tree_size
from .postfix import build
from .shapes import has_reductions, regions

T = TypeVar("T")


class Expression:
    """A hash-consed expression DAG.

    >>> import qsts
    >>> e = qsts.parse("(x+y)+x*(x+y)")
    >>> e.variables, e.node_count, e.tree_size
    (('x', 'y'), 5, 9)
    """

    __slots__ = ("root", "variables", "_cache")

    def __init__(self, root: Node, variables: tuple[str, ...]):
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "variables", tuple(variables))
        object.__setattr__(self, "_cache", {})  # what `memo` derived from the graph

    def __setattr__(self, name, value):
        raise AttributeError("Expression is immutable")

    @classmethod
    def within(cls, root: Node, order: tuple[str, ...]) -> "Expression":
        """The expression of `root` over the names of `order` that occur under it, in that order."""
        names = {n.value for n in topological([root]) if n.op == VAR}
        return cls(root, tuple(v for v in order if v in names))

    @property
    def node_count(self) -> int:
        """Number of unique nodes in the DAG (counted once: every repr shows it)."""
        return self.memo(("node_count",), lambda: len(topological([self.root])))

    @property
    def tree_size(self) -> int:
        """Number of nodes of the same expression written out as a tree."""
        return tree_size(self.root)

    def gradient(self) -> tuple["Expression", ...]:
        """The partial derivatives, one `Expression` per variable, in `variables` order.
        Built once per expression (graphs are immutable, so this cannot go stale)."""
        return self.memo(("gradient",), lambda: tuple(Expression.within(p.node, self.variables)
                                                      for p in self.partials()))

    @property
    def reduces(self) -> bool:
        """Whether the expression has a reduction (sum, mean, size)."""
        return self.memo(("reduces",), lambda: has_reductions(topological([self.root])))

    def partials(self, arrays: frozenset = frozenset(), wrt: tuple | None = None) -> tuple[Partial, ...]:
        """`qsts.diff.partials` of the root for the variables of `wrt` (default: all)
        when the variables in `arrays` hold arrays. Cached per signature."""
        wrt = self.variables if wrt is None else tuple(wrt)
        # without reductions the graph is the same for every signature; only the kinds differ
        key = ("partials", frozenset(arrays) if self.reduces else bool(arrays), wrt)
        return self.memo(key, lambda: partials(self.root, wrt, arrays))

    def regions(self, arrays: frozenset) -> list:
        """`qsts.shapes.regions` of the root, cached per set of array variables."""
        return self.memo(("regions", frozenset(arrays)), lambda: regions(self.root, arrays))

    def memo(self, key: tuple, make: Callable[[], T]) -> T:
        """`make()`, computed once per `key` for this expression: what is derived
        from an immutable graph (partials, plans) cannot go stale."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def text(self, shared: bool = False) -> str:
        """The expression as infix; with `shared`, the shared form whatever its
        size: `name = expr` lines for the shared subexpressions, then the result.
        Pasted into the REPL, the lines rebuild this very node.

        >>> import qsts
        >>> print(qsts.parse("(x*y + sin(x*y))^2 + (x*y + sin(x*y))").text(shared=True))
        t1 = x*y + sin(x*y)
        t1^2 + t1
        """
        return printing.shared(self.root) if shared else printing.infix(self.root)

    def graph(self, grad: bool = False) -> Graph:
        """The DAG as a `Graph` (`.dot`, `.text`, `.render(path)`, and an SVG
        picture in a notebook when Graphviz is installed); with `grad`, the
        value's and the partials' graphs together (outputs f, df/dx, ...), where
        the nodes the gradient shares with the value show.

        >>> import qsts
        >>> qsts.parse("x*y").graph(grad=True).names
        ('f', 'df/dx', 'df/dy')
        """
        roots, names = [self.root], ["f"]
        if grad:
            roots += [g.root for g in self.gradient()]
            names += [f"df/d{v}" for v in self.variables]
        return Graph(roots, names, "value and gradient" if grad else None)

    def __str__(self) -> str:
        """The infix, or the shared form when the infix would be longer than
        `printing.LIMIT` characters (decided from its length, computed on the DAG)."""
        return printing.text(self.root)

    def __repr__(self) -> str:
        """The infix cut to `printing.REPR_WIDTH`, the variables and the node count,
        which tell apart expressions whose texts are cut alike.

        >>> import qsts
        >>> qsts.parse("x^2*y")
        Expression('y*x^2', variables=('x', 'y'), nodes=5)
        """
        return describe("Expression", repr(printing.preview(self.root, printing.REPR_WIDTH)), self.variables,
                        self.node_count)

    def _repr_latex_(self) -> str | None:
        r"""The LaTeX of `qsts.latex` in `$\displaystyle ...$`, which Jupyter renders
        as math: the shared form past `NOTEBOOK_LATEX` characters, and None (Jupyter
        then shows the repr) past `NOTEBOOK_LATEX_MAX`: MathJax is slow to set
        formulas that long."""
        text = typeset.latex(self.root, limit=NOTEBOOK_LATEX)
        return f"$\\displaystyle {text}$" if len(text) <= NOTEBOOK_LATEX_MAX else None

    def to_sympy(self):
        """The SymPy expression of this one (SymPy is an optional extra: `pip install qsts[sympy]`);
        variables are real symbols, `sympy.Symbol(name, real=True)`; `qsts.from_sympy` goes back.
        Reductions (`sum`, `mean`, `size`) have no SymPy counterpart.

        >>> import qsts
        >>> qsts.parse("x^2/3 + log1p(x)").to_sympy()
        x**2/3 + log1p(x)
        """
        return symbolic.to_sympy(self.root)

    def __eq__(self, other) -> bool:
        """The same math: one interned node over the same variables. Their order,
        which is only how a compiled function takes positions, does not count, so
        `parse("x*y") == parse("y*x")` as SymPy's `x*y == y*x`."""
        return (isinstance(other, Expression) and other.root is self.root
                and frozenset(other.variables) == frozenset(self.variables))

    def __hash__(self) -> int:
        return hash((id(self.root), frozenset(self.variables)))

    def __reduce__(self):
        """Root and variable order only: the root pickles its graph itself, and `_cache` is rebuilt on use."""
        return Expression, (self.root, self.variables)


VARIABLES = 12  # variable names shown in a repr
NOTEBOOK_LATEX = 10_000  # characters of LaTeX written out in a notebook; longer shows the shared form
NOTEBOOK_LATEX_MAX = 100_000  # characters of LaTeX a notebook is given at most


def describe(kind: str, shown: str, variables: tuple[str, ...], nodes: int) -> str:
    """`kind(shown, variables=(...), nodes=N)`, the repr of expressions and the
    Functions compiled from them; past `VARIABLES` names the tuple ends in
    `...`, so a repr stays short whatever the expression."""
    names = [repr(v) for v in variables[:VARIABLES]] + ["..."] * (len(variables) > VARIABLES)
    listed = ", ".join(names) + ("," if len(names) == 1 else "")
    return f"{kind}({shown}, variables=({listed}), nodes={nodes})"


@functools.lru_cache(maxsize=512)  # Expressions are immutable, so sharing them is safe
def parse_text(text: str) -> Expression:
    """The Expression of infix `text`, built as written (cached by text)."""
    root, names = build(grammar.to_postfix(text))
    return Expression(root, names)


def parse(expr: "str | Expression") -> Expression:
    """`expr` itself if an Expression, else `parse_text(expr)`, or a clear error."""
    if isinstance(expr, Expression):
        return expr
    if not isinstance(expr, str):
        raise QstsError(f"an expression must be a string or Expression, not {type(expr).__name__}")
    return parse_text(expr)
