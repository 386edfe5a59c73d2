"""The evaluators of a program, each a module that reads the schedule.

- `scalar`: generated straight-line Python, for calls where every input is a float;
- `array`: numpy in cache-sized blocks over threads, for calls with arrays;
- `interpret`: the reference interpreter, the oracle the others are tested
  against, and what the one-shot API runs.

The table names the array backends `compile` can choose between; a new one is a
module here with a class built from (program, schedule) whose `run(inputs, n,
modes, options)` returns the outputs, and one line below.
"""
from __future__ import annotations

from . import array, interpret

ARRAY_BACKENDS = {
    "numpy": array.ArrayBackend,
    "interpret": interpret.Interpreter,
}
