"""Dask arrays in, lazy results out, against the in-memory call as the oracle.

The in-memory call is itself tested against the interpreter, finite
differences and hand-derived values elsewhere; here the claim is that a dask
array gives the same numbers: bit for bit where every block is a run of whole
256-point chunks of the points, to rounding where blocks are ragged (the
per-point outputs are bit for bit there too: only sums see the chunking).
The cluster tests run a real `distributed.LocalCluster` with two worker processes.
"""
import logging
import math
import os
import pickle
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qsts
from qsts.backends import objects
from qsts.errors import InputValueError, QstsError
from qsts.kernels import ExactSum, exact_total
from conftest import examples

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

BACKENDS = ["numpy", "auto"] + (["native"] if objects.available() else [])
# value and gradient through every kind of output: per point, summed partials of
# scalars, in-graph sums and means feeding later passes, and outputs the same at every point
EXPRESSIONS = ["sum((a*x + b - y)^2)", "x*sin(y) + a*exp(x/4)", "sum((x - mean(x))^2) * a + b",
               "mean(log(1 + exp(-y*(a*x + b))))", "a*b + x", "max(x, y) * a + abs(y - b)",
               "sum(x) / size(y) + a"]


def same(a, b) -> bool:
    """Equal bits and shapes (NaN equal to NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))))


def data(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"a": 0.7, "b": -0.2, "x": rng.standard_normal(n), "y": rng.standard_normal(n) * 3}


def lazily(values: dict, chunks) -> dict:
    return {k: da.from_array(v, chunks=chunks) if isinstance(v, np.ndarray) else v for k, v in values.items()}


def both(f, values: dict, chunks):
    """(in memory, computed from dask) value_and_grad of f."""
    use = {k: v for k, v in values.items() if k in f.variables}
    return f.value_and_grad(**use), dask.compute(f.value_and_grad(**lazily(use, chunks)))[0]


def assert_same(want, got):
    (v1, g1), (v2, g2) = want, got
    assert same(v1, v2)
    assert list(g1) == list(g2)
    for k in g1:
        assert same(g1[k], g2[k]), k


# ---------------------------------------------------------------- the numbers

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", EXPRESSIONS)
def test_chunks_of_whole_256_point_runs_give_the_in_memory_bits(text, backend):
    f = qsts.compile(text, backend=backend)
    assert_same(*both(f, data(256 * 40), 256 * 7))


@settings(max_examples=examples(25))
@given(st.lists(st.integers(1, 12), min_size=1, max_size=8), st.integers(0, 255), st.sampled_from(EXPRESSIONS))
def test_any_chunking_of_whole_chunks_and_a_short_last_one(runs, tail, text):
    """Blocks of any number of whole 256-point chunks, the last one short by
    any amount (in memory the last chunk is short too): bit for bit."""
    chunks = tuple(256 * r for r in runs) + ((tail,) if tail else ())
    f = qsts.compile(text, backend="numpy")
    assert_same(*both(f, data(sum(chunks), seed=len(runs)), (chunks,)))


def test_auto_takes_for_the_whole_array_the_backend_the_in_memory_call_takes():
    """70,000 points: auto runs native in memory (where llvmlite is there), so
    every 256-point block must too, or the library functions' bits could differ."""
    f = qsts.compile("sum(exp(x) * sin(y) * a) + tanh(x)")
    assert_same(*both(f, data(70_000), 256 * 10))


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_ragged_chunks_agree_to_rounding_and_per_point_outputs_of_no_sum_bit_for_bit(text):
    """Sums see other chunk boundaries (the exact total of other roundings), and
    so does what uses them; per-point outputs of no sum cannot change a bit."""
    f = qsts.compile(text, backend="numpy")
    (v1, g1), (v2, g2) = both(f, data(5_000), 333)
    for want, got in [(v1, v2), *((g1[k], g2[k]) for k in g1)]:
        if np.ndim(want) and not f.expression.reduces:
            assert same(want, got)
        else:
            assert np.allclose(want, got, rtol=1e-12, atol=1e-12)


