"""Cases a review of the Dask path found, each failing before its fix: shapes
with size-1 dimensions, 0-d dask arrays, broadcast partials, masked and
delayed values, dask starts, per-point fits, Parquet nulls."""
import warnings

import numpy as np
import pytest

import qsts
from qsts.errors import QstsError

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def bits(a):
    return np.asarray(a, dtype=np.float64).tobytes()


def test_a_size_one_dim_of_the_first_dask_input_keeps_the_points_shape():
    """blockwise(align_arrays=False) takes a tied dim's chunks from the first input: (1,) here."""
    x, y = np.array([2.0]), np.arange(6.0)
    v = qsts.evaluate("x*y", x=da.from_array(x), y=y)
    assert v.shape == (6,)
    g = qsts.grad("x*y", x=da.from_array(x), y=y)["x"]
    assert g.compute().tolist() == qsts.grad("x*y", x=x, y=y)["x"].tolist() == [15.0]
    X, Y = np.ones((600, 1)), np.arange(5.0).reshape(1, 5)
    got = qsts.grad("sum(x*y)", x=da.from_array(X, chunks=(200, 1)), y=Y)["x"].compute()
    assert got.shape == (600, 1) and np.array_equal(got, qsts.grad("sum(x*y)", x=X, y=Y)["x"])


def test_a_vector_function_with_a_size_one_dim():
    F = qsts.compile(["x*y", "x + b", "sin(x)*y"])
    x, y = np.random.default_rng(0).standard_normal((600, 1)), np.arange(5.0).reshape(1, 5)
    assert np.array_equal(F.jacobian(x=da.from_array(x, chunks=(200, 1)), y=y, b=0.5).compute(),
                          F.jacobian(x=x, y=y, b=0.5))


def test_a_0d_dask_array_is_taken_as_a_0d_numpy_array_is():
    x = np.random.default_rng(0).standard_normal(256 * 8)
    X = da.from_array(x, chunks=512)
    m = qsts.evaluate("mean(x)", x=X)  # a lazy result fed back in
    assert float(qsts.evaluate("mean(x) + m", x=X, m=m).compute()) == qsts.evaluate("mean(x) + m", x=x,
                                                                                      m=np.array(float(x.mean())))


def test_a_0d_dask_parameter_gets_the_exact_summed_partial():
    f = qsts.compile("sin(a*x)*x")
    for seed in range(10):
        x = np.random.default_rng(seed).standard_normal(256 * 400)
        want = f.grad(x=x, a=np.array(0.7))["a"]
        assert bits(f.grad(x=da.from_array(x, chunks=256 * 8), a=da.from_array(np.array(0.7)))["a"].compute()) == bits(want)


def test_the_partial_of_a_broadcast_input_agrees_to_rounding_as_the_readme_says():
    """The one exception the README states to bit for bit: an input of smaller
    shape than the points gets its per-point partials summed over the broadcast
    axes, by numpy along the axis in memory, by Dask block by block here. Both
    add the same n terms of size <= m = max|term|, each with error <= n*eps*sum|term|,
    so they agree within 2*n*eps*sum|term| (checked against that bound)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((256 * 40, 7)), rng.standard_normal(7)
    f = qsts.compile("x*y + y^2*x")
    got, want = f.grad(x=da.from_array(x, chunks=(1024, 7)), y=y)["y"].compute(), f.grad(x=x, y=y)["y"]
    terms = np.abs(x * (1 + 2 * y)).sum(axis=0)
    assert np.all(np.abs(got - want) <= 2 * x.shape[0] * np.finfo(float).eps * terms)


def test_the_lazy_partial_of_a_broadcast_input_warns_no_more_than_in_memory():
    x, y = np.full(512, 1e308), np.array([2.0])
    assert qsts.grad("x*y", x=x, y=y)["y"].tolist() == [np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert qsts.grad("x*y", x=da.from_array(x, chunks=256), y=y)["y"].compute().tolist() == [np.inf]


def test_a_masked_dask_array_is_refused_as_a_masked_numpy_array_is():
    x = da.from_array(np.arange(10.0), chunks=5)
    with pytest.raises(QstsError, match="masked"):
        qsts.evaluate("sum(x)", x=da.ma.masked_where(x > 4, x)).compute()


def test_a_delayed_value_is_a_clear_error():
    with pytest.raises(QstsError):
        qsts.evaluate("x*2", x=dask.delayed(np.arange(3.0))())


def test_a_dask_start_is_refused_or_computed():
    x = np.linspace(-1, 1, 512)
    with pytest.raises(QstsError):
        qsts.minimize("mean((a*x+b-y)^2)", x0={"a": da.from_array(np.array(0.0)), "b": 0.0},
                      data={"x": x, "y": 2 * x + 1}, method="gd", max_iter=5)


def test_a_fit_of_per_point_values_on_dask_is_the_in_memory_fit():
    """In memory the objective is np.sum of the points (optimize._total), on dask exact chunk sums."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(256 * 20)
    y = x + 0.1 * rng.standard_normal(x.size)
    kw = dict(x0={"a": 0.0}, method="gd", max_iter=20)
    r1 = qsts.minimize("(a*x - y)^2", data={"x": x, "y": y}, **kw)
    r2 = qsts.minimize("(a*x - y)^2", data={"x": da.from_array(x, chunks=1024), "y": da.from_array(y, chunks=1024)}, **kw)
    assert (r1.x, r1.nfev, r1.history) == (r2.x, r2.nfev, r2.history)


def test_a_parquet_null_is_an_error_as_an_empty_csv_cell_is(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from qsts.cli import main
    pd.DataFrame({"x": pd.array([1, None, 3], dtype="Int64"), "y": [1.0, None, 2.0]}).to_parquet(tmp_path / "a.parquet")
    assert main(["eval", "x + y", "--data", str(tmp_path / "a.parquet")]) == 2
