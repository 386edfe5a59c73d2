r"""LaTeX (`qsts.latex`, `qsts.typeset`) and the reprs of expressions and Functions.

Expected LaTeX is written by hand, one line per operator of the op table and per
parenthesization case; random expressions are checked for well-formed LaTeX
(balanced braces and `\left`/`\right` pairs); shared graphs must cost what
their DAG costs.
"""
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qsts
from qsts import printing, typeset
from qsts.graph import make, var
from qsts.ops import OPS
from conftest import examples

GUARD = 30.0  # seconds: far above the measured times (milliseconds), so it cannot flake


# ---------------------------------------------------------------- every operator

OPERATORS = {
    "add": ("x + y", "x + y"),
    "sub": ("x - y", "x - y"),
    "mul": ("x*y", r"x \cdot y"),
    "div": ("x/y", r"\frac{x}{y}"),
    "pow": ("x^y", "x^{y}"),
    "neg": ("-x", "-x"),
    "sin": ("sin(x)", r"\sin\left(x\right)"),
    "cos": ("cos(x)", r"\cos\left(x\right)"),
    "tan": ("tan(x)", r"\tan\left(x\right)"),
    "asin": ("asin(x)", r"\arcsin\left(x\right)"),
    "acos": ("acos(x)", r"\arccos\left(x\right)"),
    "atan": ("atan(x)", r"\arctan\left(x\right)"),
    "sinh": ("sinh(x)", r"\sinh\left(x\right)"),
    "cosh": ("cosh(x)", r"\cosh\left(x\right)"),
    "tanh": ("tanh(x)", r"\tanh\left(x\right)"),
    "exp": ("exp(x)", r"\exp\left(x\right)"),
    "log": ("log(x)", r"\log\left(x\right)"),
    "sqrt": ("sqrt(x)", r"\sqrt{x}"),
    "abs": ("abs(x)", r"\left| x \right|"),
    "sign": ("sign(x)", r"\operatorname{sign}\left(x\right)"),
    "sigmoid": ("sigmoid(x)", r"\operatorname{sigmoid}\left(x\right)"),
    "relu": ("relu(x)", r"\operatorname{relu}\left(x\right)"),
    "softplus": ("softplus(x)", r"\operatorname{softplus}\left(x\right)"),
    "atan2": ("atan2(y, x)", r"\operatorname{atan2}\left(y, x\right)"),
    "min": ("min(x, y)", r"\min\left(x, y\right)"),
    "max": ("max(x, y)", r"\max\left(x, y\right)"),
    "heaviside": ("heaviside(x, y)", r"\operatorname{heaviside}\left(x, y\right)"),
    "sum": ("sum(x)", r"\operatorname{sum}\left(x\right)"),
    "mean": ("mean(x)", r"\operatorname{mean}\left(x\right)"),
    "size": ("size(x)", r"\operatorname{size}\left(x\right)"),
    "log10": ("log10(x)", r"\log_{10}\left(x\right)"),
    "log2": ("log2(x)", r"\log_{2}\left(x\right)"),
    "log1p": ("log1p(x)", r"\operatorname{log1p}\left(x\right)"),
    "expm1": ("expm1(x)", r"\operatorname{expm1}\left(x\right)"),
    "erf": ("erf(x)", r"\operatorname{erf}\left(x\right)"),
    "erfc": ("erfc(x)", r"\operatorname{erfc}\left(x\right)"),
    "cbrt": ("cbrt(x)", r"\sqrt[3]{x}"),
    "hypot": ("hypot(x, y)", r"\operatorname{hypot}\left(x, y\right)"),
    "total": (None, r"\operatorname{total}\left(x\right)"),  # internal: gradients only, no text
}


def test_every_row_of_the_op_table_has_a_latex_form_and_a_test_line():
    """A new row without a form (or without a line above) fails here."""
    assert set(OPS) <= set(typeset.FORMS), f"no LaTeX form for {sorted(set(OPS) - set(typeset.FORMS))}"
    assert set(OPS) <= set(OPERATORS), f"no test line for {sorted(set(OPS) - set(OPERATORS))}"
    for name, op in OPS.items():
        indices = sorted(int(i) for i in re.findall(r"[@#]([0-9])", typeset.FORMS[name]))
        assert indices == list(range(op.arity)), name


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_latex_of_each_operator(name):
    text, expected = OPERATORS[name]
    if text is None:
        assert typeset.latex(make(name, (var("x"),))) == expected
    else:
        assert qsts.latex(text) == expected


