"""`VectorFunction`: several expressions compiled together, with their Jacobian.

All outputs and all partials go into one program each, so subexpressions shared
between the outputs are computed once.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .backends import POINTS, ArrayProgram, flatten
from .diff import gradient
from .expression import Expression
from .function import _Compiled


class VectorFunction:
    """Several expressions over the union of their variables (in order of first
    appearance). Build with `qsts.compile([...])`.

    >>> import qsts
    >>> f = qsts.compile(["x*y", "x+z"])
    >>> f.variables, f(x=1, y=2, z=3).tolist()
    (('x', 'y', 'z'), [2.0, 4.0])
    >>> f.jacobian(x=1, y=2, z=3).shape
    (2, 3)
    """

    def __init__(self, expressions: Sequence[Expression], block: int | None = None, threads: int | None = None):
        self.expressions = tuple(expressions)
        self.variables = tuple(dict.fromkeys(v for e in self.expressions for v in e.variables))
        self._block, self._threads = block, threads
        roots = [e.root for e in self.expressions]
        self._values = _Compiled(roots, self.variables, "None", None)
        partials = [d for e in self.expressions for d in gradient(e.root, self.variables)]
        self._jacobian = _Compiled(partials, self.variables, "None", None)

    def __call__(self, /, **values) -> np.ndarray:
        """The outputs: shape (outputs,), or (outputs, *shape) with arrays."""
        return self._run(self._values, values, (len(self.expressions),))

    def jacobian(self, /, **values) -> np.ndarray:
        """Partials: shape (outputs, variables), or (outputs, variables, *shape) with arrays."""
        return self._run(self._jacobian, values, (len(self.expressions), len(self.variables)))

    def _run(self, compiled: _Compiled, values: dict, lead: tuple) -> np.ndarray:
        from .api import bind_names, out_shape

        env = bind_names(self.variables, values)
        args = [env[v] for v in self.variables]
        if not any(isinstance(a, np.ndarray) for a in args):
            return np.array(compiled.scalar(*args), dtype=np.float64).reshape(lead)
        if any(e.reduces for e in self.expressions):
            from .errors import InputValueError

            raise InputValueError("compile([...]) takes scalar values when an expression has sum, mean or "
                                  "size; compile each expression on its own for arrays")
        shape = out_shape(env)
        n = math.prod(shape)
        signature = tuple(isinstance(a, np.ndarray) for a in args)
        program = ArrayProgram(compiled.program, signature)
        outs = program.run(flatten(args, shape), n, [POINTS] * len(compiled.program.outputs),
                           self._block, self._threads)
        return np.stack(outs).reshape(lead + shape)
