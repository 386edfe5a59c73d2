"""The command line on datasets read lazily with dask (`--data` with a glob of
CSV files or Parquet) and on a Dask cluster (`--scheduler`), issue 14.

The oracles are independent of qsts: the data are written with numpy and
pandas, the fit is numpy.polyfit's, the sums are math.fsum's.
"""
import math
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from qsts.cli import main

dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FIT = ["mean((a*x + b - y)^2)", "a=0", "b=0", "--method", "gd", "--gtol", "1e-10"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fitted(out: str) -> tuple[float, float]:
    values = dict(line.split(" = ") for line in out.splitlines() if line[:4] in ("a = ", "b = "))
    return float(values["a"]), float(values["b"])


def one_line_error(code, out, err, words):
    """Bad input: exit status 2, nothing on stdout, one line on stderr that says what is wrong."""
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("qsts: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """A line y = 2.5 x - 0.7 with noise as three CSV files (one a spreadsheet's,
    with a byte-order mark, CRLF and spaces around the names) and as a Parquet
    dataset of three files; x has mean 0 and mean square 1, so gd is quick."""
    root = tmp_path_factory.mktemp("line")
    rng = np.random.default_rng(14)
    x = rng.normal(size=300)
    x = (x - x.mean()) / x.std()
    y = 2.5 * x - 0.7 + rng.normal(0, 0.1, x.size)
    (root / "csv").mkdir()
    (root / "pq").mkdir()
    for i, part in enumerate(np.array_split(np.arange(x.size), 3)):
        rows = "".join(f"{a!r},{b!r},{i}\n" for a, b in zip(x[part].tolist(), y[part].tolist()))
        if i == 1:
            (root / "csv" / "part1.csv").write_bytes(("\ufeff x , y ,note\r\n" + rows.replace("\n", "\r\n")).encode())
        else:
            (root / "csv" / f"part{i}.csv").write_text("x,y,note\n" + rows)
        pd.DataFrame({"x": x[part], "y": y[part], "note": ["text"] * part.size}).to_parquet(root / "pq" / f"part{i}.pq")
    (root / "all.csv").write_text("x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist())))
    return root, x, y


@pytest.mark.parametrize("where", ["csv/*.csv", "pq", "pq/part[0-2].pq"])
def test_fit_on_a_dataset_equals_polyfit(capsys, line, where):
    root, x, y = line
    code, out, err = run(capsys, "minimize", *FIT, "--data", str(root / where))
    assert (code, err) == (0, ""), err
    slope, intercept = np.polyfit(x, y, 1)
    a, b = fitted(out)
    assert abs(a - slope) < 1e-8 and abs(b - intercept) < 1e-8
    assert "converged: gradient below gtol" in out


@pytest.mark.parametrize("where", ["csv/*.csv", "pq"])
def test_eval_and_grad_on_a_dataset_equal_numpy(capsys, line, where):
    root, x, y = line
    code, out, _ = run(capsys, "eval", "sum(x*y)", "--data", str(root / where))
    assert code == 0 and float(out) == pytest.approx(math.fsum(x * y), rel=1e-12)
    code, out, _ = run(capsys, "grad", "sum((a*x + b - y)^2)", "a=1", "b=0.5", "--data", str(root / where))
    r = x + 0.5 - y
    lines = out.splitlines()
    assert code == 0 and [line.split(" = ")[0] for line in lines] == ["value", "d/da", "d/db"]
    expected = [math.fsum(r * r), math.fsum(2 * r * x), math.fsum(2 * r)]
    assert [float(line.split(" = ")[1]) for line in lines] == pytest.approx(expected, rel=1e-12)


def test_a_dataset_prints_as_the_same_data_in_memory(capsys, line):
    # per-point results, and the CSV reader's conventions (spaces, BOM, CRLF, nan spelled out)
    root, _, _ = line
    assert run(capsys, "eval", "x*y - 1", "--data", str(root / "csv" / "*.csv")) == \
        run(capsys, "eval", "x*y - 1", "--data", str(root / "all.csv"))
    (root / "nan").mkdir(exist_ok=True)
    (root / "nan" / "n.csv").write_text("x,y\nNaN,1\n-nan,2\n+NAN,3\n1e999,5\n2,-Infinity\n")
    assert run(capsys, "eval", "x + y", "--data", str(root / "nan" / "*.csv")) == \
        run(capsys, "eval", "x + y", "--data", str(root / "nan" / "n.csv")) == (0, "[ nan  nan  nan  inf -inf]\n", "")


# ---------------------------------------------------------------- bad input

def _write(folder, files: dict):
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("files, argv, words", [
    ({}, [], ["no files match", "*.csv"]),
    ({"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n3,\n"}, [], ["b.csv, line 2, column 'y': '' is not a number"]),
    ({"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n3,4\n5,four\n"}, [], ["b.csv, line 3, column 'y': 'four' is not a number"]),
    ({"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n3\n"}, [], ["b.csv, line 2: 1 values for 2 columns"]),
    ({"a.csv": "x,y\n1,2\n", "b.csv": "x,z\n3,4\n"}, [], ["b.csv: column 'y' missing from its header"]),
    ({"a.csv": "x,e\n1,2\n"}, [], ["column 'e' is the constant", "rename it"]),
    ({"a.csv": "x,sin\n1,2\n"}, [], ["column 'sin' is a function name", "rename it"]),
    ({"a.csv": "x,y\n1,2\n"}, ["y=1"], ["'y' given on the command line and as a column"]),
    ({"a.csv": "x,z\n1,2\n"}, [], ["no starting value or data for 'y'"]),  # a column the dataset lacks
])
def test_bad_csv_datasets(capsys, tmp_path, files, argv, words):
    folder = _write(tmp_path / "parts", files)
    code, out, err = run(capsys, "minimize", "mean((a*x - y)^2)", "a=0", *argv, "--data", str(folder / "*.csv"))
    one_line_error(code, out, err, words)


def test_bad_parquet_datasets(capsys, tmp_path):
    pq = tmp_path / "pq"
    pq.mkdir()
    pd.DataFrame({"x": [1.0, 2.0], "e": [3.0, 4.0]}).to_parquet(pq / "a.parquet")
    one_line_error(*run(capsys, "eval", "sum(x)", "--data", str(pq)), ["column 'e' is the constant"])
    pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}).to_parquet(pq / "a.parquet")
    one_line_error(*run(capsys, "eval", "sum(x*y)", "--data", str(pq)), [f"{pq}: column 'y' holds", "not numbers"])
    one_line_error(*run(capsys, "eval", "sum(x*z)", "--data", str(pq)), ["no value for variable 'z'"])
    csvs = _write(tmp_path / "csvs", {"a.csv": "x\n1\n"})
    one_line_error(*run(capsys, "eval", "sum(x)", "--data", str(csvs)), ["as Parquet", "give a glob such as DIR/*.csv"])
    one_line_error(*run(capsys, "eval", "sum(x)", "--data", str(tmp_path / "none.parquet")), ["no such file"])
    pd.DataFrame({"x": [1.0]}).to_parquet(csvs / "b.parquet")
    one_line_error(*run(capsys, "eval", "sum(x)", "--data", str(csvs / "*")), ["matches Parquet files", "and others"])


def test_an_unquoted_glob_is_told_to_quote_it(capsys, line):
    root, _, _ = line
    files = sorted(str(p) for p in (root / "csv").glob("*.csv"))  # as the shell hands them over
    one_line_error(*run(capsys, "eval", "sum(x)", "--data", *files), ["got the file", "quote a glob"])


def test_new_flags_keep_negative_expressions_and_state_their_defaults(capsys):
    assert run(capsys, "eval", "-x^2", "--timeout", "5", "x=3") == (0, "-9\n", "")
    with pytest.raises(SystemExit) as exit:
        main(["eval", "x", "x=1", "--timeout", "0"])
    assert exit.value.code == 2 and "0 is not a positive number of seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["minimize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--scheduler ADDRESS" in text
    assert "--timeout SECONDS seconds to wait for --scheduler to answer (default: 10)" in text


def test_the_help_says_what_data_may_be(capsys):
    with pytest.raises(SystemExit):
        main(["grad", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'parts/*.csv'" in text and "not identifiers cannot be variables and are ignored" in text


# ---------------------------------------------------------------- scheduler

def test_an_unreachable_scheduler_is_an_error_within_the_timeout(capsys):
    pytest.importorskip("distributed")
    silent = socket.socket()  # accepts connections and never answers: distributed's own timeout would hang
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    address = "tcp://127.0.0.1:%d" % silent.getsockname()[1]
    try:
        start = time.monotonic()
        code, out, err = run(capsys, "eval", "x", "x=1", "--scheduler", address, "--timeout", "2")
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    one_line_error(code, out, err, [address, "within 2 s"])
    assert elapsed < 2 + 20
    one_line_error(*run(capsys, "eval", "x", "x=1", "--scheduler", "nonsense://x"), ["nonsense://x", "scheme"])


def test_a_refused_scheduler_in_a_fresh_process(tmp_path):
    pytest.importorskip("distributed")
    refused = socket.socket()  # bound, never listening: connections are refused while the test holds the port
    refused.bind(("127.0.0.1", 0))
    address = "tcp://127.0.0.1:%d" % refused.getsockname()[1]
    try:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "qsts", "eval", "sum(x)", "--data", str(tmp_path / "*.csv"),
                               "--scheduler", address, "--timeout", "2"], capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - start
    finally:
        refused.close()
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"qsts: error: no Dask scheduler answered at {address} within 2 s (--timeout)\n"
    assert elapsed < 2 + 20


def test_without_dask_the_extra_to_install_is_named():
    code = """
        import sys
        sys.modules["dask"] = sys.modules["distributed"] = None  # as if not installed: importing them fails
        from qsts.cli import main
        codes = [main(["eval", "sum(x)", "--data", "parts/*.csv"]), main(["eval", "sum(x)", "--data", "d.parquet"]),
                 main(["eval", "x", "x=1", "--scheduler", "tcp://127.0.0.1:8786"]),
                 main(["eval", "sum(x)", "--data", "missing.csv"])]
        print(codes)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.stdout == "[2, 2, 2, 2]\n", done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 4 and all("pip install 'qsts[dask]'" in line for line in lines[:3]), done.stderr
    assert "cannot read missing.csv" in lines[3]  # one CSV file needs no dask


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0", protocol="tcp",
                                  host="127.0.0.1") as c:
        yield c


def test_a_scheduler_without_workers_is_an_error_within_the_timeout(capsys):
    """It would take the work and never answer: the command stops at --timeout instead."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0", protocol="tcp",
                                  host="127.0.0.1") as empty:
        start = time.monotonic()
        code, out, err = run(capsys, "eval", "x", "x=1", "--scheduler", empty.scheduler_address, "--timeout", "2")
        elapsed = time.monotonic() - start
    one_line_error(code, out, err, [empty.scheduler_address, "no workers"])
    assert elapsed < 2 + 20


def test_fit_on_a_cluster(capsys, line, cluster):
    distributed = pytest.importorskip("distributed")
    root, x, y = line
    code, out, err = run(capsys, "minimize", *FIT, "--data", str(root / "csv" / "*.csv"),
                         "--scheduler", cluster.scheduler_address)
    assert (code, err) == (0, ""), err
    slope, intercept = np.polyfit(x, y, 1)
    a, b = fitted(out)
    assert abs(a - slope) < 1e-8 and abs(b - intercept) < 1e-8
    assert any(p.startswith("qsts-read-csv") for p in cluster.scheduler.task_prefixes)  # the files were read there
    with pytest.raises(ValueError):  # and the client is closed: no default client is left behind
        distributed.default_client()
