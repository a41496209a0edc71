"""``python -m transformer_check train``: one run, or several seeds, into one run folder.

Every :class:`~transformer_check.config.TrainConfig` field is a flag, generated from the dataclass;
:data:`FLAGS` is the one table of renames, help texts and validating types. Precedence: the
``--preset`` (or ``--config FILE``, which replaces it) < the flags given.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from theory.base.cli import (
    FlagSpec,
    add_config_file_argument,
    add_config_flags,
    add_out_argument,
    arg_type,
    overrides_from_args,
)
from theory.base.configs import apply_overrides, load_config_file
from theory.base.errors import InputError, check_int, check_positive, check_range
from theory.base.modular import OPS
from transformer_check.cli_common import add_threads_argument, set_threads
from transformer_check.data import FORMATS
from transformer_check.model import ACTS

__all__ = ["FLAGS", "add_subparser", "train_config"]

_INT1 = arg_type(check_int, 1)
_NONNEG = arg_type(check_positive, allow_zero=True)

# TrainConfig field -> its flag; a field not listed here is --<field-name> with its type's check
FLAGS: dict[str, FlagSpec] = {
    "task.p": FlagSpec(help="prime modulus", check=arg_type(check_int, 3)),
    "task.op": FlagSpec(help="operation", choices=OPS),
    "task.frac": FlagSpec(
        help="train fraction", check=arg_type(check_range, 0, 1, lo_open=True, hi_open=True)
    ),
    "task.seed": FlagSpec(
        "--task-seed", "seed of the train/test split", check=arg_type(check_int, 0)
    ),
    "task.fmt": FlagSpec(help="sequence format", choices=FORMATS),
    "model.d_model": FlagSpec(help="residual width", check=_INT1),
    "model.n_heads": FlagSpec(help="attention heads", check=_INT1),
    "model.d_head": FlagSpec(help="width of each head", check=_INT1),
    "model.d_mlp": FlagSpec(help="MLP hidden width", check=_INT1),
    "model.n_layers": FlagSpec("--layers", "number of blocks", check=_INT1),
    "model.act": FlagSpec(help="MLP activation", choices=ACTS),
    "model.layernorm": FlagSpec(
        help="LayerNorm placement (None: no LayerNorm)", choices=["pre", "post"]
    ),
    "model.init_scale": FlagSpec(
        help="std of every weight (None: 1/sqrt(d_model))", check=arg_type(check_positive)
    ),
    "steps": FlagSpec(help="optimizer steps", check=_INT1),
    "lr": FlagSpec(help="AdamW learning rate", check=arg_type(check_positive)),
    "weight_decay": FlagSpec("--wd", "weight decay", check=_NONNEG),
    "betas": FlagSpec(help="AdamW betas", check=arg_type(check_range, 0, 1, hi_open=True)),
    "warmup": FlagSpec(help="linear warm-up steps", check=arg_type(check_int, 0)),
    "seed": FlagSpec(help="model-init/noise seed", check=arg_type(check_int, 0)),
    "spectral_reg": FlagSpec(
        help="beta of the spectral-entropy regulariser (DeMoss et al. (2024) eq. 16)", check=_NONNEG
    ),
    "weight_noise": FlagSpec(
        help="delta of the weight noise (DeMoss et al. (2024) eq. 10)", check=_NONNEG
    ),
    "device": FlagSpec(help="device", choices=["auto", "cpu", "cuda"]),
    "amp": FlagSpec(help="bfloat16 autocast on CUDA"),
    "eval_points": FlagSpec(help="log-spaced loss/acc points", check=_INT1),
    "measure_points": FlagSpec(help="log-spaced measure points", check=_INT1),
    "coarse_eps": FlagSpec(help="loss tolerance of Alg. 1", check=arg_type(check_positive)),
    "coarse_budget": FlagSpec(help="Alg. 1 evaluations", check=arg_type(check_int, 2)),
    "checkpoint_every": FlagSpec(help="steps between saves", check=_INT1),
    "snapshots": FlagSpec(help="weights-only snapshots at every measure step"),
    # set by hand below: --preset picks the base config, --measure-option is repeatable
    "preset": FlagSpec(skip=True),
    "measure_options": FlagSpec(skip=True),
}


def _measure_option(text: str) -> tuple[str, str, Any]:
    from transformer_check.measures import parse_measure_option

    try:
        return parse_measure_option(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_subparser(sub: argparse._SubParsersAction) -> None:
    from transformer_check.config import TrainConfig
    from transformer_check.measures import ALL_MEASURES
    from transformer_check.presets import PRESETS

    p = sub.add_parser(
        "train",
        help="train a transformer on a o b mod p, logging complexity measures",
        description="Full-batch AdamW on modular arithmetic (definitions §4.1-§4.3). Writes metrics.csv, "
        "summary.json, checkpoints/ and training.png/.svg into --out. Defaults quoted below are "
        "the quick preset's.",
    )
    p.add_argument(
        "--preset", choices=list(PRESETS), default="quick", help="settings (default: quick)"
    )
    add_config_file_argument(p)
    specs = dict(FLAGS)
    specs["measures"] = FlagSpec(
        help="complexity measures to log",
        choices=ALL_MEASURES,
    )
    dests = add_config_flags(p, TrainConfig, specs, defaults=PRESETS["quick"])
    p.add_argument(
        "--measure-option",
        action="append",
        type=_measure_option,
        metavar="NAME.FIELD=VALUE",
        help="an option of one measure, e.g. llc.n_chains=4 (repeatable)",
    )
    p.add_argument(
        "--seeds",
        type=arg_type(check_int, 0),
        nargs="+",
        help="several seeds, one folder each (batched as one vmapped model on CUDA)",
    )
    p.add_argument(
        "--batched",
        action="store_true",
        help="with --seeds: batch the seeds with vmap on the CPU too",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_argument(p)
    # --resume (added here) continues from the newest consistent checkpoint in --out
    add_out_argument(p, "runs/transformer_check-train", resumable=True)
    p.set_defaults(func=_cmd_train, config_dests=dests)


def train_config(args: argparse.Namespace):
    """The run's :class:`TrainConfig`: preset (or ``--config``), then the flags given."""
    from transformer_check.config import TrainConfig
    from transformer_check.presets import preset

    ov = overrides_from_args(args, args.config_dests)
    if args.config is not None:
        try:
            cfg = load_config_file(args.config, TrainConfig)
        except InputError as exc:
            if str(exc).startswith("--config"):
                raise
            raise InputError(
                f"--config {args.config}: {exc}; fix that field or give another file"
            ) from None
    else:
        cfg = preset(args.preset, op=ov.get("task.op", "+"))
    cfg = apply_overrides(cfg, ov)
    if args.measure_option:
        cfg = dataclasses.replace(
            cfg, measure_options=cfg.measure_options + tuple(args.measure_option)
        )
    return cfg


