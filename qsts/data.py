"""Data files for the command line: a CSV's columns as float arrays, by header name."""
from __future__ import annotations

import csv
import math

import numpy as np

from .values import check_names
from .errors import QstsError


def read_csv(path: str) -> dict[str, np.ndarray]:
    """The columns of the CSV file at `path`: its first row names them, every
    other row holds one number per column. Errors name the line and column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise QstsError(f"cannot read {path}: {err}") from None
    rows = [(i, r) for i, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]  # skip blank lines
    if not rows:
        raise QstsError(f"{path} is empty; it needs a header row naming the columns")
    _, header = rows[0]
    names = [h.strip() for h in header]
    for name in names:
        if not name.isidentifier() or not name.isascii():
            raise QstsError(f"{path}: column name {name!r} is not a variable name (letters, digits, _)")
    check_names(names, f"{path}: column")  # a column `e` must not lose silently to the constant e
    seen = set()
    for name in names:
        if name in seen:
            raise QstsError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    columns = np.empty((len(rows) - 1, len(names)))
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(names):
            raise QstsError(f"{path}, line {line}: {len(row)} values for {len(names)} columns")
        for j, cell in enumerate(row):
            try:
                columns[k, j] = float(cell)
            except ValueError:
                raise QstsError(f"{path}, line {line}, column {names[j]!r}: {cell.strip()!r} is not a number") from None
            if math.isnan(columns[k, j]) and cell.strip().lower() not in ("nan", "+nan", "-nan"):
                raise QstsError(f"{path}, line {line}, column {names[j]!r}: {cell!r} is not a number")
    return {name: np.ascontiguousarray(columns[:, j]) for j, name in enumerate(names)}


def columns_for(expr_variables, columns: dict, given: dict, path: str) -> dict:
    """The columns the expression uses and the command line does not bind."""
    both = [v for v in expr_variables if v in columns and v in given]
    if both:
        raise QstsError(f"{', '.join(map(repr, both))} given on the command line and as a column of {path}; "
                        "rename one")
    return {v: columns[v] for v in expr_variables if v in columns}
