"""Transformer grids over seeds, weight decay, train fraction, learning rate, operation, p and
preset, on the Dask machinery :mod:`theory.base.sweeps` shares with ``sfm sweep``
(docs/transformer_check.md, "Sweeps").

A point is one training run: ``{"labels": {...}, "config": TrainConfig.to_dict()}``. The labels
name the grid values (they become the ``points.csv`` columns); the config is everything that
decides the run, so the point's key hashes exactly what changes its result. Each run trains in
``work/<key>/`` with checkpoints and continues from them when a killed sweep is resumed (resume
is bit-exact on the CPU), then moves to ``runs/<key>/``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from theory.base import sweeps
from theory.base.errors import InputError, check_choice, check_int, check_odd_prime, check_range
from theory.base.modular import OPS
from transformer_check.config import TrainConfig
from transformer_check.presets import PRESETS, preset

__all__ = [
    "AXES",
    "TransformerSweepSpec",
    "train_point",
    "point_entry",
    "grid_points",
    "run_train_point",
    "run_train_points",
    "point_rows",
    "run_transformer_sweep",
]

#: The swept settings, in the order of ``points.csv`` and of the grid (first varies slowest).
AXES = ("preset", "op", "p", "frac", "weight_decay", "lr", "seed")
_FLAGS = {"weight_decay": "--wd", "seed": "--seeds"}  # the sweep's flag of each axis
_OP_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
# Keys of a metrics row that are bookkeeping or the basic losses, not measures.
_NOT_MEASURES = {"step", "wall_s", "train_loss", "test_loss", "train_acc", "test_acc"}


@dataclass(frozen=True)
class TransformerSweepSpec:
    """A grid of training runs (defaults: ``python -m transformer_check sweep``).

    ``p``, ``frac``, ``weight_decay``, ``lr``: ``None`` = each preset's own value. ``steps``,
    ``measures``: ``None`` = the preset's. ``device``: where each run trains.
    """

    preset: tuple[str, ...] = ("quick",)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    op: tuple[str, ...] = ("+",)
    p: tuple[int, ...] | None = None
    frac: tuple[float, ...] | None = None
    weight_decay: tuple[float, ...] | None = None
    lr: tuple[float, ...] | None = None
    steps: int | None = None
    measures: tuple[str, ...] | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in AXES:
            values = self.values(name)
            if values is not None:
                sweeps.check_axis(_FLAGS.get(name, f"--{name}"), values)
        for name in self.preset:
            check_choice("--preset", name, tuple(PRESETS))
        for op in self.op:
            check_choice("--op", op, OPS)
        for s in self.seeds:
            check_int("--seeds", s, lo=0)
        for p in self.p or ():
            check_odd_prime("--p", p)
        for f in self.frac or ():
            check_range("--frac", f, 0.0, 1.0, lo_open=True, hi_open=True)
        for wd in self.weight_decay or ():
            check_range("--wd", wd, 0.0, None)
        for lr in self.lr or ():
            check_range("--lr", lr, 0.0, None, lo_open=True)
        if self.steps is not None:
            check_int("--steps", self.steps, lo=1)
        grid_points(self)  # every run's TrainConfig checks itself before any work

    def values(self, axis: str) -> tuple[Any, ...] | None:
        """The values given for ``axis`` (one of :data:`AXES`; ``seed`` is the ``seeds`` field)."""
        return getattr(self, "seeds" if axis == "seed" else axis)

    def swept(self) -> list[str]:
        """The axes given more than one value."""
        return [a for a in AXES if len(self.values(a) or ()) > 1]


def train_point(labels: dict[str, Any], cfg: TrainConfig, keep_rows: bool = False) -> dict:
    """One grid point: its labels and the whole config (``keep_rows``: the record carries the
    metrics rows too, for callers that decide from them, such as the crosscheck)."""
    return {"labels": labels, "config": cfg.to_dict(), "keep_rows": keep_rows}


_ABBREV = {
    "role": "",
    "preset": "",
    "op": "",
    "p": "p",
    "frac": "f",
    "weight_decay": "wd",
    "lr": "lr",
}


def _key(pt: dict[str, Any]) -> str:
    """``quick_add_p47_f0.4_wd1_lr0.003_s0_<hash>``: the labels, then the hash of the point."""
    parts = []
    for k, v in pt["labels"].items():
        text = _OP_NAMES.get(v, v) if k == "op" else (f"{v:g}" if isinstance(v, float) else v)
        parts.append(f"{_ABBREV.get(k, k[:1])}{text}")
    return sweeps.point_key("_".join(parts), pt)


def point_entry(pt: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(key, point)``, the form :func:`run_train_points` takes."""
    return _key(pt), pt


def grid_points(spec: TransformerSweepSpec) -> list[tuple[str, dict[str, Any]]]:
    """``(key, point)`` of every run of the grid."""
    axes = {
        "preset": spec.preset,
        "op": spec.op,
        "p": spec.p or (None,),
        "frac": spec.frac or (None,),
        "weight_decay": spec.weight_decay or (None,),
        "lr": spec.lr or (None,),
        "seed": spec.seeds,
    }
    out = []
    for combo in sweeps.product_grid(axes):
        base = preset(
            combo["preset"], op=combo["op"], p=combo["p"], frac=combo["frac"], steps=spec.steps
        )
        cfg = dataclasses.replace(
            base,
            weight_decay=base.weight_decay
            if combo["weight_decay"] is None
            else combo["weight_decay"],
            lr=base.lr if combo["lr"] is None else combo["lr"],
            seed=combo["seed"],
            device=spec.device,
            measures=base.measures if spec.measures is None else tuple(spec.measures),
            snapshots=False,  # a grid keeps its runs' last checkpoints, not every snapshot
        )
        labels = {
            "preset": combo["preset"],
            "op": cfg.task.op,
            "p": cfg.task.p,
            "frac": cfg.task.frac,
            "weight_decay": cfg.weight_decay,
            "lr": cfg.lr,
            "seed": cfg.seed,
        }
        out.append(point_entry(train_point(labels, cfg)))
    return out


