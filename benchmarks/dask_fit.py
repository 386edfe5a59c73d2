"""One fit step on Dask: 2x10^8 rows on a LocalCluster of two worker processes, qsts beside dask-glm.

    pip install -e ".[dask,bench]" && python benchmarks/dask_fit.py [--quick]

A step is the loss and its gradient with respect to a and b, one `dask.compute`
of `f.value_and_grad(a=..., b=..., t=T, y=Y)`, for

    least squares   mean((a*t + b - y)^2)
    logistic        mean(log(1 + exp(-y*(a*t + b))))

The data are 2x10^8 rows of float64 t and y (3.2 GB), drawn lazily by
`dask.array.random.default_rng(seed)`: t ~ N(0, 1), and y = 1.5 t - 0.3 + N(0, 1)
for least squares, labels +-1 with P(y = 1) = sigmoid(1.5 t - 0.3) for logistic,
in blocks of 2^22 rows (a multiple of 256, so every result is the bits of the
in-memory call on the same numbers). They never reach the driver. The cluster
is a `distributed.LocalCluster` of 2 worker processes of 1 thread each (one per
core: Dask runs blocks in parallel, qsts runs each block on one thread), memory
limit "auto" (half the RAM each); its scheduler runs in the driver's process.

For each loss:

- qsts on Dask, data persisted on the workers: the first step, in which each
  worker unpickles the function, plans it and (native backend) compiles it, the
  kernel cache being cold (QSTS_CACHE_DIR is a fresh directory for the run);
  then 5 steps, of which the table quotes the median (and the best); rows/s is
  the rows over that median. Beside it, the floor: the same step on as many
  blocks of 256 rows, what building the graph and scheduling its tasks cost
  per step; and one step on the data not persisted, drawn inside the step
  (asserted to give the persisted step's bits).
- Memory per worker: each worker's high-water mark (VmHWM of its process in
  /proc/self/status), reset to its resident size through /proc/self/clear_refs
  (by `client.run`) just before the steps and read after them, shown as
  resident before (its half of the data and its runtime) + the rise beyond
  that, for the worker with the higher mark. distributed starts its workers
  with MALLOC_TRIM_THRESHOLD_ set, which fixes glibc's mmap threshold at 128 KB:
  arrays are mapped and unmapped on free, so the mark sees a step's temporaries.
- In memory: the same step on 2x10^7 rows of numpy arrays in the driver (drawn
  the same way, computed into the driver), qsts's default 2 threads, the
  median of 5 steps after a warm-up; its ratio is its time per row over Dask's
  (below 1: faster per row than the cluster).
- dask-glm, the anchor for fitting on Dask: one step is its own
  `family.loglike` and `family.gradient` (Normal, Logistic: what its solvers
  call) on X = [t, 1] and y (0/1 labels for logistic, the same loss written as
  sum(log(1 + e^z)) - y.z), persisted in that form (4.8 GB), one
  `dask.compute`, divided by n; it agrees with qsts's step to ~1e-14 (asserted
  to 1e-9); time as for qsts, ratio dask-glm / qsts. And one iteration of each
  one's gradient descent from (0, 0): `qsts.minimize(method="gd", max_iter=1)`
  against `dask_glm.algorithms.gradient_descent(max_iter=1, normalize=False)`,
  which dask-ml's LinearRegression and LogisticRegression(solver=
  "gradient_descent") call (checked: the same iterate). Their step rules differ,
  and so does the progress: this is the cost of an iteration, with the number
  of graphs each computes or persists. Where dask-glm or dask-ml do not
  import, their cells read "skipped: <reason>".

Out of core: least squares on a new LocalCluster whose workers have a memory
limit of 1 GiB each, on 2^28 rows (4 GiB, 4x a worker's limit), persisted: Dask
spills past its managed-memory target and process-memory thresholds to the
workers' local directory. Reported: the bytes on disk after the persist
(`SpillBuffer.spilled_total`), the bytes each worker's SpillBuffer read back
and wrote during the step (its `cumulative_metrics`), and the step's time. The
step must give the bits of the same step computed before the persist (the data
drawn as it goes), no worker may have restarted (same process ids), and every
persisted block must still be held, in memory or on disk. With --quick the data
are 32 MB and the limit 8 MB: below a worker's own resident size, so there the
thresholds on the process's memory (spill, pause, terminate) are off and only
the managed-memory target spills.

Correctness, in every mode: one step on the cluster over 2x10^6 rows in blocks
of 2^18 against the in-memory call on the same data computed into the driver,
asserted bit for bit.

Other jobs may share the machine: the log lines (#) carry the load average,
and each measurement the share of the machine's CPU that processes other than
this run's (the driver with its scheduler, the workers) took meanwhile: the
busy time in /proc/stat less this process tree's CPU times, "-" for windows
under a second (the kernel counts in ticks of 10 ms).

--quick runs everything on 2x10^6 rows, the in-memory step too (about 25 s);
the default run takes 3.5 to 5 minutes on the 2-core machine. dask-glm and
dask-ml are in the bench extra (dask-glm pulls in numba, which pins llvmlite
to its own minor version: a bench environment keeps qsts's llvmlite there).
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings

import numpy as np

LOSSES = {
    "least squares": "mean((a*t + b - y)^2)",
    "logistic": "mean(log(1 + exp(-y*(a*t + b))))",
}
PARAMS = {"a": 0.7, "b": -0.2}
SEEDS = {"least squares": 1, "logistic": 2}
CHECK_ROWS, CHECK_CHUNK = 2_000_000, 2**18  # the correctness check, in every mode
IN_MEMORY_ROWS = 20_000_000
OUT_OF_CORE_LIMIT = 2**30  # bytes per worker; the data is 4x that
REPEATS = 5  # timed steps after the first; the table quotes their median


# ---------------------------------------------------------------- data, made on the workers

def lazy_data(rows: int, loss: str, chunk: int, seed: int):
    """t ~ N(0, 1) and a y that depends on it: 1.5 t - 0.3 + N(0, 1) for least
    squares, labels +-1 with P(y = 1) = sigmoid(1.5 t - 0.3) for logistic.
    Lazy dask arrays: each block is drawn where it is needed."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    t = rng.standard_normal(rows, chunks=chunk)
    if loss == "least squares":
        y = 1.5 * t - 0.3 + rng.standard_normal(rows, chunks=chunk)
    else:
        y = da.where(rng.random(rows, chunks=chunk) * (1 + da.exp(0.3 - 1.5 * t)) < 1, 1.0, -1.0)
    return t, y


