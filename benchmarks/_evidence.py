"""What every benchmark shares: its run folder, and ``--save`` into the committed evidence.

A benchmark writes into ``runs/bench-<name>/<timestamp>-<hash>/`` by default (the run-folder
policy of every occam command, docs/architecture.md "Run folders"), so running it never touches
``benchmarks/results/``. ``--save`` then copies the run's files there, and refuses, in one line
with exit code 2, a ``--quick`` smoke run, or a run without the optional reference (pybdm,
devinterp) whose committed file holds that reference's comparison: the README's ratios keep their
evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from theory.base.cli import OccamArgumentParser, add_out_argument, run_cli  # noqa: E402
from theory.base.errors import InputError  # noqa: E402
from theory.base.io import atomic_write_bytes  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

__all__ = [
    "RESULTS",
    "bench_parser",
    "bench_main",
    "committed_has",
    "check_save",
    "save_results",
]


def bench_parser(name: str, description: str, script: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``benchmarks/<script>.py`` (default ``bench_<name>``): ``--out``/``--overwrite``
    into ``runs/bench-<name>/`` (``_`` written ``-``) and ``--save``."""
    prog = f"python benchmarks/{script or f'bench_{name}'}.py"
    ap = OccamArgumentParser(prog=prog, description=description)
    add_out_argument(ap, f"runs/bench-{name.replace('_', '-')}")
    ap.add_argument(
        "--save",
        action="store_true",
        help=f"also copy this run's files into {RESULTS.relative_to(ROOT)}/ (the committed "
        "evidence the README quotes); refused for --quick runs and for a run that lacks a "
        "reference comparison the committed file has",
    )
    return ap


def bench_main(
    build: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None = None
) -> int:
    """Run a benchmark's parser through the CLI convention (run folder, one-line refusals)."""
    return run_cli(build, argv)


def committed_has(path: Path, key: str) -> bool:
    """Whether the committed JSON ``path`` holds a non-empty value at dotted ``key``."""
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for part in key.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    return value not in (None, {}, [], "")


def check_save(
    args: argparse.Namespace,
    *,
    committed: str,
    key: str | None = None,
    have_reference: bool = True,
    reference: str = "",
    how: str = "",
    results: Path = RESULTS,
) -> None:
    """Refuse ``--save`` (``InputError``) when the run would destroy committed evidence.

    Called before the benchmark runs (no minutes wasted) and again before copying.
    """
    if not getattr(args, "save", False):
        return
    if getattr(args, "quick", False):
        raise InputError(
            f"--save: a --quick run is a smoke test and would replace {results / committed} "
            "with smoke numbers; run without --quick to update the results"
        )
    if key is not None and not have_reference and committed_has(results / committed, key):
        raise InputError(
            f"--save: {reference} is not installed, so this run has no {reference} comparison, "
            f"and {results / committed} holds one that --save would replace; {how}, or run "
            "without --save"
        )


def save_results(out: Path, names: Sequence[str], results: Path = RESULTS) -> list[Path]:
    """Copy the files ``names`` of run folder ``out`` into ``results`` (each atomically)."""
    missing = [n for n in names if not (out / n).is_file()]
    if missing:
        raise InputError(f"--save: {out} lacks {', '.join(missing)}; the run did not finish")
    return [atomic_write_bytes(results / n, (out / n).read_bytes()) for n in names]
