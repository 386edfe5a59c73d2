"""Logistic regression with qsts on a small synthetic set.

Labels y in {-1, +1} are drawn with P(y = 1 | t) = sigmoid(a*t + b) for known
a and b; `minimize` fits a and b to the mean logistic loss
mean(log(1+exp(-y*(a*t+b)))) with t and y held as data. Exits 1 unless both
are recovered within 4 standard errors (from the Fisher information).

    python examples/logistic_regression.py
"""
from __future__ import annotations

import sys

import numpy as np

import qsts

LOSS = "mean(log(1 + exp(-y*(a*t + b))))"
TRUE = {"a": 2.0, "b": -0.5}


def main() -> int:
    rng = np.random.default_rng(0)
    t = rng.normal(0, 1.5, 2000)
    p = qsts.evaluate("sigmoid(a*t + b)", t=t, **TRUE)
    y = np.where(rng.uniform(size=t.size) < p, 1.0, -1.0)

    r = qsts.minimize(LOSS, x0={"a": 0.0, "b": 0.0}, data={"t": t, "y": y},
                      method="nesterov", lr=0.5, gtol=1e-10, max_iter=50_000)
    print(f"minimize {LOSS} over {t.size} labelled points: {r.message} after {r.nit} iterations")

    # standard errors from the Fisher information, sum of p(1-p) [t 1][t 1]^T at the fit
    fitted = qsts.evaluate("sigmoid(a*t + b)", t=t, **r.x)
    X = np.column_stack([t, np.ones_like(t)])
    se = np.sqrt(np.diag(np.linalg.inv((X * (fitted * (1 - fitted))[:, None]).T @ X)))

    print(f"{'':>2} {'true':>7} {'fitted':>9} {'std err':>8} {'|error|/se':>10}")
    ok = True
    for (name, truth), s in zip(TRUE.items(), se):
        z = abs(r.x[name] - truth) / s
        ok &= z < 4
        print(f"{name:>2} {truth:>7.3f} {r.x[name]:>9.4f} {s:>8.4f} {z:>10.2f}")
    accuracy = np.mean(np.where(fitted > 0.5, 1.0, -1.0) == y)
    print(f"loss {r.fun:.6f}; training accuracy {accuracy:.1%}")
    print("recovered within 4 standard errors" if ok else "NOT recovered")
    return 0 if ok and r.converged else 1


if __name__ == "__main__":
    sys.exit(main())