def set_torch_threads(n: int) -> None:
    """A worker's thread count (a point's step counts depend on it: docs/statistics.md)."""
    import torch

    torch.set_num_threads(int(n))


def _summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Every logged measure's peak (largest value) and final value."""
    out: dict[str, dict[str, float | None]] = {}
    names = [k for r in rows for k in r if k not in _NOT_MEASURES]
    for name in dict.fromkeys(names):
        vals = [
            float(r[name])
            for r in rows
            if isinstance(r.get(name), int | float) and math.isfinite(float(r[name]))
        ]
        if any(isinstance(r.get(name), int | float) for r in rows):
            out[name] = {"peak": max(vals) if vals else None, "final": vals[-1] if vals else None}
    return out


def run_train_point(
    pt: dict[str, Any], work_dir: str, report: sweeps.Progress | None = None
) -> dict[str, Any]:
    """Train one point in ``work_dir`` (continuing from its checkpoint if a kill left one) and
    return its record: events, final metrics, every measure's peak and final value."""
    from transformer_check.divergence import TrainingDiverged
    from transformer_check.train import train

    cfg = TrainConfig.from_dict(pt["config"])
    work = Path(work_dir)
    resume = (work / "checkpoints" / "last.json").exists()
    t0 = time.perf_counter()
    try:
        res = train(cfg, work, progress=False, resume=resume, report=report)
        rows, t_mem, t_gen, diverged = res.rows, res.t_mem, res.t_gen, False
    except TrainingDiverged:
        rows, t_mem, t_gen, diverged = [], None, None, True
    final = rows[-1] if rows else {}
    rec: dict[str, Any] = {
        "t_mem": t_mem,
        "t_gen": t_gen,
        "censored": t_gen is None,
        "diverged": diverged,
        "steps": cfg.steps,
        "final": {k: final.get(k) for k in ("train_acc", "test_acc", "train_loss", "test_loss")},
        "measures": _summarise(rows),
        "resumed": resume,
        "wall_s": time.perf_counter() - t0,
    }
    if pt.get("keep_rows"):
        rec["rows"] = rows
    return rec


def _valid(data: dict[str, Any], pt: dict[str, Any]) -> str | None:
    missing = [k for k in ("t_mem", "t_gen", "censored", "final", "measures") if k not in data]
    if missing:
        return f"lacks {', '.join(missing)}"
    for k in ("t_mem", "t_gen"):
        v = data[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            return f"has a non-integer {k}"
    if pt.get("keep_rows") and not isinstance(data.get("rows"), list):
        return "lacks its metrics rows"
    return None


def run_train_points(
    points: Sequence[tuple[str, dict[str, Any]]],
    out_dir: str | os.PathLike,
    cluster: sweeps.ClusterSpec | None = None,
    *,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
    desc: str = "training runs",
) -> tuple[list[dict[str, Any]], int]:
    """Run every unfinished training point; ``(records in order, number resumed)``."""
    cluster = cluster or sweeps.ClusterSpec()
    return sweeps.run_points(
        points,
        run_train_point,
        out_dir,
        cluster,
        metadata=metadata,
        validate=_valid,
        progress=progress,
        desc=desc,
        warn=warn,
        worker_setup=set_torch_threads,
    )


def point_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``points.csv`` row per run: the labels, events, final metrics and each measure's peak
    and final value (columns in a fixed order; a measure a run did not log is empty)."""
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r["measures"]))
    rows = []
    for r in records:
        row: dict[str, Any] = {"key": r["key"], **r["point"]["labels"]}
        row.update(
            steps=r["steps"],
            t_mem=r["t_mem"],
            t_gen=r["t_gen"],
            censored=r["censored"],
            diverged=r["diverged"],
        )
        row.update({f"final_{k}": v for k, v in r["final"].items()})
        for m in names:
            st = r["measures"].get(m, {})
            row[f"{m}_peak"], row[f"{m}_final"] = st.get("peak"), st.get("final")
        row["wall_s"] = r["wall_s"]
        rows.append(row)
    return rows


def run_transformer_sweep(
    spec: TransformerSweepSpec,
    out_dir: str | os.PathLike,
    cluster: sweeps.ClusterSpec | None = None,
    *,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the grid; returns ``records``, ``rows`` (points.csv), ``n_run`` and ``n_skipped``."""
    pts = grid_points(spec)
    if not pts:
        raise InputError("sweep: the grid is empty")
    records, n_resumed = run_train_points(
        pts, out_dir, cluster, progress=progress, metadata=metadata, warn=warn
    )
    return {
        "records": records,
        "rows": point_rows(records),
        "n_run": len(pts) - n_resumed,
        "n_skipped": n_resumed,
    }
