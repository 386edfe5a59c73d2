"""The command line: SPEC section 5."""
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import qsts

from qsts.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_grad(capsys):
    assert run(capsys, "grad", "(x+y)+x*(x+y)", "x=1", "y=2") == (0, "value = 6\nd/dx = 5\nd/dy = 2\n", "")


def test_eval_with_constant_expression_values(capsys):
    code, out, _ = run(capsys, "eval", "sin(x)", "x=pi/2")
    assert code == 0 and out == "1\n"
    assert run(capsys, "eval", "x/3", "x=1")[1] == "0.3333333333333333\n"  # full precision


def test_expression_starting_with_minus(capsys):
    assert run(capsys, "eval", "-x^2", "x=3") == (0, "-9\n", "")
    assert run(capsys, "eval", "x", "x=-1.5") == (0, "-1.5\n", "")


def test_diff(capsys):
    assert run(capsys, "diff", "x^2", "x") == (0, "2*x\n", "")
    code, out, _ = run(capsys, "diff", "x^2*sin(x)", "x")
    assert code == 0 and out == "2*x*sin(x) + x^2*cos(x)\n"


def test_postfix(capsys):
    assert run(capsys, "postfix", "(x+y)+x*(x+y)") == (0, "x y + x x y + * +\n", "")
    assert run(capsys, "postfix", "-2.5*x") == (0, "2.5 neg x *\n", "")


def test_graph_shows_shared_nodes(capsys):
    code, out, _ = run(capsys, "graph", "(x+y)+x*(x+y)")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6
    assert lines[0].split() == ["n0", "=", "x", "shared:", "2", "parents"]
    assert "n2 = n0 + n1  shared: 2 parents" in lines[2]
    assert lines[-1] == "5 nodes in the DAG; 9 as a tree"


def test_graph_dot(capsys):
    code, out, _ = run(capsys, "graph", "--dot", "x*(x+y)")
    assert code == 0 and out.startswith("digraph qsts {") and out.rstrip().endswith("}")
    node_lines = [l for l in out.splitlines() if "[label=" in l and "shape=plaintext" not in l]
    edges = [l for l in out.splitlines() if "->" in l and "dashed" not in l]
    assert len(node_lines) == 4 and len(edges) == 4  # x, y, x+y, x*(x+y); edges counted per argument


def test_graph_with_gradient(capsys):
    code, out, _ = run(capsys, "graph", "--grad", "x*y")
    assert code == 0 and "<- df/dx" in out and "<- df/dy" in out and "<- f" in out


