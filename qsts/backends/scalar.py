"""The scalar backend: a program as generated straight-line Python over floats.

Every input is one float, so every instruction is SCALAR or OF_SCALAR in the
schedule's terms, and a reduction of a scalar is the op table's `python` column
(`sum(x)` is x, `size(x)` is 1). The code reads the op table's columns (`python`,
`scalar`) and never tests an operator's name. It holds slot names, numeric
literals and the op table's own names only: never a user string.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from ..ops import OPS
from ..program import Program, allocate

Pack = Callable[[Sequence[str]], str]  # the texts of the outputs -> the text of the result


def _literal(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "(-INF)"
    return repr(value) if value >= 0 else f"({value!r})"


def _body(program: Program, safe: bool, indent: str) -> tuple[list[str], dict[int, str]]:
    """Assignments of `program`, one per instruction, and the text of every slot.

    The fast version uses Python operators and `math` (raising on `1/0` or
    `log(0)`); the safe version calls the IEEE kernels, which never raise.
    """
    names = {i: f"s{i}" for i in range(len(program.inputs))}
    names.update({s: _literal(v) for s, v in program.constants})
    local = _locals(program)
    lines = []
    for ins in program.instructions:
        op = OPS[ins.op]
        args = [names[a] for a in ins.args]
        python = (op.python(*args) if callable(op.python) else op.python.format(*args)) if op.python else None
        if python and not safe:
            expr = python
        else:
            expr = f"{'k' if safe else 'f'}_{op.name}({', '.join(args)})"
        names[ins.out] = local[ins.out]
        lines.append(f"{indent}{local[ins.out]} = {expr}")
    return lines, names


def _locals(program: Program) -> dict[int, str]:
    """The local variable holding each instruction's value. A local is reused once
    the value in it is dead (after the reading instruction has placed its own
    output), so a program of thousands of slots runs in a few dozen locals:
    fewer live floats, and a smaller frame to set up and clear per call."""
    first = len(program.inputs) + len(program.constants)
    where, _ = allocate(program.instructions, set(program.outputs))
    return {slot: f"s{first + k}" for slot, k in where.items()}


def scalar_source(program: Program, safe: bool) -> str:
    """Python source of `program` as one function of the inputs, by position."""
    lines, names = _body(program, safe, "    ")
    params = ", ".join(f"s{i}" for i in range(len(program.inputs)))
    outputs = "".join(names[o] + ", " for o in program.outputs)
    return "\n".join([f"def program({params}):", *lines, f"    return ({outputs})"]) + "\n"


class _Missing:
    """The default of a positional parameter the caller did not give."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def entry_source(program: Program, pack: Pack) -> str:
    """Source of `make(...)`, which returns `entry(s0=M, ..., /, *A, **V)`: the fast paths.

    Two calls run the straight-line program at once: exactly one float per
    variable by position (`entry(1.0, 2.0)`: bound as parameters, no dict
    read), or by keyword (`entry(x=1.0, y=2.0)`: unpacked by the names N0, N1,
    ..., closure cells, never text in the code). Anything else (a mix, a
    missing or extra value, an int, an array, `out=`) goes to SLOW(args, V),
    the checked path, with the positional values given (through GIVEN, which
    drops the parameters' default M: the values not given are a suffix).
    `pack` lays the result out from the outputs' texts, naming variable i as
    `Ni`. Everything the body calls is a closure cell too: faster to reach
    than globals.
    """
    n = len(program.inputs)
    lines, names = _body(program, False, "        ")
    outputs = [names[o] for o in program.outputs]
    fast_pack = pack(outputs)
    safe_pack = pack([f"o[{k}]" for k in range(len(outputs))])
    params = ", ".join(f"s{i}" for i in range(n))
    floats = " or ".join(f"T(s{i}) is not F" for i in range(n))
    given = f"({params}, *A)"
    body = ["    if A or V: return SLOW(A, V)"] if not n else [
        f"    if len(V) != {n}:",  # not every variable by keyword: every one by position, or the checked path
        f"        if V or A or {floats}: return GIVEN({given}, V)",
        "    else:",
        f"        if s0 is not M: return GIVEN({given}, V)",
        "        try:",
        *[f"            s{i} = V[N{i}]" for i in range(n)],
        "        except KeyError:",
        "            return SLOW((), V)",
        f"        if {floats}: return SLOW((), V)",
    ]
    body += [
        "    try:",
        *(lines or ["        pass"]),
        "    except (ArithmeticError, ValueError):",  # 1/0, log(0), exp(1000): IEEE answers instead
        f"        o = SAFE({params})",
        f"        return {safe_pack}",
        f"    return {fast_pack}",
    ]
    code = "\n".join(body)
    cells = sorted({"SAFE", "SLOW", "T", "F", *(("M", "GIVEN") if n else ()), *(f"N{i}" for i in range(n)),
                    *(w for w in ("INF", "NAN") if w in code),
                    *(f"f_{op}" for op in OPS if f"f_{op}(" in code)})
    signature = "".join(f"s{i}=M, " for i in range(n)) + ("/, " if n else "") + "*A, **V"
    return "\n".join([f"def make({', '.join(cells)}):", f"  def entry({signature}):",
                      *("  " + line for line in body), "  return entry"]) + "\n"


def _namespace() -> dict:
    ns: dict = {"INF": math.inf, "NAN": math.nan}
    for op in OPS.values():
        ns[f"k_{op.name}"] = op.scalar
        ns[f"f_{op.name}"] = getattr(op.scalar, "fast", op.scalar)
    return ns


def _define(source: str, name: str, **extra) -> Callable:
    ns = _namespace()
    ns.update(extra, __name__=__name__)  # a module for the generated functions: pickling need not search sys.modules
    exec(compile(source, "<qsts program>", "exec"), ns)  # generated from the op table only
    return ns[name]


def scalar_function(program: Program) -> tuple[Callable, str]:
    """A function of the inputs (floats, by position) returning the outputs, and its source."""
    fast_source = scalar_source(program, safe=False)
    fast, safe = _define(fast_source, "program"), _define(scalar_source(program, safe=True), "program")

    def run(*args: float) -> tuple:
        try:
            return fast(*args)
        except (ArithmeticError, ValueError):  # 1/0, log(0), exp(1000), ...: IEEE answers instead
            return safe(*args)

    run.safe = safe
    return run, fast_source


def call_entry(program: Program, safe: Callable, slow: Callable, pack: Pack) -> Callable:
    """The compiled fast paths `entry(*args, **values)`; see `entry_source`.
    Every other call goes to `slow(args, values)`, with the positional values given."""
    source = entry_source(program, pack)
    make = _define(source, "make")
    ns = _namespace()

    def given(args: tuple, values: dict):
        count = len(args)
        while count and args[count - 1] is MISSING:  # the values not given are a suffix
            count -= 1
        return slow(args[:count], values)

    cells = {"SAFE": safe, "SLOW": slow, "GIVEN": given, "T": type, "F": float, "M": MISSING,
             **{f"N{i}": name for i, name in enumerate(program.inputs)}}
    wanted = make.__code__.co_varnames[:make.__code__.co_argcount]
    return make(**{k: cells[k] if k in cells else ns[k] for k in wanted})
