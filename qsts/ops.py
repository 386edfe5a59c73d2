"""The operator table: one frozen row per operator or function.

A row is everything the rest of qsts knows about an operator: its name (the
grammar alias or the function name), its postfix token, arity, how it prints,
its scalar and array kernels, one derivative rule per argument and optional
local simplifications. The parser, graph builder, differentiator, evaluators and
printer look rows up here and never test an operator's name themselves, so
adding a function is adding a row (and a line to the rule tests).

Reductions (`sum`, `mean`, `size`, and the internal `total` of gradients) carry
a `Reduction` instead of an array kernel: the evaluators sum their argument over
the points themselves (block by block in compiled programs) and the row says
how to finish from that sum, or what a scalar argument gives.

Derivative rules are vector-Jacobian products written with node arithmetic:
`rule(g, ans, *args)` returns the contribution of the adjoint `g` of the node
`ans = op(*args)` to one argument, or `None` where it is zero (then no adjoint
is created). They build nodes, not numbers, reusing `ans` where they can
(`d exp(a) = g*exp(a)` is `g*ans`), so gradients share work with the value and
can be differentiated again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import kernels as K
from .graph import Node, constant_value, is_const

Rule = Callable[..., Optional[Node]]

# Print precedence: a child of lower precedence than its slot gets parentheses.
SUM, PRODUCT, UNARY, POWER, ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Reduction:
    """How a reduction finishes. For an argument that varies over the n points,
    from S, the sum of the argument over them: `over(S, n)`. For a scalar
    argument x (the same at every point): `scalar(x, n)`."""
    over: Callable[[float, int], float]
    scalar: Callable[[float, int], float]
    sums: bool = True  # needs S (size does not: it knows n alone)


def _mean(s: float, n: int) -> float:
    return s / n if n else math.nan  # the mean of no points is nan, as numpy's


@dataclass(frozen=True)
class Op:
    name: str                 # grammar alias / function name
    arity: int
    scalar: Callable          # float kernel, IEEE results, never raises
    array: Callable           # numpy kernel
    grads: tuple              # one Rule per argument
    token: str = ""           # postfix token; defaults to name
    symbol: str = ""          # infix symbol ("" = printed as a call)
    precedence: int = ATOM
    right_assoc: bool = False
    commutative: bool = False
    callable: bool = True     # may be written name(...)
    simplify: Optional[Callable[..., Optional[Node]]] = None  # local, IEEE-safe rewrites
    # Python for compiled scalar code: a template ("{} + {}"), or a function of the
    # argument texts returning the code or None (then the fast kernel is called)
    python: str | Callable[..., Optional[str]] = ""
    reduction: Optional[Reduction] = None  # set for reductions, whose `array` is None
    folds: bool = True        # may be computed at build time when its arguments are numbers

    def __post_init__(self):
        if not self.token:
            object.__setattr__(self, "token", self.name)


def _call(name: str) -> Callable[..., Node]:
    """Constructor of `name(...)` nodes for rules (simplifying, as node arithmetic)."""

    return lambda *args: Node.build(name, *args)


cos, sin, sinh, cosh, sqrt, log, sign, sigmoid, heaviside, abs_, size, exp = map(
    _call, "cos sin sinh cosh sqrt log sign sigmoid heaviside abs size exp".split())


_TWO_BY_SQRT_PI = 2 / math.sqrt(math.pi)  # erf'(0), 1.1283791670955126 (correctly rounded)


def ZERO(*_):
    """Rule of a zero derivative (piecewise constant functions)."""
    return None


def _fold_identity(value: float) -> Callable[[Node, Node], Optional[Node]]:
    """`a ∘ value -> a` for a right identity (`x - 0`, `x / 1`, `x ^ 1`)."""
    return lambda a, b: a if is_const(b, value) else None


def _negated(u: Node) -> bool:
    """`u` is -v for an expression v (not a number: -2 stays a number)."""
    return u.op == "neg" and constant_value(u) is None


def _simplify_add(a: Node, b: Node) -> Optional[Node]:
    """`x + 0 -> x` (up to the sign of zero: -0.0 + 0.0 is 0.0), `a + -v -> a - v` (exact)."""
    if is_const(b, 0):
        return a
    if _negated(b):
        return a - b.args[0]
    return None


def _simplify_mul(c: Node, u: Node) -> Optional[Node]:
    """`1*u -> u`, `-1*u -> -u`, `c*-u -> (-c)*u`, `a*-v -> -(a*v)` (sign flips are
    exact, and moving them out lets `+` absorb them). Never `0*u -> 0`: u may be inf or nan."""
    value = constant_value(c)
    if value is None:
        return -(c * u.args[0]) if _negated(u) else None
    if value == 1:
        return u
    if value == -1:
        return -u
    if u.op == "neg" and constant_value(u) is None:
        return (-value) * u.args[0]
    return None


# ---------------------------------------------------------------- operators

_ROWS = [
    Op("add", 2, float.__add__, np.add, (lambda g, y, a, b: g, lambda g, y, a, b: g),
       token="+", symbol="+", precedence=SUM, commutative=True, callable=False, python="{} + {}",
       simplify=lambda a, b: _simplify_add(a, b) or _simplify_add(b, a)),
    Op("sub", 2, float.__sub__, np.subtract, (lambda g, y, a, b: g, lambda g, y, a, b: -g),
       token="-", symbol="-", precedence=SUM, callable=False, python="{} - {}",
       simplify=lambda a, b: (a if is_const(b, 0) else -b if is_const(a, 0)
                              else a + b.args[0] if _negated(b) else None)),
    Op("mul", 2, float.__mul__, np.multiply, (lambda g, y, a, b: g * b, lambda g, y, a, b: g * a),
       token="*", symbol="*", precedence=PRODUCT, commutative=True, callable=False, python="{} * {}",
       simplify=lambda a, b: _simplify_mul(a, b) or _simplify_mul(b, a)),
    Op("div", 2, K.ieee(K.div, np.divide), np.divide,
       (lambda g, y, a, b: g / b, lambda g, y, a, b: -(g * y) / b),
       token="/", symbol="/", precedence=PRODUCT, callable=False, python="{} / {}",
       simplify=lambda a, b: a if is_const(b, 1) else -a if is_const(b, -1) else None),
    Op("pow", 2, K.ieee(K.pow_, np.power), K.power,
       # n*a^(n-1) keeps a constant exponent's rule finite for a < 0 and a = 0 (and x^0 has none);
       # d/db uses log(a) with a = 0 read as 1, so the limit 0 comes out at a = 0 (as JAX does)
       (lambda g, y, a, b: None if is_const(b, 0) else g * (b * a ** (b - 1)),
        lambda g, y, a, b: g * (y * log(a + heaviside(-abs_(a), 1)))),
       token="^", symbol="^", precedence=POWER, right_assoc=True,
       simplify=lambda a, b: a if is_const(b, 1) else None,
       python=lambda a, b: f"{a} * {a}" if b == "2.0" else None),  # x*x is pow(x, 2), correctly rounded
    Op("neg", 1, float.__neg__, np.negative, (lambda g, y, a: -g,),
       symbol="-", precedence=UNARY, callable=False, python="-{}",
       simplify=lambda a: a.args[0] if a.op == "neg" else None),

    # ------------------------------------------------------------ functions
    Op("sin", 1, K.ieee(math.sin, np.sin), np.sin, (lambda g, y, a: g * cos(a),)),
    Op("cos", 1, K.ieee(math.cos, np.cos), np.cos, (lambda g, y, a: g * -sin(a),)),
    Op("tan", 1, K.ieee(math.tan, np.tan), np.tan, (lambda g, y, a: g * (1 + y ** 2),)),
    # (1 - a)*(1 + a), not 1 - a^2: near |a| = 1 the square's rounding swamps the difference
    Op("asin", 1, K.ieee(math.asin, np.arcsin), np.arcsin, (lambda g, y, a: g / sqrt((1 - a) * (1 + a)),)),
    Op("acos", 1, K.ieee(math.acos, np.arccos), np.arccos, (lambda g, y, a: -g / sqrt((1 - a) * (1 + a)),)),
    Op("atan", 1, K.ieee(math.atan, np.arctan), np.arctan, (lambda g, y, a: g / (1 + a ** 2),)),
    Op("sinh", 1, K.ieee(math.sinh, np.sinh), np.sinh, (lambda g, y, a: g * cosh(a),)),
    Op("cosh", 1, K.ieee(math.cosh, np.cosh), np.cosh, (lambda g, y, a: g * sinh(a),)),
    # (1/cosh(a))^2, not 1 - y^2, which is 0 once tanh rounds to 1 (|a| > 19): this keeps
    # every digit until the result underflows (cosh overflows only where it would anyway)
    Op("tanh", 1, K.ieee(math.tanh, np.tanh), np.tanh, (lambda g, y, a: g * (1 / cosh(a)) ** 2,)),
    Op("exp", 1, K.ieee(math.exp, np.exp), np.exp, (lambda g, y, a: g * y,)),
    Op("log", 1, K.ieee(math.log, np.log), np.log, (lambda g, y, a: g / a,)),
    # ------------------------------------------------------------ more functions (issue 15)
    # (1/ln b)/a, not 1/(a ln b): a*ln 10 overflows for a > 7.8e307, and a*ln 2 loses bits
    # where a is subnormal; both constants are 1/ln b correctly rounded
    Op("log10", 1, K.ieee(math.log10, np.log10), np.log10, (lambda g, y, a: g * math.log10(math.e) / a,)),
    Op("log2", 1, K.ieee(math.log2, np.log2), np.log2, (lambda g, y, a: g * math.log2(math.e) / a,)),
    Op("log1p", 1, K.ieee(math.log1p, np.log1p), np.log1p, (lambda g, y, a: g / (1 + a),)),
    # exp(a), not ans + 1: for a < -37, expm1 rounds to -1 and ans + 1 to 0, losing the whole tail
    Op("expm1", 1, K.ieee(math.expm1, np.expm1), np.expm1, (lambda g, y, a: g * exp(a),)),
    # 2/sqrt(pi)*exp(-a^2): a^2's rounding (relative 2^-53) moves the result by a^2 * 2^-53 relative
    Op("erf", 1, math.erf, K.erf_array, (lambda g, y, a: g * (_TWO_BY_SQRT_PI * exp(-a ** 2)),)),
    Op("erfc", 1, math.erfc, K.erfc_array, (lambda g, y, a: g * (-_TWO_BY_SQRT_PI * exp(-a ** 2)),)),
    # cbrt'(0) = 1/(3*0) = inf on both sides (the true slope there, as sqrt'(0) = inf)
    Op("cbrt", 1, K.cbrt, np.cbrt, (lambda g, y, a: g / (3 * y ** 2),)),
    # a/ans and b/ans, with ans read as 1 at (0, 0): hypot(a, 0) is abs(a), so hypot'(0, 0) = (0, 0) as
    # abs'(0) = 0 (a subgradient), where a/ans alone would be 0/0 = nan; at an infinite argument it is inf/inf = nan
    Op("hypot", 2, K.hypot, np.hypot,
       (lambda g, y, a, b: g * (a / (y + heaviside(-y, 1))), lambda g, y, a, b: g * (b / (y + heaviside(-y, 1)))),
       commutative=True),
    Op("sqrt", 1, K.ieee(math.sqrt, np.sqrt), np.sqrt, (lambda g, y, a: g / (2 * y),)),  # inf at 0
    Op("abs", 1, math.fabs, np.abs, (lambda g, y, a: g * sign(a),)),  # abs'(0) = sign(0) = 0
    Op("sign", 1, K.sign, np.sign, (ZERO,)),
    Op("sigmoid", 1, K.ieee(K.sigmoid, K.sigmoid_array), K.sigmoid_array,
       # y*sigmoid(-a), not y*(1 - y), which is 0 once sigmoid rounds to 1 (a > 37)
       (lambda g, y, a: g * (y * sigmoid(-a)),)),
    Op("relu", 1, K.relu, K.relu_array, (lambda g, y, a: g * heaviside(a, 0),)),  # relu'(0) = 0
    Op("softplus", 1, K.ieee(K.softplus, K.softplus_array), K.softplus_array,
       (lambda g, y, a: g * sigmoid(a),)),
    Op("atan2", 2, math.atan2, np.arctan2,
       (lambda g, y, a, b: g * b / (a ** 2 + b ** 2), lambda g, y, a, b: -(g * a) / (a ** 2 + b ** 2))),
    # min and max split a tie evenly between the arguments, as JAX does
    Op("min", 2, K.minimum, np.minimum,
       (lambda g, y, a, b: g * heaviside(b - a, 0.5), lambda g, y, a, b: g * heaviside(a - b, 0.5)),
       commutative=True),
    Op("max", 2, K.maximum, np.maximum,
       (lambda g, y, a, b: g * heaviside(a - b, 0.5), lambda g, y, a, b: g * heaviside(b - a, 0.5)),
       commutative=True),
    # d/dh0 is 1 exactly where a == 0
    Op("heaviside", 2, K.heaviside, np.heaviside,
       (ZERO, lambda g, y, a, h0: g * (heaviside(a, 1) - heaviside(a, 0)))),
    # Reductions: over an array argument, sum and mean of all its elements and
    # size its number of elements; a scalar stays as it is (its size is 1).
    Op("sum", 1, float, None, (lambda g, y, a: g,), python="{}",
       reduction=Reduction(lambda s, n: s, lambda x, n: x)),
    Op("mean", 1, float, None, (lambda g, y, a: g / size(a),), python="{}",
       reduction=Reduction(_mean, lambda x, n: x)),
    Op("size", 1, lambda a: 1.0, None, (ZERO,), python="1.0",
       reduction=Reduction(lambda s, n: float(n), lambda x, n: 1.0, sums=False)),
    # Internal, in gradients only: the sum over the points of a per-point adjoint,
    # a scalar counting once per point (so never folded: total(1) is n). Its
    # token cannot be typed, so it takes no name from the language.
    Op("total", 1, float, None, (None,), token="Σ", callable=False, python="{}", folds=False,
       reduction=Reduction(lambda s, n: s, lambda x, n: x * n)),
]

OPS: dict[str, Op] = {row.name: row for row in _ROWS}
BY_TOKEN: dict[str, Op] = {row.token: row for row in _ROWS}
FUNCTIONS: dict[str, Op] = {row.name: row for row in _ROWS if row.callable}
# Other names of functions: they parse to the row's node, so they print by the row's name.
ALIASES: dict[str, str] = {"ln": "log"}
FUNCTIONS.update({alias: OPS[name] for alias, name in ALIASES.items()})
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
# Names that cannot be variables: they would read as something else in postfix.
RESERVED = frozenset(CONSTANTS) | frozenset(BY_TOKEN) | frozenset(FUNCTIONS)
