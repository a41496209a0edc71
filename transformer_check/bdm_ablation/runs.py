"""Reading the run folders the BDM ablation measures: checkpoints (never unpickled) and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from theory.base.errors import InputError

__all__ = [
    "Checkpoint",
    "RunInput",
    "checkpoint_tensors",
    "find_run_folders",
    "read_run",
    "read_runs",
    "run_names",
]


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file of a run and the training step it holds."""

    step: int
    path: Path


@dataclass(frozen=True)
class RunInput:
    """A run folder: its name, its checkpoints by step, its events and where they came from."""

    name: str
    path: Path
    checkpoints: tuple[Checkpoint, ...]
    t_mem: int | None
    t_gen: int | None
    events_from: str


_NOT_A_RUN = (
    "give a folder written by `python -m transformer_check train` (or a sweep's runs/<key>/)"
)


def find_run_folders(
    runs: Sequence[str | Path] = (), runs_from: Sequence[str | Path] = ()
) -> list[Path]:
    """The run folders meant: each ``RUN`` (a multi-seed run's ``seed_*/`` folders in its place)
    and every folder of each sweep's ``runs/``; a folder named twice is refused."""
    out: list[Path] = []
    for r in map(Path, runs):
        if not r.is_dir():
            raise InputError(f"RUN: {r} is not a folder; {_NOT_A_RUN}")
        seeds = sorted(p for p in r.glob("seed_*") if (p / "checkpoints").is_dir())
        out.extend([r] if (r / "checkpoints").is_dir() or not seeds else seeds)
    for s in map(Path, runs_from):
        folder = s / "runs"
        if not folder.is_dir():
            raise InputError(
                f"--runs-from: {s} has no runs/ folder; give the --out of "
                "`python -m transformer_check sweep`"
            )
        points = sorted(p for p in folder.iterdir() if p.is_dir())
        if not points:
            raise InputError(f"--runs-from: {folder} holds no finished point yet; wait for one")
        out.extend(points)
    if not out:
        raise InputError("RUN: give at least one run folder, or --runs-from SWEEP_DIR")
    seen: dict[Path, Path] = {}
    for p in out:
        key = p.resolve()
        if key in seen:
            raise InputError(f"RUN: {p} is given twice (also as {seen[key]}); name each run once")
        seen[key] = p
    return out


def run_names(paths: Sequence[Path]) -> list[str]:
    """The folder names, with as many parent names as it takes to tell them apart."""
    k = 1
    while True:
        names = ["/".join(p.resolve().parts[-k:]) for p in paths]
        if len(set(names)) == len(names) or k > max(len(p.resolve().parts) for p in paths):
            return names
        k += 1


def _checkpoint_step(path: Path) -> int:
    from transformer_check.checkpoint import load_checkpoint, read_state

    state = read_state(path)
    if state is None:  # a version-1 file keeps its state in the JSON next to it
        state = load_checkpoint(path)[1]
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InputError(
            f"checkpoint: {path} records no training step; it is damaged or not written by "
            "`transformer_check train`: remove it or retrain"
        )
    return step


def _preference(path: Path) -> tuple[int, str]:
    # one file per step: a step_* snapshot, else last, else prev (they hold the same weights)
    rank = 0 if path.stem.startswith("step_") else 1 if path.stem == "last" else 2
    return rank, path.name


def _events(folder: Path) -> tuple[int | None, int | None, str]:
    """``(t_mem, t_gen, source)``: the run's summary.json, else detected from metrics.csv."""
    import csv
    import json

    from transformer_check.events import detect_events

    summary = folder / "summary.json"
    if summary.is_file():
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            raise InputError(
                f"RUN: {summary} is not readable JSON; it is damaged: retrain the run"
            ) from None
        ev = [data.get(k) if isinstance(data, dict) else None for k in ("t_mem", "t_gen")]
        if all(e is None or (isinstance(e, int) and not isinstance(e, bool)) for e in ev):
            return ev[0], ev[1], "summary.json"
    metrics = folder / "metrics.csv"
    if metrics.is_file():
        with open(metrics, newline="", encoding="utf-8") as fh:
            rows = []
            for r in csv.DictReader(fh):
                try:
                    rows.append({k: float(r[k]) for k in ("step", "train_acc", "test_acc")})
                except (KeyError, TypeError, ValueError):
                    continue
        t_mem, t_gen = detect_events(rows)
        return t_mem, t_gen, "metrics.csv"
    return None, None, "none (no summary.json or metrics.csv)"


def read_run(folder: str | Path, name: str | None = None) -> RunInput:
    """The checkpoints (one per step, by step) and events of a run folder.

    Refused: a folder without ``checkpoints/*.safetensors`` and a run with fewer than 2 steps.
    """
    folder = Path(folder)
    ckdir = folder / "checkpoints"
    files = sorted(ckdir.glob("*.safetensors")) if ckdir.is_dir() else []
    files = [f for f in files if not f.name.startswith(".")]
    if not files:
        raise InputError(
            f"RUN: {folder} is not a training run (no checkpoints/*.safetensors); {_NOT_A_RUN}"
        )
    by_step: dict[int, Path] = {}
    for f in sorted(files, key=_preference):
        by_step.setdefault(_checkpoint_step(f), f)
    if len(by_step) < 2:
        raise InputError(
            f"RUN: {folder} has checkpoints of {len(by_step)} step only; a trajectory needs 2 or "
            "more: train with snapshots on (the default; sweep points keep only their last)"
        )
    t_mem, t_gen, source = _events(folder)
    cks = tuple(Checkpoint(s, by_step[s]) for s in sorted(by_step))
    return RunInput(name or folder.name, folder, cks, t_mem, t_gen, source)


def read_runs(
    runs: Sequence[str | Path] = (), runs_from: Sequence[str | Path] = ()
) -> list[RunInput]:
    """Every run meant by ``runs`` and ``runs_from`` (:func:`find_run_folders`), read and checked
    before anything is measured, under names that tell them apart (:func:`run_names`)."""
    folders = find_run_folders(runs, runs_from)
    return [read_run(f, n) for f, n in zip(folders, run_names(folders), strict=True)]


def checkpoint_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The model parameters of one checkpoint as float32 arrays, in ``named_parameters`` order
    (so :func:`raw_bz2_bits` is ``8 * naive_bz2_bytes`` of the model), checked against its
    config; loaded only through :func:`transformer_check.checkpoint.load_checkpoint`."""
    from transformer_check.checkpoint import load_checkpoint
    from transformer_check.checkpoint_check import check_tensors, checked_config
    from transformer_check.model import param_shapes

    tensors, state = load_checkpoint(path)
    cfg = checked_config(state, path)
    check_tensors(tensors, cfg, path)
    return {
        n: tensors[f"param.{n}"].detach().float().cpu().numpy()
        for n in param_shapes(cfg.model_config())
    }


# -- trajectory summaries ---------------------------------------------------------------------
