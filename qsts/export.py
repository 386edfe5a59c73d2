"""Code export: a program of value and gradient as C99 or as numpy-only Python.

`Function.export` calls `export(program, language, name, text, wrt)`. The
program is the Function's own (`f.program`): value, then the partials in
`f.wrt` order, every subexpression computed once, so the emitted code is that
straight-line program with one local per slot. Each elementwise row of the op
table maps to C here (`C_RULES`, one entry per operator, as
`backends/llvm_ir.py`'s `RULES`) and to numpy by its `array` column (a ufunc by
its name, qsts's own array kernels as helper functions).

Conventions are qsts's (`qsts.kernels`): abs'(0) = 0, min and max split a
tie, sign(0) = 0 and NaN stays NaN, heaviside(0, h0) = h0, relu(nan) = nan,
sigmoid(a) = exp(a) below SIGMOID_DEEP, softplus(a) = max(a, 0) + log1p(exp(-|a|)),
min/max return the NaN argument if either is NaN and the second on a tie (as
np.minimum / np.maximum), x^2 is x*x.

The C export calls the C library (libm) for everything that is not a basic
operation, as the scalar program and the native backend do, so it gives their
bits (with floating-point contraction off: `-ffp-contract=off`, the default of
gcc in `-std=c99` mode). numpy's ufuncs (the numpy backend, and the Python
export) have SIMD loops of their own for exp, log, sin, cos, tan, the inverse
and hyperbolic functions, pow and atan2, which round differently in the last
bit or two at some points: the Python export equals the numpy backend, not
the C library.

Expressions with reductions (sum, mean, size) are refused: the export is
elementwise, a function of one point.
"""
from __future__ import annotations

import keyword
import math
import re
from typing import Callable, Sequence

import numpy as np

from .errors import QstsError
from .kernels import SIGMOID_DEEP
from .ops import OPS
from .program import Program

LANGUAGES = ("c", "python")
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# <math.h>'s functions (C99, each also with an f and an l suffix, and glibc's defaults past -std=c99)
_MATH_FUNCTIONS = (
    "acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc exp exp2 expm1 fabs fdim floor "
    "fma fmax fmin fmod frexp hypot ilogb ldexp lgamma llrint llround log log10 log1p log2 logb lrint lround modf "
    "nan nearbyint nextafter nexttoward pow remainder remquo rint round scalbln scalbn sin sinh sqrt tan tanh "
    "tgamma trunc j0 j1 jn y0 y1 yn drem finite gamma significand exp10 pow10 scalb isinf isnan").split()
# C99 keywords; <math.h>'s functions, macros and types; functions of the C library that gcc knows as
# builtins (a definition of another type is an error under -Werror); names the emitted code uses
C_RESERVED = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile "
    "while _Bool _Complex _Imaginary in out main "
    "float_t double_t INFINITY NAN HUGE_VAL HUGE_VALF HUGE_VALL MATH_ERRNO MATH_ERREXCEPT math_errhandling "
    "fpclassify isfinite isgreater isgreaterequal isinf isless islessequal islessgreater isnan isnormal "
    "isunordered signbit signgam "
    "abort abs atexit calloc exit _Exit free labs llabs malloc realloc memchr memcmp memcpy memmove memset "
    "printf fprintf sprintf snprintf vprintf vfprintf vsprintf vsnprintf scanf fscanf sscanf puts fputs putchar "
    "fputc putc strcat strchr strcmp strcpy strcspn strlen strncat strncmp strncpy strpbrk strrchr strspn strstr "
    "isalnum isalpha isblank iscntrl isdigit isgraph islower isprint ispunct isspace isupper isxdigit "
    "tolower toupper".split()
    + [f + suffix for f in _MATH_FUNCTIONS for suffix in ("", "f", "l")])
HELPER_PREFIX = "qsts__"
C_RESERVED_PREFIXES = ("M_", "FP_", "__", HELPER_PREFIX)  # <math.h>'s macros, the implementation's, ours


# ---------------------------------------------------------------- C

