"""SFM speed and memory: naive dense step vs FFT kernel, batched vs looped seeds (issue 4).

Run: ``python benchmarks/bench_sfm.py [--quick] [--save]``. Writes ``sfm.json`` and
``sfm.png``/``sfm.svg`` into a new run folder under ``runs/bench-sfm/`` (``latest`` points at it);
``--save`` also copies them into ``benchmarks/results/`` (refused for ``--quick``, a smoke run). All
ratios are measured in this one run on this machine.

* FFT kernel: per-step cost of the real ``sfm.simulate`` loop (predictions on all p^2 pairs, both
  losses, drift, gate), from the wall-time difference of two run lengths so set-up cancels.
* Naive: ``sfm.reference.dense_step`` with the dense ``n x p^2`` training design matrix (training
  predictions, drift, gate; it does not even evaluate the test set). At p = 211 the matrix would
  take 9.5 GB, so the step is timed on a block of rows and scaled by ``n / rows`` (both products
  are exactly linear in the rows); at p = 97 both the full and the block estimate are reported.
* Batched vs looped: B seeds as one ``simulate`` call against B single-seed calls, set-up included.
* Peak memory: ``tracemalloc`` peak of numpy allocations (pocketfft's internal scratch is not
  traced; it is O(p) per transform).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from sfm.dynamics import SFMConfig, simulate  # noqa: E402
from sfm.reference import dense_step, design_matrix  # noqa: E402
from sfm.task import make_task  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402

ROW_BLOCK_BYTES = 450e6  # largest design-matrix block we allocate


def best_of(fn, repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls (least disturbed by other load on the machine)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fft_step_seconds(p: int, f: float, B: int, n1: int, n2: int, repeats: int) -> float:
    """Per-step seconds of the batched kernel for B elements (difference of two run lengths)."""

    def run(steps):
        cfgs = [SFMConfig(p=p, f=f, steps=steps, log_every=steps, seed=s) for s in range(B)]
        return lambda: simulate(cfgs)

    simulate([SFMConfig(p=p, f=f, steps=2, log_every=2)])  # numba cache / FFT plan warm-up
    t1 = best_of(run(n1), repeats)
    t2 = best_of(run(n2), repeats)
    return max(t2 - t1, 1e-12) / (n2 - n1)


def naive_step_seconds(p: int, f: float, repeats: int) -> dict:
    """Seconds of one dense step, full matrix if it fits ``ROW_BLOCK_BYTES``, else a row block."""
    task = make_task(p, "+", f, "flat", np.random.default_rng(0))
    u, v = np.nonzero(task.train)
    n = len(u)
    row_bytes = 16 * p * p
    rows = int(min(n, max(64, ROW_BLOCK_BYTES // row_bytes)))
    E = design_matrix("+", p, u[:rows], v[:rows])
    y = task.Y[u[:rows], v[:rows]]
    V = np.zeros((p, p), dtype=np.complex128)
    V = dense_step(E, y, V, 1.0, p, 0.0)  # nonzero state, like mid-run
    t = best_of(lambda: dense_step(E, y, V, 1.0, p, 1e-3), repeats)
    out = {
        "n": n,
        "rows_timed": rows,
        "extrapolated": rows < n,
        "seconds": t * n / rows,
        "design_matrix_bytes_full": n * row_bytes,
    }
    return out


def peak_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return int(peak)


def kernel_vs_naive(primes: tuple[int, ...], f: float, reps: int) -> dict:
    """Per-step time of the FFT kernel against the naive dense step, for each p."""
    kernel = {}
    for p in primes:
        n1, n2 = {31: (50, 550), 97: (20, 220), 211: (5, 45)}[p]
        fft = fft_step_seconds(p, f, 1, n1, n2, reps)
        naive = naive_step_seconds(p, f, reps)
        kernel[p] = {
            "fft_step_seconds": fft,
            "fft_steps_per_second": 1 / fft,
            "naive_step_seconds": naive["seconds"],
            "naive_steps_per_second": 1 / naive["seconds"],
            "speedup": naive["seconds"] / fft,
            "naive_detail": naive,
        }
        print(
            f"p={p}: FFT {1 / fft:9.1f} steps/s, naive {1 / naive['seconds']:8.2f} steps/s, "
            f"ratio {naive['seconds'] / fft:8.1f}x"
            + (" (naive extrapolated from rows)" if naive["extrapolated"] else ""),
            flush=True,
        )
    if not kernel[97]["naive_detail"]["extrapolated"]:
        # Check the row-block extrapolation used at p = 211 against the full matrix at p = 97.
        global ROW_BLOCK_BYTES
        saved, ROW_BLOCK_BYTES = ROW_BLOCK_BYTES, 16 * 97 * 97 * 500
        blk = naive_step_seconds(97, f, reps)
        ROW_BLOCK_BYTES = saved
        kernel[97]["naive_block_estimate_seconds"] = blk["seconds"]
        kernel[97]["block_over_full"] = blk["seconds"] / kernel[97]["naive_step_seconds"]
    return kernel


def batched_vs_looped(f: float, reps: int, B: int) -> dict:
    """``B`` seeds as one batch against a loop of single runs (set-up included)."""
    batch = {}
    for p, steps in ((31, 400), (97, 150)):
        cfgs = [SFMConfig(p=p, f=f, steps=steps, log_every=steps, seed=s) for s in range(B)]
        simulate(cfgs[:1])
        t_batch = best_of(lambda cfgs=cfgs: simulate(cfgs), reps)
        t_loop = best_of(lambda cfgs=cfgs: [simulate([c]) for c in cfgs], reps)
        t_batch_w2 = best_of(lambda cfgs=cfgs: simulate(cfgs, workers=2), reps)
        batch[p] = {
            "B": B,
            "steps": steps,
            "batched_seconds": t_batch,
            "looped_seconds": t_loop,
            "speedup": t_loop / t_batch,
            "batched_2_fft_threads_seconds": t_batch_w2,
            "speedup_2_fft_threads": t_loop / t_batch_w2,
            "element_steps_per_second_batched": B * steps / t_batch,
            "element_steps_per_second_looped": B * steps / t_loop,
        }
        print(
            f"p={p}: {B} seeds batched {t_batch:.2f}s vs looped {t_loop:.2f}s: "
            f"{t_loop / t_batch:.2f}x (2 FFT threads: {t_loop / t_batch_w2:.2f}x)",
            flush=True,
        )
    return batch


def memory_peaks(primes: tuple[int, ...], f: float, B: int, kernel: dict) -> dict:
    """tracemalloc peaks of 1 and ``B`` seeds beside the dense design matrix's size."""
    memory = {}
    for p in primes:
        cfgs = [SFMConfig(p=p, f=f, steps=5, log_every=5, seed=s) for s in range(B)]
        fft_peak = peak_bytes(lambda cfgs=cfgs: simulate(cfgs))
        fft_one = peak_bytes(lambda cfgs=cfgs: simulate(cfgs[:1]))
        n = kernel[p]["naive_detail"]["n"]
        memory[p] = {
            "fft_peak_bytes_B1": fft_one,
            f"fft_peak_bytes_B{B}": fft_peak,
            "naive_design_matrix_bytes": n * 16 * p * p,
        }
        print(
            f"p={p}: peak {fft_one / 1e6:.1f} MB (1 seed), {fft_peak / 1e6:.1f} MB ({B} seeds); "
            f"dense design matrix {n * 16 * p * p / 1e6:.0f} MB",
            flush=True,
        )
    return memory


