"""``python -m transformer_check``: train on modular arithmetic and measure complexity (definitions §4)."""

from __future__ import annotations

import argparse

from theory.base.cli import OccamArgumentParser, run_cli
from transformer_check import (
    bdm_ablation_cli,
    export_cli,
    import_cli,
    llc_cli,
    measure_cli,
    sweep_cli,
    train_cli,
)
from transformer_check.crosscheck import add_subparser as crosscheck_cli

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = OccamArgumentParser(
        prog="python -m transformer_check",
        description="Train transformers on modular arithmetic and track their complexity (definitions §4).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,measure,export,...}")
    for register in (
        train_cli.add_subparser,
        measure_cli.add_subparser,
        export_cli.add_subparser,
        import_cli.add_subparser,
        sweep_cli.add_subparser,
        bdm_ablation_cli.add_subparser,
        llc_cli.add_subparser,
        crosscheck_cli,
    ):
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser, argv)
