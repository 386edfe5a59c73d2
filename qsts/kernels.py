"""Scalar (float) and array (numpy) kernels with one domain policy: IEEE, as numpy.

Python's `math` raises where IEEE returns a value (`log(0)`, `exp(1000)`,
`1/0`, `(-8)**(1/3)`), so each scalar kernel tries the fast `math` call and, on
an exception, returns what numpy returns for the same input. Array kernels are
numpy ufuncs run under `np.errstate(all="ignore")` by the evaluators, so the
caller's numpy error state never turns a value into an exception.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

Scalar = Callable[..., float]


def ieee(fast: Callable[..., float], numpy_twin: Callable) -> Scalar:
    """`fast` where it answers, numpy's IEEE result where it raises."""

    def kernel(*args: float) -> float:
        try:
            return fast(*args)
        except (ArithmeticError, ValueError):
            with np.errstate(all="ignore"):
                return float(numpy_twin(*(np.float64(a) for a in args)))

    kernel.__name__ = getattr(fast, "__name__", "kernel")
    kernel.fast = fast  # compiled scalar code calls this and falls back on an exception
    return kernel


# ---------------------------------------------------------------- scalar

def div(a: float, b: float) -> float:
    return a / b


def pow_(a: float, b: float) -> float:
    """math.pow, but x^2 as x*x: correctly rounded, as numpy's square (libm's pow is
    off by an ulp at times), so every backend gives the same bits."""
    return a * a if b == 2.0 else math.pow(a, b)


def sign(a: float) -> float:
    return 1.0 if a > 0 else -1.0 if a < 0 else a * 0.0 + 0.0  # 0 -> 0.0, nan -> nan


def minimum(a: float, b: float) -> float:  # as np.minimum: NaN wins, a tie gives b
    return a if (a < b or a != a) else b


def maximum(a: float, b: float) -> float:
    return a if (a > b or a != a) else b


def heaviside(a: float, h0: float) -> float:
    return 1.0 if a > 0 else 0.0 if a < 0 else h0 if a == 0 else a


def relu(a: float) -> float:
    return a if (a > 0 or a != a) else 0.0


# Below this, exp(-a) overflows and sigmoid(a) = e^a/(1 + e^a) is e^a to rounding
# (a subnormal): both kernels return exp(a) there, so no tail is cut to 0.
SIGMOID_DEEP = -709.0


def sigmoid(a: float) -> float:
    """1/(1 + exp(-a)): each of its three roundings is relative, so every digit
    holds in both tails (sigmoid(-40) = 4.2e-18, not 0)."""
    if a < SIGMOID_DEEP:
        return math.exp(a)
    return 1.0 / (1.0 + math.exp(-a))  # nan stays nan


def hypot(a: float, b: float) -> float:
    """The C library's hypot, which numpy calls: the function the native backend
    calls per point, so every backend gives the same bits. Not math.hypot: that
    is Python's own algorithm, which differs from the C library's in the last bit
    at times (341 of 300,000 random points with glibc 2.36)."""
    with np.errstate(all="ignore"):  # overflow is inf, never a warning or an error whatever the caller's state
        return float(_np_hypot(a, b))


_np_hypot = np.hypot


def cbrt_fallback(a: float) -> float:
    """The real cube root for Pythons without math.cbrt (3.10), correctly signed
    (-0.0 included) and within an ulp: |a|**(1/3) is off by up to ~60 ulps far
    out (1/3 is not a double, and its error grows with log|a|), and one Newton
    step squares a relative error that small away. On 3.10 the native backend
    (the C library's cbrt) may then differ from the scalar program in the last bit."""
    if a == 0.0 or not math.isfinite(a):
        return a  # 0, -0.0, inf, -inf and nan are their own cube roots
    y = math.copysign(abs(a) ** (1.0 / 3.0), a)
    return y + (a / (y * y) - y) / 3.0  # no overflow: |y| is within 2**-342 .. 2**342


cbrt = getattr(math, "cbrt", cbrt_fallback)  # Python 3.11+: the C library's cbrt


def erf_array(a, out=None):
    """math.erf per point (numpy has no erf ufunc and scipy is no dependency):
    the C library's erf, as the scalar and native backends call it, at ~60 ns a point."""
    return _per_point(_erf, a, out)


def erfc_array(a, out=None):
    return _per_point(_erfc, a, out)


_erf, _erfc = np.frompyfunc(math.erf, 1, 1), np.frompyfunc(math.erfc, 1, 1)


def _per_point(ufunc, a, out):
    values = ufunc(np.asarray(a, dtype=np.float64))  # an object array (or a Python float for a scalar)
    if out is None:
        return np.asarray(values, dtype=np.float64)[()]
    out[...] = values
    return out


def softplus(a: float) -> float:
    if a != a:
        return a
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


# ---------------------------------------------------------------- array

# Array kernels take `out=` like ufuncs, so compiled programs allocate nothing per block.

def sigmoid_array(a, out=None):
    """As the scalar kernel, in place: no temporary array but in the rare deep tail."""
    out = np.negative(a, out=np.empty(np.shape(a)) if out is None else out)
    np.exp(out, out=out)
    np.add(out, 1.0, out=out)
    np.divide(1.0, out, out=out)
    if np.size(a) and np.fmin.reduce(np.ravel(a)) < SIGMOID_DEEP:  # fmin skips nan (it stays nan): np.min would not
        deep = np.less(a, SIGMOID_DEEP)
        out[deep] = np.exp(np.asarray(a)[deep])
    return out


