"""Least-squares fit of a curve to noisy data with qsts.

A Gaussian peak on a baseline, y = h*exp(-(t-m)^2/(2*s^2)) + c, sampled at 400
points with noise of standard deviation 0.05. `minimize` fits h, m, s and c
while t and y are held as data; the standard errors come from the model's
Jacobian at the fit, which qsts also computes. Exits 1 unless every parameter
is recovered within 4 standard errors.

    python examples/curve_fit.py
"""
from __future__ import annotations

import sys

import numpy as np

import qsts

MODEL = "h*exp(-(t - m)^2/(2*s^2)) + c"
TRUE = {"h": 1.8, "m": 4.2, "s": 0.7, "c": 0.3}
NOISE = 0.05


def main() -> int:
    rng = np.random.default_rng(42)
    t = np.linspace(0, 10, 400)
    y = qsts.evaluate(MODEL, t=t, **TRUE) + rng.normal(0, NOISE, t.size)

    # starting guesses read off the data, as one would by eye
    start = {"h": float(y.max() - np.median(y)), "m": float(t[np.argmax(y)]), "s": 1.0, "c": float(np.median(y))}
    r = qsts.minimize(f"mean(({MODEL} - y)^2)", x0=start, data={"t": t, "y": y},
                      method="adam", lr=0.01, gtol=1e-10, max_iter=200_000)
    print(f"fit {MODEL} to {t.size} noisy points: {r.message} after {r.nit} iterations")

    # Standard errors: sigma^2 (J^T J)^-1 with J the model's partials at each point.
    # Passing the parameters as arrays of the points' shape gives one partial per point.
    names = list(TRUE)
    f = qsts.compile(MODEL, wrt=names)
    per_point = f.grad(t=t, **{k: np.full(t.size, v) for k, v in r.x.items()})
    J = np.column_stack([per_point[k] for k in names])
    sigma2 = np.sum((f(t=t, **r.x) - y) ** 2) / (t.size - len(names))
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(J.T @ J)))

    print(f"{'':>4} {'true':>8} {'fitted':>10} {'std err':>9} {'|error|/se':>10}")
    ok = True
    for name, s in zip(names, se):
        z = abs(r.x[name] - TRUE[name]) / s
        ok &= z < 4
        print(f"{name:>4} {TRUE[name]:>8.4f} {r.x[name]:>10.5f} {s:>9.5f} {z:>10.2f}")
    print(f"noise: true {NOISE}, estimated {np.sqrt(sigma2):.4f}")
    print("recovered within 4 standard errors" if ok else "NOT recovered")
    return 0 if ok and r.converged else 1


if __name__ == "__main__":
    sys.exit(main())
