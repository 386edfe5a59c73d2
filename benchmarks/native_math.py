"""The functions the native backend calls, measured: time per point and accuracy.

    pip install -e ".[bench]" && python benchmarks/native_math.py

The native backend calls the C library per point for every function that is
not a basic IEEE operation, the same functions Python's `math` calls, so its
results equal the scalar program's bit for bit. numpy runs its own SIMD loops
for most of them. For each function this prints nanoseconds per point on one
core (value only, 1M points, best of 5) for both, which is the cost table
`qsts.backends.COSTS` that backend="auto" chooses with, and the largest error in
ulps of each against a 50-digit mpmath oracle on random points of the
function's domain (in its usual range and far out in its tails).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import qsts

# function -> (qsts text, mpmath oracle, sampler of points)
WIDE = lambda rng, n: np.concatenate([rng.uniform(-10, 10, n // 2), rng.uniform(-700, 700, n // 2)])  # noqa: E731
UNIT = lambda rng, n: rng.uniform(-1, 1, n)  # noqa: E731
POSITIVE = lambda rng, n: 10.0 ** rng.uniform(-300, 300, n)  # noqa: E731
TRIG = lambda rng, n: np.concatenate([rng.uniform(-10, 10, n // 2), rng.uniform(-1e6, 1e6, n // 2)])  # noqa: E731


def rows(mp):
    return {
        "sin": ("sin(x)", mp.sin, TRIG), "cos": ("cos(x)", mp.cos, TRIG), "tan": ("tan(x)", mp.tan, TRIG),
        "asin": ("asin(x)", mp.asin, UNIT), "acos": ("acos(x)", mp.acos, UNIT), "atan": ("atan(x)", mp.atan, WIDE),
        "sinh": ("sinh(x)", mp.sinh, WIDE), "cosh": ("cosh(x)", mp.cosh, WIDE), "tanh": ("tanh(x)", mp.tanh, WIDE),
        "exp": ("exp(x)", mp.exp, WIDE), "log": ("log(x)", mp.log, POSITIVE),
        "pow": ("x^1.37", lambda x: mp.power(x, mp.mpf(1.37)), POSITIVE),
        "atan2": ("atan2(x, 0.5)", lambda x: mp.atan2(x, mp.mpf(0.5)), WIDE),
        "sigmoid": ("sigmoid(x)", lambda x: 1 / (1 + mp.exp(-x)), WIDE),
        "softplus": ("softplus(x)", lambda x: mp.log1p(mp.exp(x)), WIDE),
        "sqrt": ("sqrt(x)", mp.sqrt, POSITIVE),
        "log10": ("log10(x)", mp.log10, POSITIVE), "log2": ("log2(x)", lambda x: mp.log(x, 2), POSITIVE),
        "log1p": ("log1p(x)", mp.log1p, POSITIVE), "expm1": ("expm1(x)", mp.expm1, WIDE),
        "erf": ("erf(x)", mp.erf, WIDE), "erfc": ("erfc(x)", mp.erfc, WIDE),
        "cbrt": ("cbrt(x)", lambda x: mp.sign(x) * mp.cbrt(abs(x)), WIDE),  # mpmath's cbrt is complex for x < 0
        "hypot": ("hypot(x, 0.75)", lambda x: mp.hypot(x, mp.mpf(0.75)), WIDE),
    }


def ulps(got: np.ndarray, exact: list) -> float:
    """The largest |got - exact| in units of the last place of the double nearest exact."""
    worst = 0.0
    for g, e in zip(got, exact):
        nearest = float(e)
        if math.isinf(nearest) or nearest == 0.0:
            if g != nearest:
                worst = max(worst, math.inf) if abs(g) > 1e-300 else worst
            continue
        worst = max(worst, float(abs((g - e) / math.ulp(nearest))))
    return worst


def per_point(f, x: np.ndarray) -> float:
    f(x=x)
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        f(x=x)
        best = min(best, time.perf_counter() - t)
    return best / len(x) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=4000, help="points per function for the ulps (default 4000)")
    parser.add_argument("--only", nargs="*", help="these functions only (default: all)")
    opts = parser.parse_args()
    import mpmath as mp

    mp.mp.dps = 50
    rng = np.random.default_rng(0)
    x_time = np.random.default_rng(1).uniform(0.1, 0.9, 1 << 20)
    print("| function | native ns/point | numpy ns/point | native max ulps (= scalar) | numpy max ulps |")
    print("|---|---|---|---|---|")
    costs = {}
    for name, (text, oracle, sample) in rows(mp).items():
        if opts.only and name not in opts.only:
            continue
        native = qsts.compile(text, backend="native", threads=1)
        numpy = qsts.compile(text, backend="numpy", threads=1)
        xs = sample(rng, opts.points)
        exact = [oracle(mp.mpf(float(v))) for v in xs]
        got_native, got_numpy = native(x=xs), numpy(x=xs)
        scalar = np.array([native(x=float(v)) for v in xs])
        assert np.array_equal(got_native, scalar, equal_nan=True), f"{name}: native differs from the scalar program"
        t_native, t_numpy = per_point(native, x_time), per_point(numpy, x_time)
        costs[name] = (round(t_native, 1), round(t_numpy, 1))
        print(f"| {name} | {t_native:.2f} | {t_numpy:.2f} | {ulps(got_native, exact):.2f} | {ulps(got_numpy, exact):.2f} |")
    print("\nCOSTS =", {k: v for k, v in costs.items() if k != "sqrt"})


if __name__ == "__main__":
    main()
