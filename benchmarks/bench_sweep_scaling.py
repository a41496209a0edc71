"""How the two sweeps scale with Dask workers: wall time on 1 and 2 workers, speed-up, per-point
overhead, and an Amdahl extrapolation to 16 and 64 workers.

Runs ``python -m sfm sweep`` on a small grid and ``python -m transformer_check sweep --preset
quick`` (few steps, 4 seeds = 4 points), each as the user would, in a fresh process with a Dask
LocalCluster of ``--workers N`` worker processes of one thread each (``theory.base.sweeps.
run_points``), for N = 1 and 2. For each it records the wall time of the whole command (interpreter
start, cluster start, the points, the summary files and figures), the speed-up ``T1 / T2`` (target
>= 1.8 on 2 cores), and the per-point overhead: the wall time minus the sum of the points' own
compute times, per point (at N workers, ``N x wall - sum``: the worker time not spent computing).
A transformer point's compute time is the ``wall_s`` its worker records (``transformer_check.
sweep.run_train_point``); an SFM point records none, so the benchmark times ``sfm.sweep.run_point``
on every point itself, in this process, on one thread (the same code a worker runs).

The extrapolation fits Amdahl's law (Amdahl 1967), ``T(N) = S + W / N``, through the two
measurements (``S = 2 T2 - T1``: the serial part; ``W = 2 (T1 - T2)``: the part that divides),
and, apart, through the 1-worker run alone (``S = T1 - C1``, ``W = C1``, ``C1`` the points' compute:
the estimate to trust when a busy core slows the points down beside a second worker, which
``point_slowdown_2_over_1`` shows for the transformer sweep), and caps the divisible part at one point per worker (``W / min(N, points)``, points of equal cost
assumed). It is an estimate, and an optimistic one at 16 and 64 workers: it holds ``S`` fixed,
while starting N worker processes (each importing numpy, and torch for the transformer sweep)
and the driver's serial bookkeeping per point grow with N and with the grid.

Run it from the repository root on an otherwise idle machine::

    python benchmarks/bench_sweep_scaling.py                    # about 5 minutes on 2 cores
    python benchmarks/bench_sweep_scaling.py --save --note "..."  # also copy into benchmarks/results/
    python benchmarks/bench_sweep_scaling.py --quick            # smoke run (tests/test_bench_sweep_scaling.py)

Writes ``sweep_scaling.json`` and ``sweep_scaling.png``/``.svg`` into a new run folder under
``runs/bench-sweep-scaling/``, each sweep's own run folder below it; the 1-minute load average
before and after every sweep is recorded (a busy core lowers the speed-up).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from theory.base.cli import list_of  # noqa: E402
from theory.base.errors import check_choice  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402

__all__ = [
    "RESULT",
    "FIGURE",
    "TARGET_SPEEDUP",
    "WORKERS",
    "EXTRAPOLATE",
    "GRIDS",
    "sfm_argv",
    "transformer_argv",
    "sfm_point_seconds",
    "run_sweep_command",
    "scaling",
    "amdahl",
    "figure",
    "build_parser",
    "main",
    "run",
]

RESULT = "sweep_scaling.json"
FIGURE = "sweep_scaling"
TARGET_SPEEDUP = 1.8  # on 2 cores: 90% parallel efficiency
WORKERS = (1, 2)
SWEEPS = ("sfm", "transformer")
EXTRAPOLATE = (16, 64)
# the grids: "full" for the measurement, "quick" for the smoke run
GRIDS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        # about a minute of points on one core: the ~10 s a command spends outside its points
        # (interpreter, cluster start, figures) is then a fifth of the 1-worker wall, not half
        "sfm": {"p": "43,59,71,97", "f": "0.1,0.2,0.3,0.4", "strength": "0.02,0.05", "seeds": 4},
        "transformer": {"steps": 300, "seeds": (0, 1, 2, 3), "measures": "spectral,fourier"},
    },
    "quick": {
        "sfm": {"p": "31", "f": "0.2,0.4", "strength": "0.05", "seeds": 1, "steps": 300},
        "transformer": {"steps": 10, "seeds": (0, 1), "measures": ""},
    },
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------
# The commands and the points' own compute times


def sfm_argv(grid: Mapping[str, Any], workers: int, out: Path) -> list[str]:
    """``python -m sfm sweep`` of ``grid`` on a LocalCluster of ``workers`` processes."""
    argv = [sys.executable, "-m", "sfm", "sweep", "--quiet", "--workers", str(workers)]
    for key in ("p", "f", "strength", "seeds", "steps"):
        if key in grid:
            argv += [f"--{key}", str(grid[key])]
    return [*argv, "--out", str(out)]


def transformer_argv(grid: Mapping[str, Any], workers: int, out: Path) -> list[str]:
    """``python -m transformer_check sweep --preset quick`` of ``grid`` on ``workers``."""
    argv = [sys.executable, "-m", "transformer_check", "sweep", "--preset", "quick", "--quiet"]
    argv += ["--steps", str(grid["steps"]), "--seeds", *map(str, grid["seeds"])]
    argv += ["--measures", grid["measures"], "--workers", str(workers)]
    return [*argv, "--out", str(out)]


def sfm_point_seconds(grid: Mapping[str, Any]) -> list[float]:
    """Each point's own compute time: ``sfm.sweep.run_point`` on one thread, in this process."""
    from threadpoolctl import threadpool_limits

    from sfm.sweep import default_spec, points, run_point

    def floats(text: str) -> tuple[float, ...]:
        return tuple(float(x) for x in str(text).split(","))

    spec = default_spec(
        p=tuple(int(x) for x in str(grid["p"]).split(",")),
        f=floats(grid["f"]),
        strength=floats(grid["strength"]),
        seeds=int(grid["seeds"]),
        steps=grid.get("steps"),
    )
    out = []
    with threadpool_limits(1):  # a worker has one thread (threads_per_worker=1)
        for pt in points(spec):
            t0 = time.perf_counter()
            run_point(pt)
            out.append(time.perf_counter() - t0)
    return out


