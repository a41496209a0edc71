"""Benchmark: occam's BDM engine against pybdm 0.1.0 on the same inputs, in one run.

    python benchmarks/bench_bdm.py [--pybdm-python PATH] [--repeats 5] [--quick] [--save]

Writes bdm.json and bdm.png/.svg into a new run folder under runs/bench-bdm/ (``latest`` points
at it); ``--save`` also copies them into benchmarks/results/, and is refused without pybdm when
the committed bdm.json holds a pybdm comparison. ``--quick``: small inputs, one repeat (a smoke
run, never saved).

pybdm cannot be imported next to occam's numpy 2 / setuptools >= 82, so it runs in a separate
interpreter that has it (a worker script is piped to it; inputs travel as ``.npy`` files). Create one:

    python3 -m venv /tmp/pybdm-ref
    /tmp/pybdm-ref/bin/pip install "setuptools<82" "numpy<2" pybdm==0.1.0

and pass ``--pybdm-python /tmp/pybdm-ref/bin/python`` (the default is the current interpreter if
it can import pybdm, else ``/tmp/pybdm-ref/bin/python`` if present). Without pybdm the run still
times occam and says in the JSON how to get the comparison.

Cases: 2-D binary 1000x1000 (4x4 blocks), 1-D binary 1e6 (length 12), 1-D 4-symbol 1e6 (length 12),
normalised BDM of the 2-D case, perturbation of every cell of a 64x64 binary matrix. Reported: best
wall time of ``--repeats`` runs after a warm-up (pybdm: best of ``--pybdm-repeats``), their ratio,
tracemalloc peak of one separate call, table-load times (cold conversion and cached), and the value from each engine.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from bdm import BDM  # noqa: E402
from bdm.perturbation import perturbation  # noqa: E402
from bdm.tables import load_table  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402

SEED = 20261123

CASES = [
    # name, input file, ndim, nsymbols, side, op
    ("2d_binary_1000x1000_4x4", "x2d", 2, 2, 4, "bdm"),
    ("1d_binary_1e6_len12", "x1d2", 1, 2, 12, "bdm"),
    ("1d_4symbol_1e6_len12", "x1d4", 1, 4, 12, "bdm"),
    ("nbdm_2d_binary_1000x1000", "x2d", 2, 2, 4, "nbdm"),
    ("perturbation_64x64_binary", "x64", 2, 2, 4, "perturb"),
]

WORKER = r"""
import json, sys, time, tracemalloc, warnings
import numpy as np
t0 = time.perf_counter()
from pybdm import BDM, PerturbationExperiment
import_s = time.perf_counter() - t0
cfg = json.loads(sys.argv[1])
warnings.simplefilter("ignore")
out = {"import_seconds": import_s, "numpy": np.__version__, "cases": {}, "table_load_seconds": {}}
engines = {}
for name, fname, ndim, nsym, side, op in cfg["cases"]:
    key = (ndim, nsym, side)
    if key not in engines:
        t = time.perf_counter()
        engines[key] = BDM(ndim=ndim, nsymbols=nsym, shape=(side,) * ndim)
        out["table_load_seconds"][f"ndim={ndim},nsymbols={nsym}"] = time.perf_counter() - t
    b = engines[key]
    x = np.load(cfg["dir"] + "/" + fname + ".npy").astype(int)
    def run():
        if op == "bdm":
            return b.bdm(x)
        if op == "nbdm":
            return b.nbdm(x)
        return PerturbationExperiment(b, x.copy(), metric="bdm").run().tolist()
    value = run()  # warm-up
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    times = []
    for r in range(cfg["repeats"]):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    out["cases"][name] = {"seconds": min(times), "all_seconds": times, "peak_bytes": peak,
                          "value": value}
