"""Parse and build time against input size: building must be linear.

Generates random expressions of 0.25, 0.5 and 1 MB (fixed seed), then times
text -> postfix (Lark LALR) and postfix -> unique-node table separately, and the
reverse-mode gradient graph of the 1 MB one. Prints seconds and MB/s per size;
linear means the MB/s column stays flat.

    python benchmarks/build_linear.py
"""
from __future__ import annotations

import argparse
import random
import sys
import time

import qsts
from qsts.diff import partials
from qsts.postfix import build

FUNCS = ["sin", "cos", "exp", "log", "sqrt", "tanh", "sigmoid", "abs"]


def term(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([f"x{rng.randrange(50)}", f"y{rng.randrange(50)}", f"{rng.uniform(0, 10):.3f}"])
    if r < 0.55:
        return f"{rng.choice(FUNCS)}({term(rng, depth + 1)})"
    op = rng.choice(["+", "-", "*", "/", "^"])
    return f"({term(rng, depth + 1)} {op} {term(rng, depth + 1)})"


def expression(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts, n = [], 0
    while n < size:
        t = term(rng)
        parts.append(t)
        n += len(t) + 3
    return " + ".join(parts)


def timed(f, *args):
    t0 = time.perf_counter()
    out = f(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    qsts.to_postfix("x")  # build the parser once, outside the timings
    print(f"{'size':>9} {'parse s':>8} {'build s':>8} {'total s':>8} {'MB/s':>6} {'tokens':>8} {'nodes':>8}")
    for mb in (0.25, 0.5, 1.0):
        text = expression(int(mb * 1_000_000))
        postfix, t_parse = timed(qsts.to_postfix, text)
        (root, names), t_build = timed(build, postfix)
        total = t_parse + t_build
        nodes = qsts.Expression(root, names).node_count
        print(f"{len(text) / 1e6:>7.2f}MB {t_parse:>8.2f} {t_build:>8.2f} {total:>8.2f} "
              f"{len(text) / 1e6 / total:>6.2f} {len(postfix):>8} {nodes:>8}")
    grads, t_grad = timed(partials, root, names)
    print(f"gradient graph of the 1 MB expression ({len(names)} variables): {t_grad:.2f} s")
    print(f"python {sys.version.split()[0]}, lark {__import__('lark').__version__}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help; no options
    main()