# ---------------------------------------------------------------- parentheses

@pytest.mark.parametrize("text, expected", [
    ("(a+b)*c", r"c \cdot \left(a + b\right)"),  # canonical order puts c first, as str() does
    ("a-(b-c)", r"a - \left(b - c\right)"),
    ("a-(b+c)", r"a - \left(b + c\right)"),
    ("(a-b)-c", "a - b - c"),
    ("a*(b*c)", r"a \cdot \left(b \cdot c\right)"),
    ("(a*b)^2", r"\left(a \cdot b\right)^{2}"),
    ("-x^2", "-x^{2}"),
    ("(-x)^2", r"\left(-x\right)^{2}"),
    ("-(a+b)", r"-\left(a + b\right)"),
    ("a/(b*c)", r"\frac{a}{b \cdot c}"),
    ("(a+b)/(c-d)", r"\frac{a + b}{c - d}"),
    ("2^(x^2)", "2^{x^{2}}"),
    ("2^3^2", "2^{3^{2}}"),
    ("(2^3)^2", r"\left(2^{3}\right)^{2}"),
    ("(a/b)/c", r"\frac{\frac{a}{b}}{c}"),
    ("a/(b/c)", r"\frac{a}{\frac{b}{c}}"),
    ("(a/b)^2", r"\left(\frac{a}{b}\right)^{2}"),
    ("-(a/b)", r"-\frac{a}{b}"),
    ("x^(a+b)", "x^{a + b}"),
    ("x^-1", "x^{-1}"),
    ("sin(x)^2", r"\sin\left(x\right)^{2}"),
    ("sin(x+y)", r"\sin\left(x + y\right)"),
    ("sqrt(x+1)^2", r"\sqrt{1 + x}^{2}"),
    ("abs(x-1)", r"\left| x - 1 \right|"),
    ("a - -2", r"a - \left(-2\right)"),
    ("x*-2", "-2 x"),
    ("-(2*x)", r"-\left(2 x\right)"),
    ("2*x^2", "2 x^{2}"),
])
def test_parentheses_are_the_fewest_that_keep_the_tree(text, expected):
    assert qsts.latex(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2*x", "2 x"),
    ("2*3", r"2 \cdot 3"),
    ("2*sin(x)", r"2 \sin\left(x\right)"),
    ("2*(x+1)", r"2 \left(1 + x\right)"),
    ("2*pi", r"2 \pi"),
    ("pi*x", r"\pi \cdot x"),
    ("2*(1/x)", r"2 \cdot \frac{1}{x}"),
    ("0.5*alpha", r"0.5 \alpha"),
    ("x*y", r"x \cdot y"),
    ("1e-8*x", r"1 \times 10^{-8} \cdot x"),
])
def test_a_number_in_digits_is_juxtaposed_with_a_letter_else_cdot(text, expected):
    assert qsts.latex(text) == expected


# ---------------------------------------------------------------- leaves

@pytest.mark.parametrize("text, expected", [
    ("1.5", "1.5"), ("2.0", "2"), ("1e-8", r"1 \times 10^{-8}"), ("2.5E+20", r"2.5 \times 10^{20}"),
    ("pi", r"\pi"), ("e", "e"), ("1e999", r"\infty"), ("-3", "-3"), ("(1e-8)^x", r"\left(1 \times 10^{-8}\right)^{x}"),
    ("-(1e-8)", r"-\left(1 \times 10^{-8}\right)"), ("x^1e-8", r"x^{1 \times 10^{-8}}"),
])
def test_numbers(text, expected):
    assert qsts.latex(text) == expected


