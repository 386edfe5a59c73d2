"""`Graph`: the DAG of an expression (and of its gradient) as an object that
prints itself as text or Graphviz DOT, draws itself to a file with Graphviz's
`dot` program, and shows itself as SVG in a notebook.

The views themselves live in `qsts.printing` (one pass over the DAG each);
this module adds what needs the outside world: running `dot`. Graphviz is a
program, not a Python package, so it is found on PATH when it is used, never
at import time, and a notebook without it falls back to the text repr.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Sequence

from .errors import ArgumentError, QstsError
from .graph import Node, topological, tree_size
from .printing import graph_dot, graph_text, preview

# what `render` hands to `dot -T`: the formats every Graphviz build writes (cairo or gd)
FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps")
INSTALL = "install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz`, `conda install graphviz`)"
SVG_TIMEOUT = 10.0      # seconds: a notebook cell must not hang on a huge layout
SVG_MAX_NODES = 2000    # beyond this dot's layout takes minutes and the picture is unreadable: text instead


class Graph:
    """The DAG under `roots`, each output named (`f`, `df/dx`, ...), as
    `Expression.graph()` returns it. Shared nodes appear once, with an edge to
    each parent, so the sharing that makes gradients cheap is visible.

    >>> import qsts
    >>> g = qsts.parse("(x+y)+x*(x+y)").graph()
    >>> g
    Graph('x*(x + y) + (x + y)': 5 nodes; outputs f)
    >>> g.dot.splitlines()[0]
    'digraph qsts {'
    """

    def __init__(self, roots: Sequence[Node], names: Sequence[str], what: str | None = None):
        """`what` names the outputs together in the text view's last line (e.g.
        "value and gradient"); without it that line gives the DAG and tree sizes."""
        self.roots, self.names, self.what = tuple(roots), tuple(names), what

    @property
    def node_count(self) -> int:
        """Unique nodes under all the roots together."""
        return len(topological(self.roots))

    @property
    def dot(self) -> str:
        """Graphviz DOT: what `qsts graph --dot` prints."""
        return graph_dot(self.roots, self.names)

    @property
    def text(self) -> str:
        """One line per node, children first, with parents counted, and a line of
        sizes: what `qsts graph` prints."""
        if self.what is None and len(self.roots) == 1:
            summary = f"{self.node_count} nodes in the DAG; {tree_size(self.roots[0])} as a tree"
        else:
            summary = f"{self.node_count} nodes in the DAG of {self.what or ', '.join(self.names)}"
        return graph_text(self.roots, self.names) + "\n" + summary

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        """Short whatever the graph's size: the first output's text cut, the node
        count and the outputs' names."""
        return f"Graph({preview(self.roots[0], 40)!r}: {self.node_count} nodes; outputs {', '.join(self.names)})"

    def render(self, path: "str | os.PathLike") -> str:
        """Draw the graph to `path` with Graphviz's `dot`, in the format its
        extension names (.svg, .png, .pdf, ...); returns the path.

        Errors (QstsError) say what to do: `dot` missing, an unknown extension,
        a directory that does not exist, a file that cannot be written."""
        path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        if not isinstance(path, str):
            raise ArgumentError(f"render takes a file name (str or pathlib.Path), got {type(path).__name__}")
        fmt = os.path.splitext(path)[1].lower().lstrip(".")
        if fmt not in FORMATS:
            raise QstsError(f"cannot draw to {path!r}: give a file name ending in "
                            + ", ".join("." + f for f in FORMATS))
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise QstsError(f"cannot draw to {path!r}: the directory {folder!r} does not exist")
        if os.path.isdir(path):
            raise QstsError(f"cannot draw to {path!r}: it is a directory; give a file name")
        done = _dot(["-T" + fmt, "-o", path], self.dot, timeout=None)
        if done.returncode:
            raise QstsError(f"dot could not draw {path!r}: {done.stderr.strip()[:200]}")
        return path

    def _repr_svg_(self) -> str | None:
        """The picture for Jupyter, or None (then it shows the repr): without
        `dot`, past SVG_MAX_NODES nodes, or when dot fails or takes longer than
        SVG_TIMEOUT seconds. A notebook's display never raises."""
        try:
            if self.node_count > SVG_MAX_NODES:
                return None
            done = _dot(["-Tsvg"], self.dot, timeout=SVG_TIMEOUT)
        except (QstsError, OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 and done.stdout else None


def _dot(flags: list[str], source: str, timeout: float | None) -> subprocess.CompletedProcess:
    """Run Graphviz's `dot` with `flags` on `source`, or a QstsError saying how
    to install it. Looked up on each call, so installing it mid-session works."""
    dot = shutil.which("dot")
    if dot is None:
        raise QstsError(f"drawing the graph needs Graphviz's `dot` program, which is not installed: {INSTALL}; "
                        "`.dot` (qsts graph --dot) gives the DOT text without it")
    return subprocess.run([dot, *flags], input=source, text=True, capture_output=True, timeout=timeout)
