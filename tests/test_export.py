"""Code export (`Function.export`, `qsts export`) against independent oracles.

- C: the source compiled by the system C compiler (`cc -std=c99 -O2 -Wall
  -Wextra -Werror -ffp-contract=off`) into a shared library, called through
  ctypes at random points (special values among them), equal to the scalar
  program's `f.value_and_grad` BIT FOR BIT (0 ulps; NaN equal to NaN): both do
  the same IEEE operations in the same order and call the same C library
  functions (Python's math calls them), with contraction to FMA off.
- Python: the source run in a subprocess where `import qsts` fails, equal bit
  for bit to the numpy backend (the same ufuncs in the same order) on arrays,
  and on floats to the numpy backend at a one-point array (numpy's ufuncs round
  some library functions differently from the C library, so the scalar program
  is not its oracle).
"""
import ctypes
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import qsts
from qsts.export import C_RULES, PY_HELPERS
from qsts.ops import OPS
from conftest import examples
from test_native import BINARY, SPECIAL, UNARY, expressions, same

CC = shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (`cc`) on PATH to compile the C export")
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]
# Every elementwise operator by itself, and the hand cases: abs'(0), max ties, x^2, the sigmoid tails
HAND = [*(f"{f}(x)" if f != "-" else "-x" for f in UNARY), *(f"x {op} y" if len(op) == 1 else f"{op}(x, y)"
                                                          for op in BINARY),
        "abs(x)", "max(x, y)", "min(x, y)", "x^2", "x^2*y", "x^y", "sigmoid(x)", "softplus(x)", "relu(x)",
        "heaviside(x, y)", "x^3 + pow(y, 2)", "x", "2", "-(x*y) + 1e308*x - 1/3 + 1e999*0*y"]
HAND_POINTS = [(0.0, 0.0), (-0.0, 0.0), (2.0, 2.0), (-2.0, -2.0), (1.0, 1.0), (-40.0, 3.0), (40.0, -3.0),
               (-709.5, 2.0), (-745.5, 0.5), (-800.0, -800.0), (710.0, 710.0), (math.inf, 1.0), (-math.inf, 1.0),
               (math.nan, 1.0), (1.0, math.nan), (5e-324, -5e-324), (1e308, 1e308)]


def test_every_elementwise_operator_has_a_c_rule_and_a_python_form():
    elementwise = {name for name, op in OPS.items() if op.reduction is None}
    assert elementwise == set(C_RULES)
    assert all(op in PY_HELPERS or isinstance(OPS[op].array, np.ufunc) for op in elementwise)