def _load() -> float:
    return os.getloadavg()[0]


def run_sweep_command(argv: Sequence[str], out: Path) -> dict[str, Any]:
    """Run one sweep command to the end; its wall time, load averages, and the points' records."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    load_before = _load()
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(argv[1:4])} failed ({proc.returncode}): {tail[0]}")
    records = [json.loads(p.read_text()) for p in sorted((out / "points").glob("*.json"))]
    summary = json.loads((out / "sweep.json").read_text())
    return {
        "argv": [Path(argv[0]).name, *argv[1:]],
        "wall_s": wall,
        "command_wall_seconds": summary.get("wall_seconds"),  # the sweep's own clock (no start-up)
        "n_points": len(records),
        "point_wall_s": [r["wall_s"] for r in records if "wall_s" in r],
        "load_1min_before": load_before,
        "load_1min_after": _load(),
    }


# ---------------------------------------------------------------------------------------------
# The analysis (pure)


def amdahl(t1: float, t2: float, n_points: int, workers: Sequence[int]) -> dict[str, Any]:
    """Amdahl (1967) ``T(N) = S + W / min(N, points)`` through ``T(1) = t1`` and ``T(2) = t2``."""
    serial = max(0.0, 2 * t2 - t1)
    divisible = t1 - serial
    pred = {}
    for n in workers:
        t = serial + divisible / min(n, n_points)
        pred[str(n)] = {"wall_s": t, "speedup": t1 / t}
    # a grid large enough to give every worker 4 points: the cap by grid size is gone
    big = {}
    for n in workers:
        scale = 4 * n / n_points
        t_1 = serial + divisible * scale
        t_n = serial + divisible * scale / n
        big[str(n)] = {"points": 4 * n, "speedup": t_1 / t_n}
    return {
        "serial_s": serial,
        "divisible_s": divisible,
        "serial_fraction": serial / t1 if t1 > 0 else None,
        "speedup_limit": t1 / serial if serial > 0 else math.inf,
        "this_grid": pred,
        "grid_of_4_points_per_worker": big,
    }


def scaling(
    runs: Mapping[int, Mapping[str, Any]], compute_s: Mapping[int, Sequence[float]]
) -> dict[str, Any]:
    """Speed-up, per-point overhead and extrapolation of one sweep from its runs by worker count
    and each run's points' own compute times."""
    per = {}
    for n, r in runs.items():
        c = sum(compute_s[n])
        m = r["n_points"]
        per[str(n)] = {
            **r,
            "compute_sum_s": c,
            "overhead_per_point_s": (r["wall_s"] - c) / m,  # the brief's definition
            "idle_worker_s_per_point": (n * r["wall_s"] - c) / m,  # worker time not computing
        }
    t1, t2 = runs[1]["wall_s"], runs[2]["wall_s"]
    speedup = t1 / t2
    # the sweep's own clock (cluster start and points; no interpreter start, no figures)
    c_1, c_2 = runs[1].get("command_wall_seconds"), runs[2].get("command_wall_seconds")
    clock_speedup = c_1 / c_2 if c_1 and c_2 else None
    m = runs[1]["n_points"]
    c1 = sum(compute_s[1])
    # A point that takes longer beside a second worker than alone means the cores were not
    # free: then T2 measures the machine's load, and the fit through it reads that as serial.
    slowdown = (sum(compute_s[2]) / c1) if compute_s[2] is not compute_s[1] and c1 else None
    return {
        "runs": per,
        "speedup_2_over_1": speedup,
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": speedup >= TARGET_SPEEDUP,
        "sweep_clock_speedup_2_over_1": clock_speedup,
        "point_slowdown_2_over_1": slowdown,
        "amdahl": amdahl(t1, t2, m, EXTRAPOLATE),
        # from the 1-worker run alone: all but the points' compute taken as serial (S = T1 - C1,
        # pessimistic: per-point overhead that would divide is counted serial), W = C1
        "amdahl_from_1_worker": amdahl(t1, max(t1 - c1, 0.0) + c1 / 2, m, (2, *EXTRAPOLATE)),
    }


def figure(result: Mapping[str, Any]) -> Any:
    """Wall time and speed-up against workers: measured points, the Amdahl fit, ideal scaling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_s) = plt.subplots(1, 2, figsize=(10, 4))
    ns = [1, 2, 4, 8, 16, 32, 64]
    for name, sw in result["sweeps"].items():
        a = sw["amdahl"]
        m = sw["runs"]["1"]["n_points"]
        fit = [a["serial_s"] + a["divisible_s"] / min(n, m) for n in ns]
        measured = [int(n) for n in sw["runs"]]
        walls = [sw["runs"][str(n)]["wall_s"] for n in measured]
        (line,) = ax_t.plot(measured, walls, "o", label=f"{name} (measured)")
        ax_t.plot(ns, fit, "--", color=line.get_color(), label=f"{name} (Amdahl, {m} points)")
        ax_s.plot(measured, [walls[0] / w for w in walls], "o", color=line.get_color(), label=name)
        ax_s.plot(ns, [fit[0] / t for t in fit], "--", color=line.get_color())
    ax_s.plot(ns, ns, ":", color="grey", label="ideal")
    ax_s.axhline(TARGET_SPEEDUP, color="grey", lw=0.8)
    for ax in (ax_t, ax_s):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Dask workers (1 thread each)")
    ax_t.set_yscale("log")
    ax_t.set_ylabel("wall time of the sweep command (s)")
    ax_s.set_yscale("log", base=2)
    ax_s.set_ylabel("speed-up over 1 worker")
    ax_t.legend(fontsize=7)
    ax_s.legend(fontsize=7)
    fig.suptitle("Sweep scaling: measured at 1 and 2 workers, Amdahl extrapolation beyond")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The command


