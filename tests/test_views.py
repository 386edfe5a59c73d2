"""Readable derivatives, Hessians, Jacobians and pictures of the graph."""
import os
import re
import shutil

import numpy as np
import pytest

import qsts
from qsts.cli import main
from qsts.graph import topological
from qsts.printing import graph_dot
from conftest import central_difference


@pytest.mark.parametrize("text, printed", [
    ("x^2", "2*x"),
    ("x^2*sin(x)", "2*x*sin(x) + x^2*cos(x)"),
    ("cos(x)", "-sin(x)"),
    ("exp(2*x)", "2*exp(2*x)"),
    ("x^3", "3*x^2"),
    ("1/x", "-(1/x)/x"),
    ("x*y + x", "1 + y"),
])
def test_derivatives_print_compactly(text, printed):
    d = qsts.diff(text, "x")
    assert str(d) == printed
    assert qsts.parse(printed).root is d.root  # and the text parses back to the same node


def test_hessian_in_variables_order():
    assert qsts.hessian("x^2*y + y^3", x=1, y=2).tolist() == [[4.0, 2.0], [2.0, 12.0]]


def test_jacobian_of_two_outputs_over_three_variables():
    exprs = ["sin(x*y) + z^2", "exp(-x)*log(1+z^2) + y"]
    point = {"x": 0.3, "y": -0.8, "z": 1.2}
    f = qsts.compile(exprs)
    assert f.variables == ("x", "y", "z")
    jac = f.jacobian(**point)
    assert jac.shape == (2, 3)
    for i, text in enumerate(exprs):
        for j, v in enumerate(f.variables):
            names = qsts.parse(text).variables
            expected = central_difference(text, v, {k: point[k] for k in names}) if v in names else 0.0
            # a fixed point: off by 0.002% of the tolerance; see test_rules for the argument
            assert jac[i, j] == pytest.approx(expected, rel=1e-6, abs=1e-8)
    # the compiled scalar program and the reference evaluator: the same kernels on the
    # same nodes, so equal bit for bit (as in test_compile); the tolerance is slack
    assert np.allclose(f(**point), [qsts.evaluate(t, **{k: point[k] for k in qsts.parse(t).variables})
                                    for t in exprs], rtol=1e-15)
    xs = np.linspace(0.1, 1, 5)
    per_point = f.jacobian(x=xs, y=-0.8, z=1.2)
    assert per_point.shape == (2, 3, 5)
    # numpy's kernels against libm's: every entry is a product of at most 3 kernels
    # (8 ulps each) and 4 roundings, no sum cancels: 1.2e-14 apart at most, relative
    assert np.allclose(per_point[:, :, 2], f.jacobian(x=float(xs[2]), y=-0.8, z=1.2), rtol=1e-13)


def test_dot_has_one_node_per_graph_node_and_one_edge_per_argument():
    e = qsts.parse("(x+y)+x*(x+y)")
    dot = graph_dot([e.root])
    nodes = re.findall(r"^\s+n\d+ \[label=", dot, flags=re.M)
    edges = re.findall(r"^\s+n\d+ -> n\d+", dot, flags=re.M)
    assert len(nodes) == e.node_count == 5
    assert len(edges) == sum(len(n.args) for n in topological([e.root])) == 6


def test_render_draws_with_dot(tmp_path, capsys):
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Graphviz; dot is missing")
        pytest.skip("Graphviz's dot is not installed")
    for suffix in ("svg", "png"):
        out = tmp_path / f"g.{suffix}"
        assert main(["graph", "--grad", "--render", str(out), "(x+y)+x*(x+y)"]) == 0
        assert out.stat().st_size > 100
    svg = (tmp_path / "g.svg").read_text()
    assert svg.count('class="node"') == len(topological(
        [qsts.parse("(x+y)+x*(x+y)").root, *[g.root for g in qsts.parse("(x+y)+x*(x+y)").gradient()]])) + 3


def test_render_without_dot_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", "--render", str(tmp_path / "g.svg"), "x*y"]) == 2
    assert "needs Graphviz's `dot`" in capsys.readouterr().err
