"""Which defaults should `minimize` have? Each candidate on the README's five test
functions and on four harder cases, with nothing else set (gtol 1e-6, max_iter 10,000).

    python benchmarks/defaults.py

Prints iterations / evaluations where a run converged, and why it stopped where
it did not. The chosen default (Adam with the line search, lr 1e-3 as the
first step tried) is the only candidate that converges on every case.
"""
from __future__ import annotations

import argparse

import numpy as np

import qsts

FUNCTIONS = {  # name: (expression, start, data)
    "rosenbrock": ("(1-x)^2 + 100*(y-x^2)^2", {"x": -1.2, "y": 1.0}, None),
    "beale": ("(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2", {"x": 1.0, "y": 1.0}, None),
    "booth": ("(x + 2*y - 7)^2 + (2*x + y - 5)^2", {"x": 0.0, "y": 0.0}, None),
    "himmelblau": ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", {"x": 0.0, "y": 0.0}, None),
    "matyas": ("0.26*(x^2 + y^2) - 0.48*x*y", {"x": 1.0, "y": 2.0}, None),
    "scaled 1e6": ("1e6*(x-1)^2 + (y-2)^2", {"x": 0.0, "y": 0.0}, None),
    "quartic": ("x^4 + y^4", {"x": 1.0, "y": -2.0}, None),
}
_rng = np.random.default_rng(7)
_t = _rng.uniform(0, 10, 200)
FUNCTIONS["line fit"] = ("mean((a*t + b - y)^2)", {"a": 0.0, "b": 0.0},
                         {"t": _t, "y": 1.7 * _t - 3.2 + _rng.normal(0, 0.5, 200)})
_s = _rng.normal(0, 1, 2000)
FUNCTIONS["logistic fit"] = ("mean(log(1 + exp(-y*(a*t + b))))", {"a": 0.0, "b": 0.0},
                             {"t": _s, "y": np.where(_rng.uniform(size=2000) < 1 / (1 + np.exp(0.5 - 2 * _s)), 1.0, -1.0)})

CANDIDATES = {  # label: keyword arguments
    "adam + line search (chosen)": {},
    "gd + line search": {"method": "gd"},
    "momentum + line search": {"method": "momentum"},
    "nesterov + line search": {"method": "nesterov"},
    "adam, lr 0.1, no line search": {"line_search": False, "lr": 0.1},
    "adam, lr 1e-3, no line search (the old default)": {"line_search": False},
}


def main() -> None:
    names = list(FUNCTIONS)
    print(f"{'':50}" + "".join(f"{n:>14}" for n in names))
    for label, kwargs in CANDIDATES.items():
        cells = []
        for text, x0, data in FUNCTIONS.values():
            r = qsts.minimize(text, x0=x0, data=data, **kwargs)
            cells.append(f"{r.nit}/{r.nfev}" if r.converged else ("max_iter" if "max_iter" in r.message else "stopped"))
        print(f"{label:50}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help; no options
    main()
