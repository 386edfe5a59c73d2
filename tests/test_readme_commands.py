"""Every command the README shows runs as written.

The commands are extracted from the README itself: the lines of its ```bash
blocks, the `$ ` lines of its transcripts (with the output shown under them), the
lines of the command-line summary, and the inline `qsts ...`, `python ...` and
`pip install ...` spans of its prose. Each runs through bash in a scratch
directory holding copies of examples/ and benchmarks/ (so relative paths resolve
as from a clone and files the commands write land there), with this Python's
bin directory first on PATH, as in an activated venv.

What cannot run inside the suite is checked for what can be: installs (the
extras they name exist; .ci/run runs the README's two opening commands as
written, installs included), benchmarks (each takes --help and the options the
README gives it: a full run takes minutes and the peers of the bench extra), the
notebook server (the notebook is executed by tests/test_notebook.py). A command
of a kind this file does not know fails, so a new README command gets a runner.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# bare subcommand names in prose ("`qsts minimize` says what it runs") name a command; they are not one
MENTIONS = {"qsts minimize", "qsts diff", "qsts export", "qsts eval", "qsts grad", "qsts graph", "qsts postfix"}
# placeholders of the command-line summary's [options], and what a user would type for them
PLACEHOLDERS = {"FILE.svg|png": ["graph.svg", "graph.png"], "FILE.png": ["run.png"]}
# a placeholder with no value here: the option is run by the test named
ELSEWHERE = {"ADDRESS": "tests/test_cli_dask.py points --scheduler at a LocalCluster"}
TIMEOUT = 300  # only guards against a hang: the slowest command here takes ~10 s


def _without_comment(line: str) -> str:
    """`line` without a trailing `# comment`: a # after whitespace, outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.strip()


def _expand(command: str) -> list[str]:
    """A line of the command-line summary with `[--option VALUE]` groups: the line without them, then
    with each group alone (placeholders filled in); groups with no value are left out."""
    groups = re.findall(r"\s*\[([^\]]+)\]", command)
    base = re.sub(r"\s*\[[^\]]+\]", "", command)
    variants = [base]
    for group in groups:
        words = group.split()
        if words[-1] in ELSEWHERE:
            continue
        for value in PLACEHOLDERS.get(words[-1], [words[-1]]) if len(words) > 1 else [None]:
            variants.append(f"{base} {words[0]}" + (f" {value}" if value else ""))
    return variants


def extract() -> list[tuple[str, list[str] | None]]:
    """(command, the output the README shows for it or None), in README order, once each."""
    found: list[tuple[str, list[str] | None]] = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S):
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if lang == "bash" and line.strip() and not line.startswith("#"):
                found.append((_without_comment(line), None))
            elif lang == "" and line.startswith("$ "):
                shown = []
                for after in lines[i + 1:]:
                    if after.startswith("$ "):
                        break
                    shown.append(after)
                found.append((line[2:], shown))
            elif lang == "" and line.startswith("qsts ") and not any(x.startswith("$ ") for x in lines):
                found += [(part, None) for part in _expand(_without_comment(line))]
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if re.match(r"(qsts|python|pip|jupyter|apt-get|pytest)( |$)|QSTS_\w+=\S+ pytest", span) \
                and span not in MENTIONS:
            found.append((span, None))
    unique: dict[str, list[str] | None] = {}
    for command, shown in found:
        if unique.get(command) is None:
            unique[command] = shown
    return list(unique.items())


COMMANDS = extract()