@pytest.mark.parametrize("name, expected", [
    ("x", "x"), ("A", "A"), ("x_1", "x_{1}"), ("y1", "y_{1}"), ("x12", "x_{12}"), ("theta_2", r"\theta_{2}"),
    ("alpha", r"\alpha"), ("lambda", r"\lambda"), ("Lambda", r"\Lambda"), ("xy", r"\mathrm{xy}"),
    ("rate", r"\mathrm{rate}"), ("x_max", r"x_{\mathrm{max}}"), ("a_b_c", r"a_{\mathrm{b\_c}}"),
    ("_x", r"\mathrm{\_x}"), ("x_", r"\mathrm{x\_}"), ("x1y", r"\mathrm{x1y}"), ("alpha_beta", r"\alpha_{\beta}"),
])
def test_variable_names(name, expected):
    assert qsts.latex(name) == expected


def test_a_derivative_prints_as_latex():
    assert qsts.latex(qsts.diff("x^2*sin(x)", "x")) == r"2 x \cdot \sin\left(x\right) + x^{2} \cdot \cos\left(x\right)"


def test_bad_input_is_a_qsts_error():
    with pytest.raises(qsts.QstsSyntaxError):
        qsts.latex("x +")
    with pytest.raises(qsts.QstsError):
        qsts.latex(3)


# ---------------------------------------------------------------- shared graphs

def shared_chain(levels: int):
    """t = t*t + t, `levels` times: 2 new nodes a level, a tree of about 3^levels nodes."""
    t = var("x")
    for _ in range(levels):
        t = t * t + t
    return t


def test_a_shared_chain_costs_its_dag_not_its_tree():
    root = shared_chain(60)
    start = time.perf_counter()
    text = typeset.latex(root)
    assert time.perf_counter() - start < GUARD
    assert typeset.length(root, printing.LIMIT + 1) == printing.LIMIT + 1  # the tree is 10^28 long
    assert len(text) < 200 * 60 and r"\begin{aligned}" in text and text.endswith(r"\end{aligned}")
    assert well_formed(text)


def test_the_shared_form_names_what_str_names():
    e = qsts.parse("(x*y + sin(x*y))^2 + (x*y + sin(x*y))")
    assert e.text(shared=True) == "t1 = x*y + sin(x*y)\nt1^2 + t1"
    assert typeset.shared(e.root) == (r"t_{1}^{2} + t_{1} \quad \text{where} \quad \begin{aligned}" "\n"
                                      r"t_{1} &= x \cdot y + \sin\left(x \cdot y\right)" "\n" r"\end{aligned}")
    assert typeset.latex(e.root, limit=10) == typeset.shared(e.root)


def test_shared_names_avoid_a_variable_that_prints_like_them():
    e = qsts.parse("(t_1*y + sin(t_1*y))^2 + (t_1*y + sin(t_1*y))")
    assert typeset.shared(e.root).startswith(r"\mathrm{tt}_{1}^{2} + \mathrm{tt}_{1} \quad")


def test_length_is_exact():
    for text in ["(a+b)*c - a/(b*c)", "2*sin(x)^2 + -(1e-8)", "sqrt(abs(alpha_1))*max(x, y)"]:
        root = qsts.parse(text).root
        assert typeset.length(root, 10**6) == len(typeset.inline(root))


def test_a_deep_expression_does_not_recurse():
    text = "sin(" * 20000 + "x" + ")" * 20000
    assert qsts.latex(text).count(r"\sin\left(") == 20000


# ---------------------------------------------------------------- well-formed LaTeX on random expressions

def well_formed(text: str) -> bool:
    r"""Braces balance, and each `\left` closes with a `\right` inside the same braces."""
    stack = []
    for token in re.findall(r"\\left|\\right|\\[{}]|[{}]", text):
        if token in ("{", r"\left"):
            stack.append(token)
        elif token in ("}", r"\right"):
            if not stack or stack.pop() != {"}": "{", r"\right": r"\left"}[token]:
                return False
    return not stack


UNARY = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "sqrt", "abs",
         "sign", "sigmoid", "relu", "softplus", "sum", "mean", "size", "-", "log10", "log2", "log1p", "expm1", "erf",
         "erfc", "cbrt"]
BINARY = ["+", "-", "*", "/", "^", "atan2", "min", "max", "heaviside", "hypot"]
LEAVES = ["x", "alpha_1", "alpha1", "rate", "2", "0.5", "1e-8", "pi", "e", "-3", "2.5e20"]


