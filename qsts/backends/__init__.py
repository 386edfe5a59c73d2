"""The evaluators of a program, one module each.

- `scalar`: generated straight-line Python, for calls where every input is a
  float (where every instruction is a scalar one, so it needs no schedule);
- `array`: numpy in cache-sized blocks over threads, for calls with arrays;
- `native`: each pass one compiled loop (LLVM IR from `llvm_ir`, object code
  from `objects`), for calls with arrays;
- `interpret`: the reference interpreter, the oracle the others are tested
  against, and what the one-shot API runs.

`array` and `interpret` read the schedule of the call's signature. The table
names the backends that can run a call with arrays; `choose` picks the row
for `compile(..., backend=...)`. A new backend is a module here
with a class built from (program, schedule) whose `run(inputs, n, modes,
options)` returns the outputs, and one line below; the tests run every row
against the interpreter.
"""
from __future__ import annotations

from ..program import Program
from ..schedule import VARYING, Schedule
from . import array, interpret, native, objects

ARRAY_BACKENDS = {
    "numpy": array.ArrayBackend,
    "native": native.NativeBackend,
    "interpret": interpret.Interpreter,
}

# Calls of fewer points stay on numpy under backend="auto": a first call there
# costs no compile, and below this the fused loop saves under ~0.1 ms a call.
AUTO_POINTS = 1 << 16

# Nanoseconds per point on one core: (native, numpy) for each function; the
# native backend calls the C library per point (bit for bit the scalar
# program's), numpy runs SIMD loops for most. Measured on x86-64 with AVX-512 by
# `python benchmarks/native_math.py`; an operator not listed costs BASIC.
COSTS = {
    "sin": (8.6, 8.9), "cos": (8.4, 8.5), "tan": (9.7, 1.8), "asin": (11.6, 1.7), "acos": (12.0, 1.7),
    "atan": (8.2, 1.7), "sinh": (12.1, 1.5), "cosh": (9.3, 1.4), "tanh": (13.0, 2.1), "exp": (4.2, 1.2),
    "log": (4.3, 1.2), "pow": (11.2, 3.1), "atan2": (15.3, 3.4), "sigmoid": (4.6, 2.1), "softplus": (12.1, 14.2),
    "sqrt": (0.6, 1.6), "log10": (8.1, 1.4), "log2": (4.6, 1.5), "log1p": (9.4, 1.6), "expm1": (9.1, 1.8),
    "cbrt": (14.5, 1.4), "hypot": (14.6, 15.3),  # numpy's hypot is the C library's too
    "erf": (5.4, 76.7), "erfc": (7.0, 76.4),  # numpy has no erf: math.erf per point through frompyfunc
}
BASIC = (0.05, 0.5)  # + - * / and the rest: a register op against a pass over a cached block
SINCOS = 11.2        # native sin and cos of one argument, together


def choose(backend: str, n: int, native_faster: bool = True) -> str:
    """The row of ARRAY_BACKENDS that runs a call of n points, for `backend`
    ("auto", "native" or "numpy"; see `qsts.options`). "auto" takes native for
    big calls where llvmlite is installed, unless `native_faster` (of the
    program, once per plan: `faster`) says numpy's SIMD loops win there."""
    if backend != "auto":
        return backend
    if n < AUTO_POINTS or not native_faster or not objects.available():
        return "numpy"
    return "native"


def faster(program: Program, schedule: Schedule) -> bool:
    """Whether native runs `program` at least as fast as numpy, by `estimate`."""
    native, numpy = estimate(program, schedule)
    return native <= numpy


def estimate(program: Program, schedule: Schedule | None = None) -> tuple[float, float]:
    """Nanoseconds per point of `program`'s instructions that run per point
    (all, without `schedule`) on each backend (COSTS), as native runs them: x^2
    is x*x, and a sin and a cos of one argument are one sincos (SINCOS)."""
    constants = dict(program.constants)
    sines = {ins.args[0] for ins in program.instructions if ins.op == "sin"}
    cosines = {ins.args[0] for ins in program.instructions if ins.op == "cos"}
    native = numpy = 0.0
    for k, ins in enumerate(program.instructions):
        if schedule is not None and schedule.kinds[k] != VARYING:
            continue  # run once per call, not per point
        if ins.op == "pow" and constants.get(ins.args[1]) == 2.0:
            a, b = BASIC
        else:
            a, b = COSTS.get(ins.op, BASIC)
        if ins.op in ("sin", "cos") and ins.args[0] in sines & cosines:
            a = SINCOS / 2
        native, numpy = native + a, numpy + b
    return native, numpy


def require(backend: str) -> None:
    """Refuse at compile time a backend this installation cannot run."""
    if backend == "native":
        objects.require()
