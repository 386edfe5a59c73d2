"""The unique-node table: SPEC section 2."""
import gc

import pytest
from hypothesis import given, settings, strategies as st

import qsts
from qsts import graph
from qsts.ops import RESERVED


def test_headline_dag():
    e = qsts.parse("(x+y)+x*(x+y)")
    assert (e.node_count, e.tree_size) == (5, 9)
    s, m = sorted(e.root.args, key=lambda n: n.op)  # (x+y) + x*(x+y), in canonical order
    assert s.op == "add" and m.op == "mul"
    assert s in m.args  # the two (x+y) are one node
    counts = graph.parent_counts([e.root])
    assert counts[graph.var("x")] == 2 and counts[s] == 2  # x in (x+y) and in x*(x+y)


def test_identity_not_text_decides_sharing():
    e = qsts.parse("x*(a+b) + x*(c+d)")
    left, right = e.root.args
    assert left is not right
    assert {a.op for a in left.args} == {"var", "add"}
    assert e.node_count == 10 and e.tree_size == 11


def test_parsing_twice_gives_the_same_node():
    assert qsts.parse("sin(x)*y + 2").root is qsts.parse("sin( x ) * y+2.0").root


def test_commutative_operators_have_one_order():
    for a, b in [("x+y", "y+x"), ("x*y", "y*x"), ("min(x,y)", "min(y,x)"), ("max(2,x)", "max(x,2)")]:
        assert qsts.parse(a).root is qsts.parse(b).root
    for a, b in [("x-y", "y-x"), ("x/y", "y/x"), ("x^y", "y^x"), ("atan2(x,y)", "atan2(y,x)")]:
        assert qsts.parse(a).root is not qsts.parse(b).root


def test_built_as_written():
    assert qsts.parse("u*u").root.op == "mul"
    assert qsts.parse("2*3").root.op == "mul"
    assert qsts.parse("x+0").root.op == "add"
    assert qsts.parse("2").root is qsts.parse("2.0").root is qsts.parse("2e0").root


def test_constants_keyed_by_value():
    assert graph.const(0.0) is not graph.const(-0.0)  # differ under division
    assert graph.const(float("nan")) is graph.const(float("nan"))
    assert graph.const(1) is graph.const(1.0) is graph.const(True)


def test_nodes_are_immutable():
    node = qsts.parse("x+1").root
    for field in ("op", "args", "value", "digest", "grad"):
        with pytest.raises(AttributeError):
            setattr(node, field, None)
    with pytest.raises(AttributeError):
        qsts.parse("x").variables = ("y",)


def test_previous_bug_token_keyed_interning():
    # The original C++ qsts keyed nodes by the children's tokens: 18 instead of 21.
    assert qsts.evaluate("(x+y)*z+(x+z)*z", x=1, y=2, z=3) == 21.0
    assert qsts.grad("(x+y)*z+(x+z)*z", x=1, y=2, z=3) == {"x": 6.0, "y": 3.0, "z": 10.0}


def test_previous_bug_parent_registered_before_dedup():
    # ((x+y)*z)+((x+y)*z) gave zero gradients in the C++ original.
    assert qsts.grad("((x+y)*z)+((x+y)*z)", x=1, y=2, z=3) == {"x": 6.0, "y": 6.0, "z": 6.0}


def test_table_does_not_keep_dead_nodes():
    key = ("var", "unusual_name_q")
    e = qsts.parse("unusual_name_q + 123456.789")
    assert key in graph._table
    qsts.expression.parse_text.cache_clear()
    del e
    gc.collect()
    assert key not in graph._table


def test_exponential_sharing():
    text = "x"
    for _ in range(12):
        text = f"({text})*({text})"  # each level uses the previous twice: the text doubles
    e = qsts.parse(text)
    assert e.node_count == 13 and e.tree_size == 2 ** 13 - 1
    assert qsts.grad(text, x=1.0) == {"x": 2.0 ** 12}
    # 12 squarings double the relative error each time: x^4096 and the gradient's factors
    # are within 4096 eps/2 = 4.6e-13 of exact (IEEE products, the same on every machine),
    # and libm's pow within an ulp
    assert qsts.grad(text, x=1.0001)["x"] == pytest.approx(2 ** 12 * 1.0001 ** (2 ** 12 - 1), rel=1e-12)


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in RESERVED)


@settings(max_examples=200, deadline=None)
@given(NAMES, NAMES, st.sampled_from(["sin({})*sin({})", "exp({}) + exp({})", "max(2*{}, 2*{})", "{}*{}"]))
def test_commutative_order_is_canonical_for_any_names(a, b, template):
    assert qsts.parse(template.format(a, b)).root is qsts.parse(template.format(b, a)).root
