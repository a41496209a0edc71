"""``python -m transformer_check crosscheck``: one flag per field of :class:`CrosscheckConfig`
(generated), a preset or a previous run's ``crosscheck.json`` to start from."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from theory.base.cli import (
    FlagSpec,
    add_cluster_arguments,
    add_config_file_argument,
    add_config_flags,
    add_out_argument,
    arg_type,
    cluster_from_args,
    overrides_from_args,
)
from theory.base.configs import apply_overrides, load_config_file
from theory.base.errors import InputError, check_int
from theory.base.modular import OPS
from transformer_check.crosscheck.config import PRESETS, CrosscheckConfig, make_config
from transformer_check.crosscheck.decide_cli import add_decide_subparser, print_summary
from transformer_check.crosscheck.run import run_crosscheck
from transformer_check.presets import PRESETS as TRAIN_PRESETS

__all__ = ["add_subparser", "FLAGS"]

# Renames (leaf names that occur twice, or read better prefixed) and help texts.
FLAGS: dict[str, FlagSpec] = {
    "p": FlagSpec(help="modulus (prime)", check=arg_type(check_int, lo=3)),
    "op": FlagSpec(choices=OPS, help="operation"),
    "frac": FlagSpec(help="train fraction"),
    "seed": FlagSpec(
        check=arg_type(check_int, lo=0),
        help="seed of the runs (init, samplers; the split without a train preset)",
    ),
    "seeds": FlagSpec(
        check=arg_type(check_int, lo=1, hi=1000),
        help="number of seeds (seed, seed+1, ...): every leg runs on each, verdicts are pooled",
    ),
    "train_preset": FlagSpec(choices=tuple(TRAIN_PRESETS), help="train on this training preset"),
    "train.steps": FlagSpec(check=arg_type(check_int, lo=1), help="transformer training steps"),
    "train.device": FlagSpec(help="cpu, cuda or auto"),
    "train.measures": FlagSpec(help="built-in measures of the main run"),
    "train.wd_sweep": FlagSpec(help="weight-decay sweep, multiples of the weight decay"),
    "train.parallel_sweep": FlagSpec(
        help="transformer runs in Dask worker processes (--no-parallel-sweep: in this process)"
    ),
    "sgld.eps": FlagSpec("--llc-eps", help="LLC: SGLD step size"),
    "sgld.gamma": FlagSpec("--llc-gamma", help="LLC: localisation strength"),
    "sgld.n_chains": FlagSpec("--llc-chains", help="LLC: chains"),
    "sgld.n_steps": FlagSpec("--llc-steps", help="LLC: draws per chain"),
    "sgld.n_burnin": FlagSpec("--llc-burnin", help="LLC: burn-in steps per chain"),
    "sgld.batch_size": FlagSpec(
        "--llc-batch", help="LLC: rows per SGLD gradient, each chain its own (omit: full batch)"
    ),
    "sfm.schedule": FlagSpec("--sfm-schedule", help="SFM gate schedule"),
    "sfm.beta": FlagSpec("--sfm-beta", help="SFM gate strength"),
    "sfm.sweep": FlagSpec("--sfm-sweep", help="SFM beta sweep, multiples of --sfm-beta"),
    "sfm.steps": FlagSpec("--sfm-steps", help="SFM steps"),
}


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crosscheck`` on the transformer_check CLI (discovered by its cli.py)."""
    sp = subparsers.add_parser(
        "crosscheck",
        help="theory vs SFM vs transformer: decide each definitions §4.4 prediction",
        description=(
            "Run the theory, the SFM and transformer training with every measure on one task, "
            "decide the five predictions of definitions §4.4 and Zhang et al. (2026)'s three condensations and write "
            "crosscheck.json + figures. "
            "Flags override the preset (or the --config file)."
        ),
    )
    sp.add_argument(
        "--preset", default=None, choices=sorted(PRESETS), help="start from (default: default)"
    )
    add_config_file_argument(sp)
    dests = add_config_flags(sp, CrosscheckConfig, FLAGS, defaults=CrosscheckConfig().resolved())
    add_cluster_arguments(sp)
    add_out_argument(sp, "runs/transformer_check-crosscheck", resumable=True)
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd, config_dests=dests)
    add_decide_subparser(subparsers)


def config_from_args(args: argparse.Namespace) -> CrosscheckConfig:
    """The preset or ``--config`` file, then the flags given."""
    if args.config is not None:
        if args.preset is not None:
            raise InputError("--config: give --config or --preset, not both")
        base = load_config_file(args.config, CrosscheckConfig, block="crosscheck")
    else:
        base = make_config(args.preset or "default")
    return apply_overrides(base, overrides_from_args(args, args.config_dests))


def _cmd(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cluster = cluster_from_args(args)
    if args.scheduler is None and args.workers is None and not cfg.train.parallel_sweep:
        cluster = dataclasses.replace(cluster, scheduler="synchronous")
    rep = run_crosscheck(cfg, args.out, progress=not args.quiet, cluster=cluster)
    print_summary(rep["summary"], rep["seeds"])
    print(f"report: {Path(args.out) / 'crosscheck.json'}  figure: {rep['paths']['figure']}")
    return 0
