"""The fitting examples run and recover their known parameters (each checks
itself against its standard errors and exits 1 if not)."""
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["curve_fit.py", "logistic_regression.py"])
def test_fitting_example_recovers_its_parameters(name):
    # Each example draws its data from a fixed seed, so its 4-standard-error check is
    # deterministic. The timeout only guards against a hang: 600 times the run's ~0.5 s.
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered within 4 standard errors" in done.stdout
