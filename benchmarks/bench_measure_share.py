"""Share of a quick run's wall time spent in the measures the crosscheck logs (issue 18).

Run: ``python benchmarks/bench_measure_share.py``. Two runs of the crosscheck's ``quick``
transformer, built as the crosscheck builds them (``crosscheck.config.train_config``), in this one
invocation:

1. the main run: every measure the crosscheck logs (the built-in ones, the progress measures and
   the LLC, with the crosscheck's options and schedule), each call timed;
2. the same run without measures (the crosscheck's weight-decay sweep run: ``with_measures=False``).

Reported: total wall time, time in training steps, time in each measure (per call and in total),
``share = measure time / wall time of the main run`` against the issue's target (<= 25%), the LLC's
share on its own, and the main run's wall time over the run without measures.

``--llc-batch B`` (repeatable) adds, in the same invocation, the main run again with minibatch SGLD
for the LLC (``B`` rows per gradient, each chain its own; the crosscheck's ``--llc-batch``): its
share, and the LLC verdict's statistic (definitions §4.4 prediction 5, ``verdict_llc``) of both runs
from their LLC trajectories, so the cost saved is shown beside what it does to the decision.

Writes ``measure_share.json`` and ``.png/.svg`` into a new run folder under
``runs/bench-measure-share/``; ``--save`` copies them into ``benchmarks/results/`` (refused for
``--quick``, a smoke run: 20 steps, 3 measure steps, a 5-step SGLD chain).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from theory.base.errors import InputError  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402
from transformer_check.config import TrainConfig  # noqa: E402
from transformer_check.crosscheck.config import (  # noqa: E402
    base_weight_decay,
    make_config,
    train_config,
)
from transformer_check.crosscheck.verdicts import verdict_llc  # noqa: E402
from transformer_check.measures import build_measures  # noqa: E402
from transformer_check.train import train  # noqa: E402

SAVED = ("measure_share.json", "measure_share.png", "measure_share.svg")
SHARE_TARGET = 0.25  # issue 18: measures take at most a quarter of a quick run's wall time
QUICK = {"train.steps": 20, "sgld.n_steps": 5, "sgld.n_burnin": 1}  # the --quick smoke run


class TimedMeasure:
    """A measure ``fn(model, dataset)`` that records the wall seconds of every call."""

    def __init__(self, fn: Callable[[Any, Any], dict]) -> None:
        self.fn = fn
        self.seconds: list[float] = []

    def __call__(self, model: Any, dataset: Any) -> dict:
        t0 = time.perf_counter()
        out = self.fn(model, dataset)
        self.seconds.append(time.perf_counter() - t0)
        return out


def crosscheck_runs(
    preset_name: str, overrides: dict[str, Any], measure_points: int | None
) -> tuple[TrainConfig, TrainConfig]:
    """The crosscheck's main run (every measure) and its sweep run (none) at the base weight
    decay, on the CPU; ``measure_points`` replaces the preset's (a smoke run only)."""
    cc = make_config(preset_name, overrides)
    wd = base_weight_decay(cc)
    main = dataclasses.replace(train_config(cc, wd, with_measures=True), device="cpu")
    bare = dataclasses.replace(train_config(cc, wd, with_measures=False), device="cpu")
    if measure_points is not None:
        main = dataclasses.replace(main, measure_points=measure_points)
    return main, bare


