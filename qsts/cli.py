"""The `qsts` command line (SPEC section 5).

Exit status: 0 on success (for `minimize`: converged), 1 when `minimize`
stopped without converging, 2 on bad input, 130 when interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from typing import Sequence

import numpy as np

from . import api, lazy, optimize, repl
from .data import read_columns
from .errors import QstsError
from .printing import number
from .values import ieee_word, is_lazy
from .version import __version__


DEFAULT_TIMEOUT = 10.0  # seconds to wait for --scheduler
EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_STATUS = ("exit status: 0 on success (for minimize: converged), 1 when minimize stopped without "
               "converging, 2 on bad input, 130 when interrupted (Ctrl-C)")


def _bindings(pairs: Sequence[str]) -> dict[str, float]:
    """`x=1 y=pi/2` -> {'x': 1.0, 'y': 1.57...}; a value may be any constant
    expression, or inf, -inf or nan."""
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep and os.path.exists(pair):  # `--data parts/*.csv` unquoted: the shell gave the files
            raise QstsError(f"expected name=value, got the file {pair!r}; quote a glob (--data 'parts/*.csv') "
                            "so that the shell leaves it to qsts")
        if not sep or not name.isidentifier():
            raise QstsError(f"expected name=value, got {pair.strip()!r}")
        if name in values:
            raise QstsError(f"{name} is given twice")
        word = ieee_word(text)
        if word is not None:
            values[name] = word
            continue
        try:
            if api.parse(text).variables:
                raise QstsError(f"{text!r} is not a number or a constant expression such as pi/2")
            values[name] = api.evaluate(text)
        except QstsError as err:
            raise QstsError(f"bad value for {name}: {err}") from None
    return values


def _fmt(value) -> str:
    """A result: every digit of a float (not `pi`), inf, -inf and nan as the API's
    floats print, arrays as numpy prints them."""
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else number(value, names=False)
    return str(value)


def _data(args, given: dict) -> dict:
    """Columns of `--data PATH` for the expression's variables, by header name
    (dask arrays for a dataset: a glob, Parquet or a directory)."""
    if not getattr(args, "data", None):
        return {}
    return read_columns(args.data, api.parse(args.expr).variables, given)


def _computed(results, data: dict, what: str):
    """`results` computed in one Dask graph if the data are lazy (a 0-d result
    as a float, as the in-memory call gives it), else as they are."""
    if not any(is_lazy(v) for v in data.values()):
        return results
    results = lazy.compute(results, what)
    if isinstance(results, tuple):  # (value, partials)
        return _scalar(results[0]), {k: _scalar(v) for k, v in results[1].items()}
    return _scalar(results)


def _scalar(value):
    """A computed 0-d array as a float, as the in-memory call gives a sum."""
    return float(value) if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0 else value


def cmd_eval(args) -> None:
    values = _bindings(args.values)
    data = _data(args, values)
    print(_fmt(_computed(api.evaluate(args.expr, **values, **data), data, f"evaluating {args.expr}")))


def cmd_grad(args) -> None:
    values = _bindings(args.values)
    data = _data(args, values)
    if data:  # partials for the NAME=VALUE variables; the columns are data
        e = api.parse(args.expr)
        f = api.compiled(e, tuple(v for v in e.variables if v not in data))
        value, partials = _computed(f.value_and_grad(**values, **data), data, f"the gradient of {args.expr}")
    else:
        value, partials = api.value_and_grad(args.expr, **values)
    print(f"value = {_fmt(value)}")
    for name, p in partials.items():
        print(f"d/d{name} = {_fmt(p)}")


def cmd_diff(args) -> None:
    print(api.diff(args.expr, args.var.strip()))


def cmd_postfix(args) -> None:
    # a number as the grammar reads it back (1e999, not inf); the result commands print floats as Python does
    print(" ".join(number(t, names=False) if isinstance(t, float) else t for t in api.to_postfix(args.expr)))


def cmd_graph(args) -> None:
    g = api.parse(args.expr).graph(grad=args.grad)
    if args.render:
        print(f"wrote {g.render(args.render)}")
    elif args.dot:
        print(g.dot)
    else:
        print(g.text)


def cmd_export(args) -> None:
    text = api.compile(args.expr).export(args.lang, args.name)
    if not args.output:
        sys.stdout.write(text)
        return
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as err:
        raise QstsError(f"cannot write {args.output!r}: {err.strerror or err}") from None
    print(f"wrote {args.output}")


def cmd_minimize(args) -> int:
    x0 = _bindings(args.values)
    data = _data(args, x0)
    plot_path = plot_target(args.plot) if args.plot is not None else None  # a bad --plot fails now, not after
    interactive = sys.stdout.isatty()
    every = max(1, args.max_iter // 20)
    state = {"last": 0.0, "header": False}
    lr = optimize.DEFAULT_LR[args.method] if args.lr is None else args.lr

    def header() -> None:  # once the input has passed minimize's checks: an error prints alone
        if not state["header"]:
            state["header"] = True
            print(f"minimizing over {', '.join(x0) or 'nothing'}: {args.method}"
                  f"{' with line search' if args.line_search else ''}, lr {lr:g}, max_iter {args.max_iter}, "
                  f"gtol {args.gtol:g}", flush=True)

    def progress(r) -> None:
        header()
        norm = r.grad_norms[-1]  # max |partial|, what gtol tests
        now = time.monotonic()
        if interactive and now - state["last"] > 0.1:  # a line that updates in place
            state["last"] = now
            print(f"\riter {r.nit:>7}  f = {r.fun:<24.17g} |grad| = {norm:.3g}   ", end="", flush=True)
        elif not interactive and r.nit % every == 0:
            print(f"iter {r.nit}  f = {r.fun!r}  |grad| = {norm:.3g}")

    r = optimize.minimize(args.expr, x0, method=args.method, lr=args.lr, max_iter=args.max_iter, gtol=args.gtol,
                          ftol=args.ftol, line_search=args.line_search, callback=progress, data=data)
    header()  # a run that stopped before its first iteration
    if interactive and state["last"]:
        print()
    print(f"{'converged' if r.converged else 'not converged'}: {r.message}")
    print(f"iterations {r.nit}, evaluations {r.nfev}")
    print(f"f = {_fmt(r.fun)}")
    for name, v in r.x.items():
        print(f"{name} = {_fmt(v)}")
    for name, v in r.grad.items():
        print(f"d/d{name} = {_fmt(v)}")
    if plot_path:
        plot(r, plot_path)
        print(f"wrote {plot_path}")
    if r.message == optimize.INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_OK if r.converged else EXIT_NOT_CONVERGED


@contextlib.contextmanager
def scheduler(args):
    """With `--scheduler ADDRESS`: a `distributed.Client` connected for the
    command's computations (Dask's default scheduler until it closes)."""
    address = getattr(args, "scheduler", None)
    if not address:
        yield
        return
    with connect(address, args.timeout):
        yield


def connect(address: str, timeout: float):
    """A `distributed.Client` of the scheduler at `address`, or a QstsError
    within `timeout` seconds. Client's own timeout leaves its handshake
    unbounded (a server that accepts and never answers hangs it), so a first
    connection is made here under a deadline that covers it."""
    try:
        import asyncio
        import distributed
        from distributed.comm import connect as comm_connect
    except ImportError:
        raise QstsError("--scheduler needs dask.distributed: pip install 'qsts[dask]'") from None

    async def handshake():
        comm = await asyncio.wait_for(comm_connect(address, timeout=timeout), timeout)
        await comm.close()

    deadline = time.monotonic() + timeout
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(handshake())
        client = distributed.Client(address, timeout=max(deadline - time.monotonic(), 0.1))
    except Exception as err:  # an address distributed cannot parse, a refused or silent port, a stranger answering
        if isinstance(err, (TimeoutError, asyncio.TimeoutError)) or str(err).startswith("Timed out"):
            raise QstsError(f"no Dask scheduler answered at {address} within {timeout:g} s (--timeout)") from None
        raise QstsError(f"cannot connect to a Dask scheduler at {address} (--timeout {timeout:g} s): "
                        f"{type(err).__name__}: {err}") from None
    finally:
        loop.close()  # not waiting for a name lookup still running in its executor
    try:  # a scheduler without workers would take the work and never answer
        client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 0.1))
    except Exception:  # distributed's TimeoutError, or the connection lost meanwhile
        client.close()
        raise QstsError(f"the Dask scheduler at {address} has no workers (waited {timeout:g} s, --timeout)") from None
    return client


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise QstsError("--plot needs matplotlib: pip install 'qsts[plot]'") from None
    return plt


def plot_target(path: str) -> str:
    """The file `--plot PATH` will write, checked before the run: matplotlib
    imports, it can write that format, and the file can be created (by creating
    it). A path without an extension gets `.png`."""
    plt = _pyplot()
    if not path.strip():
        raise QstsError("--plot needs a file name, e.g. --plot run.png")
    if os.path.isdir(path):
        raise QstsError(f"--plot {path!r} is a directory; give a file name")
    ext = os.path.splitext(path)[1]
    if os.path.exists(path) and not os.path.isfile(path):  # a device or a pipe (opening one may block)
        raise QstsError(f"--plot {path!r} is not a regular file; give a file name such as run.png")
    if not ext:
        path, ext = path + ".png", ".png"
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if ext.lstrip(".").lower() not in formats:
        raise QstsError(f"--plot cannot write {ext} files; use one of "
                        + ", ".join("." + f for f in sorted(formats)))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise QstsError(f"--plot: the directory {folder!r} does not exist")
    target = os.path.realpath(path)  # a symlink is written through, as savefig will
    if os.path.exists(target) and not os.path.isfile(target):
        raise QstsError(f"--plot {path!r} is not a regular file; give a file name such as run.png")
    existed = os.path.exists(target)
    try:  # the one sure test of writing (permissions, a read-only disk, ACLs, root): do it
        with open(target, "ab"):
            pass
    except OSError as err:
        raise QstsError(f"--plot: cannot write {path!r}: {err.strerror}") from None
    if not existed:
        os.remove(target)  # no empty file left behind if the run then fails
    return path


def plot(result: optimize.OptimizeResult, path: str) -> None:
    """`result.plot()` written to `path` (checked before the run by `plot_target`)."""
    fig = result.plot()
    try:
        fig.savefig(path)
    except (OSError, ValueError, OverflowError) as err:
        raise QstsError(f"cannot write the plot to {path!r}: {err}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qsts", description="Exact derivatives of math strings.", epilog=EXIT_STATUS)
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, func, help, values=True):
        c = sub.add_parser(name, help=help, description=help, epilog=EXIT_STATUS)
        c.add_argument("expr", metavar="EXPR", help='an expression, e.g. "(x+y)+x*(x+y)"')
        if values:
            c.add_argument("values", nargs="*", metavar="NAME=VALUE", help="variable bindings, e.g. x=1 y=pi/2")
        c.set_defaults(func=func)
        return c

    _data_flags(command("eval", cmd_eval, "print the value"), DATA_HELP)
    _data_flags(command("grad", cmd_grad, "print the value and each partial derivative"), DATA_HELP)
    command("diff", cmd_diff, "print the symbolic derivative", values=False).add_argument(
        "var", metavar="VAR", help="the variable to differentiate by")
    command("postfix", cmd_postfix, "print the postfix (RPN) form", values=False)
    g = command("graph", cmd_graph, "show the DAG with its shared nodes", values=False)
    view = g.add_mutually_exclusive_group()  # --render prints only the file's name
    view.add_argument("--dot", action="store_true", help="print Graphviz DOT instead of text")
    g.add_argument("--grad", action="store_true", help="include the gradient's graph")
    view.add_argument("--render", metavar="FILE", help="draw the graph to FILE.svg, .png, .pdf, ... with Graphviz's dot")
    x = command("export", cmd_export, "print C or Python (numpy only) source of the value and gradient",
                values=False)
    x.add_argument("--lang", required=True, choices=["c", "python"], help="the language of the source")
    x.add_argument("--name", default="qsts_fn", help="the function's name (default: qsts_fn)")
    x.add_argument("-o", "--output", metavar="FILE", help="write the source to FILE instead of printing it")
    m = command("minimize", cmd_minimize, "minimize by gradient descent from NAME=VALUE starts")
    m.add_argument("--method", default=optimize.DEFAULT_METHOD, choices=list(optimize.METHODS),
                   help=f"(default: {optimize.DEFAULT_METHOD})")
    m.add_argument("--lr", type=float, default=None,
                   help="step size; with the line search, the first step tried (default: 1e-3)")
    m.add_argument("--max-iter", type=int, default=optimize.DEFAULT_MAX_ITER,
                   help=f"(default: {optimize.DEFAULT_MAX_ITER})")
    m.add_argument("--gtol", type=float, default=optimize.DEFAULT_GTOL,
                   help=f"stop when every partial is at most this (default: {optimize.DEFAULT_GTOL:g})")
    m.add_argument("--ftol", type=float, default=0.0, help="stop when the relative progress is at most this (default: 0, off)")
    m.add_argument("--line-search", action=argparse.BooleanOptionalAction, default=optimize.DEFAULT_LINE_SEARCH,
                   help="backtracking (Armijo) line search that also grows the step (default: on); "
                        "--no-line-search takes fixed steps of --lr")
    m.add_argument("--plot", metavar="FILE.png", help="draw value and gradient norm against iteration "
                   "(any format matplotlib writes; .png if FILE has no extension)")
    _data_flags(m, "hold the variables named as columns of PATH (its header) at them, as arrays, and fit the "
                   "ones given NAME=VALUE starts. " + DATA_KINDS)
    r = sub.add_parser("repl", help="an interactive session (also: qsts with no arguments)")
    r.set_defaults(func=lambda args: None, repl=True)
    return p


DATA_KINDS = ("PATH is a CSV file (read in memory), or a dataset read lazily with dask: a quoted glob of CSV files "
              "('parts/*.csv'), or Parquet (a .parquet, .parq or .pq file, a directory of them, or a glob). "
              "Column names that are not identifiers cannot be variables and are ignored in a dataset")
DATA_HELP = "bind the variables named as columns of PATH (its header) to them, as arrays. " + DATA_KINDS


def _data_flags(c: argparse.ArgumentParser, data_help: str) -> None:
    c.add_argument("--data", metavar="PATH", help=data_help)
    c.add_argument("--scheduler", metavar="ADDRESS", help="compute a dataset (see --data) on the Dask cluster "
                   "whose scheduler is at ADDRESS, e.g. tcp://10.0.0.5:8786, through a distributed.Client (its "
                   "workers must see the files; in-memory data is computed here)")
    c.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=DEFAULT_TIMEOUT,
                   help=f"seconds to wait for --scheduler to answer (default: {DEFAULT_TIMEOUT:g})")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text.strip()} is not a positive number of seconds")
    return value


def _version() -> str:
    return f"qsts {__version__}"


_FLAGS = {"-h", "--help", "--dot", "--grad", "--render", "--version", "--", "--method", "--lr", "--max-iter",
          "--gtol", "--ftol", "--line-search", "--no-line-search", "--plot", "--data", "--scheduler", "--timeout",
          "--lang", "--name", "-o", "--output"}


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
        return repl.main()
    try:
        with scheduler(args):
            status = args.func(args) or EXIT_OK
        sys.stdout.flush()
    except QstsError as err:
        print(f"qsts: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C: say so, no traceback (minimize reports its point itself)
        print("\nqsts: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `qsts graph ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return status
