"""``python -m sfm``: run one SFM trajectory, or sweep a grid and draw the phase diagram."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from theory.base.cli import OccamArgumentParser, add_out_argument, arg_type, run_cli
from theory.base.errors import InputError, check_finite, check_int, check_odd_prime
from theory.base.io import save_figure, write_csv, write_json
from theory.base.modular import GATE_CONVENTIONS, OPS
from theory.base.provenance import run_metadata

from .dynamics import SFMConfig, simulate
from .schedules import SCHEDULE_DEFAULTS, SCHEDULES

__all__ = ["main", "build_parser"]


def _list_of(check, *args, **kwargs):
    """argparse type for comma-separated lists validated element-wise."""

    def convert(text: str):
        try:
            return tuple(check("value", x.strip(), *args, **kwargs) for x in text.split(",") if x)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    convert.__name__ = "list"
    return convert


def _schedule_help() -> str:
    return "; ".join(
        f"{k} ({', '.join(f'{a}={v:g}' for a, v in d.items()) or 'no parameters'})"
        for k, d in SCHEDULE_DEFAULTS.items()
    )


def _load_target(text: str):
    if text in ("flat", "random-phase"):
        return text
    path = Path(text)
    if not path.exists():
        raise InputError(
            f"target: {text!r} is neither flat, random-phase nor an existing .npy/.txt file"
        )
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, delimiter=",", ndmin=1).ravel()
    except (OSError, ValueError) as exc:
        raise InputError(
            f"target: could not read {text!r} as numbers ({exc}); give a .npy array or a text "
            "file of p comma- or newline-separated values"
        ) from None


def cmd_run(args: argparse.Namespace) -> int:
    from .plots import dynamics_figure, heatmap_figure
    from .report import curve_rows, run_summary
    from .task import make_task

    target = _load_target(args.target)
    cfg = SFMConfig(
        p=args.p,
        f=args.f,
        op=args.op,
        target=target if isinstance(target, str) else "flat",
        schedule=args.schedule,
        beta=args.beta,
        alpha=args.alpha,
        wd=args.wd,
        c=args.c,
        init_scale=args.init_scale,
        eta=args.eta,
        convention=args.convention,
        steps=args.steps,
        seed=args.seed,
        log_every=args.log_every,
    )
    tasks = None
    if not isinstance(target, str):
        tasks = [make_task(cfg.p, cfg.op, cfg.f, target, np.random.default_rng(cfg.seed))]
    t0 = time.perf_counter()
    res = simulate([cfg], tasks=tasks, snapshots=True, progress=not args.quiet)
    wall = time.perf_counter() - t0
    out = Path(args.out)
    summary = run_summary(res)
    summary["wall_seconds"] = wall
    summary["steps_per_second"] = (res.steps_run + 1) / wall
    config = asdict(cfg) | {"target": args.target, "params": asdict(cfg.params())}
    write_json(
        out / "summary.json", {"metadata": run_metadata("sfm run", config, cfg.seed), **summary}
    )
    write_csv(out / "curves.csv", curve_rows(res))
    save_figure(dynamics_figure(res), out / "dynamics")
    save_figure(heatmap_figure(res), out / "weights")
    ev = summary["events"]
    print(
        f"sfm run: p={cfg.p} op={cfg.op} f={cfg.f} n={summary['n']} schedule={cfg.schedule}: "
        f"t_mem={ev['t_mem']} t_gen={ev['t_gen']} support {summary['at_t_mem']['support']} -> "
        f"{summary['final']['support']} (theory {summary['theory']['interpolant_support']}), "
        f"{wall:.2f}s; wrote {out}/"
    )
    for note in ev["notes"]:
        print(f"  note: {note}")
    return 0


def _point_rows(results: list[dict]) -> list[dict]:
    """``points.csv``: one row per (point, seed), with the point's majority phase."""
    rows = []
    for r in results:
        base = {
            **{k: r["point"][k] for k in ("p", "f", "strength")},
            "n": r["n"],
            "n_over_p": r["n_over_p"],
        }
        for s in r["seeds"]:
            rows.append(
                base
                | {k: s[k] for k in ("seed", "t_mem", "t_gen", "final_train_rel", "final_test_rel")}
                | {"point_phase": r["phase"]}
            )
    return rows


