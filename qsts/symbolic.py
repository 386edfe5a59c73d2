"""SymPy both ways: a SymPy tree to qsts postfix, and a qsts graph to a SymPy tree.

SymPy is an optional extra, imported inside these functions only, never at
`import qsts`.

`postfix(obj)` turns a SymPy expression into the postfix that `qsts.parse`
makes of the text SymPy prints for it (`str(obj)`, with `**` read as `^`), so
`qsts.postfix.build` interns the very node `parse` would: no text is made or
parsed, the walk emits tokens directly. SymPy stores `x - y` as `x + (-1)*y`
and `x/y` as `x*y^-1`; the walk writes them back as `-` and `/` the way SymPy's
printer does: terms in `as_ordered_terms()` order, a negative term after the
first subtracted, factors in `as_ordered_factors()` order with negative powers
and rational denominators below one `/`, a leading minus on the first factor
(`-2*x` parses as (-2)*x), `x^(1/2)` as `sqrt(x)` and `x^-1` as `1/x`.

`to_sympy(root)` maps every row of the op table to SymPy (`_TO_SYMPY`);
reductions have no SymPy counterpart and are refused.
"""
from __future__ import annotations

import math
import re

from .errors import QstsError, ReservedNameError
from .graph import CONST, VAR, Node, topological
from .ops import RESERVED

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the grammar's NAME terminal (grammar/qsts.lark)

# SymPy function classes and the qsts rows they become (one argument unless said)
_FUNCTIONS = {"sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
              "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "exp": "exp", "log": "log", "Abs": "abs",
              "sign": "sign", "erf": "erf", "erfc": "erfc", "atan2": "atan2", "Heaviside": "heaviside"}
_FOLDED = {"Min": "min", "Max": "max"}  # n-ary in SymPy, nested from the left in qsts
# sympy.codegen.cfunctions: SymPy's functions that keep their digits where the textbook
# forms (log(1 + x), exp(x) - 1, sqrt(x^2 + y^2)) lose them; to_sympy writes these
_CFUNCTIONS = {"log1p": "log1p", "expm1": "expm1", "log10": "log10", "log2": "log2", "hypot": "hypot"}


# ---------------------------------------------------------------- SymPy -> postfix

def postfix(obj) -> list:
    """The postfix of SymPy expression `obj`, as `qsts.parse` makes of `str(obj)`.
    An explicit stack: items are SymPy objects still to expand, or finished tokens."""
    import sympy
    if not isinstance(obj, sympy.Basic):
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            obj = sympy.sympify(obj)
        else:
            raise QstsError(f"from_sympy takes a SymPy expression, not {type(obj).__name__}"
                            + ("; use qsts.parse for text" if isinstance(obj, str) else ""))
    out: list = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (float, str)):
            out.append(item)
        else:
            stack.extend(reversed(_expand(item, sympy)))
    return out


def _expand(obj, sympy) -> list:
    """One SymPy node as postfix items: its children (SymPy objects) and its tokens."""
    if obj.is_Symbol:
        return [_name(obj)]
    if obj.is_Number or obj in (sympy.pi, sympy.E):
        return _number(obj, sympy)
    if obj.is_Add:
        return _add(obj, sympy)
    if obj.is_Mul:
        return _mul(obj, sympy)
    if obj.is_Pow:
        return _pow(obj, sympy)
    return _function(obj, sympy)


def _name(symbol) -> str:
    name = symbol.name
    if symbol.is_commutative is False:
        raise QstsError(f"SymPy symbol {name!r} does not commute; qsts multiplies numbers, which do")
    if not NAME.fullmatch(name):
        raise QstsError(f"SymPy symbol {name!r} is not a qsts variable name (letters, digits and _, "
                        "not starting with a digit); rename it with .subs or .xreplace")
    if name in RESERVED:
        raise ReservedNameError(f"SymPy symbol '{name}' is a reserved name in qsts (a constant, function or "
                                "operator), not a variable; rename it with .subs or .xreplace")
    return name


def _number(obj, sympy) -> list:
    if obj is sympy.pi:
        return ["pi"]
    if obj is sympy.E:
        return ["e"]
    if obj is sympy.nan:
        return [math.nan]
    if obj.is_infinite:
        return [math.inf] + ["neg"] * bool(obj.is_extended_negative)
    if obj.is_Rational and obj.q != 1 and _exact(obj.p) and _exact(obj.q):  # "-1/3" parses as (-1)/3
        return [_float(abs(obj.p))] + ["neg"] * bool(obj.p < 0) + [_float(obj.q), "/"]
    if obj.is_Rational and obj.q != 1:  # p or q would round (10^400 is inf): the quotient, rounded once
        value = _quotient(abs(obj.p), obj.q)
        return [value] + ["neg"] * bool(obj.p < 0)
    if not obj.is_real:
        raise QstsError(f"complex number {obj} has no qsts counterpart (qsts computes with real floats)")
    value = _float(obj.p) if obj.is_Integer else float(obj)  # a Float keeps its bits
    return [abs(value)] + ["neg"] * (value < 0 or math.copysign(1.0, value) < 0)