def figure(result: dict):
    """The three panels of ``sfm.png``: kernel speed, batching, memory."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    k = result["kernel_vs_naive"]
    ps = sorted(int(p) for p in k)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    ax.loglog(ps, [k[p]["fft_steps_per_second"] for p in ps], "o-", label="FFT kernel (sfm)")
    ax.loglog(
        ps, [k[p]["naive_steps_per_second"] for p in ps], "s--", label="naive dense design matrix"
    )
    for p in ps:
        ax.annotate(
            f"{k[p]['speedup']:.0f}x",
            (p, k[p]["fft_steps_per_second"]),
            textcoords="offset points",
            xytext=(4, 6),
        )
    ax.set_xlabel("p")
    ax.set_ylabel("steps per second (one run, f = 0.3)")
    ax.set_title("FFT kernel vs naive dense step")
    ax.set_xticks(ps, [str(p) for p in ps])
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    ax = axes[1]
    b = result["batched_vs_looped"]
    bp = sorted(int(p) for p in b)
    w = 0.25
    xs = np.arange(len(bp))
    ax.bar(xs - w, [b[p]["element_steps_per_second_looped"] for p in bp], w, label="loop of runs")
    ax.bar(xs, [b[p]["element_steps_per_second_batched"] for p in bp], w, label="one batch")
    ax.bar(
        xs + w,
        [
            b[p]["element_steps_per_second_batched"]
            * b[p]["batched_seconds"]
            / b[p]["batched_2_fft_threads_seconds"]
            for p in bp
        ],
        w,
        label="one batch, 2 FFT threads",
    )
    for i, p in enumerate(bp):
        ax.annotate(
            f"{b[p]['speedup']:.1f}x",
            (xs[i], b[p]["element_steps_per_second_batched"]),
            ha="center",
            textcoords="offset points",
            xytext=(0, 3),
        )
    ax.set_xticks(xs, [f"p={p}" for p in bp])
    ax.set_yscale("log")
    ax.set_ylabel("seed-steps per second")
    ax.set_title(f"{b[bp[0]]['B']} seeds: batched vs looped")
    ax.legend()
    ax = axes[2]
    m = result["memory"]
    mp = sorted(int(p) for p in m)
    key = next(x for x in m[mp[0]] if x.startswith("fft_peak_bytes_B") and x != "fft_peak_bytes_B1")
    ax.loglog(mp, [m[p]["fft_peak_bytes_B1"] / 1e6 for p in mp], "o-", label="FFT, 1 seed")
    ax.loglog(mp, [m[p][key] / 1e6 for p in mp], "o-", label=f"FFT, {key[15:]} seeds")
    ax.loglog(
        mp,
        [m[p]["naive_design_matrix_bytes"] / 1e6 for p in mp],
        "s--",
        label="dense design matrix alone",
    )
    ax.set_xticks(mp, [str(p) for p in mp])
    ax.set_xlabel("p")
    ax.set_ylabel("peak memory [MB]")
    ax.set_title("memory (tracemalloc peak)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    for a in (axes[0], axes[2]):
        a.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig


SAVED = ("sfm.json", "sfm.png", "sfm.svg")


def build_parser():
    ap = bench_parser("sfm", __doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    ap.set_defaults(func=run)
    return ap


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # a script: figures go to files only
    check_save(args, committed="sfm.json")
    reps = 2 if args.quick else 5
    f = 0.3
    primes = (31, 97, 211)
    B = 16
    kernel = kernel_vs_naive(primes, f, reps)
    result = {
        "metadata": run_metadata(
            "python benchmarks/bench_sfm.py", {"f": f, "primes": primes, "B": B, "repeats": reps}
        ),
        "kernel_vs_naive": kernel,
        "batched_vs_looped": batched_vs_looped(f, reps, B),
        "memory": memory_peaks(primes, f, B, kernel),
        "notes": __doc__,
    }
    write_json(args.out / "sfm.json", result)
    save_figure(figure(result), args.out / "sfm")
    print(f"wrote {args.out / 'sfm.json'} and sfm.png/.svg")
    if args.save:
        for path in save_results(args.out, SAVED):
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
