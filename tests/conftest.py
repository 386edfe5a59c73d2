"""Shared oracles for the tests."""
import math

import numpy as np

import qsts


def central_difference(expr, name, values, h=None):
    """d expr / d name at `values` by central differences.

    The step h = 1e-5 * max(1, |x|) balances truncation (~h^2 f'''/6, about
    1e-10 relative) against rounding (~eps*|f|/h, about 1e-11): results are good
    to ~1e-8, so tests compare with rtol=1e-6.
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