def softplus_array(a, out=None):
    return np.logaddexp(0.0, a, out=out)


def power(a, b, out=None):
    """np.power, with x^2 as x*x: twice as fast, and the same correctly rounded square."""
    if type(b) is float and b == 2.0:
        return np.multiply(a, a, out=out)
    return np.power(a, b, out=out)


def relu_array(a, out=None):
    return np.maximum(a, 0.0, out=out)


# ---------------------------------------------------------------- sums over the points
# Every sum over the points (reductions, and a scalar's summed partial) adds per
# CHUNK consecutive points, then adds the chunk sums exactly and rounds once: so
# neither blocks, threads nor the reference interpreter change a bit of it.

CHUNK = 256


def chunk_sums(flat: np.ndarray, out: np.ndarray) -> None:
    """Write the sums of `flat` per CHUNK points (the last chunk may be short) into `out`."""
    m = len(flat)
    whole = m // CHUNK * CHUNK
    if whole:
        np.sum(flat[:whole].reshape(-1, CHUNK), axis=1, out=out[:whole // CHUNK])
    if whole < m:
        out[whole // CHUNK] = flat[whole:].sum()


def exact_total(sums: np.ndarray) -> float:
    """The sum of `sums`, rounded once (so independent of their order)."""
    try:
        return math.fsum(sums)
    except (OverflowError, ValueError):  # an intermediate overflow, or inf - inf: ExactSum has the answer
        return ExactSum.of(sums).rounded()


class ExactSum:
    """A sum of floats held exactly, so that pieces of a sum added in any order
    and any grouping (Dask's tree reductions) round once to `exact_total`'s bits.

    Finite values are an integer multiple of 2**-SCALE (every double is one);
    inf and nan add as IEEE does. `rounded()` gives math.fsum's answer: both
    round the exact sum once, to nearest even. It is also the answer where fsum
    gives up (an intermediate overflow: the exact sum; beyond float range: inf).
    """

    SCALE = 1126  # 2**-1126 = the last bit of a 53-bit mantissa at the smallest exponent (frexp's -1073)
    __slots__ = ("scaled", "special", "count", "negative_zeros")

    def __init__(self, scaled: int = 0, special: float = 0.0, count: int = 0, negative_zeros: bool = True):
        self.scaled = scaled                  # the finite values' sum, times 2**SCALE
        self.special = special                # the sum of the infs and nans (0.0: none)
        self.count = count                    # how many finite values
        self.negative_zeros = negative_zeros  # whether every finite value is -0.0 (fsum may keep the sign)

    @classmethod
    def of(cls, values) -> "ExactSum":
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        special = 0.0
        finite = np.isfinite(v)
        if not finite.all():
            with np.errstate(all="ignore"):
                special = float(np.sum(v[~finite]))
            v = v[finite]
        mantissa, exponent = np.frexp(v)  # v = m * 2**(e - 53) with m = mantissa * 2**53, a 53-bit integer
        m = np.ldexp(mantissa, 53, out=mantissa).astype(np.int64)
        exponent += cls.SCALE - 53  # >= 0: v = m * 2**(exponent - SCALE)
        scaled = 0
        # per exponent, the high and the low 26 bits apart, added as floats: exact below 2**53, so in
        # pieces of 2**25 values (no sort: the temporaries of each call are few, as a Dask worker wants)
        for at in range(0, len(v), 1 << 25):
            piece, where = m[at:at + (1 << 25)], exponent[at:at + (1 << 25)]
            high = np.bincount(where, weights=piece >> 26)
            low = np.bincount(where, weights=piece & ((1 << 26) - 1))
            scaled += sum(((int(high[k]) << 26) + int(low[k])) << k for k in np.flatnonzero(high).tolist())
            scaled += sum(int(low[k]) << k for k in np.flatnonzero((high == 0) & (low != 0)).tolist())
        negative_zeros = scaled == 0 and not np.any(v) and bool(np.all(np.signbit(v)))
        return cls(scaled, special, len(v), negative_zeros)

    def __add__(self, other: "ExactSum") -> "ExactSum":
        return ExactSum(self.scaled + other.scaled, self.special + other.special, self.count + other.count,
                        self.negative_zeros and other.negative_zeros)

    def rounded(self) -> float:
        """The sum rounded once, as math.fsum rounds it."""
        if self.special != 0.0:  # also nan
            return self.special
        if self.scaled == 0:
            return math.fsum([-0.0] if self.count and self.negative_zeros else [])
        # exact pieces of 53 bits each, from the top: fsum rounds their exact sum once
        magnitude, pieces = abs(self.scaled), []
        try:
            while magnitude:
                low = max(0, magnitude.bit_length() - 53)
                top = magnitude >> low
                pieces.append(math.ldexp(float(top), low - self.SCALE))
                magnitude -= top << low
            total = math.fsum(pieces)
        except OverflowError:  # beyond float range
            total = math.inf
        return -total if self.scaled < 0 else total


def points_sum(values: np.ndarray) -> float:
    """The sum over all points of `values` (C order), as compiled programs compute it."""
    flat = np.ravel(values)
    sums = np.empty(-(-len(flat) // CHUNK))
    chunk_sums(flat, sums)
    return exact_total(sums)
