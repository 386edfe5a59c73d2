"""Shared oracles for the tests, and hypothesis's settings for the whole suite."""
import contextlib
import math
import os
import signal

import numpy as np
import pytest
from hypothesis import settings

import qsts

# Hypothesis profiles. This module is imported before any test module, so every
# `settings(...)` a test builds afterwards takes its unspecified values from the
# profile loaded here (a test that sets max_examples keeps derandomize and database).
#
# - "ci", the default (a fresh clone's `pytest`, and CI): derandomized, so every run
#   tries the same examples, whatever the seed, the machine's load or the terminal;
#   and no example database, so no example is saved in .hypothesis/ and no run
#   depends on what an earlier one found (hypothesis still caches there the literals
#   it reads from qsts's source, keyed by the file's hash: no test outcome). A
#   failure prints its reproduction blob.
# - "explore", opt in with QSTS_HYPOTHESIS=explore: random seeds (pass
#   --hypothesis-seed=N to repeat one) and `examples(n)` times 10 examples, to hunt
#   for bugs; still no database, so a find is reproduced from the printed blob or seed.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True,
                          max_examples=1000)
PROFILE = os.environ.get("QSTS_HYPOTHESIS", "ci")
settings.load_profile(PROFILE)
EXPLORE_FACTOR = 10 if PROFILE == "explore" else 1


def examples(n: int) -> int:
    """A test's number of examples under the loaded profile (more when exploring)."""
    return n * EXPLORE_FACTOR


def central_difference(expr, name, values, h=None):
    """d expr / d name at `values` by central differences.

    The step h = 1e-5 * max(1, |x|) balances truncation (h^2 |f'''|/6 somewhere
    within h: about 1e-10 relative for the moderate functions at the fixed points
    the tests use) against rounding (a few ulps of |f| over h, about 1e-11): results
    are good to ~1e-8, so those tests compare with rtol=1e-6 (test_rules says why
    that holds). It bounds nothing for arbitrary functions: tests on random
    expressions bound a central difference's error themselves (test_properties).
    """
    x = values[name]
    h = h or 1e-5 * max(1.0, abs(x))
    hi, lo = x + h, x - h
    f_hi = qsts.evaluate(expr, **{**values, name: hi})
    f_lo = qsts.evaluate(expr, **{**values, name: lo})
    return (f_hi - f_lo) / (hi - lo)


def close(a, b, rtol=1e-6, atol=1e-8):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return bool(np.isclose(a, b, rtol=rtol, atol=atol))


@contextlib.contextmanager
def sigint_after_evaluations(n: int):
    """A real SIGINT (Ctrl-C) to this process at `minimize`'s n-th gradient
    evaluation: well inside a run, never during its setup, and at the same point
    every time (sent from the main thread, so Python raises KeyboardInterrupt
    within a few bytecodes of the kill). SIGINT gets Python's handler for the
    duration (a test run started from a background job has it ignored, and would
    never see the signal). The run under test must need more than n evaluations."""
    from qsts import optimize

    calls = []
    original = optimize._Problem.value_and_grad

    def counted(self, x):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, x)

    optimize._Problem.value_and_grad = counted
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        optimize._Problem.value_and_grad = original
    assert len(calls) >= n, f"the run ended after {len(calls)} evaluations, before the signal"


@pytest.fixture(autouse=True, scope="session")
def _kernel_cache(tmp_path_factory):
    """Compiled native kernels go to a directory of this run, not the user's cache."""
    os.environ["QSTS_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernels"))
    yield
