"""Pickling nodes and expressions: the graph is stored once per unique node and
interned again on load (the same node in this process, an equal one in another)."""
import gc
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import weakref

import pytest

import qsts
from qsts import graph
from qsts.expression import Expression
from qsts.graph import Node, const, make, var

try:
    import cloudpickle
except ImportError:  # test_round_trip_cloudpickle skips; the other tests use pickle alone
    cloudpickle = None

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
SPECIAL = [-0.0, 0.0, math.nan, math.inf, -math.inf, 5e-324, 1e308, -1e308, 0.1]
# parse keeps first appearance, ('y', 'x'); `ordered` puts x first, so each order is a separate case
PARSED = "y*(x*y + sin(x*y))^2 + (x*y + sin(x*y)) - 0.1*x/3"


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def shared_chain(levels: int, name: str = "x") -> Node:
    """t = t*t + t, `levels` times: 2 new nodes a level, a tree of about 3^levels nodes."""
    t = var(name)
    for _ in range(levels):
        t = t * t + t
    return t


def deep_chain(depth: int, name: str = "x") -> Node:
    """sin(sin(...sin(x))), `depth` times: nothing simplifies, each level a new node."""
    t = var(name)
    for _ in range(depth):
        t = Node.build("sin", t)
    return t


def ordered() -> Expression:
    """An expression whose variable order is not that of first appearance."""
    return Expression.within(qsts.parse(PARSED).root, ("x", "y"))


def cases() -> list[Expression]:
    parsed = qsts.parse(PARSED)
    as_written = qsts.parse("x*1 + 2*3 - (y - 0) + x/x")  # what Node.build would simplify
    return [parsed, ordered(), *parsed.gradient(), as_written, Expression(shared_chain(50), ("x",)),
            Expression(const(2.5), ()), Expression(var("x"), ("x",))]


def dumpers():
    """(name, dumps) for every pickle protocol, and cloudpickle where installed."""
    yield from ((f"pickle-{p}", lambda obj, p=p: pickle.dumps(obj, protocol=p)) for p in PROTOCOLS)
    if cloudpickle is not None:
        yield "cloudpickle", cloudpickle.dumps


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_round_trip_pickle(protocol):
    for e in cases():
        loaded = pickle.loads(pickle.dumps(e, protocol=protocol))
        assert loaded == e and loaded.root is e.root
        assert loaded.variables == e.variables and loaded.node_count == e.node_count


def test_round_trip_cloudpickle():
    pytest.importorskip("cloudpickle")
    for e in cases():
        loaded = cloudpickle.loads(cloudpickle.dumps(e))
        assert loaded == e and loaded.root is e.root
        assert loaded.variables == e.variables and loaded.node_count == e.node_count


def test_variable_order_is_kept():
    e = ordered()
    assert e.variables == ("x", "y") and qsts.parse(PARSED).variables == ("y", "x")
    for name, dumps in dumpers():
        loaded = pickle.loads(dumps(e))
        assert loaded.variables == ("x", "y"), name
        assert loaded.root is e.root, name


def test_a_node_pickles_on_its_own():
    nodes = [qsts.parse(PARSED).root, var("x"), const(-0.0), shared_chain(30)]
    for name, dumps in dumpers():
        for node in nodes:
            assert pickle.loads(dumps(node)) is node, name


