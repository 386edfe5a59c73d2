"""One step of a fit on many rows: time and peak memory, qsts beside its peers.

    pip install -e ".[bench]" && python benchmarks/fit.py [--rows 10000000 | --sweep 1e6,1e7,3e7]

A step is the loss and its gradient with respect to the parameters a and b,
with the data t and y (float64 columns, 16 bytes per row) held fixed, for

    least squares   mean((a*t + b - y)^2)
    logistic        mean(log(1 + exp(-y*(a*t + b))))

Each peer runs in its own process. Memory is the kernel's high-water mark of
the process (VmHWM, reset through /proc/self/clear_refs) during the steps,
minus the resident size just before them: what a step needs beyond the data,
whoever allocates it (numpy, numexpr's C buffers, XLA); that child runs with a
fixed glibc mmap threshold, so freed arrays leave and new ones are counted.
Time is the best of 5 steps, in another child with the default allocator.
Peers: numpy and numexpr with hand-derived gradients, and JAX (jit of
value_and_grad, float64). Ratios are peer / qsts: above 1, qsts is better.
`--sweep` instead measures memory alone at several row counts, to show what
grows with the rows and what does not.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

LOSSES = {
    "least squares": "mean((a*t + b - y)^2)",
    "logistic": "mean(log(1 + exp(-y*(a*t + b))))",
}
PARAMS = {"a": 0.7, "b": -0.2}


def data(rows: int, loss: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    t = rng.normal(size=rows)
    y = 1.5 * t - 0.3 + rng.normal(size=rows) if loss == "least squares" else np.sign(rng.normal(size=rows))
    return t, y


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


# ---------------------------------------------------------------- peers: each returns step(a, b) -> (loss, ga, gb)

def peer_qsts(loss, t, y, threads=None):
    import qsts

    f = qsts.compile(LOSSES[loss], wrt=["a", "b"], threads=threads)

    def step(a, b):
        value, g = f.value_and_grad(a=a, b=b, t=t, y=y)
        return value, g["a"], g["b"]
    return step


def peer_numpy(loss, t, y):
    n = len(t)
    if loss == "least squares":
        def step(a, b):
            r = a * t + b - y
            return float(r @ r) / n, 2 * float(r @ t) / n, 2 * float(r.sum()) / n
    else:
        def step(a, b):
            m = -y * (a * t + b)
            value = float(np.logaddexp(0.0, m).sum()) / n
            s = -y / (1 + np.exp(-m))  # d loss_i / d z_i
            return value, float(s @ t) / n, float(s.sum()) / n
    return step


def peer_numexpr(loss, t, y):
    import numexpr as ne

    n = len(t)
    if loss == "least squares":
        texts = ["sum((a*t + b - y)**2)", "sum(2*(a*t + b - y)*t)", "sum(2*(a*t + b - y))"]
    else:
        texts = ["sum(log(1 + exp(-y*(a*t + b))))", "sum(-y*t/(1 + exp(y*(a*t + b))))",
                 "sum(-y/(1 + exp(y*(a*t + b))))"]

    def step(a, b):
        env = {"a": a, "b": b, "t": t, "y": y}
        return tuple(float(ne.evaluate(text, local_dict=env)) / n for text in texts)
    return step


def peer_jax(loss, t, y):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    tj, yj = jnp.asarray(t), jnp.asarray(y)
    if loss == "least squares":
        def f(a, b, t, y):
            return jnp.mean((a * t + b - y) ** 2)
    else:
        def f(a, b, t, y):
            return jnp.mean(jnp.log(1 + jnp.exp(-y * (a * t + b))))
    vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))

    def step(a, b):
        value, (ga, gb) = vg(a, b, tj, yj)
        return float(value), float(ga), float(gb)
    return step


# A fixed mmap threshold: glibc then maps every allocation of 128 KB or more and
# unmaps it on free, instead of raising the threshold and keeping freed arrays
# resident, which would hide a step's temporaries from the high-water mark.
CHILD_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": str(os.cpu_count())}

PEERS = {"qsts": peer_qsts, "qsts 1 thread": lambda loss, t, y: peer_qsts(loss, t, y, threads=1),
         "numpy (hand gradient)": peer_numpy, "numexpr (hand gradient)": peer_numexpr, "JAX jit": peer_jax}


def measure(peer: str, loss: str, rows: int, what: str) -> dict:
    """Run in a child process: build the data, warm up, then time the steps, or
    measure their peak memory beyond what is resident before them."""
    t, y = data(rows, loss)
    step = PEERS[peer](loss, t, y)
    result = step(PARAMS["a"], PARAMS["b"])  # warm-up: compiles, and imports what it needs
    if what == "time":
        times = []
        for _ in range(5):
            start = time.perf_counter()
            result = step(PARAMS["a"], PARAMS["b"])
            times.append(time.perf_counter() - start)
        return {"time": min(times), "result": result}
    before = rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    step(PARAMS["a"], PARAMS["b"])
    return {"extra_mb": (rss_kb("VmHWM") - before) / 1024, "rss_mb": before / 1024}


def qsts_bound(loss: str) -> tuple[float, str]:
    """What qsts's design allows a step beyond the data, on the backend that
    backend="auto" takes: the chunk sums of its reductions (8 bytes per 256
    rows each), plus, on numpy, one block's buffers per thread."""
    import qsts
    from qsts.backends import choose, faster
    from qsts.backends.array import ArrayBackend, block_size
    from qsts.backends.passes import threads
    from qsts.function import plan
    from qsts.kernels import CHUNK
    from qsts.schedule import OVER_POINTS

    f = qsts.compile(LOSSES[loss], wrt=["a", "b"])
    p = plan(f.expression, tuple(v in ("t", "y") for v in f.variables), f.wrt)
    sums = p.schedule.kinds.count(OVER_POINTS) + 2  # reductions over the points, and the two summed partials
    backend = choose("auto", ARGS.rows, faster(p.program, p.schedule))
    buffers = 0
    if backend == "numpy":
        b = ArrayBackend(p.program, p.schedule).buffers
        buffers = threads() * b * block_size(b) * 8
    return (buffers + sums * 8 * ARGS.rows / CHUNK) / 2**20, backend


