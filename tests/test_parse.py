"""Grammar and postfix: SPEC section 1."""
import math

import pytest

import qsts
from qsts import grammar


def test_headline_postfix():
    assert qsts.to_postfix("(x+y)+x*(x+y)") == ["x", "y", "+", "x", "x", "y", "+", "*", "+"]


@pytest.mark.parametrize("text, postfix", [
    ("a-b-c", ["a", "b", "-", "c", "-"]),               # left-associative
    ("a/b/c", ["a", "b", "/", "c", "/"]),
    ("a-b+c", ["a", "b", "-", "c", "+"]),
    ("a+b*c", ["a", "b", "c", "*", "+"]),               # * over +
    ("a*b^c", ["a", "b", "c", "^", "*"]),               # ^ over *
    ("a^b^c", ["a", "b", "c", "^", "^"]),               # right-associative
    ("a**b**c", ["a", "b", "c", "^", "^"]),
    ("-a^2", ["a", 2.0, "^", "neg"]),                   # ^ over unary minus
    ("2^-x", [2.0, "x", "neg", "^"]),
    ("-a*b", ["a", "neg", "b", "*"]),
    ("-(a*b)", ["a", "b", "*", "neg"]),
    ("--a", ["a", "neg", "neg"]),
    ("+a", ["a"]),                                      # unary plus is the identity
    ("a*-b", ["a", "b", "neg", "*"]),
    ("(a+b)*c", ["a", "b", "+", "c", "*"]),
    ("pow(a, 2)", ["a", 2.0, "^"]),                     # pow() is the same operator as ^
    ("atan2(y, x)", ["y", "x", "atan2"]),
    ("sin(x)^2", ["x", "sin", 2.0, "^"]),
    (" x \n + \t y ", ["x", "y", "+"]),                 # whitespace is insignificant
    ("pi*e", ["pi", "e", "*"]),
])
def test_precedence_and_associativity(text, postfix):
    assert qsts.to_postfix(text) == postfix


@pytest.mark.parametrize("text, value", [
    ("2^3^2", 512.0), ("-2^2", -4.0), ("(-2)^2", 4.0), ("2^-1", 0.5), ("8/4/2", 1.0),
    ("10-4-3", 3.0), ("2*3+4*5", 26.0), ("2+3*4^2", 50.0), ("-3^2*2", -18.0), ("2**3", 8.0),
    ("2.5E+4", 25000.0), (".5", 0.5), ("1e-3", 0.001), ("1.5", 1.5), ("3.", 3.0),
    ("pi", math.pi), ("e", math.e), ("1e999", math.inf),
])
def test_values_follow_precedence(text, value):
    assert qsts.evaluate(text) == value


@pytest.mark.parametrize("name", ["x", "y1", "theta_2", "A", "_a", "lambda", "self", "expr", "x0", "E", "Pi"])
def test_identifiers_are_variables(name):
    assert qsts.parse(f"{name}*2").variables == (name,)


def test_variables_in_order_of_first_appearance():
    assert qsts.parse("b*a + c + a").variables == ("b", "a", "c")
    assert qsts.parse("y + x").variables == ("y", "x")


def test_equal_expressions_are_one_node_over_the_same_variables():
    """`==` is the math, as SymPy's `x*y == y*x`: the order of the variables,
    which only says how a compiled function takes positions, does not count."""
    a, b = qsts.parse("x*y + 1"), qsts.parse("1 + y*x")
    assert a.root is b.root and a.variables != b.variables
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != qsts.parse("x*y + 2") and a != qsts.Expression(a.root, ("x", "y", "z"))
    assert a != "x*y + 1"


def test_equal_expressions_keep_their_own_positions_in_cached_compiles():
    """The front ends' compile cache keys on the order too: with `a == b` but
    variables (x, y) and (y, x), each compiled function takes its own positions."""
    from qsts.api import compiled

    a, b = qsts.parse("x + 2*y"), qsts.parse("2*y + x")
    assert a == b and a.variables == ("x", "y") and b.variables == ("y", "x")
    assert compiled(a)(1.0, 10.0) == 1.0 + 20.0
    assert compiled(b)(1.0, 10.0) == 2.0 + 10.0
    assert list(compiled(b).grad(x=1.0, y=10.0)) == ["y", "x"]


def test_grammar_has_no_conflicts_in_strict_mode():
    # strict=True turns lark's silent shift/reduce resolution into an error
    grammar.parser(strict=True, transformer=None)


def test_deep_parentheses_do_not_recurse():
    depth = 5000
    text = "(" * depth + "x" + ")" * depth
    assert qsts.to_postfix(text) == ["x"]
    chain = "(" * depth + "x" + "+1)" * depth
    e = qsts.parse(chain)
    assert e.node_count == depth + 2 and e.tree_size == 2 * depth + 1
    assert qsts.grad(chain, x=1.0) == {"x": 1.0}
    assert qsts.evaluate(chain, x=0.0) == depth


def test_long_chain_printing_and_gradient():
    n = 100_000
    text = "+".join(["x"] * n)
    e = qsts.parse(text)
    assert e.node_count == n  # x, x+x, (x+x)+x, ... each prefix is a node
    assert qsts.grad(text, x=3.0) == {"x": float(n)}
    assert qsts.parse(str(e)).root is e.root


def test_postfix_rebuilds_the_same_graph():
    from qsts.postfix import build

    text = "sin(x*y) + exp(-(x^2+y^2)/2)*log(1+z^2) + tanh(x-z)"
    root, names = build(qsts.to_postfix(text))
    assert root is qsts.parse(text).root and names == ("x", "y", "z")