def timed_run(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """Train ``cfg`` with its measures passed in as timed callables (the same functions, options
    and schedule ``train`` would build from ``cfg.measures``)."""
    fns = {
        n: TimedMeasure(f)
        for n, f in build_measures(cfg.measures, cfg.measure_option_map()).items()
    }
    bare = dataclasses.replace(cfg, measures=(), measure_options=())
    t0 = time.perf_counter()
    res = train(bare, out, measures=fns, progress=False, plot=False)
    wall = time.perf_counter() - t0
    summary = json.loads(Path(res.paths["summary_json"]).read_text(encoding="utf-8"))
    steps_s = float(summary["train_seconds"])
    measures_s = sum(sum(f.seconds) for f in fns.values())
    per = {
        name: {
            "calls": len(f.seconds),
            "total_s": sum(f.seconds),
            "per_call_median_s": statistics.median(f.seconds) if f.seconds else 0.0,
            "per_call_max_s": max(f.seconds, default=0.0),
            "share_of_wall": sum(f.seconds) / wall,
        }
        for name, f in fns.items()
    }
    out_ = {
        "wall_s": wall,
        "train_steps_s": steps_s,
        "measures_s": measures_s,
        "other_s": wall - steps_s - measures_s,
        "share": measures_s / wall,
        "per_measure": per,
        "final_test_acc": float(res.rows[-1]["test_acc"]),
    }
    if "llc" in fns:
        out_["llc_verdict"] = llc_verdict(res.rows, summary, cfg.task.p)
    return out_


def llc_verdict(rows: list[dict], summary: dict, p: int) -> dict[str, Any]:
    """Prediction 5's statistic on one run's LLC trajectory (``verdict_llc``, default threshold)."""
    logged = [r for r in rows if r.get("llc") is not None]
    steps = np.array([float(r["step"]) for r in logged])
    llc = np.array([float(r["llc"]) for r in logged])
    v = verdict_llc(steps, llc, summary.get("t_mem"), summary.get("t_gen"), p)
    return {
        "t_mem": summary.get("t_mem"),
        "t_gen": summary.get("t_gen"),
        "statistic": v.value,
        "holds": v.holds,
        "reason": v.reason,
        "llc": {str(int(s)): float(y) for s, y in zip(steps, llc, strict=True)},
    }


def plain_run(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """Train ``cfg`` (no measures) and time it."""
    t0 = time.perf_counter()
    res = train(cfg, out, progress=False, plot=False)
    wall = time.perf_counter() - t0
    summary = json.loads(Path(res.paths["summary_json"]).read_text(encoding="utf-8"))
    return {"wall_s": wall, "train_steps_s": float(summary["train_seconds"])}


def plot(res: dict, stem: Path) -> None:
    import matplotlib.pyplot as plt

    per = res["with_measures"]["per_measure"]
    names = sorted(per, key=lambda n: per[n]["total_s"])
    variants = res.get("llc_batch_variants") or {}
    fig, axes = plt.subplots(1, 3 if variants else 2, figsize=(18 if variants else 12, 4.2))
    a1, a2 = axes[0], axes[1]
    a1.barh(names, [per[n]["total_s"] for n in names], color="tab:blue")
    a1.set_xlabel("seconds in the run (all calls)")
    share = res["with_measures"]["share"]
    a1.set_title(
        f"Measures: {100 * share:.1f}% of the run's wall time (target <= {100 * SHARE_TARGET:.0f}%)",
        fontsize=9,
    )
    a2.barh(names, [per[n]["per_call_median_s"] for n in names], color="0.5")
    a2.set_xscale("log")
    a2.set_xlabel("seconds per call (median)")
    a2.set_title("Cost of one call", fontsize=9)
    if variants:
        a3 = axes[2]
        runs = {"full batch": res["with_measures"], **variants}
        for label, run in runs.items():
            lv = run["llc_verdict"]
            s_, y_ = zip(*sorted((int(k), v) for k, v in lv["llc"].items()), strict=True)
            stat = "n/a" if lv["statistic"] is None else f"{lv['statistic']:.2f}"
            a3.plot(
                s_,
                y_,
                marker=".",
                label=f"{label}: measures {100 * run['share']:.0f}%, fall {stat}",
            )
        t_gen = res["with_measures"]["llc_verdict"]["t_gen"]
        if t_gen is not None:
            a3.axvline(t_gen, color="0.6", ls="--", lw=0.8)
        a3.set_xscale("symlog", linthresh=1)
        a3.set_xlabel("step")
        a3.set_ylabel("LLC (SGLD)")
        a3.set_title("LLC trajectory: full batch vs minibatch SGLD (dashed: t_gen)", fontsize=9)
        a3.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, stem)


def build_parser():
    ap = bench_parser("measure_share", __doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", help="crosscheck preset (default quick)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument(
        "--llc-batch",
        type=int,
        action="append",
        default=[],
        metavar="B",
        help="also time the main run with minibatch SGLD of B rows for the LLC (repeatable)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20 steps, 3 measure steps, a 5-step SGLD chain",
    )
    ap.set_defaults(func=run)
    return ap


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def run(args) -> int:
    check_save(args, committed="measure_share.json")
    if args.threads < 1:
        raise InputError(f"--threads: must be >= 1, got {args.threads}")
    for b in args.llc_batch:
        if b < 1:
            raise InputError(f"--llc-batch: must be >= 1 rows, got {b}")
    torch.set_num_threads(args.threads)
    overrides = QUICK if args.quick else {}
    points = 2 if args.quick else None
    main_cfg, bare_cfg = crosscheck_runs(args.preset, overrides, points)
    print(f"run without measures ({bare_cfg.steps} steps) ...", file=sys.stderr)
    without = plain_run(bare_cfg, args.out / "run-without-measures")
    print(f"run with {len(main_cfg.measures)} measures ...", file=sys.stderr)
    with_ = timed_run(main_cfg, args.out / "run-with-measures")
    variants = {}
    for b in args.llc_batch:
        print(f"run with every measure, LLC minibatch {b} ...", file=sys.stderr)
        cfg_b, _ = crosscheck_runs(args.preset, {**overrides, "sgld.batch_size": b}, points)
        v = timed_run(cfg_b, args.out / f"run-llc-batch-{b}")
        v["llc_options"] = cfg_b.measure_option_map()["llc"]
        v["llc_share"] = v["per_measure"]["llc"]["total_s"] / v["wall_s"]
        v["llc_call_speedup"] = (
            with_["per_measure"]["llc"]["per_call_median_s"]
            / v["per_measure"]["llc"]["per_call_median_s"]
        )
        v["target_met"] = v["share"] <= SHARE_TARGET
        variants[f"llc_batch_{b}"] = v
    per = with_["per_measure"]
    llc = per.get("llc", {"total_s": 0.0})["total_s"]
    res = {
        "config": {
            "crosscheck_preset": args.preset,
            "steps": main_cfg.steps,
            "measures": list(main_cfg.measures),
            "measure_options": main_cfg.measure_option_map(),
            "measure_points": main_cfg.measure_points,
            "eval_points": main_cfg.eval_points,
            "snapshots": main_cfg.snapshots,
            "target_share_le": SHARE_TARGET,
            "share": "seconds inside the measures / wall seconds of the run with measures",
        },
        "with_measures": with_,
        "without_measures": without,
        "ratios": {
            "share": with_["share"],
            "llc_share": llc / with_["wall_s"],
            "share_without_llc": (with_["measures_s"] - llc) / with_["wall_s"],
            "wall_with_over_without": with_["wall_s"] / without["wall_s"],
        },
        "target_met": with_["share"] <= SHARE_TARGET,
        "llc_batch_variants": variants,
        "metadata": run_metadata(
            "benchmarks/bench_measure_share.py",
            {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(args.out)},
            extra={"torch_threads": torch.get_num_threads(), "occam_version": _occam_version()},
        ),
    }
    write_json(args.out / "measure_share.json", res)
    plot(res, args.out / "measure_share")
    for name in sorted(per, key=lambda n: -per[n]["total_s"]):
        v = per[name]
        print(
            f"  {name:15s} {v['calls']:3d} calls  {v['per_call_median_s']:8.4f} s/call  "
            f"{v['total_s']:8.2f} s  {100 * v['share_of_wall']:5.1f}%",
            file=sys.stderr,
        )
    r = res["ratios"]
    print(
        f"measures {100 * r['share']:.1f}% of {with_['wall_s']:.1f} s (LLC {100 * r['llc_share']:.1f}%"
        f", the rest {100 * r['share_without_llc']:.1f}%); target <= {100 * SHARE_TARGET:.0f}%: "
        f"{'met' if res['target_met'] else 'NOT met'}; wall with/without measures "
        f"x{r['wall_with_over_without']:.2f}"
    )
    for name, v in variants.items():
        lv, lv0 = v["llc_verdict"], with_["llc_verdict"]
        print(
            f"{name}: measures {100 * v['share']:.1f}% (LLC {100 * v['llc_share']:.1f}%, a call "
            f"x{v['llc_call_speedup']:.1f} faster); LLC fall {lv['statistic']} vs full batch "
            f"{lv0['statistic']}"
        )
    if args.save:
        for p in save_results(args.out, SAVED):
            print(f"saved {p}")
    return 0


def _occam_version() -> str:
    try:
        return metadata.version("occam-grokking")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
