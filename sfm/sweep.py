"""Parameter sweeps of the SFM on Dask distributed, with atomic per-point results and resume.

A *point* is one ``(p, f, strength)`` triple; its seeds run as one batch (one task). The grid runs
on :mod:`theory.base.sweeps`: each point's JSON is written atomically by the worker as soon as it
finishes, so a killed sweep loses at most the points in flight, and a rerun skips every point whose
file exists with the same settings.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from theory.base import sweeps
from theory.base.errors import InputError, check_int, check_odd_prime, check_positive, check_range

from .dynamics import SFMConfig, simulate
from .phase import classify, critical_edges, gate_law_fit, majority, power_law_fit
from .schedules import SCHEDULES, STRENGTH
from .task import TARGETS

__all__ = [
    "SweepSpec",
    "points",
    "point_key",
    "run_point",
    "run_sweep",
    "analyse",
]


@dataclass(frozen=True)
class SweepSpec:
    """A grid over ``p``, ``f``, the schedule strength and seeds (defaults: ``python -m sfm sweep``)."""

    p: tuple[int, ...] = (31,)
    f: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
    strength: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 1.0, 3.0)
    seeds: int = 3
    schedule: str = "increasing"
    op: str = "+"
    target: str = "flat"
    eta: float = 0.5
    convention: str = "prox"
    steps: int = 3000

    @property
    def strength_name(self) -> str:
        name = STRENGTH.get(self.schedule)
        if name is None:
            raise InputError(f"schedule: {self.schedule!r} has no strength to sweep; pick another")
        return name

    def __post_init__(self) -> None:
        """Check every axis before any work (raises :class:`InputError`)."""
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"schedule: must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        _ = self.strength_name
        if self.target not in TARGETS:
            raise InputError(
                f"target: a sweep takes {' or '.join(TARGETS)}, got {self.target!r}; a target "
                "file works with `sfm run --target FILE`"
            )
        for name in ("p", "f", "strength"):
            values = getattr(self, name)
            if len(values) == 0:
                raise InputError(f"{name}: empty grid; give at least one value")
            dup = sorted({v for v in values if list(values).count(v) > 1})
            if dup:
                raise InputError(
                    f"{name}: {', '.join(f'{v:g}' for v in dup)} given more than once; "
                    "list each grid value once"
                )
        for p in self.p:
            check_odd_prime("p", p)
        for f in self.f:
            check_range("f", f, 0.0, 1.0, lo_open=True, hint="the training fraction of all pairs")
        for s in self.strength:
            check_positive(self.strength_name, s)
        check_int("seeds", self.seeds, lo=1, hi=10_000)
        for pt in points(self):
            _point_configs(pt)  # each point's configs check themselves


def points(spec: SweepSpec) -> list[dict[str, Any]]:
    """All grid points as plain dicts (what a worker receives)."""
    base = {
        "schedule": spec.schedule,
        "op": spec.op,
        "target": spec.target,
        "eta": spec.eta,
        "convention": spec.convention,
        "steps": spec.steps,
        "seeds": spec.seeds,
        "strength_name": spec.strength_name,
    }
    return [
        {**base, "p": int(p), "f": float(f), "strength": float(s)}
        for p, f, s in itertools.product(spec.p, spec.f, spec.strength)
    ]


def point_key(pt: dict[str, Any]) -> str:
    """File stem naming the point, plus a short hash of every setting that changes its result."""
    stem = f"p{pt['p']}_f{pt['f']:.6g}_{pt['strength_name']}{pt['strength']:.6g}"
    return sweeps.point_key(stem, pt)


def _point_configs(pt: dict[str, Any]) -> list[SFMConfig]:
    return [
        SFMConfig(
            p=pt["p"],
            f=pt["f"],
            op=pt["op"],
            target=pt["target"],
            schedule=pt["schedule"],
            eta=pt["eta"],
            convention=pt["convention"],
            steps=pt["steps"],
            seed=seed,
            log_every=pt["steps"],
            stop_after_gen=0,  # the events are all a sweep needs: stop at t_gen
            **{pt["strength_name"]: pt["strength"]},
        )
        for seed in range(pt["seeds"])
    ]


def run_point(
    pt: dict[str, Any], work_dir: str = "", report: sweeps.Progress | None = None
) -> dict[str, Any]:
    """Run one point's seeds as a batch; its record (per-seed events and their aggregate), which
    :func:`theory.base.sweeps.run_points` writes to ``points/<key>.json``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weak-frequency warnings are expected at strong gates
        res = simulate(_point_configs(pt))
    seeds = []
    for s, (ev, task) in enumerate(zip(res.events, res.tasks, strict=True)):
        seeds.append(
            {
                "seed": s,
                "n": task.n,
                "t_mem": ev.t_mem,
                "t_gen": ev.t_gen,
                "diverged_at": ev.diverged_at,
                "final_train_rel": ev.final_train_rel,
                "final_test_rel": ev.final_test_rel,
                "last_step": ev.last_step,
                "phase": classify(
                    ev.t_mem, ev.t_gen, ev.final_train_rel, ev.diverged_at is not None
                ),
            }
        )
    return {"seeds": seeds, **_aggregate(pt, seeds)}


