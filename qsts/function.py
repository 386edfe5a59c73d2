"""`Function` and `VectorFunction`: expressions compiled once and called many times.

Value and gradient are compiled into one program, so they share every
subexpression. Calls with numbers run generated straight-line Python
(`backends.scalar`); calls with arrays run the native or the numpy backend
(`backends.choose`) over a plan made once per call signature. Nothing but programs and plans is
kept between calls, so no result can go stale.
"""
from __future__ import annotations

import collections
import hashlib
import math
import operator
import pickle
import threading
from typing import NamedTuple, Sequence

import numpy as np

from . import export as X, lazy, printing, values as V
from .backends import ARRAY_BACKENDS, choose, faster, interpret, require
from .backends.scalar import Pack, call_entry, scalar_function
from .diff import partials
from .errors import InputValueError, QstsError
from .expression import Expression, describe, parse
from .graph import VAR, topological
from .options import Options, wrt_names
from .program import Program, compile_program
from .schedule import Schedule, schedule


class Plan(NamedTuple):
    """What an array call runs: the program, its schedule for the call's
    signature, and how each output comes back (`values.POINTS`, ...)."""
    program: Program
    schedule: Schedule
    modes: tuple[str, ...]

    def run(self, args: Sequence, points: tuple, backend=None, options: Options = Options(),
            out: Sequence | None = None) -> list:
        """The outputs for `args` (floats and arrays) over `points`; by default
        the reference interpreter runs the program, else `backend` (built from it).
        `out` (per output, a flat float64 array of the points, or None) takes
        the outputs over the points (`values.targets`)."""
        inputs, n = V.flatten(args, points), math.prod(points)
        if backend is None:
            return interpret.run(self.program, self.schedule, inputs, n, self.modes, out)
        return backend.run(inputs, n, self.modes, options, out)


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


class _Runs:
    """What Function and VectorFunction share: the plan of each call signature
    (`_make`), the backends built from it, made once each and kept, and the
    runs over arrays, in memory or lazily on Dask. They pickle compactly: the
    expressions and options (`__reduce__`), loaded once per process."""

    _plans: dict  # key -> Plan, (key, "native is faster") -> bool, (key, backend name) -> backend

    def _make(self, key) -> Plan:
        raise NotImplementedError

    def _plan(self, key) -> Plan:
        if key not in self._plans:
            with _making:  # Dask runs a first call's blocks in threads at once: build once
                if key not in self._plans:
                    p = self._make(key)
                    self._plans[key, "native is faster"] = faster(p.program, p.schedule)  # once per plan
                    self._plans[key] = p
        return self._plans[key]

    def _backend(self, key, name: str):
        """The backend `name` of the plan for `key`, built on first use."""
        if (key, name) not in self._plans:
            p = self._plan(key)
            with _making:
                if (key, name) not in self._plans:
                    self._plans[key, name] = ARRAY_BACKENDS[name](p.program, p.schedule)
        return self._plans[key, name]

    def _run_arrays(self, key, args: list, points: tuple, out: Sequence | None = None) -> list:
        """Run the plan for `key` on the backend `options` choose for this many
        points. `out` is `Plan.run`'s. With a dask array among `args`, the
        outputs are lazy (`qsts.lazy`), from the backend the same call in
        memory would take."""
        p = self._plan(key)
        name = choose(self.options.backend, math.prod(points), self._plans[key, "native is faster"])
        if V.any_lazy(args):
            if out is not None:
                raise InputValueError("out= takes numpy buffers, but with dask inputs the results are lazy "
                                      "dask arrays: compute them, or call without out=")
            return lazy.run(self, key, name, p, args, points, self.options)
        return p.run(args, points, self._backend(key, name), self.options, out)

    # ---------------------------------------------------------------- pickling
    def _arguments(self) -> tuple:
        raise NotImplementedError

    def _payload(self) -> tuple[bytes, bytes]:
        """The pickled (class, constructor arguments), and its digest: what a
        pickle holds, and the key a process loads it under once."""
        if self._pickled is None:
            payload = pickle.dumps((type(self), self._arguments()), protocol=pickle.HIGHEST_PROTOCOL)
            self._pickled = (hashlib.blake2b(payload, digest_size=16).digest(), payload)
        return self._pickled

    def __reduce__(self):
        return _load, self._payload()

    def __dask_tokenize__(self):
        """Dask's name for the function: its expressions' structural digests (the
        same in every process) and its options; no pickling."""
        return type(self).__name__, _identity(self._arguments())


def _identity(arguments: tuple) -> tuple:
    return tuple(_identity(a) if isinstance(a, tuple) else (a.root.digest, a.variables) if isinstance(a, Expression)
                 else a for a in arguments)


