"""`Function`: an expression compiled once and called many times.

Value and gradient are compiled into one program, so they share every
subexpression. Calls with numbers run straight-line Python; calls with arrays
run the numpy backend in blocks over all cores. Nothing but the programs is
kept between calls, so no result can go stale.
"""
from __future__ import annotations

import math

import numpy as np

from .backends import CHUNK, NATURAL, ArrayProgram, partial_mode, flatten, keyword_entry, scalar_function
from .graph import topological
from .diff import gradient
from .evaluate import unbroadcast
from .expression import Expression
from .program import Program, compile_program


class _Compiled:
    """One program, its scalar function, and its keyword fast path."""

    def __init__(self, roots, inputs, pack: str, slow):
        self.program: Program = compile_program(roots, inputs)
        self.scalar, self.source = scalar_function(self.program)
        self.entry = keyword_entry(self.program, self.scalar.safe, slow, pack)


class Function:
    """A compiled expression. Build with `qsts.compile`.

    `f(**values)`, `f.grad(**values)` and `f.value_and_grad(**values)` take one
    number or array per variable; with numbers they run generated straight-line
    Python, with arrays the blocked numpy backend. `f.wrt` names the variables
    the gradient is taken for (all of them unless `compile(..., wrt=...)` says);
    the others are data, held as given.

    >>> import qsts
    >>> f = qsts.compile("(x+y)+x*(x+y)")
    >>> f(x=1, y=2), f.grad(x=1, y=2)
    (6.0, {'x': 5.0, 'y': 2.0})
    """

    def __init__(self, expression: Expression, block: int | None = None, threads: int | None = None,
                 wrt=None):
        from .errors import QstsError, UnknownVariableError

        if block is not None and (type(block) is not int or block <= 0 or block % CHUNK):
            raise QstsError(f"block must be a positive multiple of {CHUNK}, got {block!r}")
        if threads is not None and (type(threads) is not int or threads <= 0):
            raise QstsError(f"threads must be a positive whole number, got {threads!r}")
        present = {n.value for n in topological([expression.root]) if n.op == "var"}
        if not present <= set(expression.variables):
            raise QstsError(f"the expression uses {sorted(present - set(expression.variables))} "
                            "beyond its variables")
        self.expression = expression
        self.variables: tuple[str, ...] = expression.variables
        if wrt is None:
            self.wrt = self.variables
        else:
            try:
                names = None if isinstance(wrt, str) else tuple(wrt)  # once: wrt may be an iterator
            except TypeError:
                names = None
            if names is None or not all(isinstance(w, str) for w in names):
                raise QstsError(f"wrt must be a list of variable names, got {wrt!r:.60}")
            wrt = names
            unknown = [w for w in wrt if w not in self.variables]
            if unknown:
                raise UnknownVariableError(f"wrt names {', '.join(map(repr, unknown))}, not in the expression "
                                           f"(its variables: {', '.join(self.variables) or 'none'})")
            self.wrt = tuple(v for v in self.variables if v in set(wrt))  # in `variables` order
        self._block, self._threads = block, threads
        self._value = self._hess = None
        self._arrays: dict = {}  # (which, signature) -> (ArrayProgram, output modes)
        grads = [node for node, _ in expression.partials(frozenset(), self.wrt)]
        index = {v: i for i, v in enumerate(self.variables)}
        partials = "{{" + ", ".join(f"N{index[v]}: {{{k + 1}}}" for k, v in enumerate(self.wrt)) + "}}"
        roots = [expression.root, *grads]
        self._both = _Compiled(roots, self.variables, f"({{0}}, {partials})", self._slow_value_and_grad)
        # The public methods are the generated entries themselves: one call, no wrapper.
        self.value_and_grad = self._both.entry
        self.grad = keyword_entry(self._both.program, self._both.scalar.safe, self._slow_grad, partials)

    @property
    def source(self) -> str:
        """The generated Python of value and gradient (for reading, not editing)."""
        return self._both.source

    @property
    def program(self) -> Program:
        """The flat program of value and gradient (scalar inputs)."""
        return self._both.program

    def __call__(self, /, **values):
        """The value at `values` (numbers, or arrays evaluated pointwise)."""
        return self._value_compiled().entry(**values)

    def _value_compiled(self) -> _Compiled:
        if self._value is None:
            self._value = _Compiled([self.expression.root], self.variables, "{0}", self._slow_value)
        return self._value

    def hessian(self, /, **values) -> np.ndarray:
        """Second partials as an (n, n) array in `variables` order (scalar inputs)."""
        n = len(self.variables)
        upper = [(i, j) for i in range(n) for j in range(i, n)]
        if self._hess is None:  # the upper triangle only: mirrored, so exactly symmetric
            grads = self.expression.gradient()
            second = [gradient(grads[i].root, [self.variables[j]])[0] for i, j in upper]
            self._hess = _Compiled(second, self.variables, "None", None)
        args = self._args(values)
        if any(isinstance(a, np.ndarray) for a in args):
            from .errors import InputValueError

            raise InputValueError("hessian takes scalar values")
        h = np.empty((n, n))
        for (i, j), v in zip(upper, self._hess.scalar(*args)):
            h[i, j] = h[j, i] = v
        return h

    # The checked paths: ints, arrays, missing or unknown names.
    def _slow_value(self, values: dict):
        return self._run("value", values)[0]

    def _slow_value_and_grad(self, values: dict):
        value, *partials = self._run("both", values)
        return value, dict(zip(self.wrt, partials))

    def _slow_grad(self, values: dict):
        return self._slow_value_and_grad(values)[1]

    # ------------------------------------------------------------ mechanism
    def _args(self, values: dict) -> list:
        from .api import bind  # full checks and messages (api imports this module)

        env = bind(self.expression, values)
        return [env[n] for n in self.variables]

    def _run(self, which: str, values: dict) -> list:
        from .api import frame

        args = self._args(values)
        if not any(isinstance(a, np.ndarray) for a in args):
            compiled = self._both if which == "both" else self._value_compiled()
            return list(compiled.scalar(*args))
        env = dict(zip(self.variables, args))
        shape = frame(self.expression, env)
        signature = tuple(isinstance(a, np.ndarray) for a in args)
        plan = self._arrays.get((which, signature)) or self._plan(which, signature)
        program, modes = plan
        outs = program.run(flatten(args, shape), math.prod(shape), modes, self._block, self._threads)
        result = [outs[0].reshape(shape) if isinstance(outs[0], np.ndarray) else outs[0]]
        for name, out in zip(self.wrt, outs[1:]):
            a = env[name]
            if not isinstance(out, np.ndarray):
                result.append(out)
            elif np.shape(a) == shape:
                result.append(out.reshape(shape))
            else:  # an array broadcast against a larger one: sum down to its shape
                with np.errstate(all="ignore"):
                    result.append(unbroadcast(out.reshape(shape), shape, np.shape(a)))
        return result

    def _plan(self, which: str, signature: tuple) -> tuple:
        """The array program and output modes for inputs shaped as `signature` says."""
        arrays = frozenset(v for v, a in zip(self.variables, signature) if a)
        if which == "value":
            program, modes = self._value_compiled().program, [NATURAL]
        else:
            found = self.expression.partials(arrays, self.wrt)
            if self.expression.reduces:  # the gradient graph depends on which inputs are arrays
                program = compile_program([self.expression.root, *(node for node, _ in found)], self.variables)
            else:
                program = self._both.program
            modes = [NATURAL] + [partial_mode(v in arrays, is_total) for v, (_, is_total) in zip(self.wrt, found)]
        plan = self._arrays[which, signature] = (ArrayProgram(program, signature), modes)
        return plan


def compile(expr, /, *, block: int | None = None, threads: int | None = None, wrt=None):
    """Compile `expr` once into a `Function` of value, gradient and Hessian; a
    list of expressions gives a `VectorFunction` with a Jacobian.

    `block` (points per block, a multiple of 256) and `threads` tune the array
    backend; the defaults fit the block to the cache and use every core. `wrt`
    limits the gradient to those variables: the rest are data (no partials are
    computed or allocated for them).

    >>> import qsts
    >>> qsts.compile("x^2*y").value_and_grad(x=3.0, y=2.0)
    (18.0, {'x': 12.0, 'y': 9.0})
    """
    from .api import parse

    if isinstance(expr, (list, tuple)):
        from .errors import QstsError
        from .vector import VectorFunction

        if not expr:
            raise QstsError("compile needs at least one expression")
        if wrt is not None:
            raise QstsError("wrt is for one expression; a list's Jacobian covers all variables")
        Function(parse(expr[0]), block, threads)  # checks the options the same way
        return VectorFunction([parse(e) for e in expr], block, threads)
    return Function(parse(expr), block, threads, wrt)
