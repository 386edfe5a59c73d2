"""LLVM IR text for one pass of a schedule: a loop over the points, `width` at a time.

Pure text generation (no llvmlite here): the native backend compiles what this
returns. The rules, one row per operator, are `RULES`: each emits the IR of its
operator on vectors of `width` doubles from the IR of its arguments, with the
scalar kernels' exact semantics (`qsts.kernels`): NaN handling of min, max,
relu, sign and heaviside; x^2 as x*x; the C library's function for everything
that is not a basic operation, called per point as Python's `math` calls it.

The kernel `qsts_kernel(in, sc, out, sums, scratch, start, stop)` runs points
[start, stop): `in` points to the varying inputs' arrays, `sc` to the scalars'
values, `out` to the output arrays, `sums` to the chunk-sum arrays (all in the
order of the pass's `Layout`), `scratch` to CHUNK doubles per summed goal (on
the heap: thousands of sums would overflow a thread's stack). `start` is a
multiple of CHUNK. Per CHUNK points, the values of each summed goal go into its
scratch, added in numpy's
pairwise order (`@pw`, as `np.add.reduce` adds a 256-point row), plus 0.0 as
numpy starts from its identity: the numpy backend's chunk sums, bit for bit.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from ..kernels import CHUNK, SIGMOID_DEEP
from ..program import Program
from ..schedule import Pass

ENTRY = "qsts_kernel"  # the kernel's name in the text; the loader makes it unique


def hexd(value: float) -> str:
    """A double as LLVM writes it exactly (NaN payloads and -0.0 included)."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"


@dataclass(frozen=True)
class Layout:
    """Which slots a pass's kernel reads and writes, in argument-table order."""
    steps: tuple          # the instructions it runs, in program order
    arrays: tuple[int, ...]    # input slots read per point
    scalars: tuple[int, ...]   # slots read once (float inputs, scalar instructions)
    constants: dict            # slot -> value, written into the code
    outs: tuple[int, ...]      # slots written per point
    sums: tuple[int, ...]      # slots whose chunk sums are written

    @staticmethod
    def of(program: Program, this: Pass, summed: tuple[bool, ...], arrays: set[int]) -> "Layout":
        """The layout of pass `this` when its goals are summed as `summed` says
        and the input slots in `arrays` hold arrays."""
        goals = [program.outputs[k] for k in this.outputs] + [program.instructions[i].args[0] for i in this.sums]
        steps = tuple(program.instructions[i] for i in this.steps)
        made = {ins.out for ins in steps}
        constants = dict(program.constants)
        read = {a for ins in steps for a in ins.args} | set(goals)
        return Layout(steps, tuple(sorted(read & arrays)),
                      tuple(sorted(s for s in read - made - arrays if s not in constants)), constants,
                      tuple(g for g, s in zip(goals, summed) if not s), tuple(g for g, s in zip(goals, summed) if s))


# ---------------------------------------------------------------- emitting

