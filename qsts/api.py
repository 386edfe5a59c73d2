"""The public functions. The expression is always the first, positional-only
argument, so every keyword is free to be a variable name (`lambda`, `self`, ...).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import grammar, symbolic, typeset, values as V
from .diff import partials
from .errors import QstsError, ReservedNameError
from .expression import Expression, parse as _parse_expression
from .function import Function, VectorFunction, compile, plan
from .ops import RESERVED
from .postfix import build

ExprLike = "str | Expression"


def to_postfix(text: str, /) -> list:
    """Postfix (RPN) of infix `text`: numbers as floats, everything else as strings.

    >>> to_postfix("(x+y)+x*(x+y)")
    ['x', 'y', '+', 'x', 'x', 'y', '+', '*', '+']
    """
    return grammar.to_postfix(text)


def parse(expr: ExprLike, /) -> Expression:
    """The hash-consed `Expression` of `expr`, built as written.

    >>> parse("(x+y)+x*(x+y)").node_count
    5
    """
    return _parse_expression(expr)


def from_sympy(obj, /, variables=None) -> Expression:
    """The Expression of SymPy expression `obj`, built from its tree (no text): the
    very Expression `parse` gives for the text SymPy prints, `str(obj)` (`x - y`,
    `x/y`, `-2*x`, `sqrt(x)`, `x^(1/3)`), so its variables are in that text's order
    unless `variables` (names or Symbols, each variable once) says otherwise. What qsts
    cannot express (`Integral`, `Piecewise`, `I`, undefined functions) is a QstsError.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> from_sympy(sympy.sin(x)*y + x**2, variables=("y", "x")) == parse("y*sin(x) + x^2")
    True
    >>> from_sympy(x - y/3)
    Expression('x - y/3', variables=('x', 'y'), nodes=5)
    """
    root, names = build(symbolic.postfix(obj))
    if variables is None:
        return Expression(root, names)
    if isinstance(variables, str):
        raise QstsError(f"variables must be a list of names or Symbols, not the string {variables!r:.40}")
    order = tuple(str(v) for v in variables)
    if sorted(order) != sorted(names):
        raise QstsError(f"variables {order} must name each variable of the expression once: {tuple(sorted(names))}")
    return Expression(root, order)


def latex(expr: ExprLike, /) -> str:
    r"""LaTeX of `expr` (text or an Expression, a derivative say), with the infix
    printer's parentheses; the shared form past `printing.LIMIT` characters, as
    `str()` (choices in `qsts.typeset`). Jupyter shows an Expression this way.

    >>> print(latex("sin(x)^2/(1 + alpha_1) - 2*sqrt(x)"))
    \frac{\sin\left(x\right)^{2}}{1 + \alpha_{1}} - 2 \sqrt{x}
    """
    return typeset.latex(parse(expr).root)


def _bound(e: Expression, values: dict) -> tuple[list, tuple]:
    """The values of `e.variables`, checked and coerced, and the points' shape."""
    env = V.bind(e.variables, values)
    return list(env.values()), V.frame(e, env)


def evaluate(expr: ExprLike, /, **values) -> float | np.ndarray:
    """Value of `expr` at `values` (numbers, or numpy arrays evaluated pointwise;
    `sum`, `mean` and `size` reduce over the points).

    >>> evaluate("sin(x)^2 + 1", x=0.0)
    1.0
    >>> evaluate("sum(x^2)", x=[1, 2, 3])
    14.0
    """
    e = parse(expr)
    args, points = _bound(e, values)
    if V.any_lazy(args):
        return _lazy(e)(*args)
    (value,) = plan(e, V.signature(args), None).run(args, points)
    return V.value(value, points)


def value_and_grad(expr: ExprLike, /, **values) -> tuple[float | np.ndarray, dict]:
    """Value and gradient (name -> partial, in `variables` order), computed together.

    With arrays, the gradient is that of the sum of the outputs: an array input
    gets its partial at each of its elements, a scalar the sum over the points.

    >>> value_and_grad("(x+y)+x*(x+y)", x=1, y=2)
    (6.0, {'x': 5.0, 'y': 2.0})
    >>> value_and_grad("mean((a*t - 1)^2)", a=1.0, t=[0.0, 2.0])
    (1.0, {'a': 2.0, 't': array([-1.,  1.])})
    """
    e = parse(expr)
    args, points = _bound(e, values)  # refuse shapes that do not fit before any work
    if V.any_lazy(args):
        return _lazy(e).value_and_grad(*args)
    value, *grads = plan(e, V.signature(args), e.variables).run(args, points)
    return V.value(value, points), {v: V.partial(g, points, np.shape(a)) for v, g, a in zip(e.variables, grads, args)}