# ---------------------------------------------------------------- steps: each returns (loss, d/da, d/db) as floats

def qsts_step(f, t, y) -> tuple:
    import dask

    (value, grads), = dask.compute(f.value_and_grad(**PARAMS, t=t, y=y))
    return float(value), float(grads["a"]), float(grads["b"])


def qsts_in_memory(f, t, y) -> tuple:
    value, grads = f.value_and_grad(**PARAMS, t=t, y=y)
    return float(value), float(grads["a"]), float(grads["b"])


def qsts_iteration(loss: str, t, y) -> tuple:
    import qsts

    r = qsts.minimize(LOSSES[loss], x0={"a": 0.0, "b": 0.0}, data={"t": t, "y": y}, method="gd", max_iter=1)
    return r.x["a"], r.x["b"], r.fun, r.nfev


def glm_family(loss: str):
    from dask_glm import families

    return families.Normal if loss == "least squares" else families.Logistic


def glm_design(loss: str, t, y):
    """dask-glm's inputs: the design matrix [t, 1] (one block per row block)
    and its labels (0/1 for logistic)."""
    import dask.array as da

    X = da.stack([t, da.ones_like(t)], axis=1).rechunk({1: 2})
    return X, (y if loss == "least squares" else (y + 1) / 2)


def glm_step(loss: str, X, z) -> tuple:
    """The loss and gradient through dask-glm's own family functions, as its
    solvers build them, computed in one graph and divided by n (its losses are sums)."""
    import dask

    family = glm_family(loss)
    n = X.shape[0]
    Xbeta = X.dot(np.array([PARAMS["a"], PARAMS["b"]]))
    value, grad = dask.compute(family.loglike(Xbeta, z), family.gradient(Xbeta, X, z))
    return float(value) / n, float(grad[0]) / n, float(grad[1]) / n