def _aggregate(pt: dict[str, Any], seeds: list[dict[str, Any]]) -> dict[str, Any]:
    tg = np.array([s["t_gen"] for s in seeds if s["t_gen"] is not None], float)
    n = seeds[0]["n"]
    return {
        "n": n,
        "n_over_p": n / pt["p"],
        "phase": majority([s["phase"] for s in seeds]),
        "frac_generalise": len(tg) / len(seeds),
        "t_gen_median": float(np.median(tg)) if tg.size else None,
        "t_gen_mean": float(tg.mean()) if tg.size else None,
        "t_gen_sem": float(tg.std(ddof=1) / math.sqrt(tg.size)) if tg.size > 1 else None,
    }


#: What a point file must hold to be trusted on resume (all written by :func:`run_point`).
POINT_KEYS = ("point", "key", "seeds", "n", "n_over_p", "phase", "frac_generalise")
POINT_KEYS += ("t_gen_median", "t_gen_mean", "t_gen_sem")
SEED_KEYS = ("seed", "n", "t_mem", "t_gen", "diverged_at", "final_train_rel", "final_test_rel")
SEED_KEYS += ("last_step", "phase")


def _damage(data: dict[str, Any], pt: dict[str, Any]) -> str | None:
    """Why ``data`` (a parsed point record) is not a finished result of ``pt``; None if it is."""
    missing = [k for k in POINT_KEYS if k not in data]
    if missing:
        return f"lacks {', '.join(missing)}"
    seeds = data["seeds"]
    if not isinstance(seeds, list) or len(seeds) != pt["seeds"]:
        return f"has {len(seeds) if isinstance(seeds, list) else 'no'} seeds, not {pt['seeds']}"
    for i, sd in enumerate(seeds):
        if not isinstance(sd, dict) or any(k not in sd for k in SEED_KEYS) or sd["seed"] != i:
            return f"has a damaged record for seed {i}"
        for k in ("t_mem", "t_gen"):
            if sd[k] is not None and (isinstance(sd[k], bool) or not isinstance(sd[k], int)):
                return f"has a non-integer {k} for seed {i}"
    return None


