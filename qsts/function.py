"""`Function` and `VectorFunction`: expressions compiled once and called many times.

Value and gradient are compiled into one program, so they share every
subexpression. Calls with numbers run generated straight-line Python
(`backends.scalar`); calls with arrays run an array backend (`backends.array`)
over a plan made once per call signature. Nothing but programs and plans is
kept between calls, so no result can go stale.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import values as V
from .backends import ARRAY_BACKENDS, choose, interpret, require
from .backends.scalar import Pack, keyword_entry, scalar_function
from .diff import partials
from .errors import InputValueError, QstsError, UnknownVariableError
from .expression import Expression, parse
from .graph import VAR, topological
from .options import Options
from .program import Program, compile_program
from .schedule import Schedule, schedule


class Plan(NamedTuple):
    """What an array call runs: the program, its schedule for the call's
    signature, and how each output comes back (`values.POINTS`, ...)."""
    program: Program
    schedule: Schedule
    modes: tuple[str, ...]

    def run(self, args: Sequence, points: tuple, backend=None, options: Options = Options()) -> list:
        """The outputs for `args` (floats and arrays) over `points`; by default
        the reference interpreter runs the program, else `backend` (built from it)."""
        inputs, n = V.flatten(args, points), math.prod(points)
        if backend is None:
            return interpret.run(self.program, self.schedule, inputs, n, self.modes)
        return backend.run(inputs, n, self.modes, options)


def plan(e: Expression, signature: tuple[bool, ...], wrt: Sequence[str] | None) -> Plan:
    """The plan of `e`'s value, and with `wrt` its partials for those variables,
    when the inputs flagged in `signature` (in `e.variables` order) are arrays.
    Made once per expression and signature."""
    wrt = None if wrt is None else tuple(wrt)
    return e.memo(("plan", signature, wrt), lambda: _plan(e, signature, wrt))


def _plan(e: Expression, signature: tuple[bool, ...], wrt: tuple[str, ...] | None) -> Plan:
    arrays = frozenset(v for v, a in zip(e.variables, signature) if a)
    roots, modes = [e.root], [V.NATURAL]
    if wrt is not None:
        found = e.partials(arrays, tuple(wrt))
        roots += [p.node for p in found]
        modes += [V.partial_mode(v in arrays, p.total) for v, p in zip(wrt, found)]
    program = compile_program(roots, e.variables)
    return Plan(program, schedule(program, signature), tuple(modes))


class Compiled:
    """One program, its scalar function and source, and its keyword fast path
    `entry(**values)`, whose result `pack` lays out (`slow` takes every other call)."""

    def __init__(self, roots, inputs: Sequence[str], pack: Pack | None = None, slow=None):
        self.program: Program = compile_program(roots, inputs)
        self.scalar, self.source = scalar_function(self.program)
        self.entry = keyword_entry(self.program, self.scalar.safe, slow, pack) if pack else None


def _by_name(index: Sequence[int], texts: Sequence[str]) -> str:
    """The text of a dict of the generated code from variable `index[k]` (its
    name is the cell `Ni`) to `texts[k]`."""
    return "{" + ", ".join(f"N{i}: {t}" for i, t in zip(index, texts)) + "}"


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
                 wrt=None, backend: str = "auto"):
        options = Options(block, threads, backend)
        require(backend)
        present = {n.value for n in topological([expression.root]) if n.op == VAR}
        if not present <= set(expression.variables):
            raise QstsError(f"the expression uses {sorted(present - set(expression.variables))} "
                            "beyond its variables")
        self.expression, self.options = expression, options
        self.variables: tuple[str, ...] = expression.variables
        self.wrt: tuple[str, ...] = self.variables if wrt is None else _wrt(wrt, self.variables)
        self._value = self._hess = None
        self._plans: dict = {}  # (with gradient, signature) -> Plan, and (that, backend name) -> backend
        grads = [p.node for p in expression.partials(frozenset(), self.wrt)]
        index = [self.variables.index(v) for v in self.wrt]
        self._both = Compiled([expression.root, *grads], self.variables,
                              lambda o: f"({o[0]}, {_by_name(index, o[1:])})", self._slow_value_and_grad)
        # The public methods are the generated entries themselves: one call, no wrapper.
        self.value_and_grad = self._both.entry
        self.grad = keyword_entry(self._both.program, self._both.scalar.safe, self._slow_grad,
                                  lambda o: _by_name(index, o[1:]))

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

    def _value_compiled(self) -> Compiled:
        if self._value is None:
            self._value = Compiled([self.expression.root], self.variables, lambda o: o[0], self._slow_value)
        return self._value

    def hessian(self, /, **values) -> np.ndarray:
        """Second partials as an (n, n) array in `variables` order (scalar inputs)."""
        n = len(self.variables)
        upper = [(i, j) for i in range(n) for j in range(i, n)]
        if self._hess is None:  # the upper triangle only: mirrored, so exactly symmetric
            grads = self.expression.gradient()
            second = [partials(grads[i].root, [self.variables[j]])[0].node for i, j in upper]
            self._hess = Compiled(second, self.variables)
        args = self._args(values)
        if any(isinstance(a, np.ndarray) for a in args):
            raise InputValueError("hessian takes scalar values")
        h = np.empty((n, n))
        for (i, j), v in zip(upper, self._hess.scalar(*args)):
            h[i, j] = h[j, i] = v
        return h

    # The checked paths: ints, arrays, missing or unknown names.
    def _slow_value(self, values: dict):
        return self._run(False, values)[0]

    def _slow_value_and_grad(self, values: dict):
        value, *grads = self._run(True, values)
        return value, dict(zip(self.wrt, grads))

    def _slow_grad(self, values: dict):
        return self._slow_value_and_grad(values)[1]

    # ------------------------------------------------------------ mechanism
    def _args(self, values: dict) -> list:
        env = V.bind(self.variables, values)
        return [env[n] for n in self.variables]

    def _run(self, grad: bool, values: dict) -> list:
        args = self._args(values)
        signature = V.signature(args)
        if not any(signature):
            return list((self._both if grad else self._value_compiled()).scalar(*args))
        env = dict(zip(self.variables, args))
        points = V.frame(self.expression, env)
        outs = _run_arrays(self._plans, (grad, signature), lambda: plan(self.expression, signature,
                                                                        self.wrt if grad else None),
                           args, points, self.options)
        return [V.value(outs[0], points)] + [V.partial(o, points, np.shape(env[v])) for v, o in zip(self.wrt, outs[1:])]


def _run_arrays(plans: dict, key: tuple, make: Callable[[], Plan], args: list, points: tuple,
                options: Options) -> list:
    """Run the plan for `key` on the backend `options` chooses for this many
    points; the plan (from `make`) and each backend built from it are made on
    first use and kept in `plans`."""
    if key not in plans:
        plans[key] = make()
    p = plans[key]
    name = choose(options.backend, math.prod(points), p.program)
    if (key, name) not in plans:
        plans[key, name] = ARRAY_BACKENDS[name](p.program, p.schedule)
    return p.run(args, points, plans[key, name], options)


def _wrt(wrt, variables: tuple[str, ...]) -> tuple[str, ...]:
    """`compile(..., wrt=...)` checked, in `variables` order."""
    try:
        names = None if isinstance(wrt, str) else tuple(wrt)  # once: wrt may be an iterator
    except TypeError:
        names = None
    if names is None or not all(isinstance(w, str) for w in names):
        raise QstsError(f"wrt must be a list of variable names, got {wrt!r:.60}")
    unknown = [w for w in names if w not in variables]
    if unknown:
        raise UnknownVariableError(f"wrt names {', '.join(map(repr, unknown))}, not in the expression "
                                   f"(its variables: {', '.join(variables) or 'none'})")
    return tuple(v for v in variables if v in set(names))


class VectorFunction:
    """Several expressions over the union of their variables (in order of first
    appearance), compiled into one program each for the outputs and for the
    Jacobian, so subexpressions shared between outputs are computed once.
    Build with `qsts.compile([...])`.

    >>> import qsts
    >>> f = qsts.compile(["x*y", "x+z"])
    >>> f.variables, f(x=1, y=2, z=3).tolist()
    (('x', 'y', 'z'), [2.0, 4.0])
    >>> f.jacobian(x=1, y=2, z=3).shape
    (2, 3)
    """

    def __init__(self, expressions: Sequence[Expression], block: int | None = None, threads: int | None = None,
                 backend: str = "auto"):
        self.options = Options(block, threads, backend)
        require(backend)
        self.expressions = tuple(expressions)
        self.variables = tuple(dict.fromkeys(v for e in self.expressions for v in e.variables))
        self._plans: dict = {}  # (outputs, signature) -> Plan, and (that, backend name) -> backend
        self._values = Compiled([e.root for e in self.expressions], self.variables)
        jacobian = [p.node for e in self.expressions for p in partials(e.root, self.variables)]
        self._jacobian = Compiled(jacobian, self.variables)

    def __call__(self, /, **values) -> np.ndarray:
        """The outputs: shape (outputs,), or (outputs, *shape) with arrays."""
        return self._run(self._values, values, (len(self.expressions),))

    def jacobian(self, /, **values) -> np.ndarray:
        """Partials: shape (outputs, variables), or (outputs, variables, *shape) with arrays."""
        return self._run(self._jacobian, values, (len(self.expressions), len(self.variables)))

    def _run(self, compiled: Compiled, values: dict, lead: tuple) -> np.ndarray:
        env = V.bind(self.variables, values)
        args = [env[v] for v in self.variables]
        signature = V.signature(args)
        if not any(signature):
            return V.stacked(compiled.scalar(*args), lead, ())
        if any(e.reduces for e in self.expressions):
            raise InputValueError("compile([...]) takes scalar values when an expression has sum, mean or "
                                  "size; compile each expression on its own for arrays")
        program, points = compiled.program, V.out_shape(env)
        outs = _run_arrays(self._plans, (lead, signature), lambda: Plan(program, schedule(program, signature),
                                                                         (V.POINTS,) * len(program.outputs)),
                           args, points, self.options)
        return V.stacked(outs, lead, points)


def compile(expr, /, *, block: int | None = None, threads: int | None = None, wrt=None, backend: str = "auto"):
    """Compile `expr` once into a `Function` of value, gradient and Hessian; a
    list of expressions gives a `VectorFunction` with a Jacobian.

    `backend` picks what runs calls with arrays: "native" compiles each pass to
    one machine-code loop (needs llvmlite), "numpy" runs numpy kernels block by
    block, "auto" (the default) takes native from 65,536 points where llvmlite
    is installed, else numpy. `block` (points per block of the numpy backend, a
    multiple of 256) and `threads` tune them; the defaults fit the block to the
    cache and use every core. `wrt`
    limits the gradient to those variables: the rest are data (no partials are
    computed or allocated for them).

    >>> import qsts
    >>> qsts.compile("x^2*y").value_and_grad(x=3.0, y=2.0)
    (18.0, {'x': 12.0, 'y': 9.0})
    """
    if isinstance(expr, (list, tuple)):
        if not expr:
            raise QstsError("compile needs at least one expression")
        if wrt is not None:
            raise QstsError("wrt is for one expression; a list's Jacobian covers all variables")
        return VectorFunction([parse(e) for e in expr], block, threads, backend)
    return Function(parse(expr), block, threads, wrt, backend)