def glm_iteration(loss: str, X, z, graphs: collections.Counter) -> tuple:
    """One iteration of dask-glm's gradient descent from 0 (its line search
    included), counting the graphs it computes and persists in `graphs`."""
    from dask_glm import algorithms

    compute, persist = algorithms.compute, algorithms.persist

    def counted(name, run):
        def call(*args, **kwargs):
            graphs[name] += 1
            return run(*args, **kwargs)
        return call

    algorithms.compute, algorithms.persist = counted("compute", compute), counted("persist", persist)
    try:
        beta = algorithms.gradient_descent(X, z, max_iter=1, family=glm_family(loss), normalize=False)
    finally:
        algorithms.compute, algorithms.persist = compute, persist
    return tuple(float(b) for b in beta)


def glm_missing() -> str | None:
    """None where dask-glm and dask-ml import, else why not."""
    try:
        import dask_glm.algorithms  # noqa: F401
        import dask_glm.families  # noqa: F401
        import dask_ml.linear_model  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any failure to import against this dask is a skip
        return f"{type(err).__name__}: {err}"[:200]
    return None


# ---------------------------------------------------------------- measuring

def status_kb() -> dict:
    """VmRSS and VmHWM of this process, in kB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1])
    return out


def reset_peak() -> int:
    """Sets the process's VmHWM to its current resident size; returns that size (kB)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_kb()["VmRSS"]


def memory(before: dict, after: dict) -> dict:
    """Per worker: resident before (MB), and the high-water mark since minus
    that; the worker with the highest mark."""
    w = max(after, key=lambda w: after[w]["VmHWM"])
    return {"held_mb": before[w] / 1024, "beyond_mb": max(after[w]["VmHWM"] - before[w], 0) / 1024,
            "peak_mb": after[w]["VmHWM"] / 1024}


def measure(client, step, repeats: int = REPEATS) -> dict:
    """A first step, then `repeats` timed steps (each giving the first's
    result), with the workers' peak memory over them."""
    start = time.perf_counter()
    result = step()
    first = time.perf_counter() - start
    before, driver, others = client.run(reset_peak), driver_mb(), Others()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        again = step()
        times.append(time.perf_counter() - start)
        assert again == result, (again, result)
    return {"first": first, "times": times, "median": statistics.median(times), "best": min(times),
            "result": result, "driver_growth_mb": driver_mb() - driver, "others": others.share(),
            **memory(before, client.run(status_kb))}


def once(client, step) -> dict:
    before, others = client.run(reset_peak), Others()
    start = time.perf_counter()
    result = step()
    took = time.perf_counter() - start
    return {"time": took, "result": result, "others": others.share(), **memory(before, client.run(status_kb))}


def in_memory(step, repeats: int = REPEATS) -> dict:
    step()  # warm-up: plans and compiles in the driver
    times, others = [], Others()
    for _ in range(repeats):
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "best": min(times), "result": result, "others": others.share()}


def workers_rss_mb(client) -> list:
    return sorted(round(s["VmRSS"] / 1024) for s in client.run(status_kb).values())


def wait_empty(client, timeout: float = 60.0) -> None:
    """Until the workers hold no data (released arrays are forgotten asynchronously)."""
    deadline = time.monotonic() + timeout
    while sum(client.run(lambda dask_worker: len(dask_worker.data)).values()):
        if time.monotonic() > deadline:
            raise RuntimeError("the workers still hold data")
        time.sleep(0.1)


