"""Gradient descent with qsts: the original qsts example, then Rosenbrock with each method.

    python examples/optimize.py
"""
from __future__ import annotations

import qsts


def original() -> None:
    # The original C++ qsts stepped (x+y)*x*z*(x+y) downhill from (1, 1, 1) with step 0.01.
    # It has no minimum (x < 0 sends it to -inf), so the run is capped at 100 steps.
    r = qsts.minimize("(x+y)*x*z*(x+y)", x0={"x": 1.0, "y": 1.0, "z": 1.0}, method="gd", lr=0.01, max_iter=100,
                      line_search=False)
    print("original qsts example, 100 gd steps of 0.01 from (1, 1, 1):")
    print(f"  f {r.history[0]:.6g} -> {r.fun:.6g} at " + ", ".join(f"{k} = {v:.6g}" for k, v in r.x.items()))


def rosenbrock() -> None:
    text = "(1-x)^2 + 100*(y-x^2)^2"
    runs = [("defaults", "adam", 1e-3, True), ("gd + line search", "gd", 1.0, True),
            ("momentum", "momentum", 1e-3, False),
            ("nesterov", "nesterov", 1e-3, False), ("adam", "adam", 0.02, False),
            ("nesterov + line search", "nesterov", 1e-3, True), ("adam + line search", "adam", 0.01, True)]
    print(f"\nRosenbrock {text} from (-1.2, 1), gtol 1e-8:")
    print(f"  {'method':<22} {'lr':>6} {'iterations':>10} {'evaluations':>11} {'distance to (1, 1)':>19}")
    for label, method, lr, line_search in runs:
        r = qsts.minimize(text, x0={"x": -1.2, "y": 1.0}, method=method, lr=lr, line_search=line_search,
                          gtol=1e-8, max_iter=100_000)
        dist = max(abs(r.x["x"] - 1), abs(r.x["y"] - 1))
        print(f"  {label:<22} {lr:>6g} {r.nit:>10} {r.nfev:>11} {dist:>19.2e}  {r.message}")


if __name__ == "__main__":
    original()
    rosenbrock()