class Body:
    """Emits the instructions of a loop body on vectors of `width` doubles."""

    def __init__(self, width: int):
        self.width, self.lines, self.count = width, [], 0
        self.vec = f"<{width} x double>"
        self.mask = f"<{width} x i1>"
        self.calls: set[tuple[str, int]] = set()  # functions called: (name, arity; -1 an intrinsic)
        self.pairs: dict[str, tuple[str, str]] = {}  # argument -> its sin and cos
        self.paired: set[str] = set()  # arguments of both a sin and a cos: one sincos serves both

    def emit(self, text: str) -> str:
        self.count += 1
        name = f"%v{self.count}"
        self.lines.append(f"  {name} = {text}")
        return name

    def const(self, value: float) -> str:
        return "<" + ", ".join([f"double {hexd(value)}"] * self.width) + ">"

    def op(self, instruction: str, *args: str) -> str:
        return self.emit(f"{instruction} {self.vec} {', '.join(args)}")

    def cmp(self, predicate: str, a: str, b: str) -> str:
        return self.emit(f"fcmp {predicate} {self.vec} {a}, {b}")

    def either(self, c: str, d: str) -> str:
        return self.emit(f"or {self.mask} {c}, {d}")

    def select(self, c: str, a: str, b: str) -> str:
        return self.emit(f"select {self.mask} {c}, {self.vec} {a}, {self.vec} {b}")

    def intrinsic(self, name: str, a: str) -> str:
        self.calls.add((f"llvm.{name}.v{self.width}f64", -1))
        return self.emit(f"call {self.vec} @llvm.{name}.v{self.width}f64({self.vec} {a})")

    def sincos(self, a: str) -> tuple[str, str]:
        """sin(a) and cos(a) from one C library `sincos` per point (the same bits
        as sin and cos: glibc computes them with the same code), once per `a`."""
        if a not in self.pairs:
            self.calls.add(("sincos", 1))
            both = self.emit(f"call {{{self.vec}, {self.vec}}} @v.sincos({self.vec} {a})")
            self.pairs[a] = (self.emit(f"extractvalue {{{self.vec}, {self.vec}}} {both}, 0"),
                             self.emit(f"extractvalue {{{self.vec}, {self.vec}}} {both}, 1"))
        return self.pairs[a]

    def libm(self, name: str, *args: str) -> str:
        """The C library's `name` per point: what Python's math module calls. The
        body calls a helper that loops over the lanes (`_helpers`), so the IR, and
        the compile time, grow by one call per use, not by one per lane."""
        self.calls.add((name, len(args)))
        return self.emit(f"call {self.vec} @v.{name}({', '.join(f'{self.vec} {x}' for x in args)})")


def _pow(b: Body, x: str, y: str) -> str:
    square = b.op("fmul", x, x)
    if y == b.const(2.0):  # the exponent is the number 2 (constants are their literals)
        return square  # as kernels.pow_: x^2 is x*x, correctly rounded
    return b.select(b.cmp("oeq", y, b.const(2.0)), square, b.libm("pow", x, y))


def _sign(b: Body, a: str) -> str:
    zero = b.op("fadd", b.op("fmul", a, b.const(0.0)), b.const(0.0))  # 0 -> 0.0, nan -> nan
    return b.select(b.cmp("ogt", a, b.const(0.0)), b.const(1.0),
                    b.select(b.cmp("olt", a, b.const(0.0)), b.const(-1.0), zero))


def _pick(predicate: str) -> Callable[[Body, str, str], str]:
    """min/max as numpy's: `a` where `a <pred> b` or a is NaN, else b (a tie gives b)."""
    return lambda b, x, y: b.select(b.either(b.cmp(predicate, x, y), b.cmp("uno", x, x)), x, y)


def _heaviside(b: Body, a: str, h0: str) -> str:
    return b.select(b.cmp("ogt", a, b.const(0.0)), b.const(1.0),
                    b.select(b.cmp("olt", a, b.const(0.0)), b.const(0.0),
                             b.select(b.cmp("oeq", a, b.const(0.0)), h0, a)))


def _relu(b: Body, a: str) -> str:
    return b.select(b.either(b.cmp("ogt", a, b.const(0.0)), b.cmp("uno", a, a)), a, b.const(0.0))


def _sigmoid(b: Body, a: str) -> str:
    """As kernels.sigmoid: exp(a) deep in the left tail, else 1/(1 + exp(-a)); one exp."""
    deep = b.cmp("olt", a, b.const(SIGMOID_DEEP))
    e = b.libm("exp", b.select(deep, a, b.emit(f"fneg {b.vec} {a}")))
    return b.select(deep, e, b.op("fdiv", b.const(1.0), b.op("fadd", b.const(1.0), e)))


def _softplus(b: Body, a: str) -> str:
    """As kernels.softplus: max(a, 0) + log1p(exp(-|a|)), NaN kept."""
    tail = b.libm("log1p", b.libm("exp", b.emit(f"fneg {b.vec} {b.intrinsic('fabs', a)}")))
    top = b.select(b.cmp("olt", a, b.const(0.0)), b.const(0.0), a)  # Python's max(a, 0.0)
    return b.select(b.cmp("uno", a, a), a, b.op("fadd", top, tail))