def _sweep_name(name: str, value: str) -> str:
    return check_choice(name, value, SWEEPS)


def build_parser() -> argparse.ArgumentParser:
    ap = bench_parser("sweep_scaling", __doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny grids")
    ap.add_argument(
        "--sweeps",
        type=list_of(_sweep_name),
        default=SWEEPS,
        help=f"comma-separated sweeps to measure (default {','.join(SWEEPS)})",
    )
    ap.add_argument(
        "--note",
        default="",
        help="what the JSON should say about the machine (e.g. another job on one core)",
    )
    ap.set_defaults(func=run)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv)


def _sfm_sweep(grid: Mapping[str, Any], root: Path) -> dict[str, Any]:
    # the points' own times once (they do not depend on the worker count), then the runs
    compute = sfm_point_seconds(grid)
    runs = {}
    for n in WORKERS:
        out = root / f"sfm_w{n}"
        runs[n] = run_sweep_command(sfm_argv(grid, n, out), out)
        print(f"sfm sweep, {n} worker(s): {runs[n]['wall_s']:.1f} s", file=sys.stderr)
    return {
        "grid": dict(grid),
        "compute_source": "sfm.sweep.run_point timed in the benchmark process, one thread",
        "point_compute_s": compute,
        **scaling(runs, {n: compute for n in WORKERS}),
    }


