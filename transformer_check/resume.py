"""What ``--resume`` continues from, and whether it may: checkpoint choice and config comparison.

A run folder holds ``checkpoints/last.safetensors`` and, after its second save,
``checkpoints/prev.safetensors`` (:mod:`transformer_check.checkpoint`). :func:`resume_points`
takes, for every seed folder, the newest checkpoint that reads back consistently, at a step all
seeds share (a kill between two seeds' saves leaves one seed a save ahead), and says which in one
line on stderr. :func:`compare_configs` accepts a resume whose configuration differs only in fields
that provably change neither the weights nor the logged metrics (:data:`RESULT_NEUTRAL`), with a
one-line note, and refuses any other difference naming the fields.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from theory.base.errors import InputError
from transformer_check.checkpoint import previous_of, read_state
from transformer_check.config import TrainConfig

__all__ = ["RESULT_NEUTRAL", "note", "differences", "compare_configs", "resume_points"]

# How often full checkpoints and weights-only snapshots are written: neither touches the model,
# the optimizer, the noise RNG or what is logged (uninterrupted runs with 250 and 500 agree bit for
# bit, tests/test_transformer_resume.py).
RESULT_NEUTRAL = ("checkpoint_every", "snapshots")


def note(message: str) -> None:
    """One line on stderr: something the user should know that is not an error."""
    sys.stderr.write(f"transformer_check: note: {message}\n")
    sys.stderr.flush()


def differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted field, value in a, value in b)`` for every leaf where two configs differ."""
    out: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(x) and dataclasses.is_dataclass(y):
            out.extend(differences(x, y, f"{prefix}{f.name}."))
        elif x != y:
            out.append((f"{prefix}{f.name}", x, y))
    return out


def compare_configs(
    saved: TrainConfig,
    now: TrainConfig,
    where: Path,
    *,
    saved_device: str | None = None,
    now_device: str | None = None,
) -> str | None:
    """``None`` if equal; a note if only :data:`RESULT_NEUTRAL` fields (or ``device`` naming
    the same resolved device) differ; otherwise :class:`InputError` naming the fields."""
    diffs = differences(saved, now)
    neutral = set(RESULT_NEUTRAL)
    if saved_device is not None and saved_device == now_device:
        neutral.add("device")  # "auto" and "cpu" on a machine without CUDA are the same run
    bad = [d for d in diffs if d[0] not in neutral]
    if bad:
        shown = "; ".join(f"{k} {x!r} there, {y!r} now" for k, x, y in bad[:4])
        more = f" (and {len(bad) - 4} more)" if len(bad) > 4 else ""
        raise InputError(
            f"resume: {where} was written with a different configuration ({shown}{more}); "
            "resume with the same options, or start a fresh run (--overwrite or a new --out)"
        )
    if not diffs:
        return None
    shown = ", ".join(f"{k} {x!r} -> {y!r}" for k, x, y in diffs)
    return f"resume: {shown} changed; it does not change results, continuing with the new value"


def _candidates(d: Path, errors: list[str]) -> list[tuple[int, Path]]:
    """``(step, tensor file)`` of the readable full checkpoints of one seed folder; what could
    not be read is appended to ``errors``."""
    last = d / "checkpoints" / "last.safetensors"
    out = []
    for path in (last, previous_of(last)):
        if not path.exists():
            continue
        try:
            state = read_state(path)
        except InputError as exc:
            errors.append(str(exc))
            continue
        if state is None:  # version 1: the JSON beside it holds the state
            state = {"step": -1, "kind": "full"}
        step = state.get("step")
        if state.get("kind") == "full" and isinstance(step, int):
            out.append((step, path))
        else:
            errors.append(f"checkpoint: {path} is not a full checkpoint with a step")
    return out


def resume_points(dirs: Sequence[Path]) -> list[Path] | None:
    """Per seed folder, the tensor file to continue from (newest step common to all); ``None``
    when no folder has a checkpoint yet (the run starts from step 0)."""
    errors: list[str] = []
    cands = [_candidates(Path(d), errors) for d in dirs]
    if not any(cands):
        if errors:
            raise InputError(f"resume: no usable checkpoint: {errors[0]}")
        return None
    if not all(cands):  # killed during the first save, between two seeds: redo it
        return None
    common = set.intersection(*({s for s, _ in c} for c in cands))
    if not common:
        steps = [sorted(s for s, _ in c) for c in cands]
        raise InputError(
            f"resume: the seeds' checkpoints share no step ({steps}); resume each seed alone, "
            "or start a fresh run (--overwrite)"
        )
    step = max(common)
    return [next(p for s, p in c if s == step) for c in cands]
