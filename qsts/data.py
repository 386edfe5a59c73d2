"""Data files for the command line: columns as float arrays, by header name.

`--data PATH` names one CSV file, read in memory (`read_csv`), or a dataset
read lazily with dask.dataframe (`read_dataset`): a glob of CSV files, or
Parquet (a .parquet/.pq file, a directory of them, or a glob). A dataset's
columns become 1-d dask arrays of known chunk sizes, so every computation on
them runs on Dask's active scheduler. dask and pandas are imported inside the
functions only: `import qsts` and the in-memory CLI never pay for them.
"""
from __future__ import annotations

import csv
import glob
import itertools
import math
import os

import numpy as np

from . import lazy
from .values import check_names
from .errors import QstsError

PARQUET = (".parquet", ".parq", ".pq")  # as dask.dataframe.read_parquet takes them
GLOB = "*?["
# The NaNs a CSV may spell (`float` reads them, in any case, as read_csv does); an
# empty cell or pandas' other NA words ("NA", "null", ...) are errors, never a silent NaN
NAN_SPELLINGS = [sign + "".join(s) for sign in ("", "+", "-") for s in itertools.product("nN", "aA", "nN")]


def read_columns(path: str, variables, given: dict) -> dict:
    """The columns of `--data PATH` that the expression's `variables` name, as
    arrays (dask arrays for a dataset); a name also `given` on the command line
    is an error."""
    if is_dataset(path):
        return read_dataset(path, variables, given)
    return columns_for(variables, read_csv(path), given, path)


def is_dataset(path: str) -> bool:
    """Whether `path` is read with dask: a glob, a Parquet file or a directory.
    A file that exists by that very name is one CSV file, brackets and all."""
    parquet = path.lower().endswith(PARQUET)
    if os.path.isfile(path) and not parquet:
        return False
    return parquet or any(c in path for c in GLOB) or os.path.isdir(path)


# ---------------------------------------------------------------- one CSV file, in memory

def read_csv(path: str) -> dict[str, np.ndarray]:
    """The columns of the CSV file at `path`: its first row names them, every
    other row holds one number per column. Errors name the line and column."""
    rows = _rows(path)
    _, header = rows[0]
    names = [h.strip() for h in header]
    for name in names:
        if not name.isidentifier() or not name.isascii():
            raise QstsError(f"{path}: column name {name!r} is not a variable name (letters, digits, _)")
    _check_header(names, path)
    columns = np.empty((len(rows) - 1, len(names)))
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(names):
            raise QstsError(f"{path}, line {line}: {len(row)} values for {len(names)} columns")
        for j, cell in enumerate(row):
            columns[k, j] = _number(cell, path, line, names[j])
    return {name: np.ascontiguousarray(columns[:, j]) for j, name in enumerate(names)}


def _rows(path: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of the CSV file at `path` with their line numbers; the first is the header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise QstsError(f"cannot read {path}: {err}") from None
    rows = [(i, r) for i, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]  # skip blank lines
    if not rows:
        raise QstsError(f"{path} is empty; it needs a header row naming the columns")
    return rows


def _check_header(names, path: str) -> None:
    check_names(names, f"{path}: column")  # a column `e` must not lose silently to the constant e
    seen = set()
    for name in names:
        if name in seen:
            raise QstsError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)


def _number(cell: str, path: str, line: int, name: str) -> float:
    """A cell as a float: a number, or nan spelled out; anything else (an empty cell) is an error."""
    try:
        value = float(cell)
    except ValueError:
        raise QstsError(f"{path}, line {line}, column {name!r}: {cell.strip()!r} is not a number") from None
    if math.isnan(value) and cell.strip().lower() not in ("nan", "+nan", "-nan"):
        raise QstsError(f"{path}, line {line}, column {name!r}: {cell!r} is not a number")
    return value


def columns_for(expr_variables, columns: dict, given: dict, path: str) -> dict:
    """The columns the expression uses and the command line does not bind."""
    both = [v for v in expr_variables if v in columns and v in given]
    if both:
        raise QstsError(f"{', '.join(map(repr, both))} given on the command line and as a column of {path}; "
                        "rename one")
    return {v: columns[v] for v in expr_variables if v in columns}


# ---------------------------------------------------------------- datasets, lazily with dask