def test_the_readme_has_the_commands_this_file_runs():
    """The extraction finds what the README shows (a broken regex would find nothing)."""
    commands = [c for c, _ in COMMANDS]
    assert commands[:2] == [
        'python3 -m venv .venv && . .venv/bin/activate && pip install . && qsts grad "(x+y)+x*(x+y)" x=1 y=2',
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest']
    for expected in ['qsts graph "(x+y)+x*(x+y)" --render graph.png', 'qsts repl', 'python -m qsts',
                     'qsts export "x^2*y" --lang c | tail -13', 'python examples/compression.py',
                     'python benchmarks/fit.py --sweep 1e6,1e7,3e7', 'jupyter lab examples/tour.ipynb']:
        assert expected in commands
    assert len(commands) > 35


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A scratch directory laid out as a clone's root for what the commands read."""
    where = tmp_path_factory.mktemp("clone")
    for name in ("examples", "benchmarks"):
        shutil.copytree(ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__"))
    return where


def _env() -> dict:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    # the checkout under test first, whatever copy of qsts the environment has installed
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("PYTHONSTARTUP", None)
    env["MPLBACKEND"] = "Agg"  # headless, as CI is
    return env


def sh(command: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    # the README's test command installs qsts, so a missing script is a broken install, not a reason to skip
    assert shutil.which("qsts", path=os.path.dirname(sys.executable)), \
        "no `qsts` script beside this Python: pip install -e ."
    return subprocess.run(["bash", "-c", "set -o pipefail; " + command], cwd=cwd, env=_env(), input=stdin,
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_the_commands_run_this_checkout(workspace):
    """The `qsts` and `python` the commands run import the qsts under test, not whatever copy
    the environment has installed (an editable install of another clone, a `pip install .`)."""
    for command in ("python -c 'import qsts; print(qsts.__file__)'",
                    "$(head -1 \"$(command -v qsts)\" | cut -c3-) -c 'import qsts; print(qsts.__file__)'"):
        done = sh(command, workspace)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()).resolve() == ROOT / "qsts" / "__init__.py", (command, done.stdout)


def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def check_shown(done: subprocess.CompletedProcess, shown: list[str]) -> None:
    """stdout is the shown output; a `...` line stands for lines left out at that place."""
    out = done.stdout.splitlines()
    if "..." in shown:
        head, tail = shown[:shown.index("...")], shown[shown.index("...") + 1:]
        assert len(out) >= len(head) + len(tail), done.stdout  # head and tail must not overlap
        assert out[:len(head)] == head and out[len(out) - len(tail):] == tail, done.stdout
    else:
        assert out == shown, done.stdout


def run_repl_transcript(shown: list[str], workspace: Path) -> None:
    """The README's session, piped: the typed lines in, results on stdout, the
    error (with its caret) on stderr, no prompts or banner (as the README says)."""
    typed = [line[len("qsts> "):] for line in shown if line.startswith("qsts> ")]
    printed = [line for line in shown[1:] if not line.startswith("qsts> ")]
    start = next(i for i, line in enumerate(printed) if line.startswith("error: "))
    error = printed[start:start + 3]
    done = sh("qsts", workspace, stdin="\n".join(typed) + "\n")
    assert done.returncode == 1, done.stderr  # a line failed, so the piped session's status is 1
    assert done.stdout.splitlines() == printed[:start] + printed[start + 3:]
    assert done.stderr.splitlines() == error


def run_setup(command: str, workspace: Path) -> None:
    """venv, pip, pytest, jupyter and apt-get steps: what can be checked here."""
    for part in (p.strip() for p in command.split("&&")):
        if part in ("python3 -m venv .venv", ". .venv/bin/activate", "pytest"):
            continue  # .ci/run runs the README's two opening commands as written, these included
        if part.startswith("pip install"):
            named = re.findall(r"\.\[([\w,]+)\]", part)
            assert set(",".join(named).split(",")) - {""} <= _extras(), part
            assert re.fullmatch(r'pip install (-e )?("?\.(\[[\w,]+\])?"?)( \w+)?', part), part
        elif part.startswith("jupyter "):
            assert (ROOT / part.split()[-1]).is_file()  # tests/test_notebook.py executes it
        elif part.startswith("QSTS_HYPOTHESIS=explore pytest"):
            # a file without @given, and a fixed seed besides: the profile loads, nothing random runs
            done = sh(f"{part} -o addopts= -q -p no:cacheprovider -x --hypothesis-seed=0 "
                      f"{ROOT / 'tests' / 'test_parse.py'}", workspace)
            assert done.returncode == 0 and "passed" in done.stdout, done.stdout + done.stderr
        elif part.startswith("qsts ") or part.startswith("python benchmarks/"):
            run_command(part, None, workspace)
        elif part != "apt-get install graphviz":  # a system package: root's step, not a test's
            raise AssertionError(f"a README command this test does not know how to check: {part!r}")


def run_benchmark(command: str, workspace: Path) -> None:
    """A benchmark takes --help, and the options the README gives it."""
    words = shlex.split(command)
    done = sh(f"python {words[1]} --help", workspace)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stdout + done.stderr
    for option in (w for w in words[2:] if w.startswith("--")):
        assert option in done.stdout, (option, done.stdout)


def run_command(command: str, shown: list[str] | None, workspace: Path) -> None:
    if command.startswith("python benchmarks/"):
        return run_benchmark(command, workspace)
    if not (command.startswith("qsts") or command.startswith("python -m qsts")
            or command.startswith("python examples/")):
        return run_setup(command, workspace)
    if command in ("qsts", "python -m qsts") and shown:
        return run_repl_transcript(shown, workspace)
    done = sh(command, workspace)
    assert "Traceback" not in done.stderr, done.stderr
    if "--data '" in command and importlib.util.find_spec("dask") is None:
        assert done.returncode == 2 and "qsts[dask]" in done.stderr, done.stderr  # names the extra
        return
    if "--render" in command and shutil.which("dot") is None:
        assert done.returncode == 2 and "dot" in done.stderr, done.stderr  # says so when dot is missing
        return
    if command.startswith("qsts minimize") and "--no-line-search" in command and "not converged" in done.stdout:
        # fixed steps of lr 0.001 reach max_iter first; every other run the README shows converges
        assert done.returncode == 1, done.stdout  # exit status 1: stopped without converging
    else:
        assert done.returncode == 0, done.stdout + done.stderr
    if shown is not None:
        check_shown(done, shown)
    for written in re.findall(r"(?:--render|--plot|-o) (\S+)", command):
        assert (workspace / written).stat().st_size > 0, written


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_the_readme_command_runs_as_written(command, shown, workspace):
    run_command(command, shown, workspace)


def stated_outputs() -> list[tuple[str, list[str]]]:
    """Outputs the README states without a transcript: the comment of a `qsts diff` or `qsts postfix`
    line of the command-line summary (what it prints), and "The first prints `...`, `...`" after the
    opening commands (the lines of the headline example)."""
    stated = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S):
        for line in body.splitlines() if lang == "" else []:
            if re.match(r"qsts (diff|postfix) ", line) and "#" in line:
                stated.append((_without_comment(line), [line[line.index("#", len(_without_comment(line))) + 1:].strip()]))
    first = re.search(r"The first prints ((?:`[^`]+`,?\s*)+)", README)
    headline = re.search(r'&& (qsts grad [^\n`]*)', README)
    stated.append((headline[1].strip(), re.findall(r"`([^`]+)`", first[1])))
    assert len(stated) == 3, stated  # a broken regex would check nothing
    return stated


@pytest.mark.parametrize("command, lines", stated_outputs(), ids=[c for c, _ in stated_outputs()])
def test_the_output_the_readme_states_is_printed(command, lines, workspace):
    assert len(lines) >= 1 and command.startswith("qsts ")
    done = sh(command, workspace)
    assert done.returncode == 0 and done.stdout.splitlines() == lines, (done.stdout, lines)
