"""The `qsts` command line (SPEC section 5). Exit 0 on success, 2 on bad input."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Sequence

from . import api
from .errors import QstsError
from .graph import topological
from .printing import graph_dot, graph_text, number


def _bindings(pairs: Sequence[str]) -> dict[str, float]:
    """`x=1 y=pi/2` -> {'x': 1.0, 'y': 1.57...}; a value may be any constant expression."""
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise QstsError(f"expected name=value, got {pair.strip()!r}")
        if name in values:
            raise QstsError(f"{name} is given twice")
        try:
            if api.parse(text).variables:
                raise QstsError(f"{text!r} is not a number or a constant expression such as pi/2")
            values[name] = api.evaluate(text)
        except QstsError as err:
            raise QstsError(f"bad value for {name}: {err}") from None
    return values


def _fmt(value) -> str:
    """A result: every digit of a float (not `pi`), arrays as numpy prints them."""
    return number(value, names=False) if isinstance(value, float) else str(value)


def _data(args, given: dict) -> dict:
    """Columns of `--data FILE.csv` for the expression's variables, by header name."""
    if not getattr(args, "data", None):
        return {}
    from .data import columns_for, read_csv

    return columns_for(api.parse(args.expr).variables, read_csv(args.data), given, args.data)


def cmd_eval(args) -> None:
    values = _bindings(args.values)
    print(_fmt(api.evaluate(args.expr, **values, **_data(args, values))))


def cmd_grad(args) -> None:
    values = _bindings(args.values)
    data = _data(args, values)
    if data:  # partials for the NAME=VALUE variables; the columns are data
        e = api.parse(args.expr)
        f = api._compiled(e, tuple(v for v in e.variables if v not in data))
        value, partials = f.value_and_grad(**values, **data)
    else:
        value, partials = api.value_and_grad(args.expr, **values)
    print(f"value = {_fmt(value)}")
    for name, p in partials.items():
        print(f"d/d{name} = {_fmt(p)}")


def cmd_diff(args) -> None:
    print(api.diff(args.expr, args.var.strip()))


def cmd_postfix(args) -> None:
    print(" ".join(_fmt(t) for t in api.to_postfix(args.expr)))


def cmd_graph(args) -> None:
    e = api.parse(args.expr)
    roots, names = [e.root], ["f"]
    if args.grad:
        roots += [g.root for g in e.gradient()]
        names += [f"df/d{v}" for v in e.variables]
    if args.render:
        render(graph_dot(roots, names), args.render)
        print(f"wrote {args.render}")
        return
    if args.dot:
        print(graph_dot(roots, names))
        return
    print(graph_text(roots, names))
    if args.grad:
        print(f"{len(topological(roots))} nodes in the DAG of value and gradient")
    else:
        print(f"{e.node_count} nodes in the DAG; {e.tree_size} as a tree")