def _transformer_sweep(grid: Mapping[str, Any], root: Path) -> dict[str, Any]:
    runs = {}
    for n in WORKERS:
        out = root / f"transformer_w{n}"
        runs[n] = run_sweep_command(transformer_argv(grid, n, out), out)
        print(f"transformer sweep, {n} worker(s): {runs[n]['wall_s']:.1f} s", file=sys.stderr)
    return {
        "grid": {**grid, "preset": "quick"},
        "compute_source": "each point's wall_s, recorded by its worker",
        **scaling(runs, {n: r["point_wall_s"] for n, r in runs.items()}),
    }


def run(args: argparse.Namespace) -> int:
    check_save(args, committed=RESULT)
    t_start, load_start = time.perf_counter(), _load()
    grids = GRIDS["quick" if args.quick else "full"]
    sweeps: dict[str, Any] = {}
    if "sfm" in args.sweeps:
        sweeps["sfm"] = _sfm_sweep(grids["sfm"], args.out)
    if "transformer" in args.sweeps:
        sweeps["transformer"] = _transformer_sweep(grids["transformer"], args.out)
    result = {
        "benchmark": "sweep_scaling",
        "quick": bool(args.quick),
        "note": args.note,
        "cpu_count": os.cpu_count(),
        "load_1min_at_start": load_start,
        "load_1min_at_end": _load(),
        "workers": list(WORKERS),
        "sweeps_measured": list(args.sweeps),
        "extrapolated_to": list(EXTRAPOLATE),
        "extrapolation_note": "Amdahl (1967) T(N) = S + W/min(N, points) fitted through T(1) and "
        "T(2); optimistic at 16 and 64 workers: S (interpreter and cluster start, the driver's "
        "serial bookkeeping) is held fixed though starting N worker processes and handling "
        "more points grow with N, and points of equal cost are assumed; when a point runs slower "
        "beside a second worker (point_slowdown_2_over_1 > 1) the cores were not free and T(2) "
        "measures the load, so amdahl_from_1_worker (S = T1 - sum of the points' compute, "
        "W = that sum) is the better estimate",
        "sweeps": sweeps,
        "total_wall_s": time.perf_counter() - t_start,
        "metadata": run_metadata(
            "benchmarks/bench_sweep_scaling.py",
            {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(args.out)},
        ),
    }
    write_json(args.out / RESULT, result)
    save_figure(figure(result), args.out / FIGURE)
    for name, sw in sweeps.items():
        a, b = sw["amdahl"]["this_grid"], sw["amdahl_from_1_worker"]["this_grid"]
        print(
            f"{name}: {sw['runs']['1']['wall_s']:.1f} s on 1 worker, "
            f"{sw['runs']['2']['wall_s']:.1f} s on 2: speed-up {sw['speedup_2_over_1']:.2f} "
            f"(target {TARGET_SPEEDUP}); overhead {sw['runs']['1']['overhead_per_point_s']:.2f} "
            f"s per point; Amdahl: {a['16']['speedup']:.1f}x on 16, {a['64']['speedup']:.1f}x on 64"
            f" (from the 1-worker run alone: {b['2']['speedup']:.2f}x on 2, "
            f"{b['16']['speedup']:.1f}x on 16)"
        )
    if args.save:
        check_save(args, committed=RESULT)
        for path in save_results(args.out, [RESULT, f"{FIGURE}.png", f"{FIGURE}.svg"]):
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