def test_pickling_does_not_carry_the_cache():
    e = qsts.parse(PARSED)
    e.gradient()
    assert e._cache
    data = pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(data)._cache == {}
    # the cache holds the gradient graphs: carried along, the pickle would be larger than the expression's own
    assert len(data) == len(pickle.dumps(Expression(e.root, e.variables), protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("value", SPECIAL, ids=repr)
def test_constants_keep_their_bits(value):
    node = const(value)
    for name, dumps in dumpers():
        loaded = pickle.loads(dumps(node))
        assert loaded is node, name
        if math.isnan(value):
            assert math.isnan(loaded.value), name
        else:
            assert bits(loaded.value) == bits(value), name


def test_negative_zero_survives_a_rebuild():
    """Not just the interned node found again: the -0.0 rebuilt from the pickle after
    the original is gone is still -0.0, and x + -0.0 at x = -0.0 is -0.0 (with +0.0, it would be +0.0)."""
    root = make("add", (var("z_negzero"), const(-0.0)), commutative=True)
    data = pickle.dumps(Expression(root, ("z_negzero",)))
    gone = [weakref.ref(root), weakref.ref(root.args[0])]  # constants come first in canonical order
    assert gone[1]() is const(-0.0)
    del root
    gc.collect()
    assert [ref() for ref in gone] == [None, None]
    loaded = pickle.loads(data)
    (zero,) = [a for a in loaded.root.args if a.op == graph.CONST]
    assert math.copysign(1.0, zero.value) == -1.0
    assert math.copysign(1.0, qsts.evaluate(loaded, z_negzero=-0.0)) == -1.0


def test_loads_after_the_graph_was_collected():
    """Loading rebuilds nodes no longer in the table: equal text, size and values, and the
    very node a fresh build makes (the stored key and digest are the original's)."""
    def build():
        u, v = var("u_gc"), var("v_gc")
        s = u * v + Node.build("sin", u * v)
        return Expression(s * s / (v - 3) + shared_chain(20, "u_gc") * 0.5, ("v_gc", "u_gc"))

    e = build()
    text, count, digest = str(e), e.node_count, e.root.digest
    value = qsts.evaluate(e, u_gc=-0.3, v_gc=1.7)
    data = pickle.dumps(e)
    gone = weakref.ref(e.root)
    del e
    gc.collect()
    assert gone() is None  # the test is only worth something if the graph really is gone
    loaded = pickle.loads(data)
    assert (str(loaded), loaded.node_count, loaded.root.digest) == (text, count, digest)
    assert loaded.variables == ("v_gc", "u_gc")
    assert bits(qsts.evaluate(loaded, u_gc=-0.3, v_gc=1.7)) == bits(value)
    assert build().root is loaded.root


def test_shared_graph_pickles_in_linear_size():
    e = Expression(shared_chain(2000), ("x",))
    assert e.node_count == 4001
    assert e.tree_size > 10 ** 900  # as text, more bytes than there are atoms in the universe
    # Each node is one entry, a binary one (op, i, j): at most 17 bytes in protocol 2 (a 5-byte
    # memo get of the op name, two 3-byte indices below 65536, TUPLE3, a 5-byte memo put of the
    # tuple), 13 from protocol 4 (1-byte memo put). Measured: 13.7 and 9.9 bytes a node.
    # 20 leaves room for the fixed header, and fails at once if a node were stored twice.
    for name, dumps in dumpers():
        if name not in ("pickle-0", "pickle-1"):  # text and early binary protocols: larger, still linear
            assert len(dumps(e)) <= 20 * e.node_count, name
    # linear: twice the levels, about twice the bytes (the text would be 3^2000 times larger)
    bigger = Expression(shared_chain(4000), ("x",))
    assert len(pickle.dumps(bigger)) < 2.2 * len(pickle.dumps(e))


def test_deep_graph_pickles_without_recursion():
    e = Expression(deep_chain(100_000), ("x",))
    assert e.node_count == 100_001
    for name, dumps in dumpers():
        data = dumps(e)
        loaded = pickle.loads(data)
        assert loaded == e and loaded.root is e.root, name
    gone = weakref.ref(e.root)
    value = qsts.evaluate(e, x=0.5)
    del e, loaded
    gc.collect()
    assert gone() is None
    loaded = pickle.loads(data)  # rebuilt node by node, 100,000 deep
    assert loaded.node_count == 100_001
    assert bits(qsts.evaluate(loaded, x=0.5)) == bits(value)


def test_dump_is_flat_postfix():
    """The encoding itself: each unique node once, children before parents, by index."""
    x, y = var("x"), var("y")
    s = make("add", (x, y), commutative=True)
    root = make("mul", (s, make("sin", (s,))))
    entries, roots = graph.dump([root, s])
    assert len(entries) == 5 and roots == (4, 2)
    assert entries[:3] == ("x", "y", ("add", 0, 1))
    assert graph.load((entries, roots)) == [root, s]
    assert all(not isinstance(e, tuple) or all(isinstance(i, int) for i in e[1:]) for e in entries)


CHILD = """
import json, pickle, sys
import qsts
with open(sys.argv[1], "rb") as f:
    expressions, points = pickle.load(f)
out = []
for e, point in zip(expressions, points):
    out.append({"count": e.node_count, "text": str(e), "variables": list(e.variables), "digest": e.root.digest.hex(),
                "value": qsts.evaluate(e, **point).hex(), "leaves": [float.hex(n.value) for n in e.root.args
                                                                     if n.op == "const"]})
print(json.dumps({"file": qsts.__file__, "results": out}))
"""


def test_loads_in_a_fresh_process(tmp_path):
    specials = [make("mul", (var("x"), const(c)), commutative=True) for c in SPECIAL]
    expressions = [*cases(), Expression(shared_chain(2000), ("x",)), *(Expression(s, ("x",)) for s in specials)]
    points = [{name: (-0.3 if name == "x" else 1.7) for name in e.variables} for e in expressions]
    expected = [{"count": e.node_count, "text": str(e), "variables": list(e.variables), "digest": e.root.digest.hex(),
                 "value": qsts.evaluate(e, **point).hex(), "leaves": [float.hex(n.value) for n in e.root.args
                                                                      if n.op == "const"]}
                for e, point in zip(expressions, points)]
    path = tmp_path / "expressions.pickle"
    path.write_bytes(pickle.dumps((expressions, points)))
    root = os.path.dirname(os.path.dirname(qsts.__file__))  # the child imports this very qsts
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), str(path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["file"] == qsts.__file__
    assert len(child["results"]) == len(expected)
    for got, want in zip(child["results"], expected):
        assert got == want
    assert {"-0x0.0p+0", "0x0.0000000000001p-1022", "nan", "inf"} <= {v for r in expected for v in r["leaves"]}
