"""Backends that run a `Program`: straight-line Python over floats, and numpy
over arrays in cache-sized blocks spread across the cores.

Both read the op table's columns (`python`, `scalar`, `array`) and never test an
operator's name. Generated code holds slot names, numeric literals and the op
table's own names only: never a user string.
"""
from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from .kernels import CHUNK, chunk_sums, exact_total
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

WORKING_SET = 2 << 20    # bytes of temporaries per thread: about one core's L2
MIN_BLOCK = 16 * CHUNK   # below this, Python's cost per instruction outweighs the cache's help
MAX_WORKING_SET = 32 << 20  # ...unless a huge program would need more than this per thread
_pool: ThreadPoolExecutor | None = None

# What an output comes back as: an array over the points, its sum over the points
# (a float), or as it is (an array if it varies, a float if not).
POINTS, SUM, NATURAL = "points", "sum", "natural"


def partial_mode(is_array: bool, is_total: bool) -> str:
    """How a variable's partial comes back: per point for an array input; for a
    scalar, summed over the points, unless the graph already made it a total."""
    return POINTS if is_array else NATURAL if is_total else SUM

# Instruction kinds, for one signature (which inputs are arrays): elementwise over
# the points; elementwise on scalars (run once); a reduction of a scalar; size of
# an argument that varies (it is n); a reduction summing over the points.
_VARYING, _SCALAR, _OF_SCALAR, _COUNT, _OVER_POINTS = range(5)
_OP, _SET, _ACC = range(3)  # the steps of a pass


@functools.cache  # os.cpu_count() takes microseconds: once is enough
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
    """Inputs for `ArrayProgram.run`: floats stay floats; arrays become flat float64
    vectors over the points of `shape` (a view when already contiguous)."""
    return [a if not isinstance(a, np.ndarray) else
            np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in args]