print(json.dumps(out))
"""


def make_inputs(d: Path, quick: bool = False) -> dict:
    """The inputs as ``.npy`` files in ``d`` (``quick``: small ones); returns their shapes."""
    rng = np.random.default_rng(SEED)
    side, n, pert = (100, 10_000, 16) if quick else (1000, 1_000_000, 64)
    arrays = {
        "x2d": rng.integers(0, 2, (side, side), dtype=np.int8),
        "x1d2": rng.integers(0, 2, n, dtype=np.int8),
        "x1d4": rng.integers(0, 4, n, dtype=np.int8),
        "x64": rng.integers(0, 2, (pert, pert), dtype=np.int8),
    }
    for name, x in arrays.items():
        np.save(d / f"{name}.npy", x)
    return {name: list(x.shape) for name, x in arrays.items()}


def find_pybdm_python(explicit: str | None) -> tuple[str | None, str]:
    """Interpreter that can import pybdm, and how it was found."""
    candidates = [explicit] if explicit else [sys.executable, "/tmp/pybdm-ref/bin/python"]
    for py in candidates:
        if py and Path(py).exists():
            ok = subprocess.run(
                [py, "-c", "import pybdm"], capture_output=True, text=True, check=False
            )
            if ok.returncode == 0:
                how = "same interpreter" if py == sys.executable else "separate interpreter"
                return py, how
    return None, "unavailable"


def time_ours(d: Path, repeats: int, cache: Path) -> dict:
    out: dict = {"cases": {}, "table_load_seconds": {}}
    engines = {}
    for name, fname, ndim, nsym, side, op in CASES:
        key = (ndim, nsym, side)
        if key not in engines:
            t = time.perf_counter()
            engines[key] = BDM(ndim, nsym, side, cache=cache)
            out["table_load_seconds"][f"ndim={ndim},nsymbols={nsym}"] = time.perf_counter() - t
        b = engines[key]
        x = np.load(d / f"{fname}.npy")

        def run(b=b, x=x, op=op):
            if op == "bdm":
                return b.bdm(x)
            if op == "nbdm":
                return b.nbdm(x)
            return perturbation(b, x).delta.tolist()

        value = run()  # warm-up: numba kernels load from their on-disk cache
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        out["cases"][name] = {
            "seconds": min(times),
            "all_seconds": times,
            "peak_bytes": peak,
            "value": value,
        }
    return out


def table_loads(cache: Path, quick: bool = False) -> dict:
    """Cold conversion (fresh cache folder) and cached load time for every published table."""
    res = {}
    tables = [(1, 2), (2, 2), (1, 4)] if quick else [(1, 2), (2, 2), (1, 4), (1, 5), (1, 6), (1, 9)]
    for ndim, nsym in tables:
        cold = load_table(ndim, nsym, cache=cache)
        warm = [load_table(ndim, nsym, cache=cache) for _ in range(3)]
        assert all(w.from_cache for w in warm)
        res[cold.name] = {
            "cold_convert_seconds": cold.load_seconds,
            "cached_load_seconds": min(w.load_seconds for w in warm),
            "n_keys": int(sum(s.keys.size for s in cold.shapes.values())),
        }
    return res


def coverage(weights: Path | None, cache: Path, prefix: str = "") -> dict:
    """How much 4-symbol length-12 data the published table covers (definitions §3.3, 1-D layout)."""
    from bdm.encoding import n_normalised_blocks
    from bdm.weights import as_matrix, load_tensors, quartile_symbols

    b = BDM(1, 4, 12, cache=cache)
    st = b.table.table.shapes[(12,)]
    _, k = st.descending()
    by_nsym = {
        str(j): {
            "keys_in_table": int((st.nsym == j).sum()),
            "keys_possible": n_normalised_blocks(12, j) - n_normalised_blocks(12, j - 1),
        }
        for j in range(1, 5)
    }

    def found(x: np.ndarray) -> dict:
        bc = b.count(x)[0]
        return {
            "blocks": int(bc.counts.sum()),
            "found_fraction_by_count": float(bc.counts[bc.found].sum() / bc.counts.sum()),
            "found_fraction_distinct": float(bc.found.mean()),
        }

    rng = np.random.default_rng(SEED)
    out = {
        "table_keys": int(st.keys.size),
        "normalised_keys_possible": n_normalised_blocks(12, 4),
        "raw_blocks_covered_fraction": float(k.sum() / 4**12),
        "keys_by_distinct_symbols": by_nsym,
        "uniform_4symbol_1e6": found(rng.integers(0, 4, 1_000_000, dtype=np.int8)),
        "gaussian_512x512_quartiles": found(quartile_symbols(rng.normal(size=(512, 512))).ravel()),
    }
    if weights is not None:
        per = {}
        for name, t in load_tensors(weights).items():
            if not name.startswith(prefix):
                continue
            if not np.issubdtype(np.asarray(t).dtype, np.floating) or np.asarray(t).size < 12:
                continue
            per[name] = found(as_matrix(quartile_symbols(t)).ravel())
        n = sum(v["blocks"] for v in per.values())
        out["weights_file"] = {
            "path": str(weights),
            "prefix": prefix,
            "tensors": per,
            "found_fraction_by_count": sum(
                v["found_fraction_by_count"] * v["blocks"] for v in per.values()
            )
            / n,
        }
    return out


def compare(ours, theirs) -> float:
    """Largest relative (absolute for perturbation deltas) difference between the engines."""
    if isinstance(ours, list):
        return float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))
    return abs(ours - theirs) / abs(theirs) if theirs else abs(ours - theirs)


def figure(result: dict):
    """Wall time per case, occam against pybdm (``bdm.png``)."""
    import matplotlib.pyplot as plt

    names = [c[0] for c in CASES]
    ours = [result["occam"]["cases"][n]["seconds"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    y = np.arange(len(names))
    ax.barh(y - 0.2, ours, height=0.4, label="occam bdm", color="tab:blue")
    if result.get("pybdm"):
        theirs = [result["pybdm"]["cases"][n]["seconds"] for n in names]
        ax.barh(y + 0.2, theirs, height=0.4, label="pybdm 0.1.0", color="tab:orange")
        for i, n in enumerate(names):
            ax.annotate(
                f"{result['ratios'][n]:.0f}x",
                (theirs[i], y[i] + 0.2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_yticks(y, names)
    ax.set_xscale("log")
    ax.set_xlabel("wall time per call (s, log scale; best of repeats)")
    ax.set_title("BDM: occam engine vs pybdm 0.1.0 (same inputs, same run)")
    ax.set_xlim(right=ax.get_xlim()[1] * 3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def time_pybdm(d: Path, pybdm_python: str | None, repeats: int) -> dict | None:
    """Run the pybdm worker on the inputs in ``d`` in an interpreter that has pybdm, if any."""
    py, how = find_pybdm_python(pybdm_python)
    if not py:
        return None
    cfg = {"dir": str(d), "repeats": repeats, "cases": CASES}
    t = time.perf_counter()
    res = subprocess.run(
        [py, "-c", WORKER, json.dumps(cfg)], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"pybdm worker failed:\n{res.stderr[-2000:]}")
    theirs = json.loads(res.stdout)
    theirs["interpreter"] = py
    theirs["how"] = how
    theirs["wall_seconds"] = time.perf_counter() - t
    return theirs


def print_summary(result: dict, weights: Path | None) -> None:
    """Timings per case, table loads and the 4-symbol table's coverage, on the terminal."""
    ours, theirs = result["occam"], result["pybdm"]
    loads, cov = result["table_loads"], result["coverage_4symbol_len12"]
    print(f"{'case':<28} {'occam s':>10} {'pybdm s':>10} {'ratio':>8} {'max diff':>10}")
    for n, *_ in CASES:
        o = ours["cases"][n]["seconds"]
        if theirs:
            p = theirs["cases"][n]["seconds"]
            r, diff = result["ratios"][n], result["max_difference"][n]
            print(f"{n:<28} {o:>10.4f} {p:>10.3f} {r:>8.0f} {diff:>10.2e}")
        else:
            print(f"{n:<28} {o:>10.4f}")
    for name, t in loads.items():
        print(
            f"table {name:<12} cold {t['cold_convert_seconds']:.2f} s, "
            f"cached {t['cached_load_seconds'] * 1e3:.0f} ms"
        )
    g = cov["gaussian_512x512_quartiles"]["found_fraction_by_count"]
    print(
        f"4-symbol length-12 table: {cov['raw_blocks_covered_fraction']:.1%} of raw blocks; "
        f"found for {g:.1%} of Gaussian-weight blocks"
        + (
            f", {cov['weights_file']['found_fraction_by_count']:.1%} of {weights.name} blocks"
            if "weights_file" in cov
            else ""
        )
    )