@pytest.mark.parametrize("argv, words", [
    (["eval", "sine(x)", "x=1"], "did you mean 'sin'?"),
    (["eval", "x +", "x=1"], "unexpected end of input"),
    (["grad", "x*y", "x=1"], "no value for variable 'y'"),
    (["eval", "x", "x=abc"], "bad value for x"),
    (["eval", "x", "x"], "expected name=value"),
    (["eval", "x", "pi=3", "x=1"], "'pi' is the constant"),
    (["eval", "x", "x=1", "x=2"], "x is given twice"),
    (["diff", "-x^2", "-x"], "must be a name, got '-x'"),
    (["diff", "x", "1+"], "must be a name"),
    (["diff", "x", "pi"], "'pi' is a constant or function name"),
])
def test_bad_input_exits_2_with_the_error_on_stderr(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("qsts: error:") and words in err


def test_results_print_every_digit_not_names(capsys):
    assert run(capsys, "eval", "exp(1)") == (0, "2.718281828459045\n", "")
    assert run(capsys, "eval", "4*atan(1)") == (0, "3.141592653589793\n", "")
    assert run(capsys, "postfix", "3.141592653589793*x") == (0, "3.141592653589793 x *\n", "")


def test_postfix_writes_infinity_as_the_grammar_reads_it(capsys):
    # a result prints inf (finding 5), but a postfix token must parse back: 1e999
    assert run(capsys, "postfix", "x*1e999 - -1e999") == (0, "x 1e999 * 1e999 neg -\n", "")


def test_double_dash_before_an_expression(capsys):
    assert run(capsys, "eval", "--", "-x", "x=3") == (0, "-3\n", "")


def test_syntax_error_shows_caret(capsys):
    _, _, err = run(capsys, "eval", "(x))", "x=1")
    assert err.splitlines()[-2:] == ["  (x))", "     ^"]


def test_python_dash_m_and_exit_status():
    ok = subprocess.run([sys.executable, "-m", "qsts", "grad", "x*y", "x=2", "y=3"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "value = 6\nd/dx = 3\nd/dy = 2\n"
    bad = subprocess.run([sys.executable, "-m", "qsts", "eval", "1+"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unexpected end of input" in bad.stderr and bad.stdout == ""


@pytest.fixture
def line_csv(tmp_path):
    """A straight line with noise, as a CSV with an extra column qsts ignores."""
    import numpy as np

    rng = np.random.default_rng(7)
    t = rng.uniform(0, 10, 200)
    y = 1.7 * t - 3.2 + rng.normal(0, 0.5, 200)
    path = tmp_path / "line.csv"
    path.write_text("t, y ,note\n" + "".join(f"{a!r},{b!r},0\n" for a, b in zip(t.tolist(), y.tolist())))
    return str(path), np.polyfit(t, y, 1)


def test_minimize_with_data_binds_columns_by_header(capsys, line_csv):
    path, (slope, intercept) = line_csv
    code, out, err = run(capsys, "minimize", "mean((a*t + b - y)^2)", "--data", path, "a=0", "b=0",
                         "--method", "nesterov", "--lr", "0.005", "--gtol", "1e-12", "--max-iter", "20000")
    assert code == 0, err
    fitted = dict(line.split(" = ") for line in out.splitlines() if line[:4] in ("a = ", "b = "))
    assert abs(float(fitted["a"]) - slope) < 1e-8 and abs(float(fitted["b"]) - intercept) < 1e-8
    assert "converged: gradient below gtol" in out


def test_eval_and_grad_with_data(capsys, line_csv):
    import numpy as np

    path, _ = line_csv
    y = np.loadtxt(path, delimiter=",", skiprows=1, usecols=1)
    mean = float(np.mean(y))
    code, out, _ = run(capsys, "eval", "mean(y)", "--data", path)
    assert code == 0 and float(out) == pytest.approx(mean, rel=1e-15)
    # partials for the NAME=VALUE variables only: the columns are data
    code, out, _ = run(capsys, "grad", "c*mean(y)", "c=2", "--data", path)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and lines[1].startswith("d/dc = ")
    assert float(lines[1].split(" = ")[1]) == pytest.approx(mean, rel=1e-15)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("t,t\n1,2\n", "appears twice"),
    ("t,y\n1,2\n3\n", "line 3: 1 values for 2 columns"),
    ("t,y\n1,2\n3,x\n", "line 3, column 'y': 'x' is not a number"),
    ("t,y z\n1,2\n", "'y z' is not a variable name"),
])
def test_bad_data_files(capsys, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, _, err = run(capsys, "minimize", "mean((a*t - y)^2)", "--data", str(path), "a=0")
    assert code == 2 and message in err


def test_data_with_a_byte_order_mark(capsys, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfx\r\n1\r\n2\r\n")  # as spreadsheets export
    assert run(capsys, "eval", "sum(x)", "--data", str(path)) == (0, "3\n", "")


def test_data_errors(capsys, line_csv, tmp_path):
    path, _ = line_csv
    code, _, err = run(capsys, "minimize", "mean((a*t - y)^2)", "--data", path, "a=0", "t=1")
    assert code == 2 and "'t' given on the command line and as a column" in err
    code, _, err = run(capsys, "minimize", "mean((a*t - y)^2)", "--data", str(tmp_path / "missing.csv"), "a=0")
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "minimize", "mean((a*s - y)^2)", "--data", path, "a=0")
    assert code == 2 and "no starting value or data for 's'" in err


# ---------------------------------------------------------------- issue 11

@pytest.mark.parametrize("column", ["e", "pi", "sin", "neg"])
def test_a_column_named_like_a_constant_or_function_is_refused(capsys, tmp_path, column):
    # finding 3: `e` used to lose silently to the constant e
    path = tmp_path / "d.csv"
    path.write_text(f"x,{column}\n1,2\n2,4\n")
    code, out, err = run(capsys, "grad", "sum(a*x - e)", "--data", str(path), "a=1")
    assert (code, out) == (2, "") and f"column '{column}'" in err and "rename it" in err
    code, _, err = run(capsys, "minimize", "sum((a*x - 1)^2)", "--data", str(path), "a=1")
    assert code == 2 and f"column '{column}'" in err


@pytest.mark.parametrize("key", ["e", "pi", "sin", "neg"])
def test_data_keys_named_like_a_constant_or_function_are_refused(key):
    with pytest.raises(qsts.ReservedNameError, match=f"data key '{key}' is .* not a variable; rename it"):
        qsts.minimize("a*x", x0={"a": 1.0}, data={"x": 1.0, key: 2.0})


def test_infinities_print_and_parse_as_the_api_gives_them(capsys):
    # finding 5: results printed 1e999, and x=inf was refused
    assert run(capsys, "eval", "1/x", "x=0") == (0, "inf\n", "")
    assert run(capsys, "eval", "-1/x", "x=0") == (0, "-inf\n", "")
    assert run(capsys, "eval", "x+1", "x=inf") == (0, "inf\n", "")
    assert run(capsys, "eval", "x", "x=-inf") == (0, "-inf\n", "")
    assert run(capsys, "eval", "x*0", "x=NaN") == (0, "nan\n", "")
    assert run(capsys, "grad", "x*y", "x=inf", "y=2") == (0, "value = inf\nd/dx = 2\nd/dy = inf\n", "")
    assert qsts.grad("x*y", x=math.inf, y=2.0) == {"x": 2.0, "y": math.inf}  # as the API


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc")
def test_ctrl_c_stops_minimize_with_the_point_reached_and_exit_130():
    # finding 4: it printed a traceback. The child restores SIGINT's default, which a
    # test run started from a background job (SIGINT ignored) would otherwise pass on.
    child = subprocess.Popen([sys.executable, "-m", "qsts", "minimize", "x^2 + y^2", "x=1", "y=2", "--method", "gd",
                              "--lr", "1e-12", "--no-line-search", "--gtol", "0", "--max-iter", "1000000000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline().startswith("minimizing over x, y")  # printed after the first iteration
        start, deadline = _cpu_seconds(child.pid), time.monotonic() + 600
        while _cpu_seconds(child.pid) < start + 0.5:  # 0.5 s of its CPU: deep in the loop, however loaded we are
            assert child.poll() is None and time.monotonic() < deadline, "the run ended or never got the CPU"
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    lines = out.splitlines()
    assert child.returncode == 130 and "Traceback" not in err, err
    assert lines[0] == "not converged: interrupted" and lines[1].startswith("iterations ")
    assert [line.split(" = ")[0] for line in lines[2:]] == ["f", "x", "y", "d/dx", "d/dy"]
    assert 0 < float(lines[3].split(" = ")[1]) < 1


def test_ctrl_c_elsewhere_exits_130_without_a_traceback(capsys, monkeypatch):
    from qsts import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_eval", interrupted)
    code, out, err = run(capsys, "eval", "x", "x=1")
    assert (code, out) == (130, "") and "interrupted" in err and "Traceback" not in err


def test_help_states_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["minimize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 when minimize stopped without converging" in text and "130 when interrupted" in text
    assert "(default: adam)" in text and "--no-line-search" in text
