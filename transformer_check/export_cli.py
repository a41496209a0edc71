"""``python -m transformer_check export CKPT --out model.safetensors``: weights-only export."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_subparser"]


def add_subparser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a checkpoint's parameters (plain names, config in the header) to one file",
        description="Writes exactly the model's named_parameters() (e.g. blocks.0.mlp.W_in; no "
        "optimizer or RNG state) of CHECKPOINT into one .safetensors file, with the training "
        "config and step in its metadata header. --out is a file, written atomically.",
    )
    p.add_argument(
        "checkpoint", type=Path, help="checkpoint stem, .json or .safetensors, or a run folder"
    )
    p.add_argument(
        "--out",
        dest="export_out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the .safetensors file to write",
    )
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from transformer_check.export import export_weights

    path = export_weights(args.checkpoint, args.export_out, overwrite=args.overwrite)
    print(f"{path}: parameters of {args.checkpoint}")
    return 0
