"""Backends that run a `Program`: straight-line Python over floats, and numpy
over arrays in cache-sized blocks spread across the cores.

Both read the op table's columns (`python`, `scalar`, `array`) and never test an
operator's name. Generated code holds slot names, numeric literals and the op
table's own names only: never a user string.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from .ops import OPS
from .program import Program

# ---------------------------------------------------------------- scalar


def _literal(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "(-INF)"
    return repr(value) if value >= 0 else f"({value!r})"


def _body(program: Program, safe: bool, indent: str) -> tuple[list[str], dict[int, str]]:
    """Assignments of `program`, one per instruction, and the text of every slot.

    The fast version uses Python operators and `math` (raising on `1/0` or
    `log(0)`); the safe version calls the IEEE kernels, which never raise.
    """
    names = {i: f"s{i}" for i in range(len(program.inputs))}
    names.update({s: _literal(v) for s, v in program.constants})
    lines = []
    for ins in program.instructions:
        op = OPS[ins.op]
        args = [names[a] for a in ins.args]
        python = (op.python(*args) if callable(op.python) else op.python.format(*args)) if op.python else None
        if python and not safe:
            expr = python
        else:
            expr = f"{'k' if safe else 'f'}_{op.name}({', '.join(args)})"
        names[ins.out] = f"s{ins.out}"
        lines.append(f"{indent}s{ins.out} = {expr}")
    return lines, names


def scalar_source(program: Program, safe: bool) -> str:
    """Python source of `program` as one function of the inputs, by position."""
    lines, names = _body(program, safe, "    ")
    params = ", ".join(f"s{i}" for i in range(len(program.inputs)))
    outputs = "".join(names[o] + ", " for o in program.outputs)
    return "\n".join([f"def program({params}):", *lines, f"    return ({outputs})"]) + "\n"


def entry_source(program: Program, pack: str) -> str:
    """Source of `make(...)`, which returns `entry(**V)`: the keyword fast path.

    `entry` takes the caller's keywords itself, unpacks them by the names N0,
    N1, ... (closure cells, never text in the code), checks for exactly one
    float per name, and runs the straight-line program; anything else (a
    missing name, an int, an array) goes to SLOW(V), the checked path. `pack`
    lays out the result from output k as `{k}` (e.g. `{0}, {{N0: {1}}}`). Everything the
    body calls is a closure cell too: faster to reach than globals.
    """
    n = len(program.inputs)
    lines, names = _body(program, False, "        ")
    outputs = [names[o] for o in program.outputs]
    fast_pack = pack.format(*outputs)
    safe_pack = pack.format(*(f"o[{k}]" for k in range(len(outputs))))
    params = ", ".join(f"s{i}" for i in range(n))
    body = [f"    if len(V) != {n}: return SLOW(V)"]
    if n:
        body += [
            "    try:",
            *[f"        s{i} = V[N{i}]" for i in range(n)],
            "    except KeyError:",
            "        return SLOW(V)",
            "    if " + " or ".join(f"T(s{i}) is not F" for i in range(n)) + ": return SLOW(V)",
        ]
    body += [
        "    try:",
        *(lines or ["        pass"]),
        "    except (ArithmeticError, ValueError):",  # 1/0, log(0), exp(1000): IEEE answers instead
        f"        o = SAFE({params})",
        f"        return {safe_pack}",
        f"    return {fast_pack}",
    ]
    code = "\n".join(body)
    cells = sorted({"SAFE", "SLOW", "T", "F", *(f"N{i}" for i in range(n)),
                    *(w for w in ("INF", "NAN") if w in code),
                    *(f"f_{op}" for op in OPS if f"f_{op}(" in code)})
    return "\n".join([f"def make({', '.join(cells)}):", "  def entry(**V):",
                      *("  " + line for line in body), "  return entry"]) + "\n"


def _namespace() -> dict:
    ns: dict = {"INF": math.inf, "NAN": math.nan}
    for op in OPS.values():
        ns[f"k_{op.name}"] = op.scalar
        ns[f"f_{op.name}"] = getattr(op.scalar, "fast", op.scalar)
    return ns


def _define(source: str, name: str, **extra) -> Callable:
    ns = _namespace()
    ns.update(extra)
    exec(compile(source, "<qsts program>", "exec"), ns)  # generated from the op table only
    return ns[name]


def scalar_function(program: Program) -> tuple[Callable, str]:
    """A function of the inputs (floats, by position) returning the outputs, and its source."""
    fast_source = scalar_source(program, safe=False)
    fast, safe = _define(fast_source, "program"), _define(scalar_source(program, safe=True), "program")

    def run(*args: float) -> tuple:
        try:
            return fast(*args)
        except (ArithmeticError, ValueError):  # 1/0, log(0), exp(1000), ...: IEEE answers instead
            return safe(*args)

    run.safe = safe
    return run, fast_source


def keyword_entry(program: Program, safe: Callable, slow: Callable, pack: str) -> Callable:
    """The compiled fast path `entry(**values)`; see `entry_source`."""
    source = entry_source(program, pack)
    make = _define(source, "make")
    ns = _namespace()
    cells = {"SAFE": safe, "SLOW": slow, "T": type, "F": float,
             **{f"N{i}": name for i, name in enumerate(program.inputs)}}
    wanted = make.__code__.co_varnames[:make.__code__.co_argcount]
    return make(**{k: cells[k] if k in cells else ns[k] for k in wanted})


# ---------------------------------------------------------------- array

CHUNK = 256              # reductions sum per CHUNK points, then exactly: blocking never changes a bit
WORKING_SET = 2 << 20    # bytes of temporaries per thread: about one core's L2
MIN_BLOCK = 16 * CHUNK   # below this, Python's cost per instruction outweighs the cache's help
MAX_WORKING_SET = 32 << 20  # ...unless a huge program would need more than this per thread
_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="qsts")
    return _pool


def block_size(program: Program) -> int:
    """Points per block: the temporaries of one block fill about WORKING_SET, but a
    block is never so small that interpreting the program dominates."""
    per_point = 8 * max(1, len(program.temporaries))
    floor = max(CHUNK, min(MIN_BLOCK, (MAX_WORKING_SET // per_point) // CHUNK * CHUNK))
    return max(floor, min(1 << 16, (WORKING_SET // per_point) // CHUNK * CHUNK))


def flatten(args: Sequence, shape: tuple) -> list:
    """Inputs for `run_arrays`: floats stay floats; arrays become flat float64
    vectors over the points of `shape` (a view when already contiguous)."""
    return [a if not isinstance(a, np.ndarray) else
            np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in args]


def run_arrays(program: Program, inputs: Sequence, n: int, summed: Sequence[bool],
               block: int | None = None, workers: int | None = None) -> list:
    """Run `program` over `n` points. `inputs` are floats or flat float64 arrays of
    length n. Output k is an array of n values, or, where `summed[k]`, the sum over
    the points (as a float): computed per block, so no full array is kept.
    """
    block = min(block or block_size(program), -(-max(n, 1) // CHUNK) * CHUNK)
    n_chunks = -(-n // CHUNK)
    outputs = [np.zeros(n_chunks) if s else np.empty(n) for s in summed]
    starts = list(range(0, n, block))
    workers = min(workers or threads(), len(starts))

    def work(mine: Sequence[int]) -> None:
        first_temporary = program.n_slots - len(program.temporaries)
        rows = np.empty((len(program.temporaries), block))
        buffers = [None] * first_temporary + list(rows)  # inputs and constants need no buffer
        values: list = [None] * program.n_slots
        for i, name in enumerate(program.inputs):
            values[i] = inputs[i]
        for s, v in program.constants:
            values[s] = v
        for start in mine:
            stop = min(start + block, n)
            _run_block(program, inputs, values, buffers, start, stop, outputs, summed)

    with np.errstate(all="ignore"):
        if workers <= 1:
            work(starts)
        else:
            # contiguous runs of blocks per thread: each thread streams its own part of memory
            per = -(-len(starts) // workers)
            parts = [starts[i:i + per] for i in range(0, len(starts), per)]
            for f in [_executor().submit(_in_errstate, work, p) for p in parts]:
                f.result()
    return [_total(o) if s else o for o, s in zip(outputs, summed)]


def _total(chunk_sums: np.ndarray) -> float:
    """The sum of the chunk sums, rounded once (so independent of their order)."""
    try:
        return math.fsum(chunk_sums)
    except (OverflowError, ValueError):  # inf - inf or overflow: the IEEE answer instead
        with np.errstate(all="ignore"):
            return float(np.sum(chunk_sums))


def _in_errstate(work, part):
    with np.errstate(all="ignore"):  # numpy's error state is per thread
        work(part)


def _run_block(program, inputs, values, buffers, start, stop, outputs, summed):
    m = stop - start
    for i in range(len(program.inputs)):
        x = inputs[i]
        if isinstance(x, np.ndarray):
            values[i] = x[start:stop]
    for ins in program.instructions:
        out = buffers[ins.out][:m]
        values[ins.out] = OPS[ins.op].array(*[values[a] for a in ins.args], out=out)
    first = start // CHUNK
    for k, slot in enumerate(program.outputs):
        v = values[slot]
        if summed[k]:
            full = np.broadcast_to(v, (m,))
            whole = m // CHUNK * CHUNK
            if whole:
                outputs[k][first:first + whole // CHUNK] = full[:whole].reshape(-1, CHUNK).sum(axis=1)
            if whole < m:
                outputs[k][first + whole // CHUNK] = full[whole:].reshape(1, -1).sum(axis=1)[0]
        else:
            outputs[k][start:stop] = v