def test_misaligned_chunks_are_rechunked_as_dask_aligns_operands():
    """x in blocks of 512, y of 768: their common refinement is whole chunks
    again, so even the sums stay bit for bit."""
    f = qsts.compile("sum((a*x + b - y)^2)")
    values = data(256 * 30)
    use = dict(values, x=da.from_array(values["x"], chunks=512), y=da.from_array(values["y"], chunks=768))
    assert_same(f.value_and_grad(**values), dask.compute(f.value_and_grad(**use))[0])


def test_dask_numpy_and_floats_mix_with_broadcasting():
    rng = np.random.default_rng(3)
    x, y, z = rng.standard_normal((300, 7)), rng.standard_normal(7), rng.standard_normal((300, 1))
    f = qsts.compile("sum(x*y + z^2) * a")
    want = f.value_and_grad(x=x, y=y, z=z, a=1.5)
    got = dask.compute(f.value_and_grad(x=da.from_array(x, chunks=(64, 7)), y=y,
                                        z=da.from_array(z, chunks=(100, 1)), a=1.5))[0]
    assert np.isclose(want[0], got[0], rtol=1e-13)
    for k in want[1]:  # y's partial is summed over the rows: by numpy in memory, by dask here
        assert np.shape(want[1][k]) == np.shape(got[1][k])
        assert np.allclose(want[1][k], got[1][k], rtol=1e-12)


def test_the_one_shot_functions_and_a_vector_function():
    values = data(2_560)
    lazy = lazily(values, 512)
    assert same(qsts.evaluate("x*sin(y) + a", **{k: values[k] for k in "xya"}),
                qsts.evaluate("x*sin(y) + a", **{k: lazy[k] for k in "xya"}).compute())
    want = qsts.value_and_grad("mean(log(1 + exp(-y*(a*x + b))))", **values)
    assert_same(want, dask.compute(qsts.value_and_grad("mean(log(1 + exp(-y*(a*x + b))))", **lazy))[0])
    assert dask.compute(qsts.grad("sum(x*a)", x=lazy["x"], a=2.0))[0]["a"] == qsts.grad("sum(x*a)", x=values["x"],
                                                                                        a=2.0)["a"]
    F = qsts.compile(["x*y", "x + b", "sin(x)"])
    args = {k: values[k] for k in F.variables}
    assert same(F.jacobian(**args), F.jacobian(**{k: lazy[k] for k in F.variables}).compute())
    assert same(F(**args), F(**{k: lazy[k] for k in F.variables}).compute())


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.float32, np.uint8])
def test_other_dtypes_are_converted_as_numpy_inputs_are(dtype):
    x = (np.arange(1_000) % 7).astype(dtype)
    f = qsts.compile("sum(x^2 + x*a)")
    assert_same(f.value_and_grad(x=x, a=0.5), dask.compute(f.value_and_grad(x=da.from_array(x, chunks=256), a=0.5))[0])


def test_results_are_lazy_until_computed():
    """Nothing runs at the call: the blocks of the input are made only when the result is computed."""
    made = []

    def block(b):
        made.append(len(b))
        return b

    x = da.from_array(np.linspace(-1, 1, 2_048), chunks=512).map_blocks(block, dtype=np.float64, meta=np.empty(0))
    value, grads = qsts.compile("sum(a*x^2) + x").value_and_grad(x=x, a=2.0)
    assert all(dask.is_dask_collection(r) for r in (value, *grads.values()))
    assert made == []
    dask.compute(value, grads)
    assert sorted(made) == [512] * 4  # every block once: value and gradient are one graph


def test_zero_dimensional_and_empty_dask_arrays():
    f = qsts.compile("x*y")
    v, g = dask.compute(f.value_and_grad(x=da.from_array(np.array(2.0)), y=3.0))[0]
    assert (float(v), float(g["x"]), float(g["y"])) == (6.0, 3.0, 2.0)
    assert float(qsts.compile("sum(x) + 1")(x=da.zeros(0, chunks=5)).compute()) == 1.0


@pytest.mark.parametrize("value, problem", [
    (lambda: da.from_array(np.array(["a", "b"])), "must hold real numbers"),
    (lambda: da.from_array(np.array([1 + 2j])), "must hold real numbers"),
    (lambda: da.from_array(np.arange(10.0), chunks=5)[da.from_array(np.arange(10.0), chunks=5) > 3],
     "unknown chunk sizes"),
])
def test_bad_dask_inputs_are_clear_errors(value, problem):
    with pytest.raises(InputValueError, match=problem):
        qsts.compile("x + 1")(x=value())