def run_sweep(
    spec: SweepSpec,
    out_dir: str | os.PathLike,
    cluster: sweeps.ClusterSpec | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    metadata: dict[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every unfinished point on ``cluster`` (:class:`theory.base.sweeps.ClusterSpec`: a
    LocalCluster by default, a scheduler address, or ``"synchronous"``).

    ``metadata`` goes into every point file; ``warn`` receives one line per damaged point file
    (default :func:`warnings.warn`).
    """
    pts = [(point_key(pt), pt) for pt in points(spec)]
    results, n_resumed = sweeps.run_points(
        pts,
        run_point,
        out_dir,
        cluster or sweeps.ClusterSpec(),
        metadata=metadata,
        validate=_damage,
        progress=progress,
        on_result=on_result,
        warn=warn,
    )
    return {
        "spec": asdict(spec),
        "results": results,
        "n_skipped": n_resumed,
        "n_run": len(pts) - n_resumed,
    }


def analyse(spec: SweepSpec, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Critical thresholds (error bars over seeds) and power-law fits of t_gen (docs/sfm.md)."""
    sname = spec.strength_name
    by_p: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_p.setdefault(r["point"]["p"], []).append(r)
    out: dict[str, Any] = {"strength_name": sname, "per_p": {}}

    def gen_ok(r: dict[str, Any], s: int) -> bool:
        return r["seeds"][s]["t_gen"] is not None

    for p, rs in sorted(by_p.items()):
        strengths = sorted({r["point"]["strength"] for r in rs})
        fs = sorted({r["point"]["f"] for r in rs})
        grid = {(r["point"]["f"], r["point"]["strength"]): r for r in rs}
        n_over_p = {f: grid[(f, strengths[0])]["n_over_p"] for f in fs if (f, strengths[0]) in grid}
        seeds = range(spec.seeds)

        # Critical strength at each f: onset of generalisation along the strength axis, per seed.
        crit_strength = {}
        for f in fs:
            onsets, losses = [], []
            for s in seeds:
                xs = [x for x in strengths if (f, x) in grid]
                e = critical_edges(xs, [gen_ok(grid[(f, x)], s) for x in xs])
                if e["onset"] is not None:
                    onsets.append(e["onset"])
                if e["loss"] is not None:
                    losses.append(e["loss"])
            crit_strength[f] = {
                "n_over_p": n_over_p.get(f),
                "onset": _stats(onsets, log=True),
                "underfit_onset": _stats(losses, log=True),
            }
        # Minimum n/p at each strength, per seed.
        min_np = {}
        for x in strengths:
            edges = []
            for s in seeds:
                ff = [f for f in fs if (f, x) in grid]
                e = critical_edges([n_over_p[f] for f in ff], [gen_ok(grid[(f, x)], s) for f in ff])
                if e["onset"] is not None:
                    edges.append(e["onset"])
            min_np[x] = _stats(edges, log=False)
        # Power laws: t_gen against strength (each f) and against n/p (each strength), on points
        # where every seed generalised (groks or generalises directly).
        fits_strength, fits_np, gate_fits = {}, {}, {}
        for f in fs:
            xs, ys, ws = _series(grid, [(f, x) for x in strengths], lambda k: k[1])
            fit = power_law_fit(xs, ys, ws)
            if fit is not None:
                fits_strength[f] = asdict(fit) | {"n_over_p": n_over_p.get(f)}
            if spec.schedule == "increasing":
                xs_all, ys_all, _ = _series(
                    grid, [(f, x) for x in strengths], lambda k: k[1], expand=True
                )
                g = gate_law_fit(xs_all, ys_all, spec.eta)
                if g is not None:
                    gate_fits[f] = asdict(g) | {"n_over_p": n_over_p.get(f)}
        for x in strengths:
            xs, ys, ws = _series(grid, [(f, x) for f in fs], lambda k, nop=n_over_p: nop[k[0]])
            fit = power_law_fit(xs, ys, ws)
            if fit is not None:
                fits_np[x] = asdict(fit)
        best_np = [v for v in min_np.values() if v is not None]
        out["per_p"][p] = {
            "critical_strength_by_f": crit_strength,
            "min_n_over_p_by_strength": min_np,
            "min_n_over_p_overall": min(best_np, key=lambda v: v["mean"]) if best_np else None,
            "power_law_t_gen_vs_strength_by_f": fits_strength,
            "power_law_t_gen_vs_n_over_p_by_strength": fits_np,
            "gate_law_by_f": gate_fits,
        }
    return out


def _stats(vals: list[float], log: bool) -> dict[str, float] | None:
    if not vals:
        return None
    v = np.asarray(vals, float)
    if log:
        lv = np.log(v)
        m = float(np.exp(lv.mean()))
        sd = float(lv.std(ddof=1)) if v.size > 1 else float("nan")
        return {
            "mean": m,
            "log_sd": sd,
            "n_seeds": int(v.size),
            "min": float(v.min()),
            "max": float(v.max()),
        }
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
        "n_seeds": int(v.size),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def _series(grid, keys, xof, expand: bool = False):
    """(x, t_gen, weight) over keys where every seed reached t_gen; per-seed values if expand."""
    xs, ys, ws = [], [], []
    for k in keys:
        r = grid.get(k)
        if r is None:
            continue
        seeds = r["seeds"]
        if not all(s["t_gen"] is not None for s in seeds):
            continue
        tg = np.array([s["t_gen"] for s in seeds], float)
        if expand:
            xs += [xof(k)] * len(tg)
            ys += list(tg)
            ws += [1.0] * len(tg)
            continue
        lt = np.log(tg)
        var = lt.var(ddof=1) / len(tg) if len(tg) > 1 else 0.0
        xs.append(xof(k))
        ys.append(float(np.exp(lt.mean())))
        ws.append(1.0 / max(var, 1e-4))  # floor: grid steps make t_gen exact to +-1
    return np.array(xs), np.array(ys), np.array(ws)


def default_spec(**overrides) -> SweepSpec:
    """Default grid with overrides (``None`` values ignored)."""
    return replace(SweepSpec(), **{k: v for k, v in overrides.items() if v is not None})