def persisted(client, *arrays):
    import distributed

    start = time.perf_counter()
    out = client.persist(list(arrays))
    distributed.wait(out)
    return out, time.perf_counter() - start


def same_bits(x: tuple, y: tuple) -> bool:
    return np.array_equal(np.array(x, dtype=np.float64).view(np.int64), np.array(y, dtype=np.float64).view(np.int64))


def relative_difference(x: tuple, y: tuple) -> float:
    return max(abs(a - b) / max(abs(a), abs(b), 1e-300) for a, b in zip(x, y))


def backend_of(f, rows: int) -> str:
    """The backend qsts's "auto" takes for a call of `rows` points (on Dask too: chosen for the whole array)."""
    from qsts.backends import choose, faster
    from qsts.function import plan

    p = plan(f.expression, tuple(v in ("t", "y") for v in f.variables), f.wrt)
    return choose("auto", rows, faster(p.program, p.schedule))


def driver_mb() -> float:
    return status_kb()["VmRSS"] / 1024


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_cpu() -> float:
    """CPU seconds the machine has been busy (all processes: /proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and its children (the workers), the living and the ended."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        total += t.user + t.system
    t = me.cpu_times()
    return total + t.children_user + t.children_system


class Others:
    """The share of the machine's CPU that other processes took from its start to `share()`."""

    def __init__(self):
        self.start, self.busy, self.own = time.perf_counter(), machine_cpu(), own_cpu()

    def share(self) -> float:
        """NaN under a second: the kernel counts CPU time in ticks of 10 ms."""
        elapsed = time.perf_counter() - self.start
        others = (machine_cpu() - self.busy) - (own_cpu() - self.own)
        return max(others, 0.0) / (os.cpu_count() * elapsed) if elapsed >= 1 else float("nan")


def log(text: str) -> None:
    print(f"# [{time.strftime('%H:%M:%S')}, load {load()}] {text}", flush=True)


def quiet_overflow() -> None:
    """dask-glm's logistic line search overflows exp at its first trial steps (harmless there)."""
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)


def cluster(memory_limit="auto"):
    import distributed

    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                                    dashboard_address=":0", silence_logs=logging.ERROR)


# ---------------------------------------------------------------- the parts

def fit_steps(client, loss: str, skip_glm: str | None) -> dict:
    """Everything measured for one loss on the cluster (see the module docstring)."""
    import qsts

    rows, chunk, r = ARGS.rows, ARGS.chunk, {}
    start = time.perf_counter()
    f = qsts.compile(LOSSES[loss], wrt=["a", "b"])
    r["compile"] = time.perf_counter() - start
    r["backend"] = backend_of(f, rows)
    t, y = lazy_data(rows, loss, chunk, SEEDS[loss])
    r["blocks"] = t.numblocks[0]
    on_persisted(client, loss, f, t, y, r)
    wait_empty(client)
    floor(client, f, r)
    wait_empty(client)
    r["lazy"] = once(client, lambda: qsts_step(f, t, y))
    assert same_bits(r["lazy"]["result"], r["dask"]["result"]), "the data drawn again must give the same bits"
    log(f"{loss}: qsts step drawing the data as it goes: {r['lazy']['time']:.2f} s, peak per worker "
        f"{r['lazy']['peak_mb']:,.0f} MB; others took {pct(r['lazy']['others'])} of the CPU")
    in_the_driver(loss, f, r)
    if skip_glm is None:
        glm(client, loss, t, y, r)
        wait_empty(client)
    r["workers_after_mb"] = workers_rss_mb(client)
    return r


