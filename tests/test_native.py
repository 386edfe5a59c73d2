"""The native backend (LLVM loops) against independent oracles.

- the scalar program, point by point: the same IEEE operations in the same
  order, and the same C library functions (Python's `math` calls them), so bit
  for bit for every operator, special values included;
- the numpy backend: bit for bit where no C library function is called (its
  chunk sums are added in numpy's own pairwise order), else within a bound;
- itself under other thread counts and concurrent callers.
"""
import concurrent.futures
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qsts
from qsts.backends import objects
from conftest import examples

pytestmark = pytest.mark.skipif(not objects.available(), reason="llvmlite is not installed")

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -2.5e-320, 1e-310, 1e308, -1e308, 1.7976931348623157e308,
           1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, 1e-8, 710.0, -745.5, 30.0, -40.0]
UNARY = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "sqrt", "abs",
         "sign", "sigmoid", "relu", "softplus", "-", "log10", "log2", "log1p", "expm1", "erf", "erfc", "cbrt"]
BINARY = ["+", "-", "*", "/", "^", "atan2", "min", "max", "heaviside", "hypot"]


def test_every_elementwise_operator_has_a_native_rule():
    from qsts.backends.llvm_ir import RULES
    from qsts.ops import OPS
    assert {name for name, op in OPS.items() if op.reduction is None} == set(RULES)


