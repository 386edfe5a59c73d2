r"""LaTeX of graphs, for notebooks and papers: the tree the infix printer writes
(`qsts.printing`), with the fewest parentheses that keep it, set as math.

Each operator has a form in `FORMS`: LaTeX in which `@i` is an argument set
inline, parenthesized by precedence as the infix printer does it, and `#i` one
that LaTeX itself delimits (a fraction's parts, an exponent, a function's
argument), which never needs parentheses. A fraction groups its parts, so it
binds like a power (`BINDS`): only as a power's base does it get parentheses.

Choices, each for a reader who must not misread the structure:

- Products are `\cdot`, except after a number written in digits and before a
  factor that starts with a letter or a macro: `2 x`, `2 \sin\left(x\right)`,
  `2 \left(x + 1\right)`; never between two numbers (`2 \cdot 3`) nor before a
  fraction (`2 \frac{1}{x}` reads as a mixed number).
- `exp(x)` is `\exp\left(x\right)`, not `e^{x}`: `e^x` is another node
  (pow(e, x)), the two must print differently, and a long exponent set small
  as a superscript is hard to read.
- `sum`, `mean`, `size` are `\operatorname{sum}\left(v\right)`, not `\sum`:
  qsts sums over the points of its argument, with no index to put under `\sum`,
  and the sum of a scalar is the scalar itself.
- `log` is `\log`, the natural logarithm, as in the language; `log10` and
  `log2` are `\log_{10}` and `\log_{2}`, `cbrt` is `\sqrt[3]{x}`. `log1p`
  and `expm1` stay names: `\log\left(1 + x\right)` is another node (and
  loses the digits `log1p` keeps), so the two must print differently.
- Variables: one letter as is, Greek names as their letters (`alpha` is
  `\alpha`), longer names upright (`\mathrm{rate}`); a subscript after `_` or
  trailing digits: `x_1` and `x1` are `x_{1}`, `theta_max` is
  `\theta_{\mathrm{max}}`; where two variables would look alike (`x1` and
  `x_1`), both are their whole names upright: `\mathrm{x1}`, `\mathrm{x\_1}`.
- Numbers are the infix printer's (full precision), with exponent notation
  as `1 \times 10^{-8}`, `pi` as `\pi`, inf as `\infty`.

Like `str()`, the LaTeX never costs more than the DAG: its exact length comes
from one pass over the DAG, and past `printing.LIMIT` characters `latex` writes
the shared form, the result followed by "where" and an `aligned` block with a
line `t_{1} = ...` per shared subexpression.
"""
from __future__ import annotations

import re
from typing import Mapping

from .graph import CONST, VAR, Node, topological
from .ops import ATOM, OPS, POWER, PRODUCT, UNARY, Op
from .printing import LIMIT, number, shared_names


def _named(name: str, arity: int) -> str:
    """The form of a function LaTeX has no macro for: `\\operatorname{name}\\left(...\\right)`."""
    return rf"\operatorname{{{name}}}\left({', '.join(f'#{i}' for i in range(arity))}\right)"


def _macro(macro: str, arity: int = 1) -> str:
    """The form of a function with a LaTeX macro: `\\sin\\left(x\\right)`."""
    return rf"\{macro}\left({', '.join(f'#{i}' for i in range(arity))}\right)"