@st.composite
def expressions(draw, depth=4):
    """Random text with every operator (tests/test_native.py's strategy, with reductions and more leaves)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES))
    if draw(st.booleans()):
        f = draw(st.sampled_from(UNARY))
        return f"{f}({draw(expressions(depth - 1))})" if f != "-" else f"-({draw(expressions(depth - 1))})"
    op, a, b = draw(st.sampled_from(BINARY)), draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return f"({a}) {op} ({b})" if len(op) == 1 else f"{op}({a}, {b})"


@settings(max_examples=examples(200))
@given(expressions())
def test_random_expressions_give_well_formed_latex(text):
    e = qsts.parse(text)
    out = qsts.latex(e)
    assert well_formed(out), out
    assert typeset.length(e.root, 10**6, typeset.distinct(e.root)) == len(out)
    assert well_formed(qsts.latex(qsts.diff(e, "x"))) if "x" in e.variables else True


# ---------------------------------------------------------------- a reader of this LaTeX, the round trip's oracle

TOKENS = re.compile(r"\\sqrt\[3\]|\\left[(|]|\\right[)|]|\\operatorname\{\w+\}|\\mathrm\{[^{}]*\}|\\[A-Za-z]+|[{}^_]|[^\\{}^_]")
WORDS = {r"\left(": "(", r"\right)": ")", r"\left|": "abs(", r"\right|": ")", r"\cdot": "*", r"\infty": "1e999",
         r"\arcsin": "asin", r"\arccos": "acos", r"\arctan": "atan"}
OPENS = {r"\frac": ("((", ")/("), r"\sqrt": ("sqrt(", ")"), r"\sqrt[3]": ("cbrt(", ")"), "^": ("^(", ")"),
         "_": ("_", "")}


def untex(latex: str, variables=()) -> str:
    """qsts text for the LaTeX qsts writes, read independently of qsts.typeset: a
    fraction's parts, an exponent and a square root's argument are read from
    their braces, so text that parses back to the same node shows that the
    LaTeX's parentheses and braces keep the tree."""
    latex = re.sub(r"([0-9.]+) \\times 10\^\{(-?[0-9]+)\}", r"\1e\2", latex)
    latex = re.sub(r"\\log_\{(10|2)\}", r"\\operatorname{log\1}", latex)
    latex = re.sub(r"(?<=[0-9.]) (?=[A-Za-z]|\\(?!cdot|right))", "*", latex)  # a juxtaposed product
    out, closers, following = [], [], None  # following: the closer of the brace right after
    for token in TOKENS.findall(latex):
        if token == "{":
            closers.append(following or "")
            following = None
        elif token == "}":
            closer = closers.pop()
            out.append(closer)
            following = "))" if closer == ")/(" else None  # a fraction's denominator comes next
        elif token in OPENS:
            out.append(OPENS[token][0])
            following = OPENS[token][1]
        else:
            word = re.sub(r"^\\(?:operatorname|mathrm)\{(.*)\}$", r"\1", token).replace(r"\_", "_")
            out.append(WORDS.get(token, word.lstrip("\\")))
    # `x_{1}` sets both x1 and x_1 (where only one occurs): the expression's variables say which
    return re.sub(r"\b([A-Za-z]+)_([0-9]+)\b",
                  lambda m: m[1] + m[2] if m[0] not in variables and m[1] + m[2] in variables else m[0], "".join(out))


@pytest.mark.parametrize("text", [t for t, _ in OPERATORS.values() if t] + [
    "(a+b)*c", "a-(b-c)", "(a*b)^2", "-x^2", "(-x)^2", "a/(b*c)", "2^(x^2)", "(a/b)/c", "a/(b/c)", "(a/b)^2",
    "2*(x+1)", "2*3*x", "x*-2", "-(2*x)", "1e-8*x", "(1e-8)^x", "2.5E+20/x", "-(1e-8)", "alpha_1*x_max^rate",
    "x1 - x_1 + x2", "(x1*x_1 + sin(x1*x_1))^2", "x*(-pi)", "(-e)*x", "-(2)*x"])
