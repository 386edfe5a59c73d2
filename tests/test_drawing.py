"""`Expression.graph()`: the CLI's graph views as an object, drawn by Graphviz's `dot`."""
import os
import shutil

import pytest

import qsts
from qsts.cli import main
from qsts.errors import QstsError
from qsts.graph import topological

HEADLINE = "(x+y)+x*(x+y)"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed")


@pytest.fixture
def no_dot(monkeypatch):
    """Graphviz absent, as on a machine without it: `dot` is not on PATH."""
    monkeypatch.setattr(shutil, "which", lambda name: None)


@pytest.mark.parametrize("flags, grad", [([], False), (["--grad"], True)])
def test_dot_and_text_are_what_the_cli_prints(capsys, flags, grad):
    g = qsts.parse(HEADLINE).graph(grad=grad)
    assert main(["graph", "--dot", *flags, HEADLINE]) == 0
    assert capsys.readouterr().out == g.dot + "\n"
    assert main(["graph", *flags, HEADLINE]) == 0
    assert capsys.readouterr().out == g.text + "\n" == str(g) + "\n"


def test_outputs_are_named_and_shared_nodes_counted_once():
    e = qsts.parse("x*y + sin(x)")
    g = e.graph(grad=True)
    assert isinstance(g, qsts.Graph) and g.names == ("f", "df/dx", "df/dy") and g.roots[0] is e.root
    assert [r for r in g.roots[1:]] == [p.root for p in e.gradient()]
    assert g.node_count == len(topological(g.roots)) < sum(len(topological([r])) for r in g.roots)
    assert 'label="df/dx"' in g.dot and g.text.endswith(f"{g.node_count} nodes in the DAG of value and gradient")
    assert e.graph().text.endswith(f"{e.node_count} nodes in the DAG; {e.tree_size} as a tree")


def test_repr_is_short_whatever_the_size():
    text = "+".join(f"sin(x{i})" for i in range(300))
    r = repr(qsts.parse(text).graph())
    assert r.startswith("Graph('sin(") and "899 nodes; outputs f)" in r and len(r) < 100


@needs_dot
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF")])
def test_render_writes_each_format(tmp_path, fmt, magic):
    path = tmp_path / f"g.{fmt}"
    assert qsts.parse(HEADLINE).graph(grad=True).render(path) == str(path)
    assert path.read_bytes().startswith(magic)


@needs_dot
def test_the_svg_for_notebooks_draws_every_node():
    g = qsts.parse(HEADLINE).graph(grad=True)
    svg = g._repr_svg_()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg
    assert svg.count('class="node"') == g.node_count + len(g.names)  # and one box per output name


def test_without_dot_render_says_how_to_install_and_the_notebook_shows_text(no_dot, tmp_path, capsys):
    g = qsts.parse("x*y").graph()
    with pytest.raises(QstsError, match=r"needs Graphviz's `dot` program.*apt-get install graphviz"):
        g.render(tmp_path / "g.svg")
    assert g._repr_svg_() is None and not (tmp_path / "g.svg").exists()
    assert main(["graph", "--render", str(tmp_path / "g.svg"), "x*y"]) == 2
    assert "needs Graphviz's `dot`" in capsys.readouterr().err


@pytest.mark.parametrize("name, words", [
    ("missing/g.svg", "does not exist"),
    ("g.txt", "give a file name ending in .svg, .png"),
    ("g", "give a file name ending in"),
    ("folder.svg", "is a directory"),
])
def test_render_refuses_a_bad_path_before_running_dot(tmp_path, name, words):
    (tmp_path / "folder.svg").mkdir()
    with pytest.raises(QstsError, match=words):
        qsts.parse("x*y").graph().render(tmp_path / name)


def test_the_notebook_picture_never_raises(monkeypatch):
    """A dot that fails, hangs or is not executable gives None: Jupyter then shows the repr."""
    import subprocess

    g = qsts.parse("x*y").graph()
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/false-dot-qsts")
    for error in (subprocess.TimeoutExpired("dot", 10), PermissionError(13, "denied"), OSError(8, "exec format")):
        def run(*args, error=error, **kwargs):
            raise error
        monkeypatch.setattr(subprocess, "run", run)
        assert g._repr_svg_() is None
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "bad"))
    assert g._repr_svg_() is None


def test_a_graph_too_large_to_draw_shows_as_text_in_a_notebook(monkeypatch):
    """Past SVG_MAX_NODES, dot's layout would hold the cell for minutes: no picture, and dot is not run."""
    import subprocess

    from qsts import drawing

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("dot ran"))
    monkeypatch.setattr(drawing, "SVG_MAX_NODES", 4)
    assert qsts.parse("x*y + 1").graph()._repr_svg_() is None


@pytest.mark.parametrize("path", [None, 123, b"g.svg", ["g.svg"]])
def test_render_of_something_not_a_file_name_is_an_argument_error(path):
    with pytest.raises(qsts.ArgumentError, match="render takes a file name"):
        qsts.parse("x*y").graph().render(path)


def test_dot_and_render_together_are_refused(tmp_path, capsys):
    """--render prints only the file's name, so --dot beside it would be silently ignored."""
    with pytest.raises(SystemExit) as stopped:
        main(["graph", "x*y", "--dot", "--render", str(tmp_path / "g.svg")])
    assert stopped.value.code == 2 and "not allowed with argument --dot" in capsys.readouterr().err
    assert not (tmp_path / "g.svg").exists()
