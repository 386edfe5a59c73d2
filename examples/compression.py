"""Exponential text, linear graph: why qsts hash-conses.

Each level uses the previous expression twice, e_k = sin(e_{k-1})*e_{k-1} + 1,
so the text doubles per level while the DAG grows by three nodes. A
tree-walking evaluator (here: a stack machine over the postfix, one step per
tree node, the way a naive interpreter runs) pays for every copy; qsts
evaluates each shared node once, value and gradient together.

    python examples/compression.py
"""
from __future__ import annotations

import math
import operator
import timeit

import qsts

STEP = {"+": operator.add, "*": operator.mul, "sin": math.sin}


def tree_walk(postfix: list, x: float) -> float:
    """Value by walking the whole tree: one step per postfix token."""
    stack: list[float] = []
    for t in postfix:
        if t == "x":
            stack.append(x)
        elif isinstance(t, float):
            stack.append(t)
        elif t == "sin":
            stack.append(math.sin(stack.pop()))
        else:
            b, a = stack.pop(), stack.pop()
            stack.append(STEP[t](a, b))
    return stack[0]


def best(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=3)) / number


def main() -> None:
    print(f"{'level':>5} {'chars':>9} {'tree_size':>10} {'node_count':>10} {'tree walk':>11} "
          f"{'qsts value+grad':>16} {'speed-up':>9}")
    text = "x"
    for level in range(1, 15):
        text = f"sin({text})*({text})+1"
        if level % 2:
            continue
        e = qsts.parse(text)
        postfix = qsts.to_postfix(text)
        f = qsts.compile(e)
        assert math.isclose(tree_walk(postfix, 0.5), f(x=0.5), rel_tol=1e-12)
        walk = best(lambda: tree_walk(postfix, 0.5), 3)
        compiled = best(lambda: f.value_and_grad(x=0.5), 200)
        print(f"{level:>5} {len(text):>9,} {e.tree_size:>10,} {e.node_count:>10} {walk * 1e6:>9.0f}us "
              f"{compiled * 1e6:>14.2f}us {walk / compiled:>8.0f}x")


if __name__ == "__main__":
    main()
