"""Options shared by the transformer_check subcommands."""

from __future__ import annotations

import argparse

from theory.base.cli import arg_type
from theory.base.errors import check_int

__all__ = ["add_threads_argument", "set_threads"]


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--threads N``: CPU threads for torch."""
    p.add_argument(
        "--threads",
        type=arg_type(check_int, 1),
        help="CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine)",
    )


def set_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` before any torch work."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
