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

from . import array, interpret, native, objects

ARRAY_BACKENDS = {
    "numpy": array.ArrayBackend,
    "native": native.NativeBackend,
    "interpret": interpret.Interpreter,
}

# Calls of fewer points stay on numpy under backend="auto": a first call there
# costs no compile, and below this the fused loop saves under ~0.1 ms a call.
AUTO_POINTS = 1 << 16


def choose(backend: str, n: int) -> str:
    """The row of ARRAY_BACKENDS that runs a call of n points, for `backend`
    ("auto", "native" or "numpy"; see `qsts.options`)."""
    if backend == "auto":
        return "native" if n >= AUTO_POINTS and objects.available() else "numpy"
    return backend


def require(backend: str) -> None:
    """Refuse at compile time a backend this installation cannot run."""
    if backend == "native":
        objects.require()
