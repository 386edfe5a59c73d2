"""examples/tour.ipynb runs top to bottom in a real Jupyter kernel (nbclient and
ipykernel, as CI runs it: headless, no browser) and shows what it promises:
expressions as math (text/latex), the graph as a picture (image/svg+xml, drawn
by Graphviz's dot) and the fit's plot (image/png)."""
import json
import os
import pathlib
import shutil
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
NOTEBOOK = EXAMPLES / "tour.ipynb"
KERNEL = "qsts-test-python"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernelspec that runs this Python (the test venv's, where qsts is installed),
    found first through JUPYTER_PATH whatever kernels the user has; and an empty
    IPython directory, so no profile or startup file of the user's runs."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "qsts tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook's %matplotlib inline decides
    return KERNEL


def outputs_with(nb, mime):
    return [o for cell in nb.cells if cell.cell_type == "code"
            for o in cell.outputs if mime in o.get("data", {})]


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


def test_the_notebook_runs_and_shows_math_graphs_and_a_plot(kernel):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The notebook reads data/line.csv relative to its own directory, as Jupyter runs it.
    # The timeout only guards against a hang: the whole notebook takes ~2 s.
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=120,
                                     resources={"metadata": {"path": str(EXAMPLES)}})
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails

    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if o.output_type == "error"]
    assert errors == []
    assert outputs_with(nb, "text/latex"), "no expression was shown as math"
    assert [o["data"]["text/latex"] for o in outputs_with(nb, "text/latex")][0].startswith("$")
    pngs = outputs_with(nb, "image/png")
    assert len(pngs) == 1, "the fit's plot should be drawn once"
    if shutil.which("dot") is None and not os.environ.get("CI"):
        pytest.skip("Graphviz's dot is not installed: the graph cells show text, not SVG "
                    "(.ci/run installs it)")
    svgs = outputs_with(nb, "image/svg+xml")
    assert len(svgs) == 2, "e.graph() and e.graph(grad=True) should both be drawn"
    assert all("<svg" in o["data"]["image/svg+xml"] for o in svgs)