# The LaTeX form of every row of `qsts.ops.OPS` (tests/test_latex.py checks that none is missing).
FORMS: dict[str, str] = {
    "add": "@0 + @1", "sub": "@0 - @1", "mul": r"@0 \cdot @1", "div": r"\frac{#0}{#1}",
    "pow": "@0^{#1}", "neg": "-@0",
    "sin": _macro("sin"), "cos": _macro("cos"), "tan": _macro("tan"),
    "asin": _macro("arcsin"), "acos": _macro("arccos"), "atan": _macro("arctan"),
    "sinh": _macro("sinh"), "cosh": _macro("cosh"), "tanh": _macro("tanh"),
    "exp": _macro("exp"), "log": _macro("log"), "sqrt": r"\sqrt{#0}", "abs": r"\left| #0 \right|",
    "min": _macro("min", 2), "max": _macro("max", 2),
    **{name: _named(name, 1) for name in ("sign", "sigmoid", "relu", "softplus", "sum", "mean", "size", "total")},
    "log10": r"\log_{10}\left(#0\right)", "log2": r"\log_{2}\left(#0\right)", "cbrt": r"\sqrt[3]{#0}",
    **{name: _named(name, 1) for name in ("log1p", "expm1", "erf", "erfc")},
    **{name: _named(name, 2) for name in ("atan2", "heaviside", "hypot")},
}
BINDS: dict[str, int] = {"div": POWER}  # precedences that differ from the infix ones (`Op.precedence`)
LEFT, RIGHT = r"\left(", r"\right)"
GREEK = frozenset("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
                  "varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
                  "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
_PLAIN = re.compile(r"-?[0-9.]+")  # a number written in digits only


def _compile(form: str) -> tuple:
    """The pieces of a form: strings, and (argument index, inline) pairs."""
    pieces: list = []
    for i, part in enumerate(re.split(r"([@#][0-9])", form)):
        if i % 2:
            pieces.append((int(part[1]), part[0] == "@"))
        elif part:
            pieces.append(part)
    return tuple(pieces)


_COMPILED: dict[str, tuple] = {name: _compile(form) for name, form in FORMS.items()}


# ---------------------------------------------------------------- leaves

def symbol(name: str) -> str:
    """LaTeX of a variable name: `x`, `\\alpha`, `\\mathrm{rate}`, `x_{1}`, `\\theta_{\\mathrm{max}}`."""
    match = re.fullmatch(r"([A-Za-z]+)(?:_([A-Za-z0-9_]+)|([0-9]+))", name)
    if match is None:
        return _word(name)
    return f"{_word(match[1])}_{{{_word(match[2] or match[3])}}}"


def _word(word: str) -> str:
    if word.isdigit() or (len(word) == 1 and word.isalpha()):
        return word
    if word in GREEK:
        return "\\" + word
    return r"\mathrm{" + word.replace("_", r"\_") + "}"


def numeral(value: float) -> str:
    """LaTeX of a number: the infix printer's text, with `1e-08` as `1 \\times 10^{-8}`."""
    text = number(value)
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    words = {"pi": r"\pi", "e": "e", "1e999": r"\infty", "nan": r"\mathrm{NaN}"}
    if body in words:
        return sign + words[body]
    if "e" in body:
        mantissa, exponent = body.split("e")
        return rf"{sign}{mantissa} \times 10^{{{int(exponent)}}}"
    return text


# ---------------------------------------------------------------- structure

def _binding(n: Node) -> int:
    """How tightly the LaTeX of `n` binds, on the printer's scale (`qsts.ops`)."""
    if n.op == VAR:
        return ATOM
    if n.op == CONST:
        text = numeral(n.value)
        return PRODUCT if r"\times" in text else UNARY if text.startswith("-") else ATOM
    return BINDS.get(n.op, OPS[n.op].precedence)


def _parens(child: Node, op: Op, index: int, binds: int) -> bool:
    """Whether an inline argument needs `\\left( \\right)`: as in infix, and also
    where a sign would follow an operator (`a - \\left(-2\\right)`, `-\\left(-2\\right)`)."""
    prec = _binding(child)
    if op.arity == 1 or (index == 1 and prec == UNARY):
        return prec <= UNARY
    tighter = (index == 1) != op.right_assoc  # the side that must bind strictly tighter
    return prec <= binds if tighter else prec < binds


def pieces(n: Node) -> list:
    """The parts of `n` in print order: strings and (child, parenthesize) pairs."""
    if n.op == CONST:
        return [numeral(n.value)]
    if n.op == VAR:
        return [symbol(n.value)]
    op, binds = OPS[n.op], _binding(n)
    form = _COMPILED.get(n.op) or _compile(_named(n.op, op.arity))
    parts = [p if isinstance(p, str) else (n.args[p[0]], p[1] and _parens(n.args[p[0]], op, p[0], binds))
             for p in form]
    return _juxtaposed(parts)


def _juxtaposed(parts: list) -> list:
    """`parts` with a `\\cdot` between a number in digits and a factor starting
    with a letter or macro left out: `2 x`, not `2 \\cdot x`."""
    for i in range(1, len(parts) - 1):
        if parts[i] == r" \cdot " and _digits(parts[i - 1]) and _starts_with_letter(parts[i + 1]):
            parts[i] = " "
    return parts


def _digits(piece) -> bool:
    """Whether `piece` is set as a number in digits: a constant, or minus one (`-\\pi`
    is neg(pi), whose folded value prints in digits but whose LaTeX does not)."""
    if isinstance(piece, str) or piece[1]:
        return False
    n = piece[0].args[0] if piece[0].op == "neg" else piece[0]
    return n.op == CONST and _PLAIN.fullmatch(numeral(n.value)) is not None


def _starts_with_letter(piece) -> bool:
    """Whether the LaTeX of `piece` starts with a letter or a macro other than `\\frac`.
    (The descent is short: an unparenthesized factor is an atom, a power or a call.)"""
    while not isinstance(piece, str):
        child, paren = piece
        if paren:
            return True
        piece = pieces(child)[0]
    return piece[:1].isalpha() or (piece[:1] == "\\" and not piece.startswith(r"\frac"))


# ---------------------------------------------------------------- text

def inline(node: Node, names: Mapping[Node, str] | None = None) -> str:
    r"""LaTeX of `node` written out, with the nodes in `names` (other than `node`
    itself) as their names. An explicit stack: deep graphs never recurse.

    >>> from qsts import parse
    >>> print(inline(parse("(a+b)*c - a/(b*c)").root))
    c \cdot \left(a + b\right) - \frac{a}{b \cdot c}
    """
    out: list[str] = []
    stack: list = [(node, False)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        n, paren = item
        if names and n is not node and n in names:
            out.append(names[n])
            continue
        if paren:
            stack.append(RIGHT)
        stack.extend(reversed(pieces(n)))
        if paren:
            stack.append(LEFT)
    return "".join(out)


def length(node: Node, cap: int, names: Mapping[Node, str] | None = None) -> int:
    """The exact length of `inline(node, names)` where `names` holds only
    variables, or `cap` if it is at least that long: one pass over the DAG,
    children first (the tree can be exponentially longer)."""
    width: dict[Node, int] = {}
    for n in topological([node]):
        total = 0
        for piece in pieces(n) if not (names and n in names) else [names[n]]:
            total += len(piece) if isinstance(piece, str) else width[piece[0]] + piece[1] * len(LEFT + RIGHT)
        width[n] = min(total, cap)
    return width[node]


def latex(node: Node, limit: int | None = None) -> str:
    """LaTeX of `node` written out when at most `limit` characters (default
    `printing.LIMIT`), else its shared form."""
    limit = LIMIT if limit is None else limit
    upright = distinct(node)
    return inline(node, upright) if length(node, limit + 1, upright) <= limit else shared(node)


def distinct(root: Node) -> dict[Node, str]:
    r"""The variables under `root` whose symbol another one shares (`x1` and
    `x_1` are both `x_{1}`), each as its whole name upright, `\mathrm{x1}` and
    `\mathrm{x\_1}`: two variables must never read as one."""
    by_symbol: dict[str, list] = {}
    for n in topological([root]):
        if n.op == VAR:
            by_symbol.setdefault(symbol(n.value), []).append(n)
    return {n: r"\mathrm{" + n.value.replace("_", r"\_") + "}"
            for group in by_symbol.values() if len(group) > 1 for n in group}


def shared(root: Node) -> str:
    r"""The shared form: `root` with the subexpressions the infix shared form
    names (`printing.shared_names`) as `t_{1}`, `t_{2}`, ..., then "where" and
    one aligned line per name, children first. It costs what the DAG does.

    >>> from qsts import parse
    >>> print(shared(parse("(x*y + sin(x*y))*(x*y + sin(x*y))").root))
    t_{1} \cdot t_{1} \quad \text{where} \quad \begin{aligned}
    t_{1} &= x \cdot y + \sin\left(x \cdot y\right)
    \end{aligned}
    """
    prefix = _prefix(root)
    upright = distinct(root)
    names = {n: symbol(f"{prefix}{i}") for i, n in enumerate(shared_names(root), 1)}
    if not names:
        return inline(root, upright)
    every = {**names, **upright}
    lines = " \\\\\n".join(f"{name} &= {inline(n, every)}" for n, name in names.items())
    return f"{inline(root, every)} \\quad \\text{{where}} \\quad \\begin{{aligned}}\n{lines}\n\\end{{aligned}}"


def _prefix(root: Node) -> str:
    """`t` (names t_{1}, t_{2}, ...), or `tt`, ... if a variable prints as that name with a subscript."""
    taken = {symbol(n.value) for n in topological([root]) if n.op == VAR}
    prefix = "t"
    while any(re.fullmatch(re.escape(symbol(prefix)) + r"_\{[0-9]+\}", s) for s in taken):
        prefix += "t"
    return prefix