def on_persisted(client, loss: str, f, t, y, r: dict) -> None:
    """qsts's step and one minimize iteration on t, y persisted on the workers."""
    (tp, yp), r["persist"] = persisted(client, t, y)
    log(f"{loss}: {ARGS.rows:,} rows persisted in {r['persist']:.1f} s; workers resident {workers_rss_mb(client)} MB")
    r["dask"] = measure(client, lambda: qsts_step(f, tp, yp))
    log(f"{loss}: qsts step on Dask ({r['backend']} backend): first {r['dask']['first']:.3f} s, then "
        f"{', '.join(f'{x:.3f}' for x in r['dask']['times'])} s; peak per worker {r['dask']['peak_mb']:,.0f} MB "
        f"(+{r['dask']['beyond_mb']:.1f}); driver +{r['dask']['driver_growth_mb']:.1f} MB over the steps; "
        f"others took {pct(r['dask']['others'])} of the CPU")
    r["iteration"] = measure(client, lambda: qsts_iteration(loss, tp, yp), repeats=2)
    log(f"{loss}: qsts.minimize(method='gd', max_iter=1): first {r['iteration']['first']:.2f} s, then "
        f"{', '.join(f'{x:.2f}' for x in r['iteration']['times'])} s, {r['iteration']['result'][3]} evaluations; "
        f"others took {pct(r['iteration']['others'])} of the CPU")


def floor(client, f, r: dict) -> None:
    """The step on as many blocks as the data's, of 256 rows each: the per-step overhead."""
    import dask.array as da

    (ts, ys), _ = persisted(client, *[da.ones(256 * r["blocks"], chunks=256) for _ in "ty"])
    r["floor"] = measure(client, lambda: qsts_step(f, ts, ys))
    log(f"floor, the step on {r['blocks']} blocks of 256 rows: {r['floor']['median'] * 1e3:.0f} ms; "
        f"others took {pct(r['floor']['others'])} of the CPU")


def in_the_driver(loss: str, f, r: dict) -> None:
    """The in-memory call on numpy arrays in the driver."""
    import dask

    n = min(IN_MEMORY_ROWS, ARGS.rows)
    tm, ym = dask.compute(*lazy_data(n, loss, ARGS.chunk, 20 + SEEDS[loss]))
    r["memory_rows"], r["memory_backend"] = n, backend_of(f, n)
    r["memory"] = in_memory(lambda: qsts_in_memory(f, tm, ym))
    log(f"{loss}: in memory, {n:,} rows in the driver ({r['memory_backend']}): median {r['memory']['median']:.4f} s; "
        f"others took {pct(r['memory']['others'])} of the CPU")


def glm(client, loss: str, t, y, r: dict) -> None:
    """dask-glm's step and one iteration of its gradient descent, on its design matrix persisted."""
    (X, z), r["glm_persist"] = persisted(client, *glm_design(loss, t, y))
    r["glm"] = measure(client, lambda: glm_step(loss, X, z))
    r["glm_difference"] = relative_difference(r["glm"]["result"], r["dask"]["result"])
    assert r["glm_difference"] < 1e-9, (r["glm"]["result"], r["dask"]["result"])
    log(f"{loss}: dask-glm step: first {r['glm']['first']:.2f} s, then "
        f"{', '.join(f'{x:.2f}' for x in r['glm']['times'])} s; peak per worker {r['glm']['peak_mb']:,.0f} MB "
        f"(+{r['glm']['beyond_mb']:.0f}); relative difference to qsts {r['glm_difference']:.1e}; "
        f"others took {pct(r['glm']['others'])} of the CPU")
    graphs: collections.Counter = collections.Counter()
    r["glm_iteration"] = once(client, lambda: glm_iteration(loss, X, z, graphs))
    r["glm_graphs"] = dict(graphs)
    log(f"{loss}: dask-glm gradient_descent(max_iter=1): {r['glm_iteration']['time']:.2f} s, {dict(graphs)}; "
        f"others took {pct(r['glm_iteration']['others'])} of the CPU")


