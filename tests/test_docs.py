"""The README's examples and the docstrings' examples run as written."""
import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "README.md", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.tries > 5 and runner.failures == 0


@pytest.mark.parametrize("module", ["qsts", "qsts.api", "qsts.expression", "qsts.function", "qsts.drawing",
                                    "qsts.typeset"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_the_shipped_csv_fits_as_the_readme_says(capsys):
    """`examples/data/line.csv` is the README's 200 points, and the README's `--data`
    command on it lands on numpy.polyfit's line (the transcript's numbers)."""
    import numpy as np

    from qsts.cli import main

    rng = np.random.default_rng(7)
    t = rng.uniform(0, 10, 200)
    y = 1.7 * t - 3.2 + rng.normal(0, 0.5, 200)
    assert np.array_equal(np.loadtxt(ROOT / "examples" / "data" / "line.csv", delimiter=",", skiprows=1), np.c_[t, y])
    command = re.search(r"\$ qsts (minimize .*--data examples/data/line\.csv.*)", (ROOT / "README.md").read_text())
    argv = [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', command.group(1))]
    assert main([a.replace("examples/data/line.csv", str(ROOT / "examples" / "data" / "line.csv")) for a in argv]) == 0
    fitted = dict(line.split(" = ") for line in capsys.readouterr().out.splitlines() if line[:2] in ("a ", "b "))
    slope, intercept = np.polyfit(t, y, 1)
    assert abs(float(fitted["a"]) - slope) < 1e-8 and abs(float(fitted["b"]) - intercept) < 1e-8


def test_the_dataset_transcript_prints_what_the_readme_says(capsys, monkeypatch):
    """The README's `--data 'examples/data/line_parts/*.csv'` transcript, run from the
    repository's root as a user would, prints the lines shown under it."""
    pytest.importorskip("dask.dataframe")
    from qsts.cli import main

    readme = (ROOT / "README.md").read_text()
    found = re.search(r"\$ qsts (grad .*--data 'examples/data/line_parts/\*\.csv'.*)\n((?:[^`\n].*\n)+)", readme)
    argv = [a.strip("'\"") for a in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", found.group(1))]
    monkeypatch.chdir(ROOT)
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == found.group(2).splitlines()