def grad(expr: ExprLike, /, **values) -> dict:
    """Gradient of `expr` at `values` as a dict in `variables` order.

    >>> grad("(x+y)+x*(x+y)", x=1, y=2)
    {'x': 5.0, 'y': 2.0}
    """
    return value_and_grad(expr, **values)[1]


def diff(expr: ExprLike, var: str, /) -> Expression:
    """The derivative of `expr` with respect to `var`, as an `Expression`.

    With `sum`, `mean` or `size` in `expr`, it is the derivative at each point
    when the variables are arrays over the same points (at scalars, the ordinary
    derivative): evaluated there, it gives what `grad` gives.

    >>> str(diff("x^2", "x"))
    '2*x'
    >>> str(diff("sum(x*sum(x))", "x"))
    'sum(x) + sum(x)'
    """
    e = parse(expr)
    if not isinstance(var, str) or not var.isidentifier() or not var.isascii():
        raise QstsError(f"the variable to differentiate by must be a name, got {var!r:.40}")
    if var in RESERVED:
        raise ReservedNameError(f"'{var}' is a constant or function name, not a variable")
    if var in e.variables and not e.reduces:
        return e.gradient()[e.variables.index(var)]
    (d,) = partials(e.root, [var], e.variables, written=True)  # 0 for a variable not in the expression
    return Expression.within(d.node, e.variables)


def compiled(expr, wrt: tuple | None = None, backend: str = "auto") -> Function:
    """`qsts.compile(expr, wrt=wrt, backend=backend)`, cached: for front ends that call it per request."""
    # equal Expressions may order their variables differently, and the order is the Function's positions
    order = (tuple(getattr(e, "variables", None) for e in expr) if isinstance(expr, tuple)
             else getattr(expr, "variables", None))  # a tuple compiles to a VectorFunction
    return _compiled(expr, order, wrt, backend)


@functools.lru_cache(maxsize=128)  # compiled Functions are immutable: reuse them across calls
def _compiled(expr, order: tuple | None, wrt: tuple | None, backend: str) -> Function:
    return compile(expr, wrt=wrt, backend=backend)


def _lazy(e: Expression) -> Function:
    """What the one-shot functions run on dask arrays: a compiled Function on
    the numpy backend, whose bits are the reference interpreter's (what they
    run in memory), so a dask call equals the in-memory one."""
    return compiled(e, None, "numpy")


def hessian(expr: ExprLike, /, **values) -> np.ndarray:
    """Second partials in `variables` order, by differentiating the gradient graph.

    >>> hessian("x^2*y + y^3", x=1, y=2).tolist()
    [[4.0, 2.0], [2.0, 12.0]]
    """
    return compiled(parse(expr)).hessian(**values)


def jacobian(exprs, /, **values) -> np.ndarray:
    """Jacobian of several expressions: shape (outputs, variables), variables in
    order of first appearance across the expressions.

    >>> jacobian(["x*y", "x+z"], x=1, y=2, z=3).tolist()
    [[2.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """
    f: VectorFunction = compile(list(exprs))
    return f.jacobian(**values)


_CBRT_EPS = 2.0 ** (-52 / 3)  # cube root of machine epsilon


def check_grad(expr: ExprLike, /, **values) -> float:
    """Largest error of the gradient against central finite differences.

    For each variable, step h = cbrt(eps) * max(1, |x|) (balancing truncation
    against rounding) and error |analytic - numeric| / max(1, |analytic|, |numeric|):
    relative for large partials, absolute for small ones. Scalars only.

    >>> check_grad("sin(x)*y", x=0.3, y=2.0) < 1e-8
    True
    """
    e = parse(expr)
    env = V.bind(e.variables, values)
    if any(V.signature(list(env.values()))) or V.any_lazy(env.values()):
        raise QstsError("check_grad takes scalar values")
    _, analytic = value_and_grad(e, **env)
    worst = 0.0
    for name, x in env.items():
        h = _CBRT_EPS * max(1.0, abs(x))
        hi, lo = x + h, x - h
        f_hi, f_lo = evaluate(e, **{**env, name: hi}), evaluate(e, **{**env, name: lo})
        numeric = float((f_hi - f_lo) / (hi - lo))
        a = analytic[name]
        if a == numeric:  # also equal infinities
            continue
        err = abs(a - numeric) / max(1.0, abs(a), abs(numeric))
        if math.isnan(err):
            return math.nan
        worst = max(worst, err)
    return worst
