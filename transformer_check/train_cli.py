"""``python -m transformer_check train``: one run, or several seeds, into one run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from theory.base.cli import add_out_argument, arg_type
from theory.base.errors import check_int, check_positive, check_range
from theory.base.modular import OPS
from transformer_check.cli_common import add_threads_argument, set_threads

__all__ = ["add_subparser"]


def add_subparser(sub: argparse._SubParsersAction) -> None:
    from transformer_check.measures import ALL_MEASURES, BUILTIN_MEASURES
    from transformer_check.presets import PRESETS

    p = sub.add_parser(
        "train",
        help="train a transformer on a o b mod p, logging complexity measures",
        description="Full-batch AdamW on modular arithmetic (SPEC §4.1-4.3). Writes metrics.csv, "
        "summary.json, checkpoints/ and training.png/.svg into --out.",
    )
    p.add_argument("--preset", choices=PRESETS, default="quick", help="settings (default: quick)")
    p.add_argument("--op", choices=OPS, default="+", help="operation (default +)")
    p.add_argument("--p", type=arg_type(check_int, 3), help="prime modulus (preset's by default)")
    p.add_argument(
        "--frac",
        type=arg_type(check_range, 0, 1, lo_open=True, hi_open=True),
        help="train fraction",
    )
    p.add_argument("--task-seed", type=arg_type(check_int, 0), help="seed of the train/test split")
    p.add_argument("--fmt", choices=["a b =", "a op b ="], help="sequence format")
    p.add_argument("--steps", type=arg_type(check_int, 1), help="optimizer steps")
    p.add_argument("--lr", type=arg_type(check_positive), help="AdamW learning rate")
    p.add_argument("--wd", type=arg_type(check_positive, allow_zero=True), help="weight decay")
    p.add_argument("--warmup", type=arg_type(check_int, 0), help="linear warm-up steps")
    p.add_argument(
        "--spectral-reg",
        type=arg_type(check_positive, allow_zero=True),
        help="beta of the spectral-entropy regulariser (paper 001 eq. 16)",
    )
    p.add_argument(
        "--weight-noise",
        type=arg_type(check_positive, allow_zero=True),
        help="delta of the weight noise (paper 001 eq. 10)",
    )
    p.add_argument("--layers", type=arg_type(check_int, 1), help="number of blocks")
    p.add_argument("--d-model", type=arg_type(check_int, 1), help="residual width")
    p.add_argument("--seed", type=arg_type(check_int, 0), help="model-init/noise seed (default 0)")
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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device (default auto)")
    p.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast on CUDA")
    p.add_argument(
        "--measures",
        nargs="*",
        choices=ALL_MEASURES,
        help=f"complexity measures to log (default: {' '.join(BUILTIN_MEASURES)})",
    )
    p.add_argument("--coarse-eps", type=arg_type(check_positive), help="loss tolerance of Alg. 1")
    p.add_argument("--coarse-budget", type=arg_type(check_int, 2), help="Alg. 1 evaluations")
    p.add_argument("--eval-points", type=arg_type(check_int, 1), help="log-spaced loss/acc points")
    p.add_argument(
        "--measure-points", type=arg_type(check_int, 1), help="log-spaced measure points"
    )
    p.add_argument("--checkpoint-every", type=arg_type(check_int, 1), help="steps between saves")
    p.add_argument("--no-snapshots", action="store_true", help="no weights-only snapshots")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoints/last")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_argument(p)
    add_out_argument(p, "runs/transformer_check-train")
    p.set_defaults(func=_cmd_train)


def _train_config(args: argparse.Namespace):
    from transformer_check.presets import preset

    return preset(
        args.preset,
        op=args.op,
        p=args.p,
        frac=args.frac,
        task_seed=args.task_seed,
        fmt=args.fmt,
        steps=args.steps,
        lr=args.lr,
        weight_decay=args.wd,
        warmup=args.warmup,
        spectral_reg=args.spectral_reg,
        weight_noise=args.weight_noise,
        n_layers=args.layers,
        d_model=args.d_model,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        measures=tuple(args.measures) if args.measures is not None else None,
        coarse_eps=args.coarse_eps,
        coarse_budget=args.coarse_budget,
        eval_points=args.eval_points,
        measure_points=args.measure_points,
        checkpoint_every=args.checkpoint_every,
        snapshots=False if args.no_snapshots else None,
    )


def _report(res, out: Path) -> None:
    last = res.rows[-1]
    print(
        f"{out}: step {last['step']}  train acc {last['train_acc']:.4f}  test acc "
        f"{last['test_acc']:.4f}  t_mem={res.t_mem}  t_gen={res.t_gen}"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    set_threads(args)
    cfg = _train_config(args)
    if args.seeds:
        from transformer_check.batched import train_seeds

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
