"""Derivatives in the tails: qsts and JAX against 50-digit values, side by side.

    pip install -e ".[bench]" && python benchmarks/tails.py

d/dx sigmoid(x) and d/dx tanh(x) where sigmoid and tanh round to 1 (or -1):
rules such as y*(1 - y) and 1 - y^2, JAX's, give exactly 0 there. The 50-digit
reference is mpmath's. Relative error 1 means no correct digit.
"""
from __future__ import annotations

import argparse

import mpmath

import qsts

mpmath.mp.dps = 50
POINTS = [20.0, 40.0, 700.0, -20.0, -40.0, -700.0]
EXACT = {
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)) / (1 + mpmath.exp(x)),
    "tanh": lambda x: 1 / mpmath.cosh(x) ** 2,
}


def jax_derivatives():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
    except ImportError:
        print("JAX is not installed: pip install -e '.[bench]'")
        return {}
    return {"sigmoid": jax.grad(jax.nn.sigmoid), "tanh": jax.grad(jnp.tanh)}


def relative(got: float, exact) -> str:
    if float(exact) == 0:
        return "rounded" if got == 0 else "inf"  # below float64: 0 is the correctly rounded value
    return f"{float(abs(got - exact) / abs(exact)):.1e}"


def main() -> None:
    jax = jax_derivatives()
    print(f"{'':>9} {'x':>6} {'50 digits':>24} {'qsts':>24} {'rel.err':>8} {'JAX':>24} {'rel.err':>8}")
    for name, exact_of in EXACT.items():
        for x in POINTS:
            exact = exact_of(mpmath.mpf(x))
            ours = qsts.grad(f"{name}(x)", x=x)["x"]
            row = f"{name:>9} {x:>6g} {mpmath.nstr(exact, 17):>24} {ours!r:>24} {relative(ours, exact):>8}"
            if name in jax:
                theirs = float(jax[name](x))
                row += f" {theirs!r:>24} {relative(theirs, exact):>8}"
            print(row)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help; no options
    main()
