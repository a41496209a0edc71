"""``python -m transformer_check measure``: every complexity measure of one checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from theory.base.cli import add_out_argument, arg_type
from theory.base.errors import InputError, check_int, check_positive
from transformer_check.cli_common import add_threads_argument, set_threads
from transformer_check.import_cli import add_external_arguments, external_kwargs

__all__ = ["add_subparser", "measure_option_type", "options_from_args"]


def measure_option_type(text: str) -> tuple[str, str, Any]:
    """argparse ``type=`` for ``NAME.FIELD=VALUE`` (:func:`parse_measure_option`)."""
    from transformer_check.measures import parse_measure_option

    try:
        return parse_measure_option(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def options_from_args(triples: list[tuple[str, str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``{measure: {field: value}}`` from repeated ``--measure-option`` (the last one wins)."""
    out: dict[str, dict[str, Any]] = {}
    for name, field, value in triples or ():
        out.setdefault(name, {})[field] = value
    return out


def add_subparser(sub: argparse._SubParsersAction) -> None:
    from transformer_check.measures import ALL_MEASURES

    p = sub.add_parser(
        "measure",
        help="compute every complexity measure of one checkpoint",
        description="Loads CHECKPOINT (.json/.safetensors pair; nothing is unpickled) and writes "
        "measures.json, measures.csv and spectra.png/.svg into --out.",
    )
    p.add_argument(
        "checkpoint", type=Path, help="checkpoint stem, .json or .safetensors (or, with "
        "--format tl|nanda, a model file trained elsewhere: docs/interop.md)"
    )  # fmt: skip
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("occam", "tl", "nanda"),
        default="occam",
        help="occam: a checkpoint or export of this package (default); tl: a TransformerLens "
        "HookedTransformer state dict (.pth/.pt/.safetensors); nanda: Nanda et al.'s",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--measures", nargs="*", choices=ALL_MEASURES, default=list(ALL_MEASURES))
    p.add_argument("--coarse-eps", type=arg_type(check_positive), default=None)
    p.add_argument("--coarse-budget", type=arg_type(check_int, 2), default=None)
    p.add_argument(
        "--measure-option",
        dest="measure_options",
        action="append",
        type=measure_option_type,
        metavar="NAME.FIELD=VALUE",
        help="set one option of one measure, e.g. llc.n_chains=4 (repeatable; "
        "overrides --coarse-eps/--coarse-budget for compression.eps/budget)",
    )
    add_threads_argument(p)
    add_external_arguments(p, split=True)
    add_out_argument(p, "runs/transformer_check-measure")
    p.set_defaults(func=_cmd_measure)


def _cmd_measure(args: argparse.Namespace) -> int:
    set_threads(args)
    external = external_kwargs(args)
    if args.fmt == "occam":
        if external:
            flag = "--" + next(iter(external)).replace("_", "-")
            raise InputError(
                f"{flag}: describes a file trained elsewhere; pass --format tl or --format nanda "
                "(an occam checkpoint records its own task)"
            )
        from transformer_check.measure_checkpoint import measure_checkpoint

        out = measure_checkpoint(
            args.checkpoint,
            args.out,
            device=args.device,
            measures=tuple(args.measures),
            coarse_eps=args.coarse_eps,
            coarse_budget=args.coarse_budget,
            options=options_from_args(args.measure_options),
        )
    else:
        from transformer_check.interop.external import measure_external

        opts = options_from_args(args.measure_options)
        for key, value in (("eps", args.coarse_eps), ("budget", args.coarse_budget)):
            if value is not None:
                opts.setdefault("compression", {}).setdefault(key, value)
        out = measure_external(
            args.checkpoint,
            args.fmt,
            args.out,
            measures=tuple(args.measures),
            options=opts,
            device=args.device,
            **external,
        )
    vals = out["measures"]
    keys = ["train_acc", "test_acc", "coarse_bytes", "coarse_ratio", "H_svd_mean", "bdm_bits"]
    keys += ["act_sparsity", "weight_entropy", "circuit_complexity", "lmn", "cms_max", "llc"]
    print(
        f"{args.out}: step {out['step']}  "
        + "  ".join(f"{k}={vals[k]:.4g}" for k in keys if isinstance(vals.get(k), float))
    )
    return 0