_making = threading.Lock()
_loaded: "collections.OrderedDict[bytes, _Runs]" = collections.OrderedDict()  # digest -> function
_LOADED = 64  # functions a process keeps loaded: each Dask task carries one, compiled once per process


def _load(digest: bytes, payload: bytes) -> "_Runs":
    """The function pickled as `payload`, made once per process (later loads
    of it, such as every Dask task of a call, share it and its compiled plans)."""
    with _making:
        f = _loaded.get(digest)
        if f is not None:
            _loaded.move_to_end(digest)
            return f
    cls, arguments = pickle.loads(payload)  # outside the lock: a big expression takes a while
    f = cls(*arguments)
    f._pickled = (digest, payload)
    with _making:
        f = _loaded.setdefault(digest, f)
        while len(_loaded) > _LOADED:
            _loaded.popitem(last=False)
    return f


class Function(_Runs):
    """A compiled expression. Build with `qsts.compile`.

    `f(...)`, `f.grad(...)`, `f.value_and_grad(...)` and `f.hessian(...)` take
    one number or array per variable, by position in `f.variables` order, by
    keyword, or both (`f(1.0, y=2.0)`). With floats they run generated
    straight-line Python, with arrays the backend `compile(..., backend=)` picks; one float per
    variable, all by position or all by keyword, is the fastest call. `f.wrt`
    names the variables the gradient is taken for (all of them unless
    `compile(..., wrt=...)` says); the others are data, held as given.

    `out=` takes buffers shaped like the result, writes the result into them
    and returns them (the same objects), as numpy's ufuncs do: an array for
    `f(...)`, a dict of arrays keyed by `f.wrt` for `f.grad(...)`, and a tuple
    of the two for `f.value_and_grad(...)`. Each buffer is a writeable,
    C-contiguous float64 array of its result's shape; a result that is a float
    takes a 0-d array (`np.empty(())`), which comes back in its place. Nothing
    is written unless every buffer fits. A buffer may be an input too
    (`f(x, out=x)`): the input is read first. A variable named `out` keeps its
    keyword (`f(out=1.0)` is its value), so its Function takes no buffers.

    >>> import qsts, numpy as np
    >>> f = qsts.compile("(x+y)+x*(x+y)")
    >>> f(1.0, 2.0), f(x=1, y=2), f.grad(1.0, y=2.0)
    (6.0, 6.0, {'x': 5.0, 'y': 2.0})
    >>> buf = np.empty(2)
    >>> f(np.array([1.0, 2.0]), 2.0, out=buf) is buf, buf.tolist()
    (True, [6.0, 12.0])
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
        self._pickled = None
        self.variables: tuple[str, ...] = expression.variables
        self.wrt: tuple[str, ...] = self.variables if wrt is None else wrt_names(wrt, self.variables)
        self._value = self._hess = None
        self._call = self._first_call  # becomes the value's generated entry on the first call
        self._plans: dict = {}  # (with gradient, signature) -> Plan, and (that, backend name) -> backend
        grads = [p.node for p in expression.partials(frozenset(), self.wrt)]
        index = [self.variables.index(v) for v in self.wrt]
        self._both = Compiled([expression.root, *grads], self.variables,
                              lambda o: f"({o[0]}, {_by_name(index, o[1:])})", self._slow_value_and_grad)
        # The public methods are the generated entries themselves: one call, no wrapper.
        self.value_and_grad = self._both.entry
        self.grad = call_entry(self._both.program, self._both.scalar.safe, self._slow_grad,
                               lambda o: _by_name(index, o[1:]))

    def __repr__(self) -> str:
        """What the expression's repr says, and `wrt` when it is not every variable.

        >>> import qsts
        >>> qsts.compile("x^2*y", wrt=["x"])
        Function('y*x^2', variables=('x', 'y'), nodes=5, wrt=('x',))
        """
        text = describe("Function", repr(printing.preview(self.expression.root, printing.REPR_WIDTH)),
                        self.variables, self.expression.node_count)
        return text if self.wrt == self.variables else f"{text[:-1]}, wrt={self.wrt!r})"

    @property
    def source(self) -> str:
        """The generated Python of value and gradient (for reading, not editing)."""
        return self._both.source

    @property
    def program(self) -> Program:
        """The flat program of value and gradient (scalar inputs)."""
        return self._both.program

    def export(self, language: str, name: str = "qsts_fn") -> str:
        """Source text of value and gradient, every subexpression computed once.

        `"c"`: self-contained C99 (`<math.h>` only) of `void name(const double *in,
        double *out)`: `in` holds the variables in `f.variables` order, `out` gets
        the value, then the partials in `f.wrt` order (`f.variables` unless
        `wrt=` chose a subset). It calls the C library as the scalar program and
        the native backend do, so with `-ffp-contract=off` (gcc's default under
        `-std=c99`) it gives their bits; numpy's ufuncs, which the numpy backend
        runs, round exp, log, the trigonometric and hyperbolic functions, pow and
        atan2 their own way, within an ulp or two.
        `"python"`: numpy-only source of `def name(*variables) -> (value,
        (partials...))`, elementwise over floats and arrays, as the numpy backend
        computes (partials per point, never summed). Both keep qsts's IEEE
        conventions (abs'(0) = 0, min/max ties split, x^2 as x*x, the sigmoid and
        softplus tails). Expressions with reductions (sum, mean, size) are refused.

        >>> import qsts
        >>> print(qsts.compile("x^2*y").export("c").splitlines()[1])
         *   y*x^2
        """
        return X.export(self.program, language, name, str(self.expression), self.wrt)

    __call__ = _Entry(operator.attrgetter("_call"), doc="f(*args, out=None, **values): the value at `args` "
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
        if any(V.signature(args)) or V.any_lazy(args):
            raise InputValueError("hessian takes scalar values")
        h = np.empty((n, n))
        for (i, j), v in zip(upper, self._hess.scalar(*args)):
            h[i, j] = h[j, i] = v
        return h

    # The checked paths: ints, arrays, a mix of positions and keywords, missing or unknown names, out=.
    def _slow_value(self, args: tuple, values: dict):
        values, out = V.split_out(self.variables, values)
        buffers = None if out is None else [("out", out)]
        return self._run(False, args, values, buffers)[0]

    def _slow_value_and_grad(self, args: tuple, values: dict):
        values, out = V.split_out(self.variables, values)
        value, *grads = self._run(True, args, values, None if out is None else V.pair_buffers(out, self.wrt))
        return (value, dict(zip(self.wrt, grads))) if out is None else out

    def _slow_grad(self, args: tuple, values: dict):
        values, out = V.split_out(self.variables, values)
        buffers = None if out is None else [(None, None), *V.dict_buffers("out", out, self.wrt)]  # no value buffer
        grads = self._run(True, args, values, buffers)[1:]
        return dict(zip(self.wrt, grads)) if out is None else out

    # ------------------------------------------------------------ mechanism
    def _args(self, args: tuple, values: dict) -> list:
        env = V.bind(self.variables, values, args)
        return [env[n] for n in self.variables]

    def _run(self, grad: bool, args: tuple, values: dict, buffers: list | None = None) -> list:
        """The outputs (value, then the partials of `wrt` with `grad`), each
        written into its buffer where `buffers` gives one (see `values.checked`)."""
        args = self._args(args, values)
        if not all(type(a) is float for a in args):  # coerced: else numpy or dask arrays
            return self._run_points(grad, args, buffers)
        given = V.checked(buffers, [()] * (1 + len(self.wrt) * grad), args)
        outs = (self._both if grad else self._value_compiled()).scalar(*args)
        return list(outs) if given is None else [V.place(o, b) for o, b in zip(outs, given)]

    def _run_points(self, grad: bool, args: list, buffers: list | None) -> list:
        signature = V.signature(args)
        env = dict(zip(self.variables, args))
        points = V.frame(self.expression, env)
        key = (grad, signature)
        wrt = self.wrt if grad else ()
        shapes = [np.shape(env[v]) for v in wrt]
        given = None if buffers is None else V.checked(buffers, [points if self._plan(key).schedule.out_varies[0]
                                                                  else (), *shapes], args)
        outs = self._run_arrays(key, args, points, None if given is None else V.targets(given, points))
        if V.any_lazy(args):
            return [outs[0]] + [o if o.ndim == 0 or shape == points else lazy.unbroadcast(o, points, shape)
                                for o, shape in zip(outs[1:], shapes)]
        into = given or [None] * len(outs)
        return ([V.value(outs[0], points, into[0])]
                + [V.partial(o, points, shape, b) for o, shape, b in zip(outs[1:], shapes, into[1:])])

    def _make(self, key) -> Plan:
        grad, signature = key
        return plan(self.expression, signature, self.wrt if grad else None)

    def _arguments(self) -> tuple:
        o = self.options
        return self.expression, o.block, o.threads, self.wrt, o.backend


OUTPUTS = 8  # outputs shown in a VectorFunction's repr


class VectorFunction(_Runs):
    """Several expressions over the union of their variables (in order of first
    appearance), compiled into one program each for the outputs and for the
    Jacobian, so subexpressions shared between outputs are computed once.
    Build with `qsts.compile([...])`. Calls take values by position (in
    `variables` order) and by keyword, and `out=` one buffer shaped like the
    result, as `Function`'s do.

    >>> import qsts
    >>> f = qsts.compile(["x*y", "x+z"])
    >>> f.variables, f(1, 2, z=3).tolist()
    (('x', 'y', 'z'), [2.0, 4.0])
    >>> f.jacobian(x=1, y=2, z=3).shape
    (2, 3)
    """

    def __init__(self, expressions: Sequence[Expression], block: int | None = None, threads: int | None = None,
                 backend: str = "auto"):
        self.options = Options(block, threads, backend)
        require(backend)
        self._pickled = None
        self.expressions = tuple(expressions)
        self.variables = tuple(dict.fromkeys(v for e in self.expressions for v in e.variables))
        self._plans: dict = {}  # (outputs, signature) -> Plan, and (that, backend name) -> backend
        self._values = Compiled([e.root for e in self.expressions], self.variables)
        jacobian = [p.node for e in self.expressions for p in partials(e.root, self.variables)]
        self._jacobian = Compiled(jacobian, self.variables)

    def __repr__(self) -> str:
        """The outputs' infix (the first `OUTPUTS`, cut to share `printing.REPR_WIDTH`),
        the variables and the nodes of all the outputs, each shared node once.

        >>> import qsts
        >>> qsts.compile(["x*y", "x + z"])
        VectorFunction(['x*y', 'x + z'], variables=('x', 'y', 'z'), nodes=5)
        """
        shown = self.expressions[:OUTPUTS]
        width = max(printing.REPR_WIDTH // max(len(shown), 1), 20)
        texts = [repr(printing.preview(e.root, width)) for e in shown] + ["..."] * (len(self.expressions) > OUTPUTS)
        nodes = len(topological([e.root for e in self.expressions]))
        return describe("VectorFunction", f"[{', '.join(texts)}]", self.variables, nodes)

    def __call__(self, /, *args, **values) -> np.ndarray:
        """The outputs: shape (outputs,), or (outputs, *shape) with arrays (into `out=` if given)."""
        return self._run(self._values, args, values, (len(self.expressions),))

    def jacobian(self, /, *args, **values) -> np.ndarray:
        """Partials: shape (outputs, variables), or (outputs, variables, *shape) with arrays
        (into `out=` if given)."""
        return self._run(self._jacobian, args, values, (len(self.expressions), len(self.variables)))

    def _run(self, compiled: Compiled, args: tuple, values: dict, lead: tuple) -> np.ndarray:
        values, out = V.split_out(self.variables, values)
        env = V.bind(self.variables, values, args)
        args = [env[v] for v in self.variables]
        signature = V.signature(args)
        if any(signature) and any(e.reduces for e in self.expressions):
            raise InputValueError("compile([...]) takes scalar values when an expression has sum, mean or "
                                  "size; compile each expression on its own for arrays")
        points = V.out_shape(env) if any(signature) else ()
        given = V.checked(None if out is None else [("out", out)], [lead + points], args)
        into = None if given is None else given[0]
        if not any(signature) and not V.any_lazy(args):
            return V.stacked(compiled.scalar(*args), lead, (), into)
        rows = None if into is None else V.rows(into, len(compiled.program.outputs), points)
        outs = self._run_arrays((lead, signature), args, points, rows)
        if V.any_lazy(args):
            return lazy.stacked(outs, lead, points)
        return V.stacked(outs, lead, points, into)

    def _make(self, key) -> Plan:
        lead, signature = key
        program = (self._values if len(lead) == 1 else self._jacobian).program
        return Plan(program, schedule(program, signature), (V.POINTS,) * len(program.outputs))

    def _arguments(self) -> tuple:
        o = self.options
        return self.expressions, o.block, o.threads, o.backend


def compile(expr, /, *, block: int | None = None, threads: int | None = None, wrt=None, backend: str = "auto"):
    """Compile `expr` once into a `Function` of value, gradient and Hessian; a
    list of expressions gives a `VectorFunction` with a Jacobian.

    `backend` picks what runs calls with arrays: "native" compiles each pass to
    one machine-code loop (needs llvmlite), "numpy" runs numpy kernels block by
    block, "auto" (the default) takes native from 65,536 points where llvmlite
    is installed, unless the program's C library functions (exp, tanh, ...)
    make numpy's SIMD loops faster there (`backends.COSTS`), else numpy. `block` (points per block of the numpy backend, a
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