def test_out_is_refused_with_lazy_inputs():
    with pytest.raises(InputValueError, match="lazy"):
        qsts.compile("x + 1")(x=da.ones(10, chunks=5), out=np.empty(10))


def test_a_long_double_beyond_float64_fails_when_computed():
    x = da.from_array(np.array([1.0, np.finfo(np.longdouble).max], dtype=np.longdouble), chunks=1)
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 here")
    with pytest.raises(InputValueError, match="beyond the range of float64"):
        qsts.compile("x + 1")(x=x).compute()


# ---------------------------------------------------------------- exact sums

@settings(max_examples=examples(300))
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40), st.randoms(use_true_random=False))
def test_exact_sums_in_any_grouping_round_as_fsum_does(values, random):
    """ExactSum of pieces in any order rounds to exact_total's bits, which is
    math.fsum's where fsum answers (the oracle), and the IEEE value elsewhere."""
    v = np.array(values, dtype=np.float64)
    cuts = sorted(random.randint(0, len(v)) for _ in range(random.randint(0, 4)))
    pieces = np.split(v, cuts)
    random.shuffle(pieces)
    total = ExactSum()
    for piece in pieces:
        total = total + ExactSum.of(piece)
    got = total.rounded()
    try:
        want = math.fsum(v)
    except OverflowError:  # beyond float range (or an intermediate overflow): the exact sum's rounding
        want = exact_total(v)  # nan where a nan is there too: fsum may overflow before it looks at the nan
        assert math.isinf(want) or abs(want) > 1e300 or (math.isnan(want) and np.isnan(v).any())
    except ValueError:  # inf - inf
        want = math.nan
    assert same(got, want), (values, got, want)
    assert same(exact_total(v), want)


def test_exact_sums_where_fsum_gives_up():
    assert exact_total(np.array([1e308, 1e308, -1e308])) == 1e308  # fsum: intermediate overflow
    assert exact_total(np.array([1e308, 1e308])) == math.inf
    assert exact_total(np.array([-1e308, -1e308])) == -math.inf
    assert math.isnan(exact_total(np.array([math.inf, -math.inf])))
    assert ExactSum.of([5e-324, 5e-324]).rounded() == 1e-323
    assert ExactSum.of([2.0 ** -53, 1.0, 2.0 ** -53]).rounded() == 1.0 + 2.0 ** -52  # one rounding, not two


# ---------------------------------------------------------------- a real cluster

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    # not the default client: the other tests keep the threaded scheduler, whatever their order;
    # a cluster test says `with client.as_current():`
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c


