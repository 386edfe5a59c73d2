"""The native backend: each pass of the schedule as one machine-code loop over the points.

The pass's straight-line body (value and gradient together) is emitted as LLVM
IR over vectors of `width` points (`llvm_ir`), compiled with llvmlite to object
code (`qsts.backends.objects` caches it on disk), and called through ctypes,
which releases the GIL, so threads split the points into ranges of whole
chunks. A body reads each input once per point, writes each output once, and
keeps every temporary in registers: one pass over memory.

Numbers: no fast-math flags, so LLVM neither reassociates nor contracts to FMA,
and the basic operations give the scalar program's bits. Every other function
is the C library's, called per point, as Python's `math` calls it: so native
results equal the scalar program's bit for bit, for every operator. Sums over
the points keep 256-point chunk sums, added in numpy's pairwise order (see
`llvm_ir`), so they equal the numpy backend's bit for bit whatever the threads.
"""
from __future__ import annotations

import ctypes
import functools
import threading
from typing import Sequence

import numpy as np

from ..kernels import CHUNK
from ..options import Options
from ..program import Program
from ..schedule import Schedule
from . import llvm_ir, objects
from .passes import PassBackend, share, threads

MIN_CHUNKS = 64  # chunks per thread (16,384 points, ~10 us of work): below, handing off costs more
_KERNEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


class NativeBackend(PassBackend):
    """`program` run as `schedule` says, each pass a compiled loop. The kernels
    are compiled on the first run (they depend on which outputs are summed)."""

    def __init__(self, program: Program, schedule: Schedule):
        super().__init__(program, schedule)
        objects.require()
        self._kernels: dict = {}  # (pass, which goals are summed) -> (kernel, layout)
        self._lock = threading.Lock()

    def kernel(self, level: int, summed: tuple[bool, ...], arrays: frozenset[int]):
        """Pass `level`'s compiled loop when its goals are summed as `summed` says
        and the input slots `arrays` hold arrays (fixed by the call signature).
        Compiled on first use, once: several threads may call one Function at once."""
        key = (level, summed, arrays)
        with self._lock:
            if key not in self._kernels:
                layout = llvm_ir.Layout.of(self.program, self.schedule.passes[level], summed, arrays)
                ir, calls = llvm_ir.module(layout, objects.width(), sincos=objects.has("sincos"))
                self._kernels[key] = (_KERNEL(objects.load(ir, calls)), layout)
            return self._kernels[key]

    def sweep(self, level: int, inputs: Sequence, base: list, goals: list, n: int, options: Options) -> None:
        arrays = frozenset(s for s, x in enumerate(inputs) if isinstance(x, np.ndarray))
        kernel, layout = self.kernel(level, tuple(summed for _, _, summed in goals), arrays)
        tables = (np.array([inputs[s].ctypes.data for s in layout.arrays] or [0], dtype=np.uintp),
                  np.array([base[s] for s in layout.scalars] or [0.0], dtype=np.float64),
                  np.array([t.ctypes.data for _, t, summed in goals if not summed] or [0], dtype=np.uintp),
                  np.array([t.ctypes.data for _, t, summed in goals if summed] or [0], dtype=np.uintp))
        n_chunks = -(-n // CHUNK)
        workers = max(1, min(options.threads or threads(), n_chunks // MIN_CHUNKS))
        per = max(1, -(-n_chunks // workers)) * CHUNK  # whole chunks per thread: sums never depend on the split
        # the work holds the arrays behind the raw pointers, so they outlive every thread's use of them
        work = functools.partial(_call, kernel, tables, (inputs, goals), max(1, len(layout.sums)) * CHUNK)
        share(work, [(s, min(n, s + per)) for s in range(0, n, per)])


def _call(kernel, tables: tuple, held: tuple, scratch: int, points: tuple[int, int]) -> None:
    buffer = np.empty(scratch)  # the summed goals' values of one chunk (see llvm_ir)
    kernel(*(t.ctypes.data for t in tables), buffer.ctypes.data, *points)