def c_literal(value: float) -> str:
    """A double exactly, as a C99 hex float (INFINITY and NAN from <math.h>)."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    text = float.hex(value)
    return f"({text})" if text.startswith("-") else text


# Helpers, emitted once each where used: the kernels of qsts.kernels in C.
C_HELPERS: dict[str, str] = {
    "sign": "static inline double qsts__sign(double a) {\n"
            "    return a > 0.0 ? 1.0 : a < 0.0 ? -1.0 : a * 0.0 + 0.0;  /* 0 -> 0.0, nan -> nan */\n}",
    "heaviside": "static inline double qsts__heaviside(double a, double h0) {\n"
                 "    return a > 0.0 ? 1.0 : a < 0.0 ? 0.0 : a == 0.0 ? h0 : a;  /* nan -> nan */\n}",
    "relu": "static inline double qsts__relu(double a) {\n"
            "    return (a > 0.0 || a != a) ? a : 0.0;\n}",
    "sigmoid": "static inline double qsts__sigmoid(double a) {\n"
               f"    if (a < {c_literal(SIGMOID_DEEP)}) return exp(a);  /* exp(-a) would overflow: e^a to rounding */\n"
               "    return 1.0 / (1.0 + exp(-a));\n}",
    "softplus": "static inline double qsts__softplus(double a) {\n"
                "    if (a != a) return a;\n"
                "    return (a < 0.0 ? 0.0 : a) + log1p(exp(-fabs(a)));\n}",
    "min": "static inline double qsts__min(double a, double b) {\n"
           "    return (a < b || a != a) ? a : b;  /* as np.minimum: NaN wins, a tie gives b */\n}",
    "max": "static inline double qsts__max(double a, double b) {\n"
           "    return (a > b || a != a) ? a : b;  /* as np.maximum: NaN wins, a tie gives b */\n}",
    "pow": "static inline double qsts__pow(double a, double b) {\n"
           "    return b == 2.0 ? a * a : pow(a, b);  /* x^2 as x*x, correctly rounded */\n}",
}

_LIBM = {"sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
         "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "exp": "exp", "log": "log", "log10": "log10",
         "log2": "log2", "log1p": "log1p", "expm1": "expm1", "erf": "erf", "erfc": "erfc", "cbrt": "cbrt",
         "hypot": "hypot", "atan2": "atan2", "sqrt": "sqrt", "abs": "fabs"}

# One entry per elementwise operator: argument texts -> the C expression.
C_RULES: dict[str, Callable[..., str]] = {
    "add": lambda a, b: f"{a} + {b}",
    "sub": lambda a, b: f"{a} - {b}",
    "mul": lambda a, b: f"{a} * {b}",
    "div": lambda a, b: f"{a} / {b}",
    "neg": lambda a: f"-{a}",
    **{op: (lambda f: lambda *args: f"{f}({', '.join(args)})")(f) for op, f in _LIBM.items()},
    **{op: (lambda op: lambda *args: f"{HELPER_PREFIX}{op}({', '.join(args)})")(op) for op in C_HELPERS},
}


def comment_text(text: str) -> str:
    """User text that cannot end (or open) a C comment, on one line."""
    return re.sub(r"[\r\n]+", " ", text).replace("*/", "* /").replace("/*", "/ *")


def _check_reductions(program: Program) -> None:
    for ins in program.instructions:
        if OPS[ins.op].reduction is not None:
            raise QstsError(f"cannot export {ins.op}(...): export takes expressions without reductions "
                            "(sum, mean, size), functions of one point")


def _c_name(name: str) -> str:
    if not isinstance(name, str) or not _C_IDENTIFIER.match(name) or name in C_RESERVED \
            or name.startswith(C_RESERVED_PREFIXES) or re.match(r"_[A-Z]", name):
        raise QstsError(f"{name!r} is not a usable C function name: a C identifier, not a C keyword, a name "
                        f"<math.h> or the C library declares, nor starting with {', '.join(C_RESERVED_PREFIXES)} "
                        "or _ and a capital")
    return name


def _c_body(program: Program) -> tuple[list[str], dict[int, str], set[str]]:
    """`const double` assignments, one per instruction; each slot's text; the helpers used."""
    names = {s: c_literal(v) for s, v in program.constants}
    constants = dict(program.constants)
    read = {a for ins in program.instructions for a in ins.args} | set(program.outputs)
    lines = [f"    const double s{i} = in[{i}];" for i in range(len(program.inputs)) if i in read]
    names.update({i: f"s{i}" for i in range(len(program.inputs))})
    used = set()
    for ins in program.instructions:
        args = [names[a] for a in ins.args]
        if ins.op == "pow" and constants.get(ins.args[1]) == 2.0:
            expr = f"{args[0]} * {args[0]}"  # x^2 as x*x
        else:
            expr = C_RULES[ins.op](*args)
            used.update({ins.op} & set(C_HELPERS))
        names[ins.out] = f"s{ins.out}"
        lines.append(f"    const double s{ins.out} = {expr};")
    return lines, names, used


def to_c(program: Program, name: str, text: str, wrt: Sequence[str]) -> str:
    """C99 source of `void name(const double *in, double *out)`."""
    _check_reductions(program)
    _c_name(name)
    lines, names, used = _c_body(program)
    layout = [f"in[{i}] = {v}" for i, v in enumerate(program.inputs)]
    outs = ["out[0] = value"] + [f"out[{k + 1}] = d/d{v}" for k, v in enumerate(wrt)]
    order = "f.variables order" if tuple(wrt) == tuple(program.inputs) else "f.wrt order, a subset of the variables"
    header = ["/* Generated by qsts: value and gradient of", f" *   {comment_text(text)}",
              f" * Inputs: {', '.join(layout) or 'none'}.",
              f" * Outputs: {', '.join(outs)} (partials in {order}).",
              " * C99, <math.h> only (link with -lm). IEEE conventions as qsts: abs'(0) = 0, min/max ties split,",
              " * NaN in min/max wins. Compile with -ffp-contract=off (gcc's default under -std=c99) to get",
              " * qsts's bits: contracting a*b + c into an fma rounds once instead of twice. */",
              "#include <math.h>", ""]
    helpers = [C_HELPERS[op] + "\n" for op in C_HELPERS if op in used]
    body = [f"void {name}(const double *in, double *out)", "{", "    (void)in;", *lines,
            *[f"    out[{k}] = {names[o]};" for k, o in enumerate(program.outputs)], "}"]
    return "\n".join(header + helpers + body) + "\n"


