"""Object code for the native backend: LLVM IR compiled with llvmlite, cached on disk.

llvmlite is imported here only, on first use, so `import qsts` never pays for
it. IR is compiled at O2 for this CPU into object code, which is kept in the
user's cache directory under a key made of the IR, the CPU and its features,
the compile settings and the qsts and llvmlite versions: a new process that
needs the same kernel loads it instead of compiling it. An entry carries the
SHA-256 of its key and bytes; one that is truncated, corrupt, unreadable or
another kernel's is ignored and written anew, so the cache can
cost a compile but never a crash or stale code. Entries are written to a
temporary file and renamed into place, so readers never see half an entry.

QSTS_CACHE=0 turns the disk cache off; QSTS_CACHE_DIR moves it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Sequence

from ..errors import QstsError
from ..version import __version__
from .llvm_ir import ENTRY

FORMAT = b"qsts-object-2\n"  # changes whenever what is cached, or how, changes
_lock = threading.RLock()    # LLVM's context and the engine are shared: one user at a time
_loaded: dict[str, int] = {}  # kernel name -> address in this process
_keep: list = []              # object files the engine runs from


class NativeUnavailableError(QstsError):
    """backend="native" was asked for where llvmlite is not installed."""


_state: tuple | None = None
_missing: BaseException | None = None


def _llvm():
    """llvmlite's binding, a target machine for this CPU, an engine to load
    object code into, and the target's description; made once, under the lock
    (two engines would each hold kernels the other does not keep alive).
    ImportError where llvmlite is missing or cannot load."""
    global _state, _missing
    with _lock:
        if _state is None and _missing is None:
            try:
                _state = _start()
            except (ImportError, OSError) as err:  # not installed, or its LLVM library fails to load
                _missing = err
        if _state is None:
            raise ImportError(f"llvmlite: {_missing}")
        return _state


def _start():
    import llvmlite
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    machine = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
        cpu=cpu, features=features, opt=2, reloc="pic", codemodel="default")
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    target = f"qsts {__version__} O2 llvmlite {llvmlite.__version__} {llvm.get_process_triple()} {cpu} {features}"
    return llvm, machine, engine, target


def available() -> bool:
    """Whether the native backend can run here (llvmlite imports and loads)."""
    try:
        _llvm()
    except ImportError:
        return False
    return True


def has(symbol: str) -> bool:
    """Whether this process can call the C function `symbol` (sincos is glibc's and musl's)."""
    return bool(_llvm()[0].address_of_symbol(symbol))


def require() -> None:
    if not available():
        raise NativeUnavailableError('backend="native" needs llvmlite: pip install llvmlite '
                                     '(or use backend="numpy")')


@functools.cache
def width() -> int:
    """Points per vector: what this CPU's widest vector registers hold."""
    features = _llvm()[0].get_host_cpu_features()  # a dict: feature name -> whether this CPU has it
    return 8 if features.get("avx512f") else 4 if features.get("avx") else 2


def load(ir: str, calls: Sequence[str] = ()) -> int:
    """The address of the kernel that `ir` defines (as `llvm_ir.ENTRY`), compiled
    or taken from the cache, and loaded into this process once. `calls` are the
    C functions it calls: a missing one is an error here, not a crash later."""
    llvm, machine, engine, target = _llvm()
    missing = [c for c in calls if not llvm.address_of_symbol(c)]
    if missing:
        raise NativeUnavailableError(f"the native backend needs {', '.join(missing)} from the C library, "
                                     'which this platform lacks; use backend="numpy"')
    key = hashlib.sha256(FORMAT + target.encode() + ir.encode()).hexdigest()
    name = f"qsts_{key[:32]}"
    with _lock:
        if name not in _loaded:
            obj = _read(key)
            address = _add(obj, name) if obj is not None else 0
            if not address:  # not cached, or an entry that does not define this kernel
                obj = _compile(ir.replace(f"@{ENTRY}(", f"@{name}("))
                _write(key, obj)
                address = _add(obj, name)
            if not address:
                raise RuntimeError(f"qsts: the compiled kernel {name} did not load")  # a bug, not bad input
            _loaded[name] = address
        return _loaded[name]


def _add(obj: bytes, name: str) -> int:
    """Load `obj` into the engine; the address of `name` in it (0 if it has none)."""
    llvm, _, engine, _ = _llvm()
    _keep.append(llvm.ObjectFileRef.from_data(obj))
    engine.add_object_file(_keep[-1])
    engine.finalize_object()
    return engine.get_function_address(name)


def _compile(ir: str) -> bytes:
    llvm, machine, _, _ = _llvm()
    module = llvm.parse_assembly(ir)
    module.verify()
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=2))
    builder.getModulePassManager().run(module, builder)
    return machine.emit_object(module)


# ---------------------------------------------------------------- the disk cache

def cache_dir() -> Path | None:
    """Where compiled kernels are kept (None: the cache is off)."""
    if os.environ.get("QSTS_CACHE", "").strip().lower() in ("0", "off", "no", "false"):
        return None
    if os.environ.get("QSTS_CACHE_DIR"):
        return Path(os.environ["QSTS_CACHE_DIR"])
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "qsts" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "qsts"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "qsts"


def _read(key: str) -> bytes | None:
    """The cached object code for `key`, or None if it is missing or damaged."""
    where = cache_dir()
    try:
        data = (where / f"{key}.o").read_bytes() if where else b""
    except OSError:
        return None
    head = len(FORMAT) + 32
    if len(data) <= head or not data.startswith(FORMAT):
        return None
    digest, obj = data[len(FORMAT):head], data[head:]
    return obj if hashlib.sha256(key.encode() + obj).digest() == digest else None


def _write(key: str, obj: bytes) -> None:
    """Keep `obj` for `key`; a cache that cannot be written is no error."""
    where = cache_dir()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(FORMAT + hashlib.sha256(key.encode() + obj).digest() + obj)
            os.replace(tmp, where / f"{key}.o")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass
