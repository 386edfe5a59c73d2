"""What a call of a compiled function costs at one point, by the way it is called.

    python benchmarks/calls.py [EXPR]

Times f(...), f.grad(...) and f.value_and_grad(...) with one float per variable
by keyword and by position (the fast paths), a mix (the checked path), and, if
SymPy is installed, lambdify(cse=True, modules="math") of the value and the
gradient called by position: the same straight-line work, returning a list.
Best of 7 repeats, in nanoseconds per call.
"""
from __future__ import annotations

import argparse
import timeit

import qsts



def per_call(stmt: str, number: int = 200_000, **names) -> float:
    """Nanoseconds per run of `stmt` (a statement, so no wrapper's call is counted)."""
    return min(timeit.repeat(stmt, number=number, repeat=7, globals=names)) / number * 1e9


def sympy_row(f, text: str) -> tuple[str, float] | None:
    try:
        import sympy
    except ImportError:
        return None
    names = sympy.symbols(f.variables)
    e = sympy.sympify(text, locals=dict(zip(f.variables, names)))
    lam = sympy.lambdify(names, [e, *[sympy.diff(e, v) for v in names]], cse=True, modules="math")
    args = [0.3 + 0.2 * i for i in range(len(names))]
    return (f"sympy {sympy.__version__} lambdify(cse, math), value and gradient",
            per_call("lam(*args)", lam=lam, args=args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expr", nargs="?", default="(x+y)+x*(x+y)", help="the expression (default: %(default)s)")
    text = parser.parse_args().expr
    f = qsts.compile(text)
    args = [0.3 + 0.2 * i for i in range(len(f.variables))]
    # the calls as a program would write them: literal floats, literal keywords
    by_name = ", ".join(f"{v}={a!r}" for v, a in zip(f.variables, args))
    by_position = ", ".join(map(repr, args))
    mixed = ", ".join([repr(args[0])] + [f"{v}={a!r}" for v, a in zip(f.variables[1:], args[1:])])
    rows = []
    for call in ["f", "f.grad", "f.value_and_grad"]:
        rows.append((f"{call}(by keyword)", per_call(f"{call}({by_name})", f=f)))
        rows.append((f"{call}(by position)", per_call(f"{call}({by_position})", f=f)))
        rows.append((f"{call}(mixed: the checked path)", per_call(f"{call}({mixed})", 20_000, f=f)))
    extra = sympy_row(f, text)
    rows += [extra] if extra else [("sympy: not installed", float("nan"))]
    print(f"# {text}, qsts {qsts.__version__} from {qsts.__file__}")
    for label, ns in rows:
        print(f"{label:60s} {ns:8.1f} ns")


if __name__ == "__main__":
    main()