def _libm(name: str) -> Callable[..., str]:
    return lambda b, *args: b.libm(name, *args)


# One row per elementwise operator: (body, *argument IR) -> IR of the result.
RULES: dict[str, Callable[..., str]] = {
    "add": lambda b, x, y: b.op("fadd", x, y),
    "sub": lambda b, x, y: b.op("fsub", x, y),
    "mul": lambda b, x, y: b.op("fmul", x, y),
    "div": lambda b, x, y: b.op("fdiv", x, y),
    "pow": _pow,
    "neg": lambda b, x: b.emit(f"fneg {b.vec} {x}"),
    "sin": lambda b, x: b.sincos(x)[0] if x in b.paired else b.libm("sin", x),
    "cos": lambda b, x: b.sincos(x)[1] if x in b.paired else b.libm("cos", x),
    "tan": _libm("tan"),
    "asin": _libm("asin"), "acos": _libm("acos"), "atan": _libm("atan"),
    "sinh": _libm("sinh"), "cosh": _libm("cosh"), "tanh": _libm("tanh"),
    "exp": _libm("exp"), "log": _libm("log"),
    "log10": _libm("log10"), "log2": _libm("log2"), "log1p": _libm("log1p"), "expm1": _libm("expm1"),
    "erf": _libm("erf"), "erfc": _libm("erfc"), "cbrt": _libm("cbrt"), "hypot": _libm("hypot"),
    "sqrt": lambda b, x: b.intrinsic("sqrt", x),  # IEEE: correctly rounded, as math.sqrt
    "abs": lambda b, x: b.intrinsic("fabs", x),
    "sign": _sign,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "softplus": _softplus,
    "atan2": _libm("atan2"),
    "min": _pick("olt"),
    "max": _pick("ogt"),
    "heaviside": _heaviside,
}


# The rows that call the C library, whose results equal the scalar program's (it
# calls the same functions) but not numpy's SIMD loops, which round differently.
LIBM = frozenset({"sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log",
                  "sigmoid", "softplus", "atan2", "pow", "log10", "log2", "log1p", "expm1", "erf", "erfc",
                  "cbrt", "hypot"})


def body(layout: Layout, width: int, value_of: dict, sincos: bool = True) -> Body:
    """The straight-line body of a pass: `value_of` maps the slots known before
    it (inputs, scalars) to IR; the steps' values are added to it."""
    b = Body(width)
    for s, v in layout.constants.items():
        value_of.setdefault(s, b.const(v))
    # the one pairing of rows: where the C library has sincos, one call gives both
    taken = [{ins.args[0] for ins in layout.steps if ins.op == op} for op in ("sin", "cos") if sincos] or [set(), set()]
    b.paired.update(value_of[s] for s in taken[0] & taken[1] if s in value_of)
    for ins in layout.steps:
        args = [value_of[a] for a in ins.args]
        value_of[ins.out] = RULES[ins.op](b, *args)
        if ins.out in taken[0] & taken[1]:
            b.paired.add(value_of[ins.out])
    return b


# ---------------------------------------------------------------- the module

def module(layout: Layout, width: int, sincos: bool = True) -> tuple[str, list[str]]:
    """The IR of the kernel of one pass (see the module's docstring), and the C
    functions it calls; `sincos`: whether the C library has sincos."""
    value_of: dict[int, str] = {}
    head = _prologue(layout, width, value_of)
    loop, b = _points(layout, width, value_of, sincos)
    text = "\n".join([*_declarations(b), *head, *loop, *_chunk_end(layout), PAIRWISE]) + "\n"
    return text, sorted(name for name, arity in b.calls if arity >= 0)


