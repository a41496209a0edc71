"""``python -m sfm``: run one SFM trajectory, or sweep a grid and draw the phase diagram."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from theory.base.cli import (
    OccamArgumentParser,
    add_cluster_arguments,
    add_out_argument,
    arg_type,
    cluster_from_args,
    list_of,
    run_cli,
)
from theory.base.errors import InputError, check_finite, check_int, check_odd_prime
from theory.base.io import save_figure, write_csv, write_json
from theory.base.modular import GATE_CONVENTIONS, OPS
from theory.base.provenance import run_metadata

from .dynamics import SFMConfig, simulate
from .limits import (
    POINT_BYTES_PER_PAIR,
    POINT_BYTES_PER_PAIR_SEED,
    RUN_BYTES_PER_PAIR,
    available_memory,
    check_fits,
    point_bytes,
    run_bytes,
)
from .schedules import SCHEDULE_DEFAULTS, SCHEDULES

__all__ = ["main", "build_parser"]


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
            values = np.load(path, allow_pickle=False)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": refused below
                values = np.loadtxt(path, delimiter=",", ndmin=1).ravel()
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(
            f"target: could not read {text!r} as numbers ({exc}); give a .npy array or a text "
            "file of p comma- or newline-separated values"
        ) from None
    if values.size == 0:
        raise InputError(
            f"target: {text!r} holds no values; give p finite numbers, one per residue"
        )
    return values


_STRENGTH_FLAGS = ("beta", "alpha", "wd", "c", "init_scale")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_schedule_flags(args: argparse.Namespace) -> None:
    """Refuse a schedule parameter the chosen schedule does not use, instead of ignoring it."""
    uses = SCHEDULE_DEFAULTS[args.schedule]
    for name in _STRENGTH_FLAGS:
        if getattr(args, name) is None or name in uses:
            continue
        if not uses:
            raise InputError(
                f"{_flag(name)}: --schedule {args.schedule} has no parameters, so it would be "
                f"ignored; drop {_flag(name)} or choose a schedule that uses it ("
                f"{', '.join(k for k, d in SCHEDULE_DEFAULTS.items() if name in d)})"
            )
        users = ", ".join(k for k, d in SCHEDULE_DEFAULTS.items() if name in d)
        raise InputError(
            f"{_flag(name)}: --schedule {args.schedule} does not use {name} (it takes "
            f"{', '.join(_flag(k) for k in uses)}), so it would be ignored; drop it or choose a "
            f"schedule that uses it ({users})"
        )


def _resolve_eta(args: argparse.Namespace, default: float) -> float:
    """``--eta`` or its default; refused under ``--convention paper``, whose drift is ``1/n``."""
    if args.eta is None:
        return default
    if args.convention == "paper":
        raise InputError(
            "--eta: --convention paper uses Zhang et al. (2026)'s 1/n drift (eta = p^2/n), so --eta would "
            "be ignored; drop --eta or use --convention prox"
        )
    return args.eta


def cmd_run(args: argparse.Namespace) -> int:
    from .plots import dynamics_figure, heatmap_figure
    from .report import curve_rows, run_summary
    from .task import make_task

    _check_schedule_flags(args)
    args.eta = _resolve_eta(args, 1.0)
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
    need = run_bytes(cfg.p, cfg.steps, cfg.log_every)
    check_fits("a run", need, cfg.p, RUN_BYTES_PER_PAIR, "or run on a machine with more memory")
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

    cluster = cluster_from_args(args)
    spec = default_spec(
        p=args.p,
        f=args.f,
        strength=args.strength,
        seeds=args.seeds,
        schedule=args.schedule,
        op=args.op,
        eta=_resolve_eta(args, None),
        convention=args.convention,
        steps=args.steps,
        target=args.target,
    )
    _check_sweep_memory(spec, args)
    out = Path(args.out)
    meta = run_metadata("sfm sweep", asdict(spec), None, cluster.describe())
    t0 = time.perf_counter()
    res = run_sweep(
        spec,
        out,
        cluster,
        progress=not args.quiet,
        metadata=meta,
        warn=lambda msg: print(f"python -m sfm sweep: warning: {msg}", file=sys.stderr),
    )
    wall = time.perf_counter() - t0
    analysis = analyse(spec, res["results"])
    write_csv(out / "points.csv", _point_rows(res["results"]))
    write_json(
        out / "sweep.json",
        {
            "metadata": meta,
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
                f"(mean ± SD over {m['n_seeds']} seeds)"
            )
    return 0


def _check_sweep_memory(spec, args: argparse.Namespace) -> None:
    """One point per worker at a time: refuse a grid whose largest point cannot fit here (a
    remote cluster's workers are sized by whoever runs them)."""
    if args.scheduler not in (None, "synchronous"):
        return
    p = max(spec.p)
    one = point_bytes(p, spec.seeds)
    n_points = len(spec.p) * len(spec.f) * len(spec.strength)
    parallel = 1 if args.scheduler else min(args.workers or os.cpu_count() or 1, n_points)
    per_pair = POINT_BYTES_PER_PAIR + POINT_BYTES_PER_PAIR_SEED * spec.seeds
    remedy = "or fewer --seeds, or a cluster with bigger workers (--scheduler)"
    check_fits("a sweep point", one, p, per_pair, remedy)
    if parallel > 1:
        k = max(1, (available_memory() or one * parallel) // one)
        if k < parallel:
            raise InputError(
                f"--workers: {parallel} workers each holding a point at p = {p} need about "
                f"{one * parallel / 1e9:.3g} GB but this machine has "
                f"{(available_memory() or 0) / 1e9:.3g} GB available; use --workers {k}"
            )


def _add_common(sp: argparse.ArgumentParser, sweep: bool) -> None:
    """Flags of both commands: the task, the schedule and the drift convention."""
    sp.add_argument("--op", choices=OPS, default="+", help="operation (default +)")
    sp.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="increasing",
        help="Occam gate schedule (definitions §1.7); defaults: " + _schedule_help(),
    )
    sp.add_argument(
        "--eta",
        type=arg_type(check_finite),
        default=None,  # None: "not given", so --convention paper can refuse it
        help=f"drift step, stable in (0, 2) (default {0.5 if sweep else 1.0}; not with "
        "--convention paper)",
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
        type=list_of(check_odd_prime),
        default=None,
        help="comma-separated odd primes (default 31)",
    )
    sw.add_argument(
        "--f",
        type=list_of(check_finite),
        default=None,
        help="comma-separated training fractions (default 0.05,0.1,0.15,0.2,0.3,0.4)",
    )
    sw.add_argument(
        "--strength",
        type=list_of(check_finite),
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
    add_cluster_arguments(sw, threads=False)
    add_out_argument(sw, "runs/sfm-sweep", resumable=True)
    sw.set_defaults(func=cmd_sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = OccamArgumentParser(
        prog="python -m sfm",
        description="Singular feature machine (Zhang et al. (2026), definitions §1): watch the Occam phase "
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