def _report(res, out: Path) -> None:
    last = res.rows[-1]
    print(
        f"{out}: step {last['step']}  train acc {last['train_acc']:.4f}  test acc "
        f"{last['test_acc']:.4f}  t_mem={res.t_mem}  t_gen={res.t_gen}"
    )


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other are refused, never silently ignored."""
    if args.seeds and getattr(args, "cfg__seed", None) is not None:
        raise InputError(
            "--seed: conflicts with --seeds (each of --seeds is the model seed of one run); "
            "give one of them"
        )
    if args.batched and not args.seeds:
        raise InputError(
            "--batched: only batches the seeds of --seeds; add --seeds S1 S2 ... or drop --batched"
        )


def _cmd_train(args: argparse.Namespace) -> int:
    _check_flags(args)
    set_threads(args)
    cfg = train_config(args)
    if args.seeds:
        from transformer_check.train import train_seeds

        results = train_seeds(
            cfg,
            args.seeds,
            args.out,
            progress=not args.quiet,
            batched=True if args.batched else "auto",
            resume=args.resume,
        )
        for s, res in zip(args.seeds, results, strict=True):
            _report(res, args.out / f"seed_{s}")
        return 0
    from transformer_check.train import train

    res = train(cfg, args.out, progress=not args.quiet, resume=args.resume)
    _report(res, args.out)
    return 0