def line(n: int, seed: int = 5):
    """A noisy line; x has mean 0 and mean square near 1, so gradient descent needs few steps."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.7, 1.7, n)
    return x, 2.5 * x - 0.7 + 0.1 * rng.standard_normal(n)


def test_minimize_on_the_cluster_matches_polyfit(client):
    x, y = line(50_000)
    data = {"x": da.from_array(x, chunks=256 * 40), "y": da.from_array(y, chunks=256 * 40)}
    fit = dict(x0={"a": 0.0, "b": 0.0}, method="gd", gtol=1e-10)  # 23 iterations, 65 evaluations
    with client.as_current():
        r = qsts.minimize("mean((a*x + b - y)^2)", data=data, **fit)
    slope, intercept = np.polyfit(x, y, 1)
    assert r.converged, r.message
    assert abs(r.x["a"] - slope) < 1e-8 and abs(r.x["b"] - intercept) < 1e-8
    # and it is the in-memory run, step for step (chunks of whole 256-point runs)
    r2 = qsts.minimize("mean((a*x + b - y)^2)", data={"x": x, "y": y}, **fit)
    assert (r.x, r.nit, r.nfev, r.history) == (r2.x, r2.nit, r2.nfev, r2.history)


def test_a_function_sent_to_worker_processes_gives_the_same_bits(client):
    f = qsts.compile("sum(exp(-x^2) * sin(a*x)) + x*tanh(a)")
    x = np.random.default_rng(2).standard_normal(70_000)
    remote = client.gather(client.submit(f.value_and_grad, x=x, a=0.3, pure=False))
    assert_same(f.value_and_grad(x=x, a=0.3), remote)
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    # each worker process loads the function once: every later task gets that very object, compiled plans and all
    digest = f._payload()[0]

    def loaded():
        from qsts.function import _loaded
        return id(_loaded[digest]) if digest in _loaded else None

    def call_on_each_worker(ks):
        for worker in client.scheduler_info()["workers"]:
            client.gather(client.map(lambda k, f=f: f(x=np.full(300, float(k)), a=0.3), ks, workers=[worker],
                                     pure=False))

    call_on_each_worker(range(4))
    first = client.run(loaded)
    call_on_each_worker(range(4, 8))
    assert client.run(loaded) == first and None not in first.values()


def test_lazy_results_on_the_cluster_are_the_in_memory_bits(client):
    f = qsts.compile("mean(log(1 + exp(-y*(a*x + b))))")
    from distributed import get_task_stream

    with client.as_current(), get_task_stream(client) as stream:
        assert_same(*both(f, data(256 * 64), 256 * 8))
    assert len(stream.data) >= 8  # the blocks ran on the workers


def test_persisted_data_stays_on_the_workers(client):
    """Blocks made once by persist are not made again by the fit's evaluations."""
    def block(b):
        import builtins
        builtins.qsts_made = getattr(builtins, "qsts_made", 0) + 1
        return b

    def made():
        import builtins
        return getattr(builtins, "qsts_made", 0)

    x, y = line(256 * 64)
    before = sum(client.run(made).values())
    with client.as_current():
        X = da.from_array(x, chunks=256 * 16).map_blocks(block, dtype=np.float64, meta=np.empty(0)).persist()
        Y = da.from_array(y, chunks=256 * 16).persist()
        r = qsts.minimize("mean((a*x + b - y)^2)", x0={"a": 0.0, "b": 0.0}, data={"x": X, "y": Y}, method="gd",
                          max_iter=5)
    assert r.nfev > 5
    assert sum(client.run(made).values()) - before == 4  # one per block, at persist


def test_a_worker_that_dies_mid_fit_is_an_error_naming_the_step(tmp_path):
    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    flag = str(tmp_path / "die")

    def poisoned(b, flag=flag):
        if os.path.exists(flag):
            os._exit(1)  # the worker process dies, as on a lost machine
        return b

    def callback(r):
        if r.nit == 2:
            open(flag, "w").close()

    x, y = line(256 * 32)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     silence_logs=logging.CRITICAL) as cluster, distributed.Client(cluster):
        X = da.from_array(x, chunks=256 * 8).map_blocks(poisoned, dtype=np.float64)
        with pytest.raises(QstsError, match=r"evaluation \d+ of the value and gradient \(in iteration 3\)"):
            qsts.minimize("mean((a*x + b - y)^2)", x0={"a": 0.0, "b": 0.0}, data={"x": X, "y": y},
                          method="gd", line_search=False, lr=0.1, callback=callback)


def test_functions_pickle_and_load_once_per_process():
    f = qsts.compile("x^2*y + sin(x)", wrt=["x"], backend="numpy")
    g = pickle.loads(pickle.dumps(f))
    assert (g.variables, g.wrt, g.options) == (f.variables, f.wrt, f.options)
    assert g.expression == f.expression
    assert pickle.loads(pickle.dumps(f)) is g  # loaded once per process
    assert g.value_and_grad(x=1.5, y=2.0) == f.value_and_grad(x=1.5, y=2.0)
    F = qsts.compile(["x*y", "x + z"])
    G = pickle.loads(pickle.dumps(F))
    assert same(G.jacobian(x=1, y=2, z=3), F.jacobian(x=1, y=2, z=3))


def test_scalar_only_calls_refuse_dask_arrays_as_they_refuse_numpy_ones():
    x = da.ones(4, chunks=2)
    with pytest.raises(InputValueError, match="scalar"):
        qsts.compile("x^2").hessian(x=x)
    with pytest.raises(QstsError, match="scalar"):
        qsts.check_grad("x^2", x=x)