@st.composite
def expressions(draw, depth=3):
    """Random text over x, y with every elementwise operator."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "y", "x", "y", "2", "0.5", "3"]))
    if draw(st.booleans()):
        f = draw(st.sampled_from(UNARY))
        return f"{f}({draw(expressions(depth - 1))})" if f != "-" else f"-({draw(expressions(depth - 1))})"
    op, a, b = draw(st.sampled_from(BINARY)), draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return f"({a}) {op} ({b})" if len(op) == 1 else f"{op}({a}, {b})"


def same(a, b) -> bool:
    """Equal bits, NaN equal to NaN (its payload and sign are the C library's business)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))))


def points(draw_from, n):
    """n points mixing special values and ordinary ones."""
    rng = np.random.default_rng(n)
    ordinary = rng.uniform(-3, 3, n) * 10.0 ** rng.integers(-3, 3, n)
    pick = rng.random(n) < 0.4
    return np.where(pick, rng.choice(draw_from, n), ordinary)


@settings(max_examples=examples(60))
@given(expressions(), st.integers(1, 300))
def test_native_equals_the_scalar_program_bit_for_bit(text, n):
    try:
        f = qsts.compile(text, backend="native")
    except qsts.QstsError:
        return  # no variables left after simplification, say
    xs, ys = points(SPECIAL, n), points(SPECIAL, n + 1)[::-1].copy()[:n]
    env = {"x": xs, "y": ys}
    env = {v: env[v] for v in f.variables}
    if not env:
        return
    value, grads = f.value_and_grad(**env)
    for k in range(n):
        s_value, s_grads = f.value_and_grad(**{v: float(a[k]) for v, a in env.items()})
        assert same(np.broadcast_to(value, (n,))[k], s_value), (text, k, {v: a[k] for v, a in env.items()})
        for v in f.variables:
            assert same(grads[v][k], s_grads[v]), (text, v, k, {v: a[k] for v, a in env.items()})


@pytest.mark.parametrize("text", [
    "(x+y)+x*(x+y)", "(1-x)^2 + 100*(y-x^2)^2", "sum((x*y - 3)^2)", "mean(abs(x - y)) * max(x, y)",
    "sum(x / sum(y * x)) + relu(x - 0.5)*sign(y)", "heaviside(x, 0.5) * min(x, y) + sqrt(abs(y))",
])
@pytest.mark.parametrize("n", [1, 7, 255, 256, 257, 5000, 70_001])
def test_native_equals_numpy_bit_for_bit_without_library_functions(text, n):
    """Elementwise IEEE operations, and sums as 256-point chunk sums added in
    numpy's pairwise order then exactly: nothing to differ in."""
    rng = np.random.default_rng(n)
    env = {"x": rng.uniform(-2, 2, n), "y": rng.uniform(0.1, 2, n)}
    env = {v: env[v] for v in qsts.parse(text).variables}
    native = qsts.compile(text, backend="native").value_and_grad(**env)
    numpy = qsts.compile(text, backend="numpy").value_and_grad(**env)
    assert same(native[0], numpy[0])
    for v in numpy[1]:
        assert same(native[1][v], numpy[1][v]), v


def test_native_is_close_to_numpy_with_library_functions():
    """C library against numpy's SIMD loops: each within a few ulps of the truth,
    so on this well-conditioned expression (no cancellation: every term > 0.1)
    they agree to 1e-14 relative (about 45 ulps of slack)."""
    text = "exp(sin(x)) + log(2 + y) * tanh(x + 3) + sqrt(1 + cosh(x/3)) + atan(y)^2 + sigmoid(x)"
    rng = np.random.default_rng(3)
    env = {"x": rng.uniform(-1, 1, 100_000), "y": rng.uniform(0.1, 2, 100_000)}
    native = qsts.compile(text, backend="native").value_and_grad(**env)
    numpy = qsts.compile(text, backend="numpy").value_and_grad(**env)
    np.testing.assert_allclose(native[0], numpy[0], rtol=1e-14)
    for v in env:
        np.testing.assert_allclose(native[1][v], numpy[1][v], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("text", ["sum(sin(y) * x)", "mean((y - mean(y))^2) + sum(exp(y) * x)"])
def test_sums_do_not_depend_on_threads(text):
    rng = np.random.default_rng(5)
    env = {"x": 0.7, "y": rng.uniform(-1, 1, 300_007)}
    results = [qsts.compile(text, backend="native", threads=t).value_and_grad(**env) for t in (1, 2, 3, 8)]
    for value, grads in results[1:]:
        assert same(value, results[0][0])
        for v in grads:
            assert same(grads[v], results[0][1][v])


def test_eight_threads_call_one_function_at_once():
    f = qsts.compile("sum((a*t + b - y)^2) + sin(t)*a", backend="native")  # compiled by the first caller
    rng = np.random.default_rng(6)
    jobs = [{"a": 1.0 + k, "b": -0.5 * k, "t": rng.uniform(0, 1, 50_000 + k), "y": rng.uniform(0, 1, 50_000 + k)}
            for k in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda env: f.value_and_grad(**env), jobs * 3))
    for env, (value, grads) in zip(jobs * 3, got):
        ref_value, ref_grads = qsts.compile("sum((a*t + b - y)^2) + sin(t)*a", backend="native",
                                            threads=1).value_and_grad(**env)
        assert same(value, ref_value)
        for v in grads:
            assert same(grads[v], ref_grads[v])


def test_auto_keeps_small_calls_on_numpy_and_takes_native_for_big_ones():
    from qsts.backends import AUTO_POINTS, choose
    assert choose("auto", 1000) == "numpy" and choose("auto", AUTO_POINTS) == "native"
    assert choose("numpy", 10**9) == "numpy" and choose("native", 1) == "native"


def test_a_bad_backend_name_is_a_clear_error():
    with pytest.raises(qsts.QstsError, match="backend must be one of 'auto', 'native', 'numpy'"):
        qsts.compile("x", backend="gpu")


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


CACHED = """
    import numpy as np, qsts
    from qsts.backends import objects
    if {forbid}:
        def refuse(ir):
            raise AssertionError("compiled: the cache was not used")
        objects._compile = refuse
    f = qsts.compile("x*exp(y) + {c}*y^2", backend="native")
    value, grads = f.value_and_grad(x=np.arange(1000.0), y=np.linspace(0, 1, 1000))
    print(repr(float(value[999])), repr(float(grads["y"][999])))
"""


def test_a_new_process_loads_the_kernel_from_the_disk_cache(tmp_path):
    env = {"QSTS_CACHE_DIR": str(tmp_path)}
    first = _run(CACHED.format(forbid=False, c=7.25), env)
    assert first.returncode == 0, first.stderr
    assert list(tmp_path.glob("*.o"))
    second = _run(CACHED.format(forbid=True, c=7.25), env)  # compiling would fail
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    off = _run(CACHED.format(forbid=False, c=7.5), {**env, "QSTS_CACHE": "0"})
    assert off.returncode == 0 and len(list(tmp_path.glob("*.o"))) == 1, off.stderr


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip"])
def test_a_damaged_cache_entry_is_compiled_again(tmp_path, damage):
    env = {"QSTS_CACHE_DIR": str(tmp_path)}
    first = _run(CACHED.format(forbid=False, c=3.5), env)
    assert first.returncode == 0, first.stderr
    entry, = tmp_path.glob("*.o")
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[:len(data) // 2], "garbage": os.urandom(len(data)), "empty": b"",
                       "flip": data[:-9] + bytes([data[-9] ^ 1]) + data[-8:]}[damage])
    again = _run(CACHED.format(forbid=False, c=3.5), env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert entry.read_bytes() == data  # written anew, whole
    cached = _run(CACHED.format(forbid=True, c=3.5), env)
    assert cached.returncode == 0 and cached.stdout == first.stdout, cached.stderr


def test_without_llvmlite_native_is_a_clear_error_and_auto_falls_back():
    code = """
        import sys
        sys.modules["llvmlite"] = None  # as if it were not installed: importing it fails
        import numpy as np, qsts
        try:
            qsts.compile("x^2", backend="native")
        except qsts.QstsError as err:
            print("error:", err)
        f = qsts.compile("x^2 + sum(x)")
        x = np.linspace(0, 1, 100_000)
        value = f(x=x)
        g = qsts.compile("x^2 + sum(x)", backend="numpy")(x=x)
        print("auto equals numpy:", bool(np.array_equal(value, g)))
    """
    result = _run(code, {})
    assert result.returncode == 0, result.stderr
    assert 'error: backend="native" needs llvmlite: pip install llvmlite' in result.stdout
    assert "auto equals numpy: True" in result.stdout


@pytest.mark.parametrize("shape", [(0,), (0, 3), (1,), (3, 1)])
def test_empty_and_tiny_arrays(shape):
    text = "x*y + sum(x) + mean(y)"
    x, y = np.arange(np.prod(shape), dtype=float).reshape(shape), 2.0
    native = qsts.compile(text, backend="native").value_and_grad(x=x, y=y)
    numpy = qsts.compile(text, backend="numpy").value_and_grad(x=x, y=y)
    assert same(native[0], numpy[0])
    for v in ("x", "y"):
        assert same(native[1][v], numpy[1][v])


def test_several_expressions_and_their_jacobian():
    rng = np.random.default_rng(8)
    env = {"x": rng.uniform(-1, 1, 1000), "y": rng.uniform(-1, 1, 1000), "z": 0.5}
    native = qsts.compile(["x*y - z", "max(x, y) / (1 + z^2)", "sqrt(abs(x)) * sign(y)"], backend="native")
    numpy = qsts.compile(["x*y - z", "max(x, y) / (1 + z^2)", "sqrt(abs(x)) * sign(y)"], backend="numpy")
    assert same(native(**env), numpy(**env))
    assert same(native.jacobian(**env), numpy.jacobian(**env))


def test_threads_whose_first_call_is_native_share_one_engine():
    """Eight threads start LLVM at once (the review's crash: an engine each, freed under them)."""
    code = """
        import concurrent.futures, numpy as np, qsts
        f = qsts.compile("x*y + x*x*0.5 - y")  # auto: native at this size
        x = np.linspace(0, 1, 70_000)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda k: f(x, float(k)), range(8)))
        numpy = qsts.compile("x*y + x*x*0.5 - y", backend="numpy")
        print(all(np.array_equal(g, numpy(x, float(k))) for k, g in enumerate(got)))
    """
    result = _run(code, {})
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_many_sums_on_small_thread_stacks():
    """Each summed goal's chunk lives on the heap, not the stack: a 70-parameter
    model's gradient on threads with 256 KiB stacks (musl's default is 128 KiB)."""
    code = """
        import threading
        threading.stack_size(256 * 1024)
        import numpy as np, qsts
        text = "mean((" + " + ".join(f"a{k}*sin({k + 1}*t)" for k in range(70)) + " - y)^2)"
        f = qsts.compile(text, backend="native", wrt=[f"a{k}" for k in range(70)])
        env = {f"a{k}": 0.01 * k for k in range(70)}
        t = np.linspace(0, 3, 40_000)
        value, grads = f.value_and_grad(**env, t=t, y=np.cos(t))
        g = qsts.compile(text, backend="numpy", wrt=list(env)).value_and_grad(**env, t=t, y=np.cos(t))
        print(abs(value - g[0]) <= 1e-13 * abs(g[0]))
    """
    result = _run(code, {})
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_another_kernels_cache_entry_is_compiled_again(tmp_path):
    env = {"QSTS_CACHE_DIR": str(tmp_path)}
    first = _run(CACHED.format(forbid=False, c=2.0), env)
    entry_2, = tmp_path.glob("*.o")
    other = _run(CACHED.format(forbid=False, c=3.0), env)
    entry_3, = set(tmp_path.glob("*.o")) - {entry_2}
    entry_3.write_bytes(entry_2.read_bytes())  # a whole, well-formed entry, for the wrong kernel
    again = _run(CACHED.format(forbid=False, c=3.0), env)
    assert first.returncode == other.returncode == again.returncode == 0, again.stderr
    assert again.stdout == other.stdout != first.stdout
