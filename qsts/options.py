"""How compiled functions run: one options object, validated once, and `wrt`."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import QstsError, UnknownVariableError
from .kernels import CHUNK


BACKENDS = ("auto", "native", "numpy")  # what `compile(..., backend=)` takes


@dataclass(frozen=True)
class Options:
    """`block`: points per block of the numpy backend, a multiple of CHUNK (None:
    fit the cache); `threads`: how many threads share the points (None: every
    core); `backend`: which evaluator runs calls with arrays (one of BACKENDS)."""
    block: int | None = None
    threads: int | None = None
    backend: str = "auto"

    def __post_init__(self):
        block, threads = self.block, self.threads
        if self.backend not in BACKENDS:
            raise QstsError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {self.backend!r:.40}")
        if block is not None and (type(block) is not int or block <= 0 or block % CHUNK):
            raise QstsError(f"block must be a positive multiple of {CHUNK}, got {block!r}")
        if threads is not None and (type(threads) is not int or threads <= 0):
            raise QstsError(f"threads must be a positive whole number, got {threads!r}")


def wrt_names(wrt, variables: tuple[str, ...]) -> tuple[str, ...]:
    """`compile(..., wrt=...)` checked, in `variables` order."""
    try:
        names = None if isinstance(wrt, str) else tuple(wrt)  # once: wrt may be an iterator
    except TypeError:
        names = None
    if names is None or not all(isinstance(w, str) for w in names):
        raise QstsError(f"wrt must be a list of variable names, got {wrt!r:.60}")
    unknown = [w for w in names if w not in variables]
    if unknown:
        raise UnknownVariableError(f"wrt names {', '.join(map(repr, unknown))}, not in the expression "
                                   f"(its variables: {', '.join(variables) or 'none'})")
    return tuple(v for v in variables if v in set(names))