def _prologue(layout: Layout, w: int, value_of: dict) -> list[str]:
    """The entry block: the tables read, scalars splatted, stack buffers made."""
    vec = f"<{w} x double>"
    head = [f"define void @{ENTRY}(ptr noalias %in, ptr noalias %sc, ptr noalias %out, ptr noalias %sums, "
            "ptr noalias %scratch, i64 %start, i64 %stop) {", "entry:"]
    for k, s in enumerate(layout.arrays):
        head += [f"  %a{k}.p = getelementptr ptr, ptr %in, i64 {k}", f"  %a{k} = load ptr, ptr %a{k}.p",
                 f"  %pad{k} = alloca {vec}"]
    for k, s in enumerate(layout.scalars):
        head += [f"  %s{k}.p = getelementptr double, ptr %sc, i64 {k}", f"  %s{k}.x = load double, ptr %s{k}.p",
                 f"  %s{k}.i = insertelement {vec} poison, double %s{k}.x, i32 0",
                 f"  %s{k} = shufflevector {vec} %s{k}.i, {vec} poison, <{w} x i32> zeroinitializer"]
        value_of[s] = f"%s{k}"
    for k, _ in enumerate(layout.outs):
        head += [f"  %o{k}.p = getelementptr ptr, ptr %out, i64 {k}", f"  %o{k} = load ptr, ptr %o{k}.p",
                 f"  %opad{k} = alloca {vec}"]
    for k, _ in enumerate(layout.sums):
        head += [f"  %u{k}.p = getelementptr ptr, ptr %sums, i64 {k}", f"  %u{k} = load ptr, ptr %u{k}.p",
                 f"  %buf{k} = getelementptr double, ptr %scratch, i64 {k * CHUNK}"]
    return head + ["  %any = icmp slt i64 %start, %stop", "  br i1 %any, label %chunk, label %exit"]


def _points(layout: Layout, w: int, value_of: dict, sincos: bool) -> tuple[list[str], Body]:
    """The loop over one chunk's points, `w` at a time; the last few points are
    copied into padded vectors, so one body serves both."""
    vec, arrays, outs = f"<{w} x double>", range(len(layout.arrays)), range(len(layout.outs))
    loop = ["chunk:", "  %c0 = phi i64 [%start, %entry], [%cend, %chunk_end]", f"  %c1 = add i64 %c0, {CHUNK}",
            "  %c1lt = icmp slt i64 %c1, %stop", "  %cend = select i1 %c1lt, i64 %c1, i64 %stop", "  br label %head",
            "head:", "  %i = phi i64 [%c0, %chunk], [%inext, %next]", "  %rem = sub i64 %cend, %i",
            f"  %full = icmp sge i64 %rem, {w}", "  br i1 %full, label %fullp, label %tailp", "fullp:",
            *[f"  %fa{k} = getelementptr double, ptr %a{k}, i64 %i" for k in arrays],
            *[f"  %fo{k} = getelementptr double, ptr %o{k}, i64 %i" for k in outs],
            "  br label %body", "tailp:", "  %tbytes = shl i64 %rem, 3"]
    for k in arrays:
        loop += [f"  store {vec} zeroinitializer, ptr %pad{k}", f"  %ta{k} = getelementptr double, ptr %a{k}, i64 %i",
                 f"  call void @llvm.memcpy.p0.p0.i64(ptr %pad{k}, ptr %ta{k}, i64 %tbytes, i1 false)"]
    loop += ["  br label %body", "body:", *[f"  %qa{k} = phi ptr [%fa{k}, %fullp], [%pad{k}, %tailp]" for k in arrays],
             *[f"  %qo{k} = phi ptr [%fo{k}, %fullp], [%opad{k}, %tailp]" for k in outs]]
    for k, s in enumerate(layout.arrays):
        loop.append(f"  %x{k} = load {vec}, ptr %qa{k}, align 8")
        value_of[s] = f"%x{k}"
    b = body(layout, w, value_of, sincos)
    loop += [*b.lines, *[f"  store {vec} {value_of[s]}, ptr %qo{k}, align 8" for k, s in enumerate(layout.outs)]]
    if layout.sums:
        loop.append("  %off = sub i64 %i, %c0")
    for k, s in enumerate(layout.sums):  # a whole vector fits: the chunk holds a multiple of w
        loop += [f"  %ub{k} = getelementptr double, ptr %buf{k}, i64 %off", f"  store {vec} {value_of[s]}, ptr %ub{k}, align 8"]
    loop += ["  br i1 %full, label %next, label %tailout", "tailout:", "  %obytes = shl i64 %rem, 3"]
    for k in outs:
        loop += [f"  %to{k} = getelementptr double, ptr %o{k}, i64 %i",
                 f"  call void @llvm.memcpy.p0.p0.i64(ptr %to{k}, ptr %opad{k}, i64 %obytes, i1 false)"]
    return loop + ["  br label %next", "next:", f"  %inext = add i64 %i, {w}", "  %more = icmp slt i64 %inext, %cend",
                   "  br i1 %more, label %head, label %chunk_end"], b


