"""`Function` and `VectorFunction`: expressions compiled once and called many times.

Value and gradient are compiled into one program, so they share every
subexpression. Calls with numbers run generated straight-line Python
(`backends.scalar`); calls with arrays run an array backend (`backends.array`)
over a plan made once per call signature. Nothing but programs and plans is
kept between calls, so no result can go stale.
"""
from __future__ import annotations

import math
import operator
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import values as V
from .backends import ARRAY_BACKENDS, interpret
from .backends.scalar import Pack, call_entry, scalar_function
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
    """One program, its scalar function and source, and its fast paths
    `entry(*args, **values)`, whose result `pack` lays out (`slow(args, values)`
    takes every other call)."""

    def __init__(self, roots, inputs: Sequence[str], pack: Pack | None = None, slow=None):
        self.program: Program = compile_program(roots, inputs)
        self.scalar, self.source = scalar_function(self.program)
        self.entry = call_entry(self.program, self.scalar.safe, slow, pack) if pack else None


def _by_name(index: Sequence[int], texts: Sequence[str]) -> str:
    """The text of a dict of the generated code from variable `index[k]` (its
    name is the cell `Ni`) to `texts[k]`."""
    return "{" + ", ".join(f"N{i}: {t}" for i, t in zip(index, texts)) + "}"


class _Entry(property):
    """A `__call__` that is an attribute of each instance (the generated entry):
    Python's call finds it on the class, and property's getter, in C, hands
    over the instance's entry, with no Python frame between. A call of the
    descriptor itself (`Function.__call__(f, ...)`, `inspect.signature`) runs it too."""

    def __call__(self, instance, /, *args, **values):
        return self.fget(instance)(*args, **values)