def _float(n: int) -> float:
    try:
        return float(n)
    except OverflowError:  # as parse reads a huge literal
        return math.inf


def _exact(n: int) -> bool:
    """Whether integer `n` is a float exactly (so p/q as two floats divides to the rounded p/q)."""
    return abs(n) <= 2 ** 53 or (_float(n) != math.inf and int(_float(n)) == n)


def _quotient(p: int, q: int) -> float:
    """p/q for integers p >= 0, q > 0, correctly rounded (Python's int division is)."""
    try:
        return p / q
    except OverflowError:
        return math.inf


def _negative(c) -> bool:
    """Whether coefficient `c` is negative; False for nan (SymPy's `nan < 0` raises TypeError)."""
    return bool(c.is_extended_negative)


def _keep_coeff(c, rest):
    from sympy.core.mul import _keep_coeff  # what SymPy's printer strips a minus sign with
    return _keep_coeff(c, rest)


def _add(obj, sympy) -> list:
    terms = obj.as_ordered_terms()
    items = [terms[0]]
    for term in terms[1:]:  # SymPy prints a negative term as "- term" with its sign stripped
        if term.is_Number and (term.is_negative or (term.is_Float and math.copysign(1.0, float(term)) < 0)):
            items += [-term, "-"]
        elif term.is_Mul and _negative(term.as_coeff_Mul()[0]):
            items += _mul(term, sympy, signed=False) + ["-"]
        else:
            items += [term, "+"]
    return items


def _mul(obj, sympy, signed: bool = True) -> list:
    """A product as SymPy prints it: a minus sign on the first factor (left off if not
    `signed`), negative powers and rational denominators below one `/`."""
    c, rest = obj.as_coeff_Mul()
    negative = _negative(c)
    factors = (_keep_coeff(-c, rest) if negative else obj).as_ordered_factors()
    num, den = [], []
    for item in factors:
        if item.is_Pow and _negative(item.exp.as_coeff_Mul()[0]):
            den.append(item.base if item.exp is sympy.S.NegativeOne else
                       sympy.Pow(item.base, -item.exp, evaluate=False))
        elif item.is_Rational and not (_exact(item.p) and _exact(item.q)):
            num.append(item)  # one constant, p/q rounded once: p or q alone would round (10^400 to inf)
        elif item.is_Rational:
            num += [sympy.Integer(item.p)] * bool(item.p != 1)
            den += [sympy.Integer(item.q)] * bool(item.q != 1)
        else:
            num.append(item)
    num = num or [sympy.S.One]
    items = [num[0]] + ["neg"] * (negative and signed)
    for factor in num[1:]:
        items += [factor, "*"]
    if den:
        items += [den[0]] + [x for factor in den[1:] for x in (factor, "*")] + ["/"]
    return items


def _pow(obj, sympy) -> list:
    base, exp = obj.args
    if exp == sympy.S.Half:
        return [base, "sqrt"]
    if exp == -sympy.S.Half:
        return [1.0, base, "sqrt", "/"]
    if exp is sympy.S.NegativeOne:
        return [1.0, base, "/"]
    return [base, exp, "^"]


def _function(obj, sympy) -> list:
    name = type(obj).__name__
    if name in _FOLDED and getattr(sympy, name) is type(obj):
        args = sorted(obj.args, key=sympy.default_sort_key)  # the printer's order (args are a set)
        return [args[0]] + [x for a in args[1:] for x in (a, _FOLDED[name])]
    if type(obj) is sympy.re:  # qsts's variables are real, so re(a) is a (nan where a is not real)
        return [obj.args[0]]
    if type(obj) is sympy.Heaviside and len(obj.args) == 1:  # SymPy's default H(0), 1/2 (an argument since 1.9)
        return [obj.args[0], 1.0, 2.0, "/", "heaviside"]
    if name in _FUNCTIONS and getattr(sympy, name) is type(obj):  # not an undefined Function('sin')
        return list(obj.args) + [_FUNCTIONS[name]]
    if name in _CFUNCTIONS and type(obj).__module__ == "sympy.codegen.cfunctions":
        return list(obj.args) + [_CFUNCTIONS[name]]
    raise QstsError(_refusal(obj, sympy))


def _refusal(obj, sympy) -> str:
    if obj is sympy.zoo:
        return "SymPy's zoo (complex infinity) has no qsts counterpart; use oo or -oo for a signed infinity"
    if obj is sympy.I:
        return "complex number I has no qsts counterpart (qsts computes with real floats)"
    if isinstance(obj, sympy.core.function.AppliedUndef):
        return f"undefined function '{type(obj).__name__}' has no qsts counterpart; substitute an expression for it"
    return (f"SymPy's {type(obj).__name__} has no qsts counterpart "
            f"(qsts has + - * / ^, numbers, pi, e and the functions of its op table)")


# ---------------------------------------------------------------- qsts -> SymPy

def _cf(sp):
    """sympy.codegen.cfunctions: log1p and the others as SymPy functions, which evaluate
    without losing the digits their textbook forms lose (`.expand(func=True)` gives those)."""
    from sympy.codegen import cfunctions
    return cfunctions