# ---------------------------------------------------------------- Python

def py_literal(value: float) -> str:
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "(-np.inf)"
    return repr(value) if math.copysign(1.0, value) > 0 else f"({value!r})"


# qsts's array kernels that are not numpy ufuncs, as numpy-only helpers.
PY_HELPERS: dict[str, str] = {
    "sigmoid": f'''def _sigmoid(a):
    """1/(1 + exp(-a)), and exp(a) below {SIGMOID_DEEP!r}, where exp(-a) overflows."""
    return np.where(a < {SIGMOID_DEEP!r}, np.exp(np.minimum(a, 0.0)), 1.0 / (1.0 + np.exp(-a)))''',
    "softplus": '''def _softplus(a):
    return np.logaddexp(0.0, a)''',
    "relu": '''def _relu(a):
    return np.maximum(a, 0.0)''',
    "pow": '''def _pow(a, b):
    return np.where(b == 2.0, a * a, np.power(a, b))  # x^2 as x*x''',
    "erf": '''_erf_point = np.frompyfunc(math.erf, 1, 1)


def _erf(a):
    return np.asarray(_erf_point(a), dtype=np.float64)''',
    "erfc": '''_erfc_point = np.frompyfunc(math.erfc, 1, 1)


def _erfc(a):
    return np.asarray(_erfc_point(a), dtype=np.float64)''',
}


def _py_expr(op: str, args: list[str]) -> str:
    if op in PY_HELPERS:
        return f"_{op}({', '.join(args)})"
    ufunc = OPS[op].array
    if not isinstance(ufunc, np.ufunc):
        raise QstsError(f"no Python export for {op}")  # a new row needs a helper here
    return f"np.{ufunc.__name__}({', '.join(args)})"


def _py_name(name: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
            or name in ("np", "math") or name.startswith("_"):
        raise QstsError(f"{name!r} is not a usable Python function name: an identifier, not a keyword, "
                        "np, math or starting with _")
    return name


def to_python(program: Program, name: str, text: str, wrt: Sequence[str]) -> str:
    """Python source (numpy only) of `def name(*variables) -> (value, (partials...))`."""
    _check_reductions(program)
    _py_name(name)
    n = len(program.inputs)
    constants = dict(program.constants)
    names = {s: py_literal(v) for s, v in program.constants}
    names.update({i: f"s{i}" for i in range(n)})
    lines, used = [], set()
    for ins in program.instructions:
        args = [names[a] for a in ins.args]
        if ins.op == "pow" and constants.get(ins.args[1]) == 2.0:
            expr = f"np.multiply({args[0]}, {args[0]})"
        else:
            expr = _py_expr(ins.op, args)
            used.update({ins.op} & set(PY_HELPERS))
        names[ins.out] = f"s{ins.out}"
        lines.append(f"        s{ins.out} = {expr}")
    outs = [f"_out({names[o]}, shape)" for o in program.outputs]
    order = "in variables order" if tuple(wrt) == tuple(program.inputs) else "in the order of wrt, a subset"
    unpack = ", ".join(f"s{i}" for i in range(n)) + ("," if n == 1 else "")
    return "\n".join([
        "# Generated by qsts: value and gradient of", f"#   {comment_text(text)}",
        f"# {name}({', '.join(program.inputs)}) -> (value, (partials d/d{', d/d'.join(wrt) or '(none)'}))",
        f"# ({order}); numpy only.",
        "# Elementwise over floats or numpy arrays (broadcast together); IEEE results, no exceptions.",
        "import math", "", "import numpy as np", "", "",
        *[h + "\n\n" for h in (PY_HELPERS[op] for op in PY_HELPERS if op in used)],
        "def _out(v, shape):",
        "    return np.array(np.broadcast_to(v, shape), dtype=np.float64)[()]", "", "",
        f"def {name}(*variables):",
        f"    if len(variables) != {n}:",
        f"        raise TypeError('{name} takes {n} values ({', '.join(program.inputs)}), got %d' % len(variables))",
        f"    {unpack} = (np.asarray(v, dtype=np.float64) for v in variables)" if n else "    # no variables",
        f"    shape = np.broadcast_shapes({', '.join(f'np.shape(s{i})' for i in range(n))})",
        "    with np.errstate(all='ignore'):",
        *(lines or ["        pass"]),
        f"    return {outs[0]}, ({', '.join(outs[1:])}{',' if len(outs) == 2 else ''})",
    ]) + "\n"


EMITTERS = {"c": to_c, "python": to_python}


def export(program: Program, language: str, name: str, text: str, wrt: Sequence[str]) -> str:
    """The source of `program` (value, then the partials in `wrt` order) in `language`."""
    if language not in EMITTERS:
        raise QstsError(f"unknown export language {language!r}; choose one of {', '.join(LANGUAGES)}")
    return EMITTERS[language](program, name, text, wrt)
