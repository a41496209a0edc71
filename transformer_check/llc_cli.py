"""``python -m transformer_check llc-calibrate RUN [--step S]``: the LLC's eps-beta sweep on a checkpoint.

Runs :func:`transformer_check.measures.llc_calibrate.calibrate_llc` on the training split of one
checkpoint (definitions §2.3; the practice of Lau et al. 2023) and writes into the run folder
``calibration.json`` (metadata, every grid point, the recommended point and the rule),
``calibration.csv`` (one row per grid point) and ``calibration.png/.svg`` (LLC vs eps per
n beta, and every point's loss traces).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from theory.base.cli import add_out_argument, arg_type, list_of
from theory.base.errors import InputError, check_finite, check_int
from transformer_check.cli_common import add_threads_argument, set_threads

__all__ = ["add_subparser"]


def _positive(name: str, value: str) -> float:
    v = check_finite(name, value)
    if v <= 0:
        raise InputError(f"{name}: must be > 0, got {v}")
    return v


def add_subparser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "llc-calibrate",
        help="the LLC estimator's eps x n*beta calibration sweep on one checkpoint",
        description=(
            "SGLD LLC estimates of a checkpoint over a grid of step sizes eps and n*beta values "
            "(all chains vectorised), each point flagged diverged / unstable / stable, and the "
            "recommended point: the largest stable eps on the plateau at the n*beta nearest "
            "n/ln n. Writes calibration.json, calibration.csv and calibration.png/.svg."
        ),
    )
    p.add_argument(
        "run", type=Path, help="run folder of `train`, or a checkpoint stem/.json/.safetensors"
    )
    p.add_argument(
        "--step", type=arg_type(check_int, 0), default=None,
        help="the snapshot RUN/checkpoints/step_<S> (default: the last checkpoint, else the newest snapshot)",
    )  # fmt: skip
    p.add_argument(
        "--eps", type=list_of(_positive), default=(1e-5, 3e-5, 1e-4, 3e-4),
        help="comma-separated SGLD step sizes (default 1e-5,3e-5,1e-4,3e-4)",
    )  # fmt: skip
    p.add_argument(
        "--nbeta", type=list_of(_positive), default=None,
        help="comma-separated n*beta values (default: n/ln n and its thirds and triples)",
    )  # fmt: skip
    p.add_argument("--chains", type=arg_type(check_int, 2), default=4, help="chains per point")
    p.add_argument("--steps", type=arg_type(check_int, 2), default=200, help="draws per chain")
    p.add_argument("--burnin", type=arg_type(check_int, 0), default=50, help="burn-in steps")
    p.add_argument(
        "--gamma", type=arg_type(check_finite), default=100.0, help="localisation strength"
    )
    p.add_argument(
        "--batch-size", type=arg_type(check_int, 1), default=None,
        help="rows per gradient (default: full batch)",
    )  # fmt: skip
    p.add_argument(
        "--params", default=None,
        help="sample only these parameters, e.g. blocks.0.attn or 'blocks.0.attn.W_*[1]' (a head)",
    )  # fmt: skip
    p.add_argument("--seed", type=arg_type(check_int, 0), default=0, help="chain seed")
    add_threads_argument(p)
    add_out_argument(p, "runs/transformer_check-llc-calibrate")
    p.set_defaults(func=_cmd)


def _checkpoint(run: Path, step: int | None) -> Path:
    """RUN/checkpoints/step_<S>; without --step the run's last checkpoint, or where it kept none
    (a run that only kept snapshots, such as examples/runs/quick-seed0) its newest snapshot."""
    if step is None:
        ck = run / "checkpoints"
        if (
            not run.is_dir()
            or (ck / "last.safetensors").exists()
            or (run / "last.safetensors").exists()
        ):
            return run
        snaps = sorted(ck.glob("step_*.safetensors")) if ck.is_dir() else []
        return snaps[-1].with_suffix("") if snaps else run
    path = run / "checkpoints" / f"step_{step:07d}"
    if not path.with_suffix(".safetensors").exists():
        raise InputError(
            f"--step: {path}.safetensors does not exist; list {run / 'checkpoints'} for the "
            "snapshot steps (a run trained with snapshots keeps step_* files)"
        )
    return path


def _cmd(args: argparse.Namespace) -> int:
    from theory.base.io import write_csv, write_json
    from theory.base.provenance import run_metadata
    from transformer_check.measures.llc import SGLDConfig, classifier_loss
    from transformer_check.measures.llc_calibrate import calibrate_llc
    from transformer_check.measures.llc_plots import plot_calibration
    from transformer_check.measures.llc_vmap import module_target
    from transformer_check.train import load_model

    set_threads(args)
    cfg = SGLDConfig(
        gamma=args.gamma, n_chains=args.chains, n_steps=args.steps, n_burnin=args.burnin,
        batch_size=args.batch_size, seed=args.seed, params=args.params,
    )  # fmt: skip
    ckpt = _checkpoint(args.run, args.step)
    model, _, ds, meta = load_model(ckpt)
    n = len(ds.train_y)
    target = module_target(model, classifier_loss(model, ds.train_x, ds.train_y), n, cfg.params)
    nb0 = n / math.log(n)
    nbeta = args.nbeta or (nb0 / 3, nb0, 3 * nb0)
    cal = calibrate_llc(target, args.eps, nbeta, cfg)
    out = Path(args.out)
    config = {
        "run": str(args.run),
        "checkpoint": str(ckpt),
        "step": meta.get("step"),
        "n": n,
        "sgld": cfg,
        "eps": list(args.eps),
        "nbeta": list(nbeta),
    }
    write_csv(out / "calibration.csv", [p.summary() for p in cal.points])
    write_json(
        out / "calibration.json",
        {"metadata": run_metadata("transformer_check llc-calibrate", config), **cal.to_dict()},
    )
    plot_calibration(cal, out / "calibration")
    rec = cal.recommended
    how = {
        "plateau": "recommended (on the plateau)",
        "fallback": "fallback, unconfirmed (no two neighbouring stable eps agree)",
    }
    pick = (
        "no stable point: widen the grid"
        if rec is None
        else f"{how[cal.recommended_rule]}: eps={rec.eps:g}, n*beta={rec.nbeta:.4g}, "
        f"LLC {rec.llc:.3g} ± {rec.llc_se:.2g} (± 1 SE over chains)"
    )
    stable = sum(p.stable for p in cal.points)
    print(
        f"transformer_check llc-calibrate: {len(cal.points)} points ({stable} stable); {pick}; "
        f"wrote {out}/calibration.json"
    )
    return 0
