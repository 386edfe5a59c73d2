"""The evaluators of a program, one module each.

- `scalar`: generated straight-line Python, for calls where every input is a
  float (where every instruction is a scalar one, so it needs no schedule);
- `array`: numpy in cache-sized blocks over threads, for calls with arrays;
- `interpret`: the reference interpreter, the oracle the others are tested
  against, and what the one-shot API runs.

`array` and `interpret` read the schedule of the call's signature. The table
names the backends that can run a call with arrays; `Function` runs "numpy"
(a `backend=` option to choose is the next step). A new backend is a module here
with a class built from (program, schedule) whose `run(inputs, n, modes,
options)` returns the outputs, and one line below; the tests run every row
against the interpreter.
"""
from __future__ import annotations

from . import array, interpret

ARRAY_BACKENDS = {
    "numpy": array.ArrayBackend,
    "interpret": interpret.Interpreter,
}
