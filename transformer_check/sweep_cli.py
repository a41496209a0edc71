"""``python -m transformer_check sweep``: a grid of training runs on Dask, with ``points.csv``, the
t_gen-against-value figures with confidence bands and the grok / memorise / fail phase diagram."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from theory.base.cli import (
    add_cluster_arguments,
    add_out_argument,
    arg_type,
    cluster_from_args,
    list_of,
)
from theory.base.errors import check_finite, check_int, check_odd_prime
from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata

__all__ = ["add_subparser"]


def add_subparser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "sweep",
        help="grid of training runs (seeds, wd, frac, lr, op, p, preset) on Dask",
        description=(
            "Train one run per grid point and seed on a Dask cluster (a LocalCluster by default), "
            "each in its own folder, resumable point by point; write points.csv, sweep.json and "
            "figures: t_gen against every swept value with 95%% bands over seeds, and the "
            "grok / memorise / fail phase diagram over (train fraction x weight decay). Lists "
            "are comma-separated; --seeds takes several numbers."
        ),
    )
    sp.add_argument("--preset", type=list_of(_preset), default=("quick",), help="presets (quick)")
    sp.add_argument(
        "--seeds", type=arg_type(check_int, lo=0), nargs="+", default=[0, 1, 2, 3],
        help="init seeds of every point (default 0 1 2 3)",
    )  # fmt: skip
    sp.add_argument("--wd", type=list_of(check_finite), default=None, help="weight decays")
    sp.add_argument("--frac", type=list_of(check_finite), default=None, help="train fractions")
    sp.add_argument("--lr", type=list_of(check_finite), default=None, help="learning rates")
    sp.add_argument("--op", type=list_of(_op), default=("+",), help="operations, e.g. +,-")
    sp.add_argument("--p", type=list_of(check_odd_prime), default=None, help="moduli (primes)")
    sp.add_argument("--steps", type=arg_type(check_int, lo=1), default=None, help="step budget")
    sp.add_argument(
        "--measures", type=lambda s: tuple(x for x in s.split(",") if x), default=None,
        help="measures of every run (default: the preset's)",
    )  # fmt: skip
    sp.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    add_cluster_arguments(sp)
    add_out_argument(sp, "runs/transformer_check-sweep", resumable=True)
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd)


def _preset(name: str, value: str) -> str:
    from theory.base.errors import check_choice
    from transformer_check.presets import PRESETS

    return check_choice(name, value, tuple(PRESETS))


def _op(name: str, value: str) -> str:
    from theory.base.errors import check_choice
    from theory.base.modular import OPS

    return check_choice(name, value, OPS)


def _cmd(args: argparse.Namespace) -> int:
    from transformer_check.sweep import TransformerSweepSpec, run_transformer_sweep
    from transformer_check.sweep_plots import plot_sweep

    cluster = cluster_from_args(args)
    spec = TransformerSweepSpec(
        preset=tuple(args.preset),
        seeds=tuple(args.seeds),
        op=tuple(args.op),
        p=args.p,
        frac=args.frac,
        weight_decay=args.wd,
        lr=args.lr,
        steps=args.steps,
        measures=args.measures,
        device=args.device,
    )
    out = Path(args.out)
    meta = run_metadata("transformer_check sweep", spec, None, cluster.describe())
    t0 = time.perf_counter()
    res = run_transformer_sweep(
        spec,
        out,
        cluster,
        progress=not args.quiet,
        metadata=meta,
        warn=lambda m: print(f"python -m transformer_check sweep: warning: {m}", file=sys.stderr),
    )
    wall = time.perf_counter() - t0
    rows = res["rows"]
    write_csv(out / "points.csv", rows)
    write_json(
        out / "sweep.json",
        {
            "metadata": meta,
            "wall_seconds": wall,
            "n_points": len(rows),
            "n_run": res["n_run"],
            "n_skipped": res["n_skipped"],
            "swept": spec.swept(),
            "points": rows,
        },
    )
    # A distribution-free 95% interval of a median needs 6 seeds; with fewer the band is the
    # range of the seeds, drawn with its exact coverage 1 - 2^(1-n) (87.5% for 4 seeds).
    n = len(spec.seeds)
    level = 0.95 if n > 5 else max(0.5, 1 - 2.0 ** (1 - n))
    figs = plot_sweep(rows, level) if n > 1 else plot_sweep(rows)
    for name, fig in figs.items():
        save_figure(fig, out / name)
    n_gen = sum(not r["censored"] for r in rows)
    print(
        f"transformer_check sweep: {len(rows)} runs ({res['n_run']} run, {res['n_skipped']} "
        f"resumed) in {wall:.0f} s; {n_gen} generalised; wrote {out}/points.csv and "
        f"{', '.join(figs) or 'no figure'}"
    )
    return 0