def cmd_sweep(args: argparse.Namespace) -> int:
    from .plots import phase_diagram_figure, power_law_figure
    from .sweep import analyse, default_spec, run_sweep

    spec = default_spec(
        p=args.p,
        f=args.f,
        strength=args.strength,
        seeds=args.seeds,
        schedule=args.schedule,
        op=args.op,
        eta=args.eta,
        convention=args.convention,
        steps=args.steps,
        target=args.target,
    )
    out = Path(args.out)
    t0 = time.perf_counter()
    res = run_sweep(
        spec, out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet
    )
    wall = time.perf_counter() - t0
    analysis = analyse(spec, res["results"])
    write_csv(out / "points.csv", _point_rows(res["results"]))
    cluster = {
        "scheduler": args.scheduler or "LocalCluster",
        "workers": args.workers or os.cpu_count(),
    }
    write_json(
        out / "sweep.json",
        {
            "metadata": run_metadata("sfm sweep", asdict(spec), None, cluster),
            "wall_seconds": wall,
            "n_points": len(res["results"]),
            "n_skipped": res["n_skipped"],
            "n_run": res["n_run"],
            "analysis": analysis,
            "points": [{k: v for k, v in r.items() if k != "seeds"} for r in res["results"]],
        },
    )
    save_figure(phase_diagram_figure(spec, res["results"], analysis), out / "phase_diagram")
    save_figure(power_law_figure(spec, res["results"], analysis), out / "power_laws")
    print(
        f"sfm sweep: {len(res['results'])} points ({res['n_run']} run, {res['n_skipped']} "
        f"resumed) in {wall:.1f}s; wrote {out}/"
    )
    for p, info in analysis["per_p"].items():
        m = info["min_n_over_p_overall"]
        if m:
            print(
                f"  p={p}: minimum n/p for generalisation {m['mean']:.2f} ± {m['sd']:.2f} "
                f"(over {m['n_seeds']} seeds)"
            )
    return 0


def _add_common(sp: argparse.ArgumentParser, sweep: bool) -> None:
    """Flags of both commands: the task, the schedule and the drift convention."""
    sp.add_argument("--op", choices=OPS, default="+", help="operation (default +)")
    sp.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="increasing",
        help="Occam gate schedule (SPEC §1.7); defaults: " + _schedule_help(),
    )
    sp.add_argument(
        "--eta",
        type=arg_type(check_finite),
        default=0.5 if sweep else 1.0,
        help="drift step, stable in (0, 2) (default %(default)s)",
    )
    sp.add_argument(
        "--convention",
        choices=GATE_CONVENTIONS,
        default="prox",
        help="gate/drift convention: prox (default) or paper (1/n drift)",
    )
    sp.add_argument(
        "--target",
        default="flat",
        help="flat (default), random-phase, or a .npy/.csv file with p values",
    )
    sp.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="one trajectory: curves, summary, figures")
    run.add_argument("--p", type=arg_type(check_odd_prime), default=97, help="odd prime (97)")
    run.add_argument(
        "--f", type=arg_type(check_finite), default=0.3, help="training fraction in (0, 1] (0.3)"
    )
    _add_common(run, sweep=False)
    for name in ("beta", "alpha", "wd", "c", "init_scale"):
        run.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=arg_type(check_finite),
            default=None,
            help=f"schedule parameter {name} (default: per schedule)",
        )
    run.add_argument(
        "--steps", type=arg_type(check_int, lo=1), default=2000, help="number of steps (2000)"
    )
    run.add_argument("--seed", type=arg_type(check_int, lo=0), default=0, help="seed (0)")
    run.add_argument(
        "--log-every",
        type=arg_type(check_int, lo=1),
        default=1,
        help="log observables every k steps (1; events are exact regardless)",
    )
    add_out_argument(run, "runs/sfm-run")
    run.set_defaults(func=cmd_run)


def _add_sweep_parser(sub) -> None:
    sw = sub.add_parser("sweep", help="grid over p, f, schedule strength, seeds: phase diagram")
    sw.add_argument(
        "--p",
        type=_list_of(check_odd_prime),
        default=None,
        help="comma-separated odd primes (default 31)",
    )
    sw.add_argument(
        "--f",
        type=_list_of(check_finite),
        default=None,
        help="comma-separated training fractions (default 0.05,0.1,0.15,0.2,0.3,0.4)",
    )
    sw.add_argument(
        "--strength",
        type=_list_of(check_finite),
        default=None,
        help="comma-separated schedule strengths: beta for gates, alpha for ista, wd "
        "for l2_gate/square (default 0.01,0.02,0.03,0.05,0.1,0.2,0.3,1,3)",
    )
    sw.add_argument(
        "--seeds", type=arg_type(check_int, lo=1), default=None, help="seeds per point (3)"
    )
    sw.add_argument(
        "--steps", type=arg_type(check_int, lo=1), default=None, help="step budget per run (3000)"
    )
    _add_common(sw, sweep=True)
    sw.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://host:8786) of a running cluster; default: "
        "a LocalCluster of worker processes on this machine; 'synchronous' runs "
        "in-process",
    )
    sw.add_argument(
        "--workers",
        type=arg_type(check_int, lo=1),
        default=None,
        help="LocalCluster worker processes (default: number of cores)",
    )
    add_out_argument(sw, "runs/sfm-sweep")
    sw.set_defaults(func=cmd_sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = OccamArgumentParser(
        prog="python -m sfm",
        description="Singular feature machine (paper 004, SPEC §1): watch the Occam phase "
        "transition, and map where it happens.",
    )
    sub = parser.add_subparsers(title="commands", metavar="{run,sweep}")
    _add_run_parser(sub)
    _add_sweep_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