def out_of_core() -> dict:
    """Least squares on data 4x a worker's memory limit, persisted (so spilled),
    against the same step on the data generated as it goes: the same bits."""
    import dask

    import qsts

    rows = ARGS.rows if ARGS.quick else 4 * OUT_OF_CORE_LIMIT // 16
    limit = 16 * rows // 4
    # --quick: a limit of a few MB is below a worker's own resident size, so only
    # the managed-memory target spills; the thresholds on the process's memory are off
    settings = {f"distributed.worker.memory.{k}": False for k in ("spill", "pause", "terminate")} if ARGS.quick else {}
    r = {"rows": rows, "limit": limit, "thresholds": not ARGS.quick}
    with dask.config.set(settings), cluster(memory_limit=limit) as c, c.get_client() as client:
        pids = client.run(os.getpid)
        f = qsts.compile(LOSSES["least squares"], wrt=["a", "b"])
        t, y = lazy_data(rows, "least squares", ARGS.chunk, seed=3)
        r["lazy"] = once(client, lambda: qsts_step(f, t, y))
        (tp, yp), r["persist"] = persisted(client, t, y)
        keys = [k for a in (tp, yp) for k in a.__dask_keys__()]
        r["after_persist"] = spill_state(client, keys)
        log(f"out of core: {rows:,} rows ({16 * rows / 2**30:.2f} GiB) persisted in {r['persist']:.1f} s on workers of "
            f"{limit / 2**20:,.0f} MiB: {r['after_persist']}")
        r["step"] = once(client, lambda: qsts_step(f, tp, yp))
        r["after_step"] = spill_state(client, keys)
        log(f"out of core: step {r['step']['time']:.2f} s: {r['after_step']}; others took {pct(r['step']['others'])} "
            "of the CPU")
        assert same_bits(r["step"]["result"], r["lazy"]["result"]), (r["step"]["result"], r["lazy"]["result"])
        assert client.run(os.getpid) == pids, "a worker was restarted"
        assert r["after_persist"]["held"] == r["after_step"]["held"] == len(keys), "blocks lost"
        r["keys"] = len(keys)
    return r


def spill_state(client, keys: list) -> dict:
    """The persisted blocks held in memory and on disk, over the workers, and
    the bytes their SpillBuffers have written to and read from disk so far."""
    def state(dask_worker, keys=keys):
        d = dask_worker.data
        m = d.cumulative_metrics
        return {"memory": {i for i, k in enumerate(keys) if k in d.fast},
                "disk": {i for i, k in enumerate(keys) if k in d.slow},
                "on_disk": d.spilled_total.disk, "written": m.get(("disk-write", "bytes"), 0.0),
                "read": m.get(("disk-read", "bytes"), 0.0)}
    states = list(client.run(state).values())
    out = {k: sum(s[k] for s in states) for k in ("on_disk", "written", "read")}
    out["held"] = len(set().union(*(s["memory"] | s["disk"] for s in states)))  # a block may be on both workers
    out["disk"] = len(set().union(*(s["disk"] for s in states)))
    return out


def check(client, skip_glm: str | None) -> None:
    """One step on Dask against the in-memory call on the same data computed
    into the driver: the same bits (chunks of 2^18 rows, a multiple of 256).
    And dask-ml's gradient descent is dask-glm's: the same iterate."""
    import dask

    import qsts

    for loss, text in LOSSES.items():
        f = qsts.compile(text, wrt=["a", "b"])
        t, y = lazy_data(CHECK_ROWS, loss, CHECK_CHUNK, seed=10 + SEEDS[loss])
        on_dask = qsts_step(f, t, y)
        tm, ym = dask.compute(t, y)
        assert same_bits(on_dask, qsts_in_memory(f, tm, ym)), (loss, on_dask, qsts_in_memory(f, tm, ym))
        log(f"check, {loss}, {CHECK_ROWS:,} rows: the step on Dask is the in-memory one bit for bit: {on_dask}")
        if skip_glm is None:
            import dask_ml.linear_model as lm

            X, z = glm_design(loss, t, y)
            glm = glm_iteration(loss, X, z, collections.Counter())
            est = (lm.LinearRegression if loss == "least squares" else lm.LogisticRegression)(
                solver="gradient_descent", max_iter=1, solver_kwargs={"normalize": False}).fit(t[:, None], z)
            assert np.allclose(glm, (est.coef_[0], est.intercept_), rtol=1e-12, atol=0), (glm, est.coef_)
            log(f"check, {loss}: dask-ml's fit(max_iter=1) is dask-glm's gradient_descent(max_iter=1): {glm}")


