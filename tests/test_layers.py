"""The architecture's rules that import-linter does not check (it checks the
layers, in .ci/run): no module reaches into another's private names, imports
inside functions are for optional dependencies only, and functions stay short."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qsts"
MODULES = sorted(PACKAGE.rglob("*.py"))
# imported where used: optional extras (pandas comes with dask.dataframe), llvmlite, a dependency
# whose LLVM takes ~50 ms to load, so only the first native compile pays for it (never `import qsts`),
# and asyncio, ~25 ms that only `--scheduler` needs (next to distributed, which imports it anyway)
OPTIONAL = {"matplotlib", "readline", "scipy", "graphviz", "dask", "distributed", "pandas", "llvmlite", "asyncio", "sympy"}
LONGEST = 50


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def private_uses(tree: ast.Module) -> list[str]:
    """Private names taken from other qsts modules: `from .m import _x`, `m._x`."""
    found, modules = [], set()  # modules: local names bound to qsts modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("qsts")):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _private(a.name)]
            modules.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name.startswith("qsts"))
    return found + [f"{node.lineno}: {node.value.id}.{node.attr}" for node in ast.walk(tree)
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules and _private(node.attr)]


def _functions(tree: ast.Module) -> list:
    return [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]


def inner_imports(tree: ast.Module) -> list[str]:
    """Imports inside functions of anything but an optional dependency."""
    found = []
    for fn in _functions(tree):
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            else:
                continue
            found += [f"{node.lineno}: {fn.name} imports {n}" for n in names if n.split(".")[0] not in OPTIONAL]
    return found


def long_functions(tree: ast.Module) -> list[str]:
    return [f"{f.lineno}: {f.name} has {f.end_lineno - f.lineno + 1} lines"
            for f in _functions(tree) if f.end_lineno - f.lineno + 1 > LONGEST]


@pytest.mark.parametrize("rule", [private_uses, inner_imports, long_functions])
@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_keeps_the_rule(path, rule):
    assert rule(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_each_rule_finds_its_breach():
    body = "\n".join(f"    x{i} = {i}" for i in range(LONGEST))
    bad = ast.parse(f"from . import api\nfrom .values import _float64\nimport matplotlib\n"
                    f"def f():\n    import numpy\n    from .graph import var\n    import matplotlib.pyplot\n"
                    f"    return api._parse, api.parse\n\ndef g():\n{body}\n")
    assert private_uses(bad) == ["2: import _float64", "8: api._parse"]
    assert inner_imports(bad) == ["5: f imports numpy", "6: f imports .graph"]
    assert long_functions(bad) == [f"10: g has {LONGEST + 1} lines"]