def _chunk_end(layout: Layout) -> list[str]:
    """After a chunk: each summed goal's chunk sum, as numpy adds it; then the next chunk."""
    lines = ["chunk_end:"]
    if layout.sums:
        lines += ["  %m = sub i64 %cend, %c0", f"  %ci = lshr i64 %c0, {CHUNK.bit_length() - 1}"]
    for k in range(len(layout.sums)):
        lines += [f"  %pw{k} = call double @pw(ptr %buf{k}, i64 %m)", f"  %ps{k} = fadd double 0.0, %pw{k}",
                  f"  %pt{k} = getelementptr double, ptr %u{k}, i64 %ci", f"  store double %ps{k}, ptr %pt{k}"]
    return lines + ["  %again = icmp slt i64 %cend, %stop", "  br i1 %again, label %chunk, label %exit",
                    "exit:", "  ret void", "}"]


def _declarations(b: Body) -> list[str]:
    lines = ["declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)"]
    for name, arity in sorted(b.calls):
        if arity < 0:
            lines.append(f"declare {b.vec} @{name}({b.vec})")
        else:
            lines += _helper(b.width, name, arity)
    # nobuiltin: LLVM must not rewrite a C library call (pow(2, x) into exp2(x), say)
    return lines + ["attributes #0 = { nobuiltin }", "attributes #1 = { noinline }"]


def _helper(w: int, name: str, arity: int) -> list[str]:
    """`@v.name`: the C library's `name` on each lane of its vector arguments
    (for sincos, both results as a pair of vectors)."""
    vec = f"<{w} x double>"
    params = ", ".join(f"{vec} %x{k}" for k in range(arity))
    if name == "sincos":
        lines = ["declare void @sincos(double, ptr, ptr)",
                 f"define internal {{{vec}, {vec}}} @v.sincos({params}) #1 {{", "  %sp = alloca double",
                 "  %cp = alloca double"]
        sin = cos = "poison"
        for lane in range(w):
            lines += [f"  %a{lane} = extractelement {vec} %x0, i32 {lane}",
                      f"  call void @sincos(double %a{lane}, ptr %sp, ptr %cp) #0",
                      f"  %s{lane} = load double, ptr %sp", f"  %c{lane} = load double, ptr %cp",
                      f"  %S{lane} = insertelement {vec} {sin}, double %s{lane}, i32 {lane}",
                      f"  %C{lane} = insertelement {vec} {cos}, double %c{lane}, i32 {lane}"]
            sin, cos = f"%S{lane}", f"%C{lane}"
        return lines + [f"  %p = insertvalue {{{vec}, {vec}}} poison, {vec} {sin}, 0",
                        f"  %q = insertvalue {{{vec}, {vec}}} %p, {vec} {cos}, 1", f"  ret {{{vec}, {vec}}} %q", "}"]
    lines = [f"declare double @{name}({', '.join(['double'] * arity)})",
             f"define internal {vec} @v.{name}({params}) #1 {{"]
    result = "poison"
    for lane in range(w):
        lines += [f"  %a{k}.{lane} = extractelement {vec} %x{k}, i32 {lane}" for k in range(arity)]
        lines += [f"  %y{lane} = call double @{name}({', '.join(f'double %a{k}.{lane}' for k in range(arity))}) #0",
                  f"  %r{lane} = insertelement {vec} {result}, double %y{lane}, i32 {lane}"]
        result = f"%r{lane}"
    return lines + [f"  ret {vec} {result}", "}"]