PYBDM_HOW = (
    "create /tmp/pybdm-ref with `python3 -m venv /tmp/pybdm-ref && /tmp/pybdm-ref/bin/pip install "
    '"setuptools<82" "numpy<2" pybdm==0.1.0` and pass --pybdm-python /tmp/pybdm-ref/bin/python'
)
SAVED = ("bdm.json", "bdm.png", "bdm.svg")


def build_parser():
    ap = bench_parser("bdm", __doc__.split("\n\n")[0])
    ap.add_argument("--pybdm-python", default=None, help="interpreter with pybdm 0.1.0 installed")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--pybdm-repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small inputs, one repeat (smoke run)")
    ap.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="optional .npz/.safetensors checkpoint: report 4-symbol table coverage of its tensors",
    )
    ap.add_argument("--weights-prefix", default="", help="only tensors whose name starts so")
    ap.set_defaults(func=run)
    return ap


def _check_save(args, have_pybdm: bool) -> None:
    check_save(
        args,
        committed="bdm.json",
        key="pybdm",
        have_reference=have_pybdm,
        reference="pybdm 0.1.0",
        how=PYBDM_HOW,
    )


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # a script: figures go to files only
    if args.quick:
        args.repeats, args.pybdm_repeats = 1, 1
    _check_save(args, find_pybdm_python(args.pybdm_python)[0] is not None)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        shapes = make_inputs(d, args.quick)
        loads = table_loads(d / "cache-cold", args.quick)
        ours = time_ours(d, args.repeats, d / "cache-cold")
        cov = coverage(args.weights, d / "cache-cold", args.weights_prefix)
        theirs = time_pybdm(d, args.pybdm_python, args.pybdm_repeats)
    result = {
        "metadata": run_metadata(
            "python benchmarks/bench_bdm.py",
            {
                "repeats": args.repeats,
                "pybdm_repeats": args.pybdm_repeats,
                "cases": CASES,
                "quick": args.quick,
                "input_shapes": shapes,
            },
            seed=SEED,
            extra={"cpu_count": os.cpu_count()},
        ),
        "table_loads": loads,
        "occam": ours,
        "pybdm": theirs,
        "coverage_4symbol_len12": cov,
    }
    if theirs is None:
        result["pybdm_note"] = f"pybdm 0.1.0 not importable; {PYBDM_HOW} and rerun"
    else:
        result["pybdm_note"] = (
            f"pybdm ran in a {theirs['how']} ({theirs['interpreter']}, numpy {theirs['numpy']}) via "
            "subprocess, because it needs setuptools<82 and numpy<2"
        )
        result["ratios"] = {
            n: theirs["cases"][n]["seconds"] / ours["cases"][n]["seconds"] for n, *_ in CASES
        }
        result["max_difference"] = {
            n: compare(ours["cases"][n]["value"], theirs["cases"][n]["value"]) for n, *_ in CASES
        }
    for c in result["occam"]["cases"].values():
        if isinstance(c["value"], list):
            c["value"] = {"n": len(c["value"]), "sum": math.fsum(c["value"])}
    if theirs:
        for c in theirs["cases"].values():
            if isinstance(c["value"], list):
                c["value"] = {"n": len(c["value"]), "sum": math.fsum(c["value"])}
    write_json(args.out / "bdm.json", result)
    save_figure(figure(result), args.out / "bdm")
    print_summary(result, args.weights)
    print(result["pybdm_note"])
    print(f"wrote {args.out / 'bdm.json'} and bdm.png/.svg")
    if args.save:
        _check_save(args, theirs is not None)
        for path in save_results(args.out, SAVED):
            print(f"saved {path}")
    return 0


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
