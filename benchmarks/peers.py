"""qsts against its peers, side by side in one run, quoted as ratios.

    pip install -e ".[bench]" && python benchmarks/peers.py [--quick]

For each reference expression: value and gradient at one point (latency), at
one million points (throughput), the compile time of a generated expression of
about 1,000 unique nodes, and the peak memory of a 10-million-point run. Peers:
JAX (jit of value_and_grad, and of its vmap), SymPy (diff + lambdify with
cse=True, math and numpy), numexpr (value and SymPy-derived gradient strings),
CasADi (Function, and Function.map over threads), autograd, micrograd (where
expressible: +, -, *, /, constant powers), and a memory-bandwidth floor
(np.copyto of the output bytes). A missing peer is reported and skipped.

Ratios are peer time / qsts time: above 1, qsts is faster.
"""
from __future__ import annotations

import argparse
import functools
import gc
import operator
import os
import platform
import random
import sys
import time
import timeit
import tracemalloc

import numpy as np

import qsts
from qsts.graph import CONST, VAR, topological

REFERENCE = {
    "shared": "(x+y)+x*(x+y)",
    "rosenbrock": "(1-x)^2 + 100*(y-x^2)^2",
    "mixed": "sin(x*y) + exp(-(x^2+y^2)/2)*log(1+z^2) + tanh(x-z)",
}


def generated_expression(target: int = 1000, seed: int = 7) -> str:
    """About `target` unique nodes with heavy sharing: a few dozen small base
    expressions of x, y, z, each used by many pairs, summed."""
    rng = random.Random(seed)
    v = lambda: rng.choice("xyz")  # noqa: E731
    c = lambda: rng.choice(["0.5", "2", "1.5", "3"])  # noqa: E731
    shapes = ["sin({0}*{1})", "cos({0}-{2})", "tanh({0}+{2}*{1})", "({0}*{1}+{2})", "exp(-{0}^2)", "({0}-{1})^2"]
    base = list(dict.fromkeys(rng.choice(shapes).format(v(), v(), c()) for _ in range(60)))[:36]
    ops = ["{}*{}", "{}/(1+{}^2)", "sin({}+{})", "{}-tanh({})"]
    terms: dict[str, None] = {}
    text = "x"
    while qsts.parse(text).node_count < target:
        for _ in range(25):
            terms[rng.choice(ops).format(rng.choice(base), rng.choice(base))] = None
        text = " + ".join(terms)
    return text


# ---------------------------------------------------------------- lowering
# Each peer gets the same expression by walking the qsts graph with its own functions.

def lower(expr: qsts.Expression, ns: dict):
    order = topological([expr.root])
    names = expr.variables

    def f(*args):
        value = {}
        env = dict(zip(names, args))
        for node in order:
            if node.op == CONST:
                value[node] = node.value
            elif node.op == VAR:
                value[node] = env[node.value]
            else:
                value[node] = ns[node.op](*(value[a] for a in node.args))
        return value[expr.root]

    return f


def namespace(mod, pow=operator.pow, **extra) -> dict:
    ns = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
          "neg": operator.neg, "pow": pow}
    for name in ("sin", "cos", "tanh", "exp", "log", "sqrt"):
        if hasattr(mod, name):
            ns[name] = getattr(mod, name)
    ns.update(extra)
    return ns


# ---------------------------------------------------------------- timing