class ArrayProgram:
    """`program` over n points when the inputs flagged in `is_array` are arrays.

    Elementwise work runs block by block (cache-sized, spread over threads) and
    no array of the points is kept but the inputs and the outputs asked for. A
    reduction over the points adds its argument's chunk sums block by block; what
    uses its result runs in a later pass, which recomputes the elementwise work it
    needs (so memory stays bounded: passes trade time for it). Instructions on
    scalars only run once per pass, not per point.
    """

    def __init__(self, program: Program, is_array: Sequence[bool]):
        self.program = program
        varies = [bool(a) for a in is_array] + [False] * (program.n_slots - len(program.inputs))
        level = [0] * program.n_slots  # the pass from which a slot's value can be had
        kinds, levels = [], []
        for ins in program.instructions:
            row = OPS[ins.op]
            if row.reduction is not None:
                (a,) = ins.args
                kind = (_OVER_POINTS if row.reduction.sums else _COUNT) if varies[a] else _OF_SCALAR
                lv = level[a] + 1 if kind == _OVER_POINTS else 0 if kind == _COUNT else level[a]
                varies[ins.out] = False
            else:
                kind = _VARYING if any(varies[a] for a in ins.args) else _SCALAR
                lv = max((level[a] for a in ins.args), default=0)
                varies[ins.out] = kind == _VARYING
            level[ins.out] = lv
            kinds.append(kind)
            levels.append(lv)
        self.kinds, self.levels = kinds, levels
        self.out_varies = [varies[o] for o in program.outputs]
        self.out_level = [level[o] for o in program.outputs]
        needed = [lv for lv, v in zip(self.out_level, self.out_varies) if v]
        needed += [lv - 1 for lv, k in zip(levels, kinds) if k == _OVER_POINTS]
        self.n_passes = max(needed, default=-1) + 1
        self._steps_of: dict[int, list] = {}

    def run(self, inputs: Sequence, n: int, modes: Sequence[str],
            block: int | None = None, workers: int | None = None) -> list:
        """`inputs` are floats or flat float64 arrays of length n; output k comes
        back as `modes[k]` says (POINTS, SUM or NATURAL)."""
        program = self.program
        block = min(block or block_size(program), -(-max(n, 1) // CHUNK) * CHUNK)
        n_chunks = -(-n // CHUNK)
        outputs = [(np.zeros(n_chunks) if mode == SUM else np.empty(n)) if v else None
                   for mode, v in zip(modes, self.out_varies)]
        sums = {i: np.zeros(n_chunks) for i, k in enumerate(self.kinds) if k == _OVER_POINTS}
        done: dict[int, float] = {}  # instruction -> its value, for those that are scalars
        starts = list(range(0, n, block))
        workers = max(1, min(workers or threads(), len(starts)))
        with np.errstate(all="ignore"):
            for level in range(self.n_passes):
                base = self._scalars(inputs, n, level, done)
                steps = self._steps_of.get(level) or self._steps(level)
                goals = [(k, program.outputs[k], modes[k] == SUM) for k in range(len(modes))
                         if self.out_varies[k] and self.out_level[k] == level]
                work = _Pass(program, inputs, base, steps, goals, outputs, block, n, done, sums).work
                if workers <= 1:
                    work(starts)
                else:
                    # contiguous runs of blocks per thread: each streams its own part of memory
                    per = -(-len(starts) // workers)
                    parts = [starts[i:i + per] for i in range(0, len(starts), per)]
                    for f in [_executor().submit(_in_errstate, work, p) for p in parts]:
                        f.result()
                for i, chunk_sums_ in sums.items():
                    if self.levels[i] == level + 1:
                        done[i] = OPS[program.instructions[i].op].reduction.over(exact_total(chunk_sums_), n)
            final = self._scalars(inputs, n, max(self.levels, default=0), done)
            result = []
            for k, (mode, out) in enumerate(zip(modes, outputs)):
                if out is not None:
                    result.append(exact_total(out) if mode == SUM else out)
                else:
                    x = float(final[program.outputs[k]])
                    result.append(x * n if mode == SUM else np.full(n, x) if mode == POINTS else x)
        return result

    def _scalars(self, inputs, n: int, level: int, done: dict) -> list:
        """Slot values of the scalar instructions (and inputs, constants) that are
        known by pass `level`, in program order; fills `done`."""
        program = self.program
        values: list = [None] * program.n_slots
        for i, x in enumerate(inputs):
            if not isinstance(x, np.ndarray):
                values[i] = x
        for s, v in program.constants:
            values[s] = v
        for i, ins in enumerate(program.instructions):
            kind = self.kinds[i]
            if kind == _VARYING or self.levels[i] > level:
                continue
            if i not in done:
                row = OPS[ins.op]
                if kind == _SCALAR:
                    done[i] = row.scalar(*[values[a] for a in ins.args])
                elif kind == _OF_SCALAR:
                    done[i] = row.reduction.scalar(values[ins.args[0]], n)
                elif kind == _COUNT:
                    done[i] = row.reduction.over(0.0, n)
            values[ins.out] = done[i]
        return values

    def _steps(self, level: int) -> list:
        """What a block does in pass `level`, with work nothing needs removed; a
        scalar is set from, and a sum added into, what the instruction index names."""
        program = self.program
        steps = []
        for i, ins in enumerate(program.instructions):
            kind, lv = self.kinds[i], self.levels[i]
            if kind == _VARYING and lv <= level:
                steps.append((_OP, ins.out, OPS[ins.op].array, ins.args))
            elif kind != _VARYING and lv <= level:
                steps.append((_SET, ins.out, i, ()))
            elif kind == _OVER_POINTS and lv == level + 1:
                steps.append((_ACC, ins.args[0], i, ()))
        live = {program.outputs[k] for k in range(len(program.outputs))
                if self.out_varies[k] and self.out_level[k] == level}
        kept = []
        for step in reversed(steps):  # backwards liveness over slots (slots are reused)
            tag, slot, _, args = step
            if tag == _ACC:
                live.add(slot)
            elif slot in live:
                live.discard(slot)
                live.update(args)
            else:
                continue
            kept.append(step)
        kept.reverse()
        self._steps_of[level] = kept
        return kept


class _Pass:
    """One pass over blocks of points; `work` runs a thread's share of the blocks."""

    def __init__(self, program, inputs, base, steps, goals, outputs, block, n, done, sums):
        self.program, self.inputs, self.base, self.steps = program, inputs, base, steps
        self.goals, self.outputs, self.block, self.n = goals, outputs, block, n
        self.done, self.sums = done, sums

    def work(self, mine: Sequence[int]) -> None:
        program, inputs, steps, block, done, sums = (self.program, self.inputs, self.steps, self.block,
                                                     self.done, self.sums)
        first_temporary = program.n_slots - len(program.temporaries)
        rows = np.empty((len(program.temporaries), block)) if steps else ()
        full = [None] * first_temporary + list(rows)  # inputs and constants need no buffer
        values = list(self.base)
        arrays = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray)]
        for start in mine:
            stop = min(start + block, self.n)
            m = stop - start
            buffers = full if m == block else [b if b is None else b[:m] for b in full]
            for i in arrays:
                values[i] = inputs[i][start:stop]
            first, count = start // CHUNK, -(-m // CHUNK)
            for tag, slot, what, args in steps:
                if tag == _OP:
                    values[slot] = what(*[values[a] for a in args], out=buffers[slot])
                elif tag == _SET:
                    values[slot] = done[what]
                else:
                    chunk_sums(values[slot], sums[what][first:first + count])
            for k, slot, summed in self.goals:
                if summed:
                    chunk_sums(values[slot], self.outputs[k][first:first + count])
                else:
                    self.outputs[k][start:stop] = values[slot]


def _in_errstate(work, part):
    with np.errstate(all="ignore"):  # numpy's error state is per thread
        work(part)