def cmd_minimize(args) -> None:
    from .optimize import minimize

    x0 = _bindings(args.values)
    data = _data(args, x0)
    interactive = sys.stdout.isatty()
    every = max(1, args.max_iter // 20)
    state = {"last": 0.0}
    norms: list[float] = []

    def progress(r) -> None:
        norm = max((abs(v) for v in r.grad.values()), default=0.0)
        norms.append(norm)
        now = time.monotonic()
        if interactive and now - state["last"] > 0.1:  # a line that updates in place
            state["last"] = now
            print(f"\riter {r.nit:>7}  f = {r.fun:<24.17g} |grad| = {norm:.3g}   ", end="", flush=True)
        elif not interactive and r.nit % every == 0:
            print(f"iter {r.nit}  f = {r.fun!r}  |grad| = {norm:.3g}")

    r = minimize(args.expr, x0, method=args.method, lr=args.lr, max_iter=args.max_iter, gtol=args.gtol,
                 ftol=args.ftol, line_search=args.line_search, callback=progress, data=data)
    if interactive:
        print()
    print(f"{'converged' if r.converged else 'not converged'}: {r.message}")
    print(f"iterations {r.nit}, evaluations {r.nfev}")
    print(f"f = {_fmt(r.fun)}")
    for name, v in r.x.items():
        print(f"{name} = {_fmt(v)}")
    if args.plot:
        plot(r.history, norms, args.plot)
        print(f"wrote {args.plot}")


def plot(values: list[float], norms: list[float], path: str) -> None:
    """Value and gradient norm against iteration, to a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise QstsError("--plot needs matplotlib: pip install 'qsts[plot]'") from None
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    top.semilogy(range(len(values)), [max(abs(v), 1e-300) for v in values])
    top.set_ylabel("|f|")
    bottom.semilogy(range(1, len(norms) + 1), [max(n, 1e-300) for n in norms])
    bottom.set_ylabel("max |partial|")
    bottom.set_xlabel("iteration")
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as err:
        raise QstsError(f"cannot write the plot to {path!r}: {err}") from None
    finally:
        plt.close(fig)


def render(dot_source: str, path: str) -> None:
    """Draw DOT text to an .svg or .png file with Graphviz's `dot` program."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise QstsError(f"--render writes .svg or .png files, not {path!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise QstsError("--render needs Graphviz's `dot` program, which is not installed "
                        "(e.g. `apt-get install graphviz`); `--dot` prints the DOT text instead")
    done = subprocess.run([dot, f"-T{fmt}", "-o", path], input=dot_source, text=True, capture_output=True)
    if done.returncode:
        raise QstsError(f"dot failed: {done.stderr.strip()[:200]}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qsts", description="Exact derivatives of math strings.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, func, help, values=True):
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("expr", metavar="EXPR", help='an expression, e.g. "(x+y)+x*(x+y)"')
        if values:
            c.add_argument("values", nargs="*", metavar="NAME=VALUE", help="variable bindings, e.g. x=1 y=pi/2")
        c.set_defaults(func=func)
        return c

    data_help = "bind the variables named in FILE.csv's header to its columns (arrays)"
    command("eval", cmd_eval, "print the value").add_argument("--data", metavar="FILE.csv", help=data_help)
    command("grad", cmd_grad, "print the value and each partial derivative").add_argument(
        "--data", metavar="FILE.csv", help=data_help)
    command("diff", cmd_diff, "print the symbolic derivative", values=False).add_argument(
        "var", metavar="VAR", help="the variable to differentiate by")
    command("postfix", cmd_postfix, "print the postfix (RPN) form", values=False)
    g = command("graph", cmd_graph, "show the DAG with its shared nodes", values=False)
    g.add_argument("--dot", action="store_true", help="print Graphviz DOT instead of text")
    g.add_argument("--grad", action="store_true", help="include the gradient's graph")
    g.add_argument("--render", metavar="FILE", help="draw the graph to FILE.svg or FILE.png with Graphviz's dot")
    m = command("minimize", cmd_minimize, "minimize by gradient descent from NAME=VALUE starts")
    m.add_argument("--method", default="adam", choices=["gd", "momentum", "nesterov", "adam"])
    m.add_argument("--lr", type=float, default=None, help="step size (default: 1e-3)")
    m.add_argument("--max-iter", type=int, default=10_000)
    m.add_argument("--gtol", type=float, default=1e-6, help="stop when every partial is at most this")
    m.add_argument("--ftol", type=float, default=0.0, help="stop when the relative progress is at most this")
    m.add_argument("--line-search", action="store_true", help="backtracking (Armijo) line search")
    m.add_argument("--plot", metavar="FILE.png", help="draw value and gradient norm against iteration")
    m.add_argument("--data", metavar="FILE.csv", help="hold the variables named in FILE.csv's header at its "
                   "columns and fit the ones given NAME=VALUE starts")
    r = sub.add_parser("repl", help="an interactive session (also: qsts with no arguments)")
    r.set_defaults(func=lambda args: None, repl=True)
    return p


def _version() -> str:
    from . import __version__

    return f"qsts {__version__}"


_FLAGS = {"-h", "--help", "--dot", "--grad", "--render", "--version", "--", "--method", "--lr", "--max-iter",
          "--gtol", "--ftol", "--line-search", "--plot", "--data"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # An expression may start with "-" ("-x^2"); a leading space keeps argparse from
    # reading it as an option, and the grammar ignores the space.
    argv = [" " + a if a.startswith("-") and a.split("=", 1)[0] not in _FLAGS else a for a in argv]
    parser = _parser()
    # NAME=VALUE pairs may also follow options (`minimize EXPR --data f.csv a=0`),
    # which argparse leaves over once the positional list has ended
    args, extra = parser.parse_known_args(argv)
    if extra and (not hasattr(args, "values") or any(a.startswith("-") for a in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.values = list(args.values) + extra
    if args.command is None or getattr(args, "repl", False):
        from .repl import main as repl

        return repl()
    try:
        args.func(args)
        sys.stdout.flush()
    except QstsError as err:
        print(f"qsts: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `qsts graph ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