class Function:
    """A compiled expression. Build with `qsts.compile`.

    `f(...)`, `f.grad(...)`, `f.value_and_grad(...)` and `f.hessian(...)` take
    one number or array per variable, by position in `f.variables` order, by
    keyword, or both (`f(1.0, y=2.0)`). With floats they run generated
    straight-line Python, with arrays the blocked numpy backend; one float per
    variable, all by position or all by keyword, is the fastest call. `f.wrt`
    names the variables the gradient is taken for (all of them unless
    `compile(..., wrt=...)` says); the others are data, held as given.

    >>> import qsts, numpy as np
    >>> f = qsts.compile("(x+y)+x*(x+y)")
    >>> f(1.0, 2.0), f(x=1, y=2), f.grad(1.0, y=2.0)
    (6.0, 6.0, {'x': 5.0, 'y': 2.0})
    >>> f(np.array([1.0, 2.0]), 2.0).tolist()
    [6.0, 12.0]
    """

    def __init__(self, expression: Expression, block: int | None = None, threads: int | None = None,
                 wrt=None):
        options = Options(block, threads)
        present = {n.value for n in topological([expression.root]) if n.op == VAR}
        if not present <= set(expression.variables):
            raise QstsError(f"the expression uses {sorted(present - set(expression.variables))} "
                            "beyond its variables")
        self.expression, self.options = expression, options
        self.variables: tuple[str, ...] = expression.variables
        self.wrt: tuple[str, ...] = self.variables if wrt is None else _wrt(wrt, self.variables)
        self._value = self._hess = None
        self._call = self._first_call  # becomes the value's generated entry on the first call
        self._plans: dict = {}  # (with gradient, signature) -> (Plan, backend)
        grads = [p.node for p in expression.partials(frozenset(), self.wrt)]
        index = [self.variables.index(v) for v in self.wrt]
        self._both = Compiled([expression.root, *grads], self.variables,
                              lambda o: f"({o[0]}, {_by_name(index, o[1:])})", self._slow_value_and_grad)
        # The public methods are the generated entries themselves: one call, no wrapper.
        self.value_and_grad = self._both.entry
        self.grad = call_entry(self._both.program, self._both.scalar.safe, self._slow_grad,
                               lambda o: _by_name(index, o[1:]))

    @property
    def source(self) -> str:
        """The generated Python of value and gradient (for reading, not editing)."""
        return self._both.source

    @property
    def program(self) -> Program:
        """The flat program of value and gradient (scalar inputs)."""
        return self._both.program

    __call__ = _Entry(operator.attrgetter("_call"), doc="f(*args, **values): the value at `args` "
                      "(in `variables` order) and `values` (numbers, or arrays evaluated pointwise).")

    def _first_call(self, /, *args, **values):
        self._call = self._value_compiled().entry
        return self._call(*args, **values)

    def _value_compiled(self) -> Compiled:
        if self._value is None:
            self._value = Compiled([self.expression.root], self.variables, lambda o: o[0], self._slow_value)
        return self._value

    def hessian(self, /, *args, **values) -> np.ndarray:
        """Second partials as an (n, n) array in `variables` order (scalar inputs)."""
        n = len(self.variables)
        upper = [(i, j) for i in range(n) for j in range(i, n)]
        if self._hess is None:  # the upper triangle only: mirrored, so exactly symmetric
            grads = self.expression.gradient()
            second = [partials(grads[i].root, [self.variables[j]])[0].node for i, j in upper]
            self._hess = Compiled(second, self.variables)
        args = self._args(args, values)
        if any(isinstance(a, np.ndarray) for a in args):
            raise InputValueError("hessian takes scalar values")
        h = np.empty((n, n))
        for (i, j), v in zip(upper, self._hess.scalar(*args)):
            h[i, j] = h[j, i] = v
        return h

    # The checked paths: ints, arrays, a mix of positions and keywords, missing or unknown names.
    def _slow_value(self, args: tuple, values: dict):
        return self._run(False, args, values)[0]

    def _slow_value_and_grad(self, args: tuple, values: dict):
        value, *grads = self._run(True, args, values)
        return value, dict(zip(self.wrt, grads))

    def _slow_grad(self, args: tuple, values: dict):
        return self._slow_value_and_grad(args, values)[1]

    # ------------------------------------------------------------ mechanism
    def _args(self, args: tuple, values: dict) -> list:
        env = V.bind(self.variables, values, args)
        return [env[n] for n in self.variables]

    def _run(self, grad: bool, args: tuple, values: dict) -> list:
        args = self._args(args, values)
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
    """Run the plan for `key` on the array backend; the plan (from `make`) and
    its backend are built on the first call with that key and kept in `plans`."""
    if key not in plans:
        p = make()
        plans[key] = (p, ARRAY_BACKENDS["numpy"](p.program, p.schedule))
    p, backend = plans[key]
    return p.run(args, points, backend, options)


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
    Build with `qsts.compile([...])`. Calls take values by position (in
    `variables` order) and by keyword, as `Function`'s do.

    >>> import qsts
    >>> f = qsts.compile(["x*y", "x+z"])
    >>> f.variables, f(1, 2, z=3).tolist()
    (('x', 'y', 'z'), [2.0, 4.0])
    >>> f.jacobian(x=1, y=2, z=3).shape
    (2, 3)
    """

    def __init__(self, expressions: Sequence[Expression], block: int | None = None, threads: int | None = None):
        self.options = Options(block, threads)
        self.expressions = tuple(expressions)
        self.variables = tuple(dict.fromkeys(v for e in self.expressions for v in e.variables))
        self._plans: dict = {}  # (outputs, signature) -> (Plan, backend)
        self._values = Compiled([e.root for e in self.expressions], self.variables)
        jacobian = [p.node for e in self.expressions for p in partials(e.root, self.variables)]
        self._jacobian = Compiled(jacobian, self.variables)

    def __call__(self, /, *args, **values) -> np.ndarray:
        """The outputs: shape (outputs,), or (outputs, *shape) with arrays."""
        return self._run(self._values, args, values, (len(self.expressions),))

    def jacobian(self, /, *args, **values) -> np.ndarray:
        """Partials: shape (outputs, variables), or (outputs, variables, *shape) with arrays."""
        return self._run(self._jacobian, args, values, (len(self.expressions), len(self.variables)))

    def _run(self, compiled: Compiled, args: tuple, values: dict, lead: tuple) -> np.ndarray:
        env = V.bind(self.variables, values, args)
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
    if isinstance(expr, (list, tuple)):
        if not expr:
            raise QstsError("compile needs at least one expression")
        if wrt is not None:
            raise QstsError("wrt is for one expression; a list's Jacobian covers all variables")
        return VectorFunction([parse(e) for e in expr], block, threads)
    return Function(parse(expr), block, threads, wrt)