def compile_library(tmp_path, functions: list, tag: str = "lib") -> ctypes.CDLL:
    """Every Function's C export in a file of its own, linked into one shared library."""
    files = []
    for i, f in enumerate(functions):
        files.append(tmp_path / f"{tag}{i}.c")
        files[-1].write_text(f.export("c", name=f"fn{i}"))
    lib = tmp_path / f"{tag}.so"
    done = subprocess.run([CC, *FLAGS, "-shared", "-fPIC", *map(str, files), "-o", str(lib), "-lm"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return ctypes.CDLL(str(lib))


def random_points(n_vars: int, count: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [tuple(float(rng.choice(SPECIAL)) if rng.random() < 0.4 else float(rng.uniform(-3, 3) * 10.0 ** rng.integers(-3, 3))
                  for _ in range(n_vars)) for _ in range(count)]


def check_c(lib, functions: list, points_for) -> None:
    """The C export equals `f.value_and_grad` bit for bit at every point."""
    for i, f in enumerate(functions):
        fn = getattr(lib, f"fn{i}")
        n = len(f.variables)
        given_in, got = (ctypes.c_double * max(n, 1))(), (ctypes.c_double * (1 + len(f.wrt)))()
        for point in points_for(n):
            given_in[:n] = point
            fn(given_in, got)
            with np.errstate(all="ignore"):  # kernels.hypot warns on overflow under numpy's default state
                value, partials = f.value_and_grad(*point)
            want = [value, *(partials[v] for v in f.wrt)]
            assert same(list(got), want), (f.expression, point, list(got), want)


@needs_cc
def test_c_export_of_every_operator_and_the_hand_cases(tmp_path):
    functions = [qsts.compile(t) for t in HAND]
    lib = compile_library(tmp_path, functions)
    check_c(lib, functions, lambda n: [p[:n] for p in HAND_POINTS] + random_points(n, 50, 1))


@needs_cc
@settings(max_examples=examples(3), phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(expressions(), min_size=40, max_size=40), st.integers(0, 2 ** 16))
def test_c_export_of_random_expressions_equals_qsts_bit_for_bit(tmp_path_factory, texts, seed):
    functions = []
    for text in texts:
        try:
            functions.append(qsts.compile(text))
        except qsts.QstsError:  # e.g. heaviside(2, 3): no variable is fine, but some texts are refused
            continue
    lib = compile_library(tmp_path_factory.mktemp("random"), functions)
    check_c(lib, functions, lambda n: random_points(n, 60, seed))


@needs_cc
def test_c_export_with_wrt_subset_keeps_wrt_order(tmp_path):
    f = qsts.compile("x^2*y + sin(z)", wrt=["z", "x"])
    source = f.export("c")
    assert f.wrt == ("x", "z") and "out[1] = d/dx, out[2] = d/dz" in source and "f.wrt order" in source
    lib = compile_library(tmp_path, [f])
    check_c(lib, [f], lambda n: random_points(n, 20, 3))


def big_expression(terms: int) -> str:
    """A generated expression of about 10*terms nodes, every function among them."""
    names = [u for u in UNARY if u != "-"]
    return " + ".join(f"{names[k % len(names)]}(x*{k + 1} - y/{k + 2}) * max(x, {k}*y)^2" for k in range(terms))


@needs_cc
def test_a_large_export_compiles_with_werror(tmp_path):
    f = qsts.compile(big_expression(120))
    assert f.expression.node_count >= 1000
    lib = compile_library(tmp_path, [f])
    check_c(lib, [f], lambda n: random_points(n, 20, 4))


def test_c_header_never_closes_the_comment_and_constants_are_exact():
    source = qsts.compile("x/ (y * 0.1) + 1e999*x - (-0.0)*y + 1e999*0*y").export("c")
    body = source[source.index("*/") + 2:]
    assert "*/" not in body and "/*" not in source[2:source.index("*/")]
    assert float.hex(0.1) in source and "INFINITY" in source and "NAN" in source
    from qsts.export import comment_text  # the sanitizer, on text the printer never gives
    assert "*/" not in comment_text("a */ b /* c\n*/")


@pytest.mark.parametrize("text", ["sum(x)", "mean(x) + x", "size(x)*x"])
def test_reductions_are_refused(text):
    with pytest.raises(qsts.QstsError, match="without reductions"):
        qsts.compile(text).export("c")


@pytest.mark.parametrize("language, name", [("c", "int"), ("c", "2f"), ("c", "sin"), ("c", "a-b"), ("c", "qsts__x"),
                                            ("python", "class"), ("python", "np"), ("python", "f g"),
                                            ("fortran", "f")])
def test_bad_languages_and_names_are_clear_errors(language, name):
    with pytest.raises(qsts.QstsError, match="not a usable|unknown export language"):
        qsts.compile("x").export(language, name)


# ---------------------------------------------------------------- Python, without qsts

RUNNER = """
import json, sys
sys.modules['qsts'] = None  # importing qsts fails
import numpy as np
cases = json.loads(sys.stdin.read())
out = []
for source, arrays, floats in cases:
    ns = {}
    exec(compile(source, "<export>", "exec"), ns)
    fn = ns["qsts_fn"]
    assert not any(name == "qsts" or name.startswith("qsts.") for name in sys.modules if sys.modules[name])
    value, partials = fn(*[np.array(a) for a in arrays])
    results = [np.asarray(v).tolist() for v in (value, *partials)]
    at_floats = []
    for point in floats:
        value, partials = fn(*point)
        assert all(type(v) is np.float64 for v in (value, *partials))
        at_floats.append([float(v) for v in (value, *partials)])
    out.append([results, at_floats])
print(json.dumps(out))
"""


def run_without_qsts(cases: list) -> list:
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(cases), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def check_python(texts: list, seed: int) -> None:
    """Arrays: equal to the numpy backend. Floats: equal to it at one-point arrays."""
    functions = [qsts.compile(t, backend="numpy") for t in texts]
    rng = np.random.default_rng(seed)
    cases = []
    for f in functions:
        n = len(f.variables)
        # no NaN in the arrays: kernels.sigmoid_array skips its deep tail in a block holding a NaN
        finite = [s for s in SPECIAL if not math.isnan(s)]
        arrays = [np.where(rng.random(300) < 0.4, rng.choice(finite, 300),
                           rng.uniform(-3, 3, 300) * 10.0 ** rng.integers(-3, 3, 300)).tolist() for _ in range(n)]
        cases.append([f.export("python"), arrays, [list(p[:n]) for p in HAND_POINTS] + random_points(n, 20, seed)])
    for f, (arrays, (results, at_floats)) in zip(functions, zip((c[1] for c in cases), run_without_qsts(cases))):
        value, partials = f.value_and_grad(*map(np.array, arrays))
        want = [value, *(partials[v] for v in f.wrt)]
        assert all(same(np.broadcast_to(w, np.shape(r)), r) for w, r in zip(want, results)), f.expression
        for point, got in zip(cases[functions.index(f)][2], at_floats):
            value, partials = f.value_and_grad(*(np.array([v]) for v in point))
            want = [np.asarray(value).reshape(-1)[0]] + [np.asarray(partials[v]).reshape(-1)[0] for v in f.wrt]
            assert same(got, want), (f.expression, point, got, want)


def test_python_export_of_every_operator_and_the_hand_cases():
    check_python(HAND, 5)


@settings(max_examples=examples(3), phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(expressions(), min_size=30, max_size=30), st.integers(0, 2 ** 16))
def test_python_export_of_random_expressions_runs_without_qsts(texts, seed):
    usable = []
    for text in texts:
        try:
            qsts.compile(text)
        except qsts.QstsError:
            continue
        usable.append(text)
    check_python(usable, seed)


def test_python_export_signature_and_broadcasting():
    ns = {}
    exec(qsts.compile("x*y + 1").export("python", name="model"), ns)
    value, (dx, dy) = ns["model"](np.array([1.0, 2.0]), 3.0)
    assert value.tolist() == [4.0, 7.0] and dx.tolist() == [3.0, 3.0] and dy.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="takes 2 values"):
        ns["model"](1.0)
    ns = {}
    exec(qsts.compile("x").export("python"), ns)  # a partial that is a constant still has the points' shape
    assert ns["qsts_fn"](np.zeros(3))[1][0].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- the command line

def test_cli_prints_and_writes(tmp_path, capsys):
    from qsts.cli import main
    assert main(["export", "x^2*y", "--lang", "c", "--name", "model"]) == 0
    assert "void model(const double *in, double *out)" in capsys.readouterr().out
    path = tmp_path / "m.py"
    assert main(["export", "-x^2*y", "--lang", "python", "-o", str(path)]) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"
    assert "def qsts_fn(*variables):" in path.read_text()


@pytest.mark.parametrize("argv", [["export", "x", "--lang", "rust"], ["export", "x", "--lang", "c", "--name", "1x"],
                                  ["export", "sum(x)", "--lang", "c"], ["export", "x+", "--lang", "c"],
                                  ["export", "x"]])
def test_cli_bad_input_exits_2(argv, capsys):
    from qsts.cli import main
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    assert status == 2
    assert "error" in capsys.readouterr().err


# names a user may give --name that <math.h> (C99, and glibc's defaults past -std=c99) or the C
# compiler's builtins already declare: each must be refused, or give C that compiles
TAKEN_NAMES = ["floor", "ceil", "round", "trunc", "nan", "fma", "fmod", "lgamma", "tgamma", "exp2", "remainder",
               "ldexp", "frexp", "fabsf", "sinf", "logl", "nearbyint", "float_t", "double_t", "INFINITY", "NAN",
               "HUGE_VAL", "isfinite", "signbit", "fpclassify", "FP_NAN", "math_errhandling", "M_PI", "y0", "j1",
               "abort", "printf", "exit", "malloc", "memcpy"]


@needs_cc
@pytest.mark.parametrize("std", ["c99", "gnu99"])
def test_a_c_name_export_takes_compiles(tmp_path, std):
    f = qsts.compile("x*y")
    broken = []
    for name in TAKEN_NAMES:
        try:
            source = f.export("c", name=name)
        except qsts.QstsError:
            continue  # refused with a clear message: fine
        (tmp_path / "t.c").write_text(source)
        done = subprocess.run([CC, f"-std={std}", "-O2", "-Wall", "-Wextra", "-Werror", "-c", str(tmp_path / "t.c"),
                               "-o", str(tmp_path / "t.o")], capture_output=True, text=True)
        if done.returncode:
            broken.append(name)
    assert not broken, f"export('c', name=...) accepted names whose C does not compile: {broken}"