def per_call(fn, min_time: float = 0.2, repeat: int = 3) -> float:
    """Best seconds per call: loops enough calls to last min_time, best of `repeat`."""
    fn()
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(1, int(number * min_time / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def table(title: str, rows: dict[str, dict[str, float | None]], base: str = "qsts") -> None:
    print(f"\n## {title}\n")
    exprs = list(next(iter(rows.values())))
    print("| peer | " + " | ".join(exprs) + " |")
    print("|---" * (len(exprs) + 1) + "|")
    for peer, times in rows.items():
        cells = []
        for e in exprs:
            t, q = times.get(e), rows[base].get(e)
            if isinstance(t, tuple):  # (median time, median per-round ratio to the base)
                cells.append(fmt(t[0]) if peer == base else f"{fmt(t[0])} ({t[0] and t[1]:.2g}x)")
            elif t is None:
                cells.append("-")
            elif peer == base or q is None:
                cells.append(fmt(t))
            else:
                cells.append(f"{fmt(t)} ({t / q:.2g}x)")
        print(f"| {peer} | " + " | ".join(cells) + " |")


def attempt(rows, peer, name, fn):
    try:
        rows.setdefault(peer, {})[name] = fn()
    except ImportError:
        rows.setdefault(peer, {})[name] = None
    except Exception as err:  # a peer that cannot express or run this expression
        rows.setdefault(peer, {})[name] = None
        print(f"  ({peer} on {name}: {type(err).__name__}: {str(err)[:80]})", file=sys.stderr)


# ---------------------------------------------------------------- peers

@functools.lru_cache(maxsize=None)  # SymPy takes minutes on dag1000: set up once per backend
def sympy_setup(text, names, modules):
    import sympy
    from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

    symbols = sympy.symbols(names)
    F = parse_expr(text, local_dict=dict(zip(names, symbols)),
                   transformations=standard_transformations + (convert_xor,))
    outs = [F, *[sympy.diff(F, s) for s in symbols]]
    return sympy.lambdify(symbols, outs, modules=modules, cse=True), F, outs, symbols


def jax_fns(expr):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    f = lower(expr, namespace(jnp))
    argnums = tuple(range(len(expr.variables)))
    return jax.jit(jax.value_and_grad(f, argnums=argnums)), jax.jit(jax.vmap(jax.value_and_grad(f, argnums=argnums)))


def casadi_function(expr):
    import casadi

    syms = [casadi.SX.sym(v) for v in expr.variables]
    F = lower(expr, namespace(casadi, pow=lambda a, b: a ** b))(*syms)
    return casadi.Function("f", syms, [F, *[casadi.gradient(F, s) for s in syms]])


def micrograd_call(expr, point):
    from micrograd.engine import Value

    for node in topological([expr.root]):
        if node.op not in ("add", "sub", "mul", "div", "neg", "pow", CONST, VAR):
            raise NotImplementedError(f"micrograd has no {node.op}")
        if node.op == "pow" and node.args[1].op != CONST:
            raise NotImplementedError("micrograd powers need a constant exponent")
    ns = namespace(None, pow=lambda a, b: a ** b)
    f = lower(expr, ns)

    def call():
        vs = [Value(point[v]) for v in expr.variables]
        out = f(*vs)
        out.backward()
        return out.data, [v.grad for v in vs]

    return call


def one_point(exprs):
    rows: dict = {}
    for name, text in exprs.items():
        e = qsts.parse(text)
        point = {v: 0.3 + 0.2 * i for i, v in enumerate(e.variables)}
        args = [point[v] for v in e.variables]
        f = qsts.compile(text)
        rows.setdefault("qsts by position", {})[name] = per_call(lambda: f.value_and_grad(*args))
        rows.setdefault("qsts by keyword", {})[name] = per_call(lambda: f.value_and_grad(**point))
        attempt(rows, "sympy lambdify(cse, math)", name,
                lambda: per_call(lambda lam=sympy_setup(text, e.variables, "math")[0]: lam(*args)))
        attempt(rows, "jax jit(value_and_grad)", name,
                lambda: per_call(lambda vg=jax_fns(e)[0]: _block(vg(*args))))
        attempt(rows, "casadi Function", name, lambda: per_call(lambda F=casadi_function(e): F(*args)))
        attempt(rows, "autograd value_and_grad", name, lambda: _autograd_point(e, args))
        attempt(rows, "micrograd", name, lambda: per_call(micrograd_call(e, point)))
    return rows


def _block(out):
    import jax

    return jax.block_until_ready(out)


def _autograd_point(e, args):
    import autograd
    import autograd.numpy as anp

    f = lower(e, namespace(anp))
    vg = autograd.value_and_grad(f, argnum=tuple(range(len(args))))
    return per_call(lambda: vg(*args))


def many_points(exprs, n, rounds):
    """Interleaved rounds: each round times qsts (backend="auto", the default)
    and then every other column back to back, so a slow spell of the machine
    hits all of them; a cell is the median time and the median per-round ratio
    to qsts (auto)."""
    rows: dict = {}
    rng = np.random.default_rng(0)
    for name, text in exprs.items():
        e = qsts.parse(text)
        arrays = {v: rng.uniform(0.1, 1.0, n) for v in e.variables}
        args = [arrays[v] for v in e.variables]
        columns = {"qsts (auto)": _qsts_many(text, "auto", args), "qsts native": _qsts_many(text, "native", args),
                   "qsts numpy": _qsts_many(text, "numpy", args),
                   "qsts (auto), 1 thread": _qsts_many(text, "auto", args, threads=1)}
        for peer, make in [("qsts native, out=", lambda: _qsts_out(text, args)),
                           ("jax jit(vmap(value_and_grad))", lambda: _jax_many(e, args)),
                           ("sympy lambdify(cse, numpy)", lambda: functools.partial(
                               sympy_setup(text, e.variables, "numpy")[0], *args)),
                           ("numexpr (sympy gradient strings)", lambda: _numexpr_many(text, e, arrays)),
                           ("casadi map(thread)", lambda: _casadi_many(e, args, n)),
                           ("autograd (grad of sum)", lambda: _autograd_many(e, args))]:
            columns[peer] = _made(peer, name, make)
        out_bytes = np.empty(n * (1 + len(e.variables)))
        src = np.ones_like(out_bytes)
        columns["floor: np.copyto of the outputs"] = functools.partial(np.copyto, out_bytes, src)
        for peer, (time_, ratio) in _rounds({k: v for k, v in columns.items() if v is not None}, rounds).items():
            rows.setdefault(peer, {})[name] = (time_, ratio)
        for peer in columns:
            rows.setdefault(peer, {}).setdefault(name, None)
    return rows


def _made(peer, name, make):
    """A peer's call ready to time, or None (reported) where it cannot run this expression."""
    try:
        fn = make()
        fn()  # warm up: compile, first touch
        return fn
    except ImportError:
        return None
    except Exception as err:
        print(f"  ({peer} on {name}: {type(err).__name__}: {str(err)[:80]})", file=sys.stderr)
        return None


def _rounds(columns: dict, rounds: int) -> dict:
    """Median seconds per call of each column, and its median per-round ratio to the first."""
    times: dict = {k: [] for k in columns}
    for fn in columns.values():
        fn()
    for _ in range(rounds):
        for k, fn in columns.items():
            times[k].append(per_call(fn, min_time=0.1, repeat=1))
    base = times[next(iter(columns))]
    return {k: (float(np.median(t)), float(np.median([a / b for a, b in zip(t, base)]))) for k, t in times.items()}


def _qsts_many(text, backend, args, threads=None):
    f = qsts.compile(text, backend=backend, threads=threads)
    return lambda: f.value_and_grad(**dict(zip(f.variables, args)))


def _qsts_out(text, args):
    """Native, writing into buffers kept between calls (positional arguments)."""
    f = qsts.compile(text, backend="native")
    value, grads = f.value_and_grad(*args)
    out = (value, grads)
    return lambda: f.value_and_grad(*args, out=out)


def _jax_many(e, args):
    import jax.numpy as jnp

    vmapped = jax_fns(e)[1]
    jargs = [jnp.asarray(a) for a in args]
    return lambda: _block(vmapped(*jargs))


def _numexpr_many(text, e, arrays):
    import numexpr

    _, F, outs, _ = sympy_setup(text, e.variables, "math")
    strings = [str(o) for o in outs]
    return lambda: [numexpr.evaluate(s, local_dict=arrays) for s in strings]


def _casadi_many(e, args, n):
    F = casadi_function(e).map(n, "thread", os.cpu_count() or 1)
    rows = [a.reshape(1, -1) for a in args]
    return lambda: [np.asarray(o) for o in F(*rows)]


def _autograd_many(e, args):
    import autograd
    import autograd.numpy as anp

    f = lower(e, namespace(anp))
    vg = autograd.value_and_grad(lambda *a: anp.sum(f(*a)), argnum=tuple(range(len(args))))
    return lambda: (f(*args), vg(*args))


# ---------------------------------------------------------------- compile and memory

def compile_times(text):
    e = qsts.parse(text)
    point = {v: 0.4 for v in e.variables}
    rows = {}

    def qsts_compile():
        qsts.expression.parse_text.cache_clear()
        gc.collect()
        t0 = time.perf_counter()
        qsts.compile(text).value_and_grad(**point)
        return time.perf_counter() - t0

    rows["qsts parse+diff+generate+first call"] = min(qsts_compile() for _ in range(3))

    def sympy_compile():
        t0 = time.perf_counter()
        lam = sympy_setup(text, e.variables, "math")[0]  # the first call: main() runs this first
        lam(*point.values())
        return time.perf_counter() - t0

    try:
        rows["sympy parse+diff+cse+lambdify+first call"] = sympy_compile()
    except ImportError:
        pass

    def jax_compile():
        t0 = time.perf_counter()
        _block(jax_fns(qsts.parse(text))[0](*point.values()))
        return time.perf_counter() - t0

    try:
        rows["jax trace+jit+first call"] = jax_compile()
    except ImportError:
        pass
    return e, rows


NATIVE_FIRST = """
import sys, time
t0 = time.perf_counter()
import numpy as np, qsts
text, backend, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = qsts.compile(text, backend=backend)
args = [np.linspace(0.1, 0.9, n) for _ in f.variables]
t1 = time.perf_counter()
f.value_and_grad(**dict(zip(f.variables, args)))
t2 = time.perf_counter()
print(t2 - t1, t2 - t0)
"""


def native_compile_times(exprs, n=4096, runs=5):
    """First array call in a new process: numpy; native with an empty kernel
    cache (LLVM compiles); native with the kernel in the disk cache. Returns
    {name: (numpy, miss, hit)}, each the median over `runs` processes of
    (first call, interpreter start to first result) in seconds."""
    import subprocess
    import tempfile

    def first(text, backend, cache):
        env = {**os.environ, "QSTS_CACHE_DIR": cache}
        done = subprocess.run([sys.executable, "-c", NATIVE_FIRST, text, backend, str(n)], env=env,
                              capture_output=True, text=True, check=True)
        return tuple(map(float, done.stdout.split()))

    out = {}
    for name, text in exprs.items():
        with tempfile.TemporaryDirectory() as warm:
            first(text, "native", warm)
            times = {"numpy": [first(text, "numpy", warm) for _ in range(runs)],
                     "hit": [first(text, "native", warm) for _ in range(runs)], "miss": []}
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as empty:
                times["miss"].append(first(text, "native", empty))
        out[name] = tuple(tuple(np.median(times[k], axis=0)) for k in ("numpy", "miss", "hit"))
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:+.1f} ms"


def memory(n, backend):
    text = REFERENCE["mixed"]
    f = qsts.compile(text, backend=backend)
    rng = np.random.default_rng(1)
    arrays = {v: rng.uniform(0.1, 1.0, n) for v in f.variables}
    f.value_and_grad(**{v: a[:1000] for v, a in arrays.items()})  # warm up
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    value, grads = f.value_and_grad(**arrays)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    inputs = sum(a.nbytes for a in arrays.values())
    outputs = value.nbytes + sum(g.nbytes for g in grads.values())
    return text, n, inputs, outputs, peak, elapsed


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 points and 1M for memory (a smoke run)")
    parser.add_argument("--only", default="compile,point,many,memory",
                        help="comma-separated sections to run (default: all)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds at many points (default 7)")
    opts = parser.parse_args()
    sections = set(opts.only.split(","))
    n_many, n_mem = (100_000, 1_000_000) if opts.quick else (1_000_000, 10_000_000)

    gen = generated_expression()
    exprs = {**REFERENCE, "dag1000": gen}
    e = qsts.parse(gen)
    print(f"# qsts {qsts.__version__} against its peers")
    print(f"\npython {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"{platform.machine()}; dag1000: {e.node_count} unique nodes, tree of {e.tree_size}, "
          f"{len(gen)} characters")
    if "compile" in sections:
        _, rows = compile_times(gen)  # first, so SymPy's set-up is timed once, then reused
        print("\n## Compile the 1,000-node expression (text to first value and gradient)\n")
        q = rows["qsts parse+diff+generate+first call"]
        for k, t in rows.items():
            print(f"- {k}: {fmt(t)}" + ("" if t is q else f" ({t / q:.3g}x qsts)"))
    if "compile" in sections:
        print("\n## First array call in a new process (4,096 points; LLVM compile, and the disk cache; "
              "medians of 5 processes)\n")
        print("| | " + " | ".join(exprs) + " |\n" + "|---" * (len(exprs) + 1) + "|")
        times = native_compile_times(exprs)
        for k, label in enumerate(["numpy", "native, empty cache", "native, cached"]):
            print(f"| {label}: first call (import to result) | "
                  + " | ".join(f"{fmt(t[k][0])} ({fmt(t[k][1])})" for t in times.values()) + " |")
        print("| native compile (empty cache - cached, first call) | "
              + " | ".join(ms(t[1][0] - t[2][0]) for t in times.values()) + " |")
        print("| cached native - numpy, first call | " + " | ".join(ms(t[2][0] - t[0][0]) for t in times.values()) + " |")
        print("| cached native - numpy, start to result | "
              + " | ".join(ms(t[2][1] - t[0][1]) for t in times.values()) + " |")
    if "point" in sections:
        table("Value and gradient at one point (time per call)", one_point(exprs), base="qsts by position")
    if "many" in sections:
        table(f"Value and gradient at {n_many:,} points (median time per call; median per-round ratio "
              f"to qsts (auto) over {opts.rounds} interleaved rounds)", many_points(exprs, n_many, opts.rounds),
              base="qsts (auto)")
    if "memory" in sections:
        for backend in ("native", "numpy"):
            text, n, inputs, outputs, peak, elapsed = memory(n_mem, backend)
            print(f"\n## Memory: value and gradient of `{text}` at {n:,} points, backend={backend!r}\n")
            print(f"- inputs {inputs / 1e6:.0f} MB (allocated before the call), outputs {outputs / 1e6:.0f} MB")
            print(f"- peak allocated during the call: {peak / 1e6:.2f} MB = outputs + {(peak - outputs) / 1e6:.3f} MB "
                  f"working set; {fmt(elapsed)}")


if __name__ == "__main__":
    main()