# numpy's pairwise sum of n doubles (numpy/_core/src/umath/loops_utils.h.src):
# below 8 a plain loop; up to 128, eight accumulators (the lanes of one vector)
# added as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the rest one by one; above,
# halves split at a multiple of 8, each summed so.
PAIRWISE = """
define internal double @pw(ptr %a, i64 %n) {
entry:
  %small = icmp slt i64 %n, 8
  br i1 %small, label %lin, label %check
lin:
  %li = phi i64 [0, %entry], [%li2, %linb]
  %lr = phi double [0.0, %entry], [%lr2, %linb]
  %lmore = icmp slt i64 %li, %n
  br i1 %lmore, label %linb, label %lend
linb:
  %lp = getelementptr double, ptr %a, i64 %li
  %lx = load double, ptr %lp
  %lr2 = fadd double %lr, %lx
  %li2 = add i64 %li, 1
  br label %lin
lend:
  ret double %lr
check:
  %mid = icmp sle i64 %n, 128
  br i1 %mid, label %acc, label %split
acc:
  %r0 = load <8 x double>, ptr %a, align 8
  %n8 = and i64 %n, -8
  br label %accl
accl:
  %ai = phi i64 [8, %acc], [%ai2, %accb]
  %ar = phi <8 x double> [%r0, %acc], [%ar2, %accb]
  %amore = icmp slt i64 %ai, %n8
  br i1 %amore, label %accb, label %tree
accb:
  %ap = getelementptr double, ptr %a, i64 %ai
  %ax = load <8 x double>, ptr %ap, align 8
  %ar2 = fadd <8 x double> %ar, %ax
  %ai2 = add i64 %ai, 8
  br label %accl
tree:
  %e0 = extractelement <8 x double> %ar, i32 0
  %e1 = extractelement <8 x double> %ar, i32 1
  %e2 = extractelement <8 x double> %ar, i32 2
  %e3 = extractelement <8 x double> %ar, i32 3
  %e4 = extractelement <8 x double> %ar, i32 4
  %e5 = extractelement <8 x double> %ar, i32 5
  %e6 = extractelement <8 x double> %ar, i32 6
  %e7 = extractelement <8 x double> %ar, i32 7
  %f01 = fadd double %e0, %e1
  %f23 = fadd double %e2, %e3
  %f45 = fadd double %e4, %e5
  %f67 = fadd double %e6, %e7
  %g0 = fadd double %f01, %f23
  %g1 = fadd double %f45, %f67
  %t = fadd double %g0, %g1
  br label %rest
rest:
  %ri = phi i64 [%n8, %tree], [%ri2, %restb]
  %rr = phi double [%t, %tree], [%rr2, %restb]
  %rmore = icmp slt i64 %ri, %n
  br i1 %rmore, label %restb, label %rend
restb:
  %rp = getelementptr double, ptr %a, i64 %ri
  %rx = load double, ptr %rp
  %rr2 = fadd double %rr, %rx
  %ri2 = add i64 %ri, 1
  br label %rest
rend:
  ret double %rr
split:
  %h = lshr i64 %n, 1
  %h8 = and i64 %h, -8
  %lo = call double @pw(ptr %a, i64 %h8)
  %bp = getelementptr double, ptr %a, i64 %h8
  %nb = sub i64 %n, %h8
  %hi = call double @pw(ptr %bp, i64 %nb)
  %s = fadd double %lo, %hi
  ret double %s
}
"""