# ---------------------------------------------------------------- the report

def secs(x: float) -> str:
    return f"{x:.2f} s" if x >= 1 else f"{x * 1e3:.0f} ms" if x >= 0.01 else f"{x * 1e3:.1f} ms"


def pct(share: float) -> str:
    return "-" if share != share else f"{share:.0%}"


def size(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.0f} MB"


def rate(rows: int, x: float) -> str:
    per = rows / x
    return f"{per / 1e9:.2f} G rows/s" if per >= 1e9 else f"{per / 1e6:.0f} M rows/s"


def table(results: dict, out_of_core: dict, skip_glm: str | None) -> None:
    rows = ARGS.rows
    cells = collections.defaultdict(list)
    for loss, r in results.items():
        d, m = r["dask"], r["memory"]
        q = d["median"]
        cells["step"].append(f"{secs(q)}, {rate(rows, q)} ({r['backend']})")
        cells["best"].append(secs(d["best"]))
        cells["first"].append(secs(d["first"]))
        cells["floor"].append(secs(r["floor"]["median"]))
        cells["memory"].append(f"{d['held_mb']:,.0f} + {d['beyond_mb']:,.0f} MB")
        cells["lazy"].append(f"{secs(r['lazy']['time'])}, {rate(rows, r['lazy']['time'])}; "
                             f"{r['lazy']['held_mb']:,.0f} + {r['lazy']['beyond_mb']:,.0f} MB")
        per_row = m["median"] / r["memory_rows"]
        cells["in memory"].append(f"{secs(m['median'])}, {rate(r['memory_rows'], m['median'])} "
                                  f"({per_row / (q / rows):.2g}x; {r['memory_backend']})")
        it = r["iteration"]
        cells["iteration"].append(f"{secs(it['median'])} ({it['result'][3]} graphs)")
        if skip_glm is None:
            g = r["glm"]
            cells["glm"].append(f"{secs(g['median'])}, {rate(rows, g['median'])} ({g['median'] / q:.2g}x); "
                                f"{g['held_mb']:,.0f} + {g['beyond_mb']:,.0f} MB")
            gi, graphs = r["glm_iteration"], r["glm_graphs"]
            cells["glm iteration"].append(f"{secs(gi['time'])} ({gi['time'] / it['median']:.2g}x; "
                                          f"{sum(graphs.values())} graphs)")
        else:
            cells["glm"].append(f"skipped: {skip_glm}")
            cells["glm iteration"].append("skipped")
        shares = [d["others"], m["others"]] + ([r["glm"]["others"], r["glm_iteration"]["others"]] if skip_glm is None
                                               else [])
        cells["others"].append(" / ".join(map(pct, shares)))
    blocks = results["least squares"]["blocks"]
    names = {
        "step": "**qsts on Dask**, data persisted: a step (median of 5)",
        "best": "best of the 5",
        "first": "first step (each worker loads, plans and, native, compiles the function)",
        "floor": f"the same graph on {blocks} blocks of 256 rows (per-step overhead)",
        "memory": "peak per worker over the 5 steps (resident before + beyond)",
        "lazy": "a step drawing the data as it goes (not persisted); peak per worker",
        "in memory": f"in-memory qsts, {results['least squares']['memory_rows']:,} rows of numpy in the driver "
                     "(time per row / Dask's)",
        "glm": "dask-glm loss + gradient (family.loglike, .gradient) on persisted X = [t, 1], y; peak per worker",
        "iteration": "one iteration from (0, 0): qsts.minimize(method=\"gd\", max_iter=1)",
        "glm iteration": "dask-glm gradient_descent(max_iter=1, normalize=False)",
        "others": "CPU taken by other processes meanwhile: qsts steps / in memory"
                  + ("" if skip_glm else " / dask-glm steps / its iteration"),
    }
    print(f"\n{rows:,} rows ({size(16 * rows)} of t, y) in blocks of {ARGS.chunk:,}; LocalCluster of 2 worker "
          f"processes x 1 thread\n")
    print("| | " + " | ".join(f"{loss} `{LOSSES[loss]}`" for loss in results) + " |")
    print("|---|" + "---|" * len(results))
    for key, name in names.items():
        print(f"| {name} | " + " | ".join(cells[key]) + " |")
    o = out_of_core
    s, p = o["after_step"], o["after_persist"]
    print(f"\nOut of core (least squares): {o['rows']:,} rows ({16 * o['rows'] / 2**30:.2f} GiB) on 2 workers of "
          f"{o['limit'] / 2**20:,.0f} MiB each{'' if o['thresholds'] else ' (managed-memory target only)'}: "
          f"persisted in {secs(o['persist'])} with {size(p['on_disk'])} spilled to disk "
          f"({p['disk']} of {o['keys']} blocks); a step in {secs(o['step']['time'])} "
          f"({rate(o['rows'], o['step']['time'])}), reading {size(s['read'] - p['read'])} back and writing "
          f"{size(s['written'] - p['written'])}, peak per worker {o['step']['peak_mb']:,.0f} MB; "
          f"the same bits as the step on the data drawn as it goes; no worker restarted, all {o['keys']} "
          "blocks held.")


