"""Trajectory summaries of the BDM ablation: plateau, rise, drop, and their spread over runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from theory.base.errors import InputError
from transformer_check.bdm_ablation.runs import (
    RunInput,
    checkpoint_tensors,
)
from transformer_check.bdm_ablation.variants import (
    RAW,
    VARIANTS,
    Variant,
    _measure,
)

__all__ = [
    "RunAblation",
    "Spread",
    "TrajectorySummary",
    "VariantSummary",
    "ablate_run",
    "spread",
    "summarise_trajectory",
    "summarise_variants",
]


@dataclass(frozen=True)
class TrajectorySummary:
    """One run's trajectory of one variant (module docstring); ``None`` where undefined."""

    init: float
    init_step: int
    max: float
    max_step: int
    final: float
    final_step: int
    plateau: float | None
    plateau_steps: tuple[int, ...]
    rise: float | None
    drop: float | None
    drop_raw: float | None
    drop_minus_raw: float | None
    rises_then_falls: bool | None
    note: str | None = None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den != 0 else None


def _plateau_window(steps: np.ndarray, t_mem: int, t_gen: int) -> np.ndarray:
    """Indices of the plateau: ``t_mem <= step < t_gen``, else the checkpoint nearest to
    ``t_mem`` (the later one on a tie)."""
    inside = np.flatnonzero((steps >= t_mem) & (steps < t_gen))
    if inside.size:
        return inside
    dist = np.abs(steps - t_mem)
    return np.array([max(np.flatnonzero(dist == dist.min()))])


def summarise_trajectory(
    steps: Sequence[int],
    values: Sequence[float],
    t_mem: int | None,
    t_gen: int | None,
    raw: Sequence[float] | None = None,
) -> TrajectorySummary:
    """Init, plateau, max, final, rise, drop (and the raw reference's drop) of one trajectory."""
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.size < 2 or v.shape != s.shape:
        raise InputError(
            f"values: need one value per step and at least 2 steps, got {v.shape} for {s.shape}"
        )
    if np.any(np.diff(s) <= 0):
        raise InputError("steps: must be strictly increasing; sort the checkpoints by step")
    r = None if raw is None else np.asarray(raw, dtype=np.float64)
    if r is not None and r.shape != s.shape:
        raise InputError(f"raw: need one value per step, got {r.shape} for {s.shape}")
    imax = int(np.argmax(v))
    base = dict(
        init=float(v[0]),
        init_step=int(s[0]),
        max=float(v[imax]),
        max_step=int(s[imax]),
        final=float(v[-1]),
        final_step=int(s[-1]),
    )
    note = None
    if t_mem is None:
        note = "no t_mem: the run never memorised"
    elif t_gen is None:
        note = "no t_gen: the run never generalised"
    elif s[-1] < t_gen:
        note = f"the last checkpoint (step {s[-1]}) precedes t_gen = {t_gen}"
    if note is not None:
        undefined = dict(rise=None, drop=None, drop_raw=None, drop_minus_raw=None)
        return TrajectorySummary(
            **base, plateau=None, plateau_steps=(), **undefined, rises_then_falls=None, note=note
        )
    idx = _plateau_window(s, t_mem, t_gen)
    plateau = float(np.mean(v[idx]))
    rise = _ratio(plateau - v[0], v[0])  # rise = (plateau - init) / init
    drop = _ratio(plateau - v[-1], plateau)  # drop = (plateau - final) / plateau
    drop_raw = None
    if r is not None:
        pr = float(np.mean(r[idx]))
        drop_raw = _ratio(pr - r[-1], pr)
    return TrajectorySummary(
        **base,
        plateau=plateau,
        plateau_steps=tuple(int(x) for x in s[idx]),
        rise=rise,
        drop=drop,
        drop_raw=drop_raw,
        drop_minus_raw=None if drop is None or drop_raw is None else drop - drop_raw,
        rises_then_falls=None if rise is None or drop is None else bool(rise > 0 and drop > 0),
    )


@dataclass(frozen=True)
class Spread:
    """Mean and range ``[lo, hi]`` of one quantity over ``n`` runs (``None`` when ``n == 0``)."""

    n: int
    mean: float | None
    lo: float | None
    hi: float | None


def spread(values: Iterable[float | None]) -> Spread:
    """Mean, min and max of the defined values."""
    x = [float(v) for v in values if v is not None]
    if not x:
        return Spread(0, None, None, None)
    return Spread(len(x), math.fsum(x) / len(x), min(x), max(x))


@dataclass(frozen=True)
class VariantSummary:
    """One variant over runs: how many runs count, and the spread of rise, drop and its excess
    over the raw reference's drop."""

    variant: str
    n_runs: int
    n_left_out: int
    n_rises_then_falls: int
    rise: Spread
    drop: Spread
    drop_raw: Spread
    drop_minus_raw: Spread


def summarise_variants(
    per_run: Sequence[Mapping[str, TrajectorySummary]], names: Sequence[str]
) -> list[VariantSummary]:
    """Per variant (``names``, in order), pooled over runs: a run counts when its drop is defined."""
    out = []
    for name in names:
        rows = [r[name] for r in per_run]
        used = [t for t in rows if t.rise is not None and t.drop is not None]
        out.append(
            VariantSummary(
                variant=name,
                n_runs=len(used),
                n_left_out=len(rows) - len(used),
                n_rises_then_falls=sum(bool(t.rises_then_falls) for t in used),
                rise=spread(t.rise for t in used),
                drop=spread(t.drop for t in used),
                drop_raw=spread(t.drop_raw for t in used),
                drop_minus_raw=spread(t.drop_minus_raw for t in used),
            )
        )
    return out


# -- one run ----------------------------------------------------------------------------------


@dataclass
class RunAblation:
    """Every variant's value at every checkpoint of one run, its summaries and the time taken."""

    run: RunInput
    steps: list[int]
    values: dict[str, list[float]]
    summaries: dict[str, TrajectorySummary]
    seconds_per_checkpoint: float
    measured_tensors: dict[str, int] = field(default_factory=dict)


def ablate_run(
    run: RunInput,
    variants: Sequence[Variant] = VARIANTS,
    progress: Callable[[str], None] | None = None,
) -> RunAblation:
    """Load each checkpoint of ``run`` once and measure every variant and the raw reference."""
    names = [v.name for v in variants] + [RAW]
    values: dict[str, list[float]] = {n: [] for n in names}
    seconds = []
    measured: dict[str, int] = {}
    for i, ck in enumerate(run.checkpoints):
        tensors = checkpoint_tensors(ck.path)
        t0 = time.perf_counter()
        vals, measured = _measure(tensors, variants)
        seconds.append(time.perf_counter() - t0)
        for n in names:
            values[n].append(vals[n])
        if progress:
            progress(f"{run.name}: step {ck.step} ({i + 1}/{len(run.checkpoints)})")
    steps = [c.step for c in run.checkpoints]
    raw = values[RAW]
    summaries = {
        n: summarise_trajectory(steps, values[n], run.t_mem, run.t_gen, raw) for n in names
    }
    # the first checkpoint also pays the one-off table loading: the median is the steady cost
    return RunAblation(run, steps, values, summaries, float(np.median(seconds)), measured)


# -- tables -----------------------------------------------------------------------------------