def _real_cbrt(sp, a):
    return sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3)  # real for a < 0, as qsts's cbrt


_TO_SYMPY = {
    "add": lambda sp, a, b: a + b, "sub": lambda sp, a, b: a - b, "mul": lambda sp, a, b: a * b,
    "div": lambda sp, a, b: a / b, "pow": lambda sp, a, b: a ** b, "neg": lambda sp, a: -a,
    "sin": lambda sp, a: sp.sin(a), "cos": lambda sp, a: sp.cos(a), "tan": lambda sp, a: sp.tan(a),
    "asin": lambda sp, a: sp.asin(a), "acos": lambda sp, a: sp.acos(a), "atan": lambda sp, a: sp.atan(a),
    "sinh": lambda sp, a: sp.sinh(a), "cosh": lambda sp, a: sp.cosh(a), "tanh": lambda sp, a: sp.tanh(a),
    "exp": lambda sp, a: sp.exp(a), "log": lambda sp, a: sp.log(a),
    "log10": lambda sp, a: _cf(sp).log10(a), "log2": lambda sp, a: _cf(sp).log2(a),
    # log1p(Float) evaluates to log(Rational(a) + 1), whose 1 + a from_sympy rounds: kept as log1p
    "log1p": lambda sp, a: _cf(sp).log1p(a, evaluate=not a.is_Float), "expm1": lambda sp, a: _cf(sp).expm1(a),
    "erf": lambda sp, a: sp.erf(a), "erfc": lambda sp, a: sp.erfc(a), "cbrt": _real_cbrt,
    "hypot": lambda sp, a, b: _cf(sp).hypot(a, b), "sqrt": lambda sp, a: sp.sqrt(a),
    "abs": lambda sp, a: sp.Abs(a), "sign": lambda sp, a: sp.sign(a),
    "sigmoid": lambda sp, a: 1 / (1 + sp.exp(-a)), "relu": lambda sp, a: sp.Max(a, 0),
    "softplus": lambda sp, a: sp.log(1 + sp.exp(a)), "atan2": lambda sp, a, b: sp.atan2(a, b),
    "min": lambda sp, a, b: sp.Min(a, b), "max": lambda sp, a, b: sp.Max(a, b),
    "heaviside": lambda sp, a, h0: sp.Heaviside(a, h0),
}
NO_SYMPY = frozenset({"sum", "mean", "size", "total"})  # reductions over the points


def to_sympy(root: Node):
    """The SymPy tree of the graph under `root`, bottom up (each shared node converted once).
    Variables become real symbols, `sympy.Symbol(name, real=True)` (qsts computes on
    the reals, and SymPy then simplifies as it should: no `re(x)` terms); integers `sympy.Integer`, other floats a
    `sympy.Float` of 17 digits, which holds a double exactly (`float()` gives its bits back)."""
    import sympy
    try:
        return _to_sympy(root, sympy)
    except RecursionError:
        raise QstsError("the expression is nested too deeply for SymPy, whose constructors recurse "
                        "on their arguments (sys.setrecursionlimit raises the limit)") from None


def _to_sympy(root: Node, sympy):
    nodes = topological([root])
    done: dict[Node, object] = {}
    absorbed = _summands(nodes)
    for node in nodes:
        if node in absorbed:
            continue
        if node.op in _SUMS:
            done[node] = sympy.Add(*_terms(node, absorbed, done))
        elif node.op == CONST:
            done[node] = _constant(node.value, sympy)
        elif node.op == VAR:
            done[node] = sympy.Symbol(node.value, real=True)  # qsts computes on the reals
        elif node.op in _TO_SYMPY:
            done[node] = _TO_SYMPY[node.op](sympy, *[done[a] for a in node.args])
        else:
            raise QstsError(f"{node.op}() has no SymPy counterpart (it reduces over the points)")
    return done[root]


_SUMS = ("add", "sub")


def _summands(nodes: list) -> set:
    """The sums whose one parent is a sum: SymPy gets each chain of them as one
    Add of all its terms, since adding terms one by one costs a sort each time
    (a 3,000-term sum took 18 s)."""
    parents: dict[Node, list] = {}
    for n in nodes:
        for a in n.args:
            parents.setdefault(a, []).append(n.op)
    return {n for n in nodes if n.op in _SUMS and len(parents.get(n, ())) == 1 and parents[n][0] in _SUMS}


def _terms(node: Node, absorbed: set, done: dict) -> list:
    """The terms of the sum at `node`, through the sums it absorbs, each with its sign."""
    terms, stack = [], [(node, 1)]
    while stack:
        n, sign = stack.pop()
        if n is node or n in absorbed:
            a, b = n.args
            stack += [(b, -sign if n.op == "sub" else sign), (a, sign)]
        else:
            terms.append(done[n] if sign > 0 else -done[n])
    return terms


def _constant(value: float, sympy):
    if math.isnan(value):
        return sympy.nan
    if math.isinf(value):
        return sympy.oo if value > 0 else -sympy.oo
    if value == int(value) and math.copysign(1.0, value) > 0:
        return sympy.Integer(int(value))
    return sympy.Float(value, 17)
