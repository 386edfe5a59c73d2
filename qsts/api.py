"""The public functions. The expression is always the first, positional-only
argument, so every keyword is free to be a variable name (`lambda`, `self`, ...).
"""
from __future__ import annotations

import functools
import math
from typing import Mapping

import numpy as np

from . import grammar
from .backends import NATURAL, POINTS, partial_mode
from .diff import gradient, per_point
from .errors import InputValueError, MissingVariableError, QstsError, ReservedNameError, UnknownVariableError
from .evaluate import coerce, evaluate as _run, unbroadcast
from .expression import Expression, _present
from .ops import CONSTANTS, FUNCTIONS, RESERVED
from .kernels import points_sum
from .postfix import build
from .shapes import check

ExprLike = "str | Expression"


def to_postfix(text: str, /) -> list:
    """Postfix (RPN) of infix `text`: numbers as floats, everything else as strings.

    >>> to_postfix("(x+y)+x*(x+y)")
    ['x', 'y', '+', 'x', 'x', 'y', '+', '*', '+']
    """
    return grammar.to_postfix(text)


@functools.lru_cache(maxsize=512)  # Expressions are immutable, so sharing them is safe
def _parse(text: str) -> Expression:
    root, names = build(grammar.to_postfix(text))
    return Expression(root, names)


def parse(expr: ExprLike, /) -> Expression:
    """The hash-consed `Expression` of `expr`, built as written.

    >>> parse("(x+y)+x*(x+y)").node_count
    5
    """
    if isinstance(expr, Expression):
        return expr
    if not isinstance(expr, str):
        raise QstsError(f"an expression must be a string or Expression, not {type(expr).__name__}")
    return _parse(expr)


def bind(e: Expression, values: Mapping[str, object]) -> dict:
    """Check `values` against `e.variables` and coerce them to floats or arrays."""
    return bind_names(e.variables, values)


def check_names(names, what: str = "") -> None:
    """Refuse names that cannot be variables: a constant (`pi`, `e`), a function
    name or `neg` would silently read as something else in an expression. `what`
    says where the names come from ("data key", "column ... of FILE")."""
    lead = f"{what} " if what else ""
    for name in names:
        if not isinstance(name, str):
            raise QstsError(f"{lead}names must be strings, got {name!r:.40}")
        if name in CONSTANTS:
            raise ReservedNameError(f"{lead}'{name}' is the constant {CONSTANTS[name]!r}, not a variable; "
                                    "rename it")
        if name in RESERVED:
            kind = "a function" if name in FUNCTIONS else "an operator's"
            raise ReservedNameError(f"{lead}'{name}' is {kind} name, not a variable; rename it")


def bind_names(variables: tuple[str, ...], values: Mapping[str, object]) -> dict:
    """Check `values` against the names `variables` and coerce them."""
    check_names(values)
    missing = [v for v in variables if v not in values]
    if missing:
        raise MissingVariableError(f"no value for variable{'s' if len(missing) > 1 else ''} "
                                   + ", ".join(repr(m) for m in missing))
    known_names = set(variables)
    extra = [k for k in values if k not in known_names]
    if extra:
        known = ", ".join(variables) or "none"
        raise UnknownVariableError(f"{', '.join(repr(x) for x in extra)} not in the expression "
                                   f"(its variables: {known})")
    return {k: coerce(k, values[k]) for k in variables}


# Values the API takes as floats (float("inf") and friends), though not words of the language
_IEEE_WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
               "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}


def ieee_word(text: str) -> float | None:
    """inf, -inf or nan for the words that name them (any case), else None: for
    front ends that read values as text (`qsts eval x+1 x=inf`, `x = nan` in the REPL)."""
    return _IEEE_WORDS.get(text.strip().lower())


def out_shape(env: dict) -> tuple:
    """The shape of the result: the inputs' shapes broadcast together."""
    try:
        return np.broadcast_shapes(*(np.shape(v) for v in env.values()))
    except ValueError:
        shapes = ", ".join(f"{k}: {np.shape(v)}" for k, v in env.items())
        raise InputValueError(f"the inputs' shapes do not broadcast together ({shapes})") from None


def evaluate(expr: ExprLike, /, **values) -> float | np.ndarray:
    """Value of `expr` at `values` (numbers, or numpy arrays evaluated pointwise;
    `sum`, `mean` and `size` reduce over the points).

    >>> evaluate("sin(x)^2 + 1", x=0.0)
    1.0
    >>> evaluate("sum(x^2)", x=[1, 2, 3])
    14.0
    """
    e = parse(expr)
    env = bind(e, values)
    points = frame(e, env)
    (value,) = _run([e.root], env)
    return _shaped(value, points)


def frame(e: Expression, env: dict) -> tuple:
    """The points' shape for `env` (the inputs' shapes broadcast together), after
    checking that reductions span them (`qsts.shapes`)."""
    points = out_shape(env)
    if points and e.reduces:
        arrays = frozenset(k for k, v in env.items() if isinstance(v, np.ndarray))
        check(e.regions(arrays), e.root, {k: np.shape(v) for k, v in env.items()}, points)
    return points


def _shaped(value, shape: tuple):
    if not isinstance(value, np.ndarray):
        return float(value)
    return np.array(np.broadcast_to(value, shape))


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
    env = bind(e, values)
    points = frame(e, env)  # refuse shapes that do not fit before any work
    arrays = frozenset(k for k, v in env.items() if isinstance(v, np.ndarray))
    found = e.partials(arrays)
    value, *partials = _run([e.root, *(node for node, _ in found)], env)
    n = math.prod(points)
    grads = {}
    with np.errstate(all="ignore"):  # summing partials may overflow: IEEE, not an exception
        for v, p, (_, is_total) in zip(e.variables, partials, found):
            mode = partial_mode(v in arrays, is_total)
            if mode == POINTS:
                grads[v] = unbroadcast(p, points, np.shape(env[v]))
            elif mode == NATURAL:
                grads[v] = float(p)
            else:
                grads[v] = points_sum(p) if isinstance(p, np.ndarray) else float(p) * n
    return _shaped(value, points), grads


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
    if var in e.variables and e.reduces:
        d = per_point(e.root, var, e.variables)
        return Expression(d, _present(e.variables, d))
    if var in e.variables:
        return e.gradient()[e.variables.index(var)]
    (d,) = gradient(e.root, [var])  # not in the expression: the derivative is 0
    return Expression(d, _present(e.variables, d))


@functools.lru_cache(maxsize=128)  # compiled Functions are immutable: reuse them across calls
def compiled(expr, wrt: tuple | None = None):
    """`qsts.compile(expr, wrt=wrt)`, cached: for front ends that call it per request."""
    from .function import compile

    return compile(expr, wrt=wrt)


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
    from .function import compile

    return compile(list(exprs)).jacobian(**values)


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
    env = bind(e, values)
    if any(isinstance(v, np.ndarray) for v in env.values()):
        raise QstsError("check_grad takes scalar values")
    _, analytic = value_and_grad(e, **env)
    worst = 0.0
    for name, x in env.items():
        h = _CBRT_EPS * max(1.0, abs(x))
        hi, lo = x + h, x - h
        (f_hi,), (f_lo,) = _run([e.root], {**env, name: hi}), _run([e.root], {**env, name: lo})
        numeric = float((f_hi - f_lo) / (hi - lo))
        a = analytic[name]
        if a == numeric:  # also equal infinities
            continue
        err = abs(a - numeric) / max(1.0, abs(a), abs(numeric))
        if math.isnan(err):
            return math.nan
        worst = max(worst, err)
    return worst