def child(peer: str, loss: str, rows: int, what: str) -> dict | None:
    env = CHILD_ENV if what == "memory" else None
    done = subprocess.run([sys.executable, __file__, "--child", peer, "--loss", loss, "--rows", str(rows),
                           "--what", what], capture_output=True, text=True, env=env)
    if done.returncode:
        print(f"{peer}: skipped ({done.stderr.strip().splitlines()[-1][:100] if done.stderr else 'failed'})")
        return None
    return json.loads(done.stdout)


def sweep(sizes: list[int]) -> None:
    """Peak memory beyond the data against the number of rows (least squares)."""
    peers = ["qsts", "numpy (hand gradient)", "JAX jit"]
    print("\n## memory beyond the data against rows, least squares (MB)")
    print(f"{'rows':>12} {'data':>8} " + " ".join(f"{p:>22}" for p in peers))
    for rows in sizes:
        found = [child(p, "least squares", rows, "memory") for p in peers]
        cells = " ".join(f"{r['extra_mb']:>22.1f}" if r else f"{'-':>22}" for r in found)
        print(f"{rows:>12,} {16 * rows / 2**20:>8.0f} {cells}")


def main() -> None:
    print(f"# one fit step on {ARGS.rows:,} rows: data t, y = {16 * ARGS.rows / 2**20:.0f} MB")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    for loss, text in LOSSES.items():
        print(f"\n## {loss}: {text}")
        bound, backend = qsts_bound(loss)
        print(f"qsts's bound beyond the data on its {backend} backend (chunk sums"
              f"{', threads x block buffers' if backend == 'numpy' else ''}): {bound:.1f} MB")
        rows = {}
        for peer in PEERS:
            timed, memory = child(peer, loss, ARGS.rows, "time"), child(peer, loss, ARGS.rows, "memory")
            if timed and memory:
                rows[peer] = {**timed, **memory}
        base = rows.get("qsts")
        print(f"{'peer':<26} {'step ms':>9} {'resident MB':>12} {'peak beyond MB':>15} {'time ratio':>11} "
              f"{'memory ratio':>13}  loss, d/da, d/db")
        for peer, r in rows.items():
            ratio_t = r["time"] / base["time"] if base else float("nan")
            ratio_m = r["extra_mb"] / max(base["extra_mb"], 0.1) if base else float("nan")
            res = ", ".join(f"{v:.12g}" for v in r["result"])
            print(f"{peer:<26} {r['time'] * 1e3:>9.1f} {r['rss_mb']:>12.0f} {r['extra_mb']:>15.1f} {ratio_t:>11.2f} "
                  f"{ratio_m:>13.1f}  {res}")
    print("\nresident: the process's size before the step (data, the peer's own copies, its runtime);\n"
          "peak beyond: the high-water mark during one step minus that")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sweep", type=lambda text: [int(float(v)) for v in text.split(",")], default=None,
                        metavar="N,N,...", help="only measure memory beyond the data, at these row counts")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--loss", help=argparse.SUPPRESS)
    parser.add_argument("--what", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.child:
        print(json.dumps(measure(ARGS.child, ARGS.loss, ARGS.rows, ARGS.what)))
    elif ARGS.sweep:
        sweep(ARGS.sweep)
    else:
        main()