def test_the_latex_reads_back_to_the_same_node(text):
    e = qsts.parse(text)
    assert qsts.parse(untex(qsts.latex(e), e.variables)).root is e.root


@settings(max_examples=examples(200))
@given(expressions())
def test_random_latex_reads_back_to_the_same_node(text):
    e = qsts.parse(text)
    assert qsts.parse(untex(qsts.latex(e), e.variables)).root is e.root
    if "x" in e.variables:
        d = qsts.diff(e, "x")
        assert qsts.parse(untex(qsts.latex(d), d.variables)).root is d.root


def test_well_formed_finds_its_breach():
    assert well_formed(r"\left(a\right) + {b}") and not well_formed(r"\left(a + {b\right)}")
    assert not well_formed("{a") and not well_formed(r"a\right)")


# ---------------------------------------------------------------- notebooks and reprs

def test_repr_latex_is_math_for_jupyter():
    e = qsts.parse("x^2/2")
    assert e._repr_latex_() == r"$\displaystyle \frac{x^{2}}{2}$"
    d = qsts.diff("x^3", "x")
    assert d._repr_latex_() == f"$\\displaystyle {qsts.latex(d)}$"


def test_repr_latex_stays_a_size_a_notebook_can_set():
    """Past 10,000 characters a notebook gets the shared form; past 100,000 none
    (Jupyter then shows the repr): MathJax is slow to set formulas that long."""
    from qsts.expression import NOTEBOOK_LATEX, NOTEBOOK_LATEX_MAX

    text = "x"
    for _ in range(9):  # each level uses the one below twice: 2^9 copies of x written out
        text = f"sin({text})*({text}) + 1"
    e = qsts.parse(text)
    written = qsts.latex(e)
    assert NOTEBOOK_LATEX < len(written) < NOTEBOOK_LATEX_MAX and "where" not in written
    shown = e._repr_latex_()
    assert shown.startswith("$") and "where" in shown and len(shown) < NOTEBOOK_LATEX
    wide = qsts.parse(" + ".join(f"sin(x_{i})" for i in range(6000)))  # nothing shared: ~200 KB either way
    assert len(qsts.latex(wide)) > NOTEBOOK_LATEX_MAX and wide._repr_latex_() is None
    assert repr(wide).startswith("Expression(")


def test_reprs_name_the_expression_the_variables_and_the_nodes():
    assert repr(qsts.parse("(x+y)+x*(x+y)")) == "Expression('x*(x + y) + (x + y)', variables=('x', 'y'), nodes=5)"
    assert repr(qsts.parse("2")) == "Expression('2', variables=(), nodes=1)"
    assert repr(qsts.compile("sin(x)")) == "Function('sin(x)', variables=('x',), nodes=2)"
    assert repr(qsts.compile("x*y", wrt=["y"])) == "Function('x*y', variables=('x', 'y'), nodes=3, wrt=('y',))"
    assert (repr(qsts.compile(["x*y", "x + z"]))
            == "VectorFunction(['x*y', 'x + z'], variables=('x', 'y', 'z'), nodes=5)")


def test_reprs_stay_short_whatever_the_expression():
    tower = qsts.diff("^".join(["x"] * 200), "x")
    many = " + ".join(f"v{i}" for i in range(100))
    start = time.perf_counter()
    sines = " + ".join(f"sin({i}*x)" for i in range(1, 200))
    shown = [repr(tower), repr(qsts.compile(sines)), repr(qsts.parse(many)), repr(qsts.compile([many] * 50))]
    assert time.perf_counter() - start < GUARD
    assert all(len(s) < 600 for s in shown), [len(s) for s in shown]
    assert shown[2].endswith("'v11', ...), nodes=199)")
    assert shown[3].startswith("VectorFunction([") and "', ...], variables=(" in shown[3]


def test_different_variables_typeset_differently():
    """x1 and x_1 (and x01, x_01) are different variables: the LaTeX must not show x1 - x_1 as x_{1} - x_{1}."""
    for a, b in [("x1", "x_1"), ("x01", "x_01"), ("alpha1", "alpha_1")]:
        text = qsts.latex(f"{a} - {b}")
        left, right = text.split(" - ")
        assert left != right, text