def read_dataset(path: str, variables, given: dict) -> dict:
    """The columns of the dataset `path` that `variables` name, as 1-d float64
    dask arrays sharing one read of the files. Only those columns are read;
    columns named like constants or functions are refused as `read_csv` refuses
    them, and names that are not identifiers (which no variable can match) are
    ignored. Chunk sizes come from one pass over the files, done here."""
    dd = _dask_dataframe(path)
    parquet, source = _source(path)
    names = _parquet_frame(dd, source, path).columns if parquet else _csv_names(source[0])
    names = [n for n in names if isinstance(n, str) and n.isidentifier() and n.isascii()]
    _check_header(names, path)
    used = list(columns_for(variables, dict.fromkeys(names), given, path))
    if not used:
        return {}
    if parquet:
        frame = _numeric(_parquet_frame(dd, source, path, used), path)
        lengths, missing = lazy.compute((frame.map_partitions(len), frame.isna().sum()), f"reading {path}")
        for name, count in missing.items():
            if count:  # pandas reads a null as NaN: refused, as an empty CSV cell is, never a silent NaN
                raise QstsError(f"{path}: column {name!r} has {count} missing values (null or NaN); "
                                "fill or drop them")
    else:
        frame = dd.from_map(_csv_part, source, names=tuple(used), meta={n: np.float64 for n in used},
                            label="qsts-read-csv", enforce_metadata=False)
        lengths = lazy.compute(frame.map_partitions(len), f"reading {path}")
    array = frame.to_dask_array(lengths=tuple(int(n) for n in lengths))  # 2-d: the columns share each read
    return {name: array[:, j] for j, name in enumerate(used)}


def _dask_dataframe(path: str):
    try:
        import dask.dataframe as dd
    except ImportError:
        raise QstsError(f"--data {path!r} (a glob, Parquet or a directory) is read with dask: "
                        "pip install 'qsts[dask]'") from None
    return dd


def _source(path: str) -> tuple[bool, object]:
    """(Parquet?, what to read): the files a glob matches (all Parquet, or all
    CSV), else the Parquet file or directory at `path`."""
    if any(c in path for c in GLOB):
        files = sorted(f for f in glob.glob(path) if os.path.isfile(f))
        if not files:
            raise QstsError(f"no files match {path}")
        kinds = {f.lower().endswith(PARQUET) for f in files}
        if len(kinds) > 1:
            raise QstsError(f"{path} matches Parquet files ({', '.join(PARQUET)}) and others; match one kind")
        return kinds.pop(), [os.path.abspath(f) for f in files]  # absolute: a worker may run elsewhere
    if not os.path.exists(path):
        raise QstsError(f"cannot read {path}: no such file or directory")
    return True, os.path.abspath(path)


def _parquet_frame(dd, source, path: str, columns=None):
    try:
        return dd.read_parquet(source, columns=columns)
    except Exception as err:  # what pyarrow raises for a file that is not Parquet varies
        reason = (str(err).strip().splitlines() or [""])[-1]  # dask wraps pyarrow's message in lines of its own
        raise QstsError(f"cannot read {path} as Parquet ({type(err).__name__}: {reason}); "
                        "for CSV files give a glob such as DIR/*.csv") from None


def _numeric(frame, path: str):
    """`frame` as float64, once its columns are known to hold numbers."""
    for name, dtype in frame.dtypes.items():
        if getattr(dtype, "kind", "O") not in "biuf":
            raise QstsError(f"{path}: column {name!r} holds {dtype}, not numbers")
    return frame.astype(np.float64)


def _csv_names(path: str) -> list[str]:
    """The column names in the header of the CSV file at `path`, stripped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next((r for r in csv.reader(f) if any(cell.strip() for cell in r)), None)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise QstsError(f"cannot read {path}: {err}") from None
    if header is None:
        raise QstsError(f"{path} is empty; it needs a header row naming the columns")
    return [h.strip() for h in header]


def _csv_part(path: str, names: tuple):
    """The columns `names` of one CSV file as float64 (a Dask task: runs wherever
    Dask runs it). A cell that is not a number is an error naming the file,
    line and column, as `read_csv` names them."""
    import pandas as pd

    wanted = set(names)
    try:
        frame = pd.read_csv(path, usecols=lambda c: c.strip() in wanted, dtype=np.float64, encoding="utf-8-sig",
                            keep_default_na=False, na_values=NAN_SPELLINGS, **_exact_floats(pd))
    except (OSError, ValueError) as err:  # pandas' parse errors are ValueErrors
        _check_cells(path, names)  # raises the error read_csv would, where it can find it
        raise QstsError(f"cannot read {path}: {err}") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [n for n in names if n not in frame.columns]
    if missing or len(set(frame.columns)) < len(frame.columns):
        raise QstsError(f"{path}: column {', '.join(map(repr, missing))} missing from its header" if missing
                        else f"{path}: a column appears twice in the header")
    return frame[list(names)]


def _exact_floats(pd) -> dict:
    """read_csv's options for floats correctly rounded, as `float` reads them
    (pandas 3 does by default and deprecates the option)."""
    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _check_cells(path: str, names) -> None:
    """Raise read_csv's error for the first row of the wrong length, or cell of
    the columns `names` that is not a number, in the CSV file at `path`."""
    rows = _rows(path)
    header = [h.strip() for h in rows[0][1]]
    where = [(header.index(n), n) for n in names if n in header]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise QstsError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
        for j, name in where:
            _number(row[j], path, line, name)