def main() -> None:
    import dask
    import distributed

    started, load_before, others = time.perf_counter(), load(), Others()
    log(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, dask {dask.__version__}, distributed {distributed.__version__}")
    skip_glm = glm_missing()
    if skip_glm:
        print(f"dask-glm / dask-ml: skipped: {skip_glm}")
    else:
        import dask_glm
        import dask_ml
        log(f"dask-glm {dask_glm.__version__}, dask-ml {dask_ml.__version__}")
    quiet_overflow()
    cache = tempfile.mkdtemp(prefix="qsts-cache-")
    os.environ["QSTS_CACHE_DIR"] = cache  # a cold kernel cache: the first step compiles on the workers
    try:
        with cluster() as c, c.get_client() as client:
            client.run(quiet_overflow)
            limits = {w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
            log(f"LocalCluster: 2 worker processes x 1 thread, memory limit {[f'{x / 2**30:.1f} GiB' for x in limits]}"
                f"; workers resident {workers_rss_mb(client)} MB, driver {driver_mb():.0f} MB")
            results = {loss: fit_steps(client, loss, skip_glm) for loss in LOSSES}
            check(client, skip_glm)
            log(f"workers resident after: {[r['workers_after_mb'] for r in results.values()]} MB, "
                f"driver {driver_mb():.0f} MB")
        ooc = out_of_core()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    table(results, ooc, skip_glm)
    print(f"\n{time.strftime('%Y-%m-%d')}; {time.perf_counter() - started:.0f} s in all; load average (1, 5, 15 min) "
          f"{load_before} at the start, {load()} at the end; other processes took {pct(others.share())} of the CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2x10^6 rows: a smoke run of everything")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 2x10^8, --quick 2x10^6)")
    parser.add_argument("--chunk", type=int, default=None, help="rows per block (default 2^22, --quick 2^18)")
    ARGS = parser.parse_args()
    ARGS.rows = ARGS.rows or (2_000_000 if ARGS.quick else 200_000_000)
    ARGS.chunk = ARGS.chunk or (2**18 if ARGS.quick else 2**22)
    if ARGS.chunk % 256:
        parser.error("--chunk must be a multiple of 256 rows (then every result is the in-memory call's bits)")
    main()
