"""The cross-check: theory, SFM and a trained transformer side by side, each prediction decided
(SPEC §4.4; statistics and thresholds in docs/crosscheck.md).

``python -m transformer_check crosscheck`` runs, on defaults that finish in a few minutes on two
CPU cores: the theory's numbers for the task (theory/), the singular feature machine on the same
p, operation and train fraction (sfm/) with a sweep over its gate strength, and transformer training
with every measure plus a weight-decay sweep; then it decides the five predictions of §4.4 with the
pure functions ``verdict_*`` below (functions of metric series only, so they are testable on
synthetic series) and writes ``crosscheck.json`` (verdicts + numbers + metadata), CSV series and the
figure page ``crosscheck.png/.svg`` on a common rescaled time axis.

Rescaled time: ``tau(t) = (ln(1+t) - ln(1+t_mem)) / (ln(1+t_gen) - ln(1+t_mem))`` per system, so
memorisation sits at 0 and generalisation at 1 in both the transformer and the SFM.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from theory.base.cli import add_out_argument, arg_type
from theory.base.errors import InputError, check_int
from theory.base.io import write_csv, write_json
from theory.base.modular import OPS
from theory.base.provenance import run_metadata
from transformer_check.train import ArchConfig

__all__ = [
    "Thresholds",
    "Verdict",
    "CrosscheckConfig",
    "PRESETS",
    "rescaled_time",
    "crossing_time",
    "verdict_complexity",
    "verdict_fourier",
    "verdict_timing",
    "verdict_regularisation",
    "verdict_llc",
    "decide_all",
    "run_crosscheck",
    "add_subparser",
]

COMPLEXITY_KEYS = ("coarse_bytes", "lmn", "circuit_complexity", "bdm_bits")


# ============================================================================================
# Verdicts: pure functions of metric series


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the five predictions (docs/crosscheck.md gives the reasons).

    ``rho_min``: Spearman rank correlation of a complexity measure with the test loss after t_mem;
    ``rise_min``/``fall_min``: rise from init to the memorised peak and fall from it to the end, as
    fractions of the measure's range; ``conc_min``: growth factor of the embedding's Fourier IPR
    from t_mem to the end; ``support_tol``: allowed factor between the SFM's final support ratio
    and the theory's p/p^2; ``gap_max``: largest allowed difference in rescaled time between
    matched events; ``llc_drop_min``: relative fall of the LLC from its memorised peak to the end.
    """

    rho_min: float = 0.5
    rise_min: float = 0.05
    fall_min: float = 0.2
    conc_min: float = 1.5
    support_tol: float = 2.0
    gap_max: float = 0.5
    llc_drop_min: float = 0.2


@dataclass
class Verdict:
    """One prediction, the statistic that decides it, its value, the threshold and the verdict.

    ``holds`` is ``None`` when the data cannot decide (an event never occurred): never a guess.
    """

    key: str
    prediction: str
    statistic: str
    value: float | None
    threshold: str
    holds: bool | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def label(self) -> str:
        return {True: "holds", False: "fails", None: "undecided"}[self.holds]


def _arr(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def rescaled_time(t: np.ndarray | float, t_mem: float, t_gen: float) -> np.ndarray:
    """``(ln(1+t) - ln(1+t_mem)) / (ln(1+t_gen) - ln(1+t_mem))``: t_mem -> 0, t_gen -> 1."""
    a, b = math.log1p(t_mem), math.log1p(t_gen)
    if b <= a:
        raise InputError(f"t_gen: must come after t_mem, got t_mem={t_mem}, t_gen={t_gen}")
    return (np.log1p(_arr(t)) - a) / (b - a)


def crossing_time(
    steps: np.ndarray, y: np.ndarray, level: float, direction: str, after: float = -np.inf
) -> float | None:
    """First logged step ``> after`` at which ``y`` has crossed ``level`` (``"down"``: y <= level;
    ``"up"``: y >= level); ``None`` if it never does."""
    steps, y = _arr(steps), _arr(y)
    ok = np.isfinite(y) & (steps > after)
    hit = ok & ((y <= level) if direction == "down" else (y >= level))
    idx = np.flatnonzero(hit)
    return float(steps[idx[0]]) if idx.size else None


def _finite(steps: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, v = _arr(steps), _arr(y)
    m = np.isfinite(v)
    return s[m], v[m]


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)


def complexity_profile(
    steps: np.ndarray,
    c: np.ndarray,
    test_loss: np.ndarray,
    t_mem: float,
    t_gen: float,
) -> dict[str, Any]:
    """Rise to the memorised peak, fall after it, rank correlation with test loss after t_mem, and
    the fall's half-way step (where c first drops below (peak + final)/2 after the peak)."""
    s, v = _finite(steps, c)
    tl = _arr(test_loss)[np.isin(_arr(steps), s)]
    if len(v) < 3:
        return {"usable": False}
    rng = float(np.ptp(v)) or 1.0
    window = (s >= t_mem) & (s <= t_gen)
    if not window.any():
        window = s <= t_gen
    ipk = int(np.flatnonzero(window)[np.argmax(v[window])])
    peak, c0, cend = float(v[ipk]), float(v[0]), float(v[-1])
    after = s >= t_mem
    rho = _spearman(v[after], tl[after])
    t_half = crossing_time(s, v, 0.5 * (peak + cend), "down", after=s[ipk])
    return {
        "usable": True,
        "c0": c0,
        "peak": peak,
        "t_peak": float(s[ipk]),
        "final": cend,
        "rise": (peak - c0) / rng,
        "fall": (peak - cend) / rng,
        "rho_test_loss": rho,
        "t_fall_half": t_half,
    }


def verdict_complexity(
    steps: np.ndarray,
    measures: Mapping[str, np.ndarray],
    test_loss: np.ndarray,
    t_mem: float | None,
    t_gen: float | None,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(1) Complexity rises through memorisation and falls at generalisation.

    Per measure: holds iff rise >= rise_min, fall >= fall_min and Spearman(c, test loss | t >=
    t_mem) >= rho_min. Statistic: the fraction of measures that hold; the prediction holds iff it
    is >= 1/2.
    """
    v = Verdict(
        "complexity_rise_fall",
        "complexity rises through memorisation and falls at generalisation",
        "fraction of complexity measures with rise>=rise_min, fall>=fall_min, rho>=rho_min",
        None,
        f">= 0.5 (rise_min={th.rise_min}, fall_min={th.fall_min}, rho_min={th.rho_min})",
        None,
    )
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur"
        return v
    per: dict[str, Any] = {}
    for name, c in measures.items():
        prof = complexity_profile(steps, c, test_loss, t_mem, t_gen)
        if not prof["usable"]:
            continue
        rho = prof["rho_test_loss"]
        prof["holds"] = bool(
            prof["rise"] >= th.rise_min
            and prof["fall"] >= th.fall_min
            and rho is not None
            and rho >= th.rho_min
        )
        per[name] = prof
    if not per:
        v.reason = "no complexity measure was logged"
        return v
    frac = sum(p["holds"] for p in per.values()) / len(per)
    v.value, v.holds, v.details = frac, frac >= 0.5, {"measures": per}
    return v


def verdict_fourier(
    steps: np.ndarray,
    ipr: np.ndarray,
    t_mem: float | None,
    t_gen: float | None,
    sfm_steps: np.ndarray,
    sfm_support: np.ndarray,
    p: int,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(2) Fourier energy collapses onto few modes as the SFM support collapses p^2 -> p.

    Statistics: the transformer's IPR growth ``IPR(end) / IPR(t_mem)`` (>= conc_min), and the SFM's
    final-to-peak support ratio against the theory's ``p / p^2`` (within a factor support_tol).
    """
    v = Verdict(
        "fourier_collapse",
        "Fourier energy collapses onto few modes as the SFM support collapses p^2 -> p",
        "IPR(end)/IPR(t_mem) of the embedding's 2-D DFT; SFM support(end)/max vs 1/p",
        None,
        f"IPR growth >= {th.conc_min} and SFM ratio within x{th.support_tol} of 1/p",
        None,
    )
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur in the transformer"
        return v
    s, y = _finite(steps, ipr)
    ss, sup = _finite(sfm_steps, sfm_support)
    if len(y) < 2 or len(sup) < 2:
        v.reason = "Fourier IPR or SFM support not logged"
        return v
    i_mem = int(np.searchsorted(s, t_mem))
    i_mem = min(i_mem, len(s) - 1)
    growth = float(y[-1] / y[i_mem]) if y[i_mem] > 0 else math.inf
    ratio = float(sup[-1] / sup.max())
    factor = ratio * p  # 1 when the support went exactly p^2 -> p
    sfm_ok = (1.0 / th.support_tol) <= factor <= th.support_tol
    v.value = growth
    v.holds = bool(growth >= th.conc_min and sfm_ok)
    v.details = {
        "ipr_at_t_mem": float(y[i_mem]),
        "ipr_end": float(y[-1]),
        "ipr_growth": growth,
        "sfm_support_max": float(sup.max()),
        "sfm_support_end": float(sup[-1]),
        "sfm_support_ratio": ratio,
        "theory_support_ratio": 1.0 / p,
        "sfm_ratio_over_theory": factor,
    }
    return v


def verdict_timing(
    tc_events: Mapping[str, float | None],
    sfm_events: Mapping[str, float | None],
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(3) The orderings and timings of these events coincide.

    Each system's events are put on its rescaled time (t_mem -> 0, t_gen -> 1). Transformer
    collapse events (``t_complexity_fall``, ``t_fourier_rise``, ``t_llc_fall``) are matched to the
    SFM's support collapse ``t_support_fall``. Statistic: the largest |tau_tc - tau_sfm| over the
    matched events (<= gap_max); the ordering holds iff every collapse event in both systems lies
    in (0, 1 + gap_max] (after memorisation, by generalisation).
    """
    v = Verdict(
        "event_timing",
        "the orderings and timings of the events coincide (after rescaling)",
        "max |tau_transformer(event) - tau_SFM(support collapse)|, tau = rescaled log time",
        None,
        f"<= {th.gap_max} and every collapse in (0, 1+{th.gap_max}]",
        None,
    )
    need = ("t_mem", "t_gen")
    if any(tc_events.get(k) is None for k in need) or any(sfm_events.get(k) is None for k in need):
        v.reason = "t_mem or t_gen missing in the transformer or the SFM"
        return v
    if sfm_events.get("t_support_fall") is None:
        v.reason = "the SFM support never collapsed"
        return v
    tau_sfm = float(
        rescaled_time(sfm_events["t_support_fall"], sfm_events["t_mem"], sfm_events["t_gen"])
    )
    taus: dict[str, float] = {}
    for k in ("t_complexity_fall", "t_fourier_rise", "t_llc_fall"):
        if tc_events.get(k) is not None:
            taus[k] = float(rescaled_time(tc_events[k], tc_events["t_mem"], tc_events["t_gen"]))
    if not taus:
        v.reason = "no transformer collapse event was detected"
        return v
    gaps = {k: abs(t - tau_sfm) for k, t in taus.items()}
    gap = max(gaps.values())
    inside = [0.0 < t <= 1.0 + th.gap_max for t in [*taus.values(), tau_sfm]]
    v.value = gap
    v.holds = bool(gap <= th.gap_max and all(inside))
    v.details = {"tau_transformer": taus, "tau_sfm_support_fall": tau_sfm, "gaps": gaps}
    v.details["ordering_ok"] = bool(all(inside))
    return v


def _spearman_censored(strength: Sequence[float], t_gen: Sequence[float | None]) -> float | None:
    """Spearman rho of strength vs t_gen with runs that never grokked ranked last (t = +inf)."""
    t = np.array([math.inf if x is None else float(x) for x in t_gen])
    if np.isfinite(t).sum() < 2:
        return None
    t = np.where(np.isfinite(t), t, np.nanmax(t[np.isfinite(t)]) * 10 + 1)
    return _spearman(_arr(strength), t)


def verdict_regularisation(
    tc_strength: Sequence[float],
    tc_t_gen: Sequence[float | None],
    sfm_strength: Sequence[float],
    sfm_t_gen: Sequence[float | None],
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(4) Stronger regularisation makes grokking earlier, as the SFM laws predict.

    Statistic: Spearman rho between strength (transformer weight decay; SFM gate beta) and t_gen,
    non-grokking runs ranked last. Holds iff both rho < 0 (the SFM's sign is the law's).
    """
    v = Verdict(
        "regularisation_earlier",
        "stronger regularisation makes grokking earlier, as the SFM predicts",
        "Spearman rho(weight decay, t_gen) of the transformer sweep; same for the SFM beta sweep",
        None,
        "rho_transformer < 0 and rho_SFM < 0",
        None,
    )
    r_tc = _spearman_censored(tc_strength, tc_t_gen)
    r_sfm = _spearman_censored(sfm_strength, sfm_t_gen)
    v.details = {
        "transformer": {"strength": list(tc_strength), "t_gen": list(tc_t_gen), "rho": r_tc},
        "sfm": {"strength": list(sfm_strength), "t_gen": list(sfm_t_gen), "rho": r_sfm},
    }
    if r_tc is None or r_sfm is None:
        v.reason = "fewer than two runs grokked in a sweep"
        return v
    v.value = r_tc
    v.holds = bool(r_tc < 0 and r_sfm < 0)
    return v


def verdict_llc(
    steps: np.ndarray,
    llc: np.ndarray,
    t_mem: float | None,
    t_gen: float | None,
    p: int,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(5) The LLC falls at generalisation.

    Statistic: ``(peak over [t_mem, t_gen] - LLC at the last step) / peak`` (>= llc_drop_min).
    The theory's ratio lambda_gen / lambda_mem = 1/p is reported beside it (the transformer's
    LLC is in its own units; only the direction is predicted).
    """
    v = Verdict(
        "llc_falls",
        "the LLC falls at generalisation",
        "(max LLC on [t_mem, t_gen] - final LLC) / max",
        None,
        f">= {th.llc_drop_min}",
        None,
    )
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur"
        return v
    s, y = _finite(steps, llc)
    win = (s >= t_mem) & (s <= t_gen)
    if not win.any() or s[-1] < t_gen:
        v.reason = "no LLC logged in the memorised window or after t_gen"
        return v
    peak = float(y[win].max())
    final = float(y[-1])
    drop = (peak - final) / abs(peak) if peak != 0 else 0.0
    v.value = drop
    v.holds = bool(drop >= th.llc_drop_min)
    v.details = {
        "llc_peak": peak,
        "t_peak": float(s[win][np.argmax(y[win])]),
        "llc_final": final,
        "llc_init": float(y[0]),
        "theory_lambda_ratio_gen_over_mem": 1.0 / p,
    }
    return v


def transformer_events(
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_mem: float | None,
    t_gen: float | None,
    complexity_key: str | None,
) -> dict[str, float | None]:
    """t_mem, t_gen and the half-way points of the complexity fall, the Fourier IPR rise (from
    t_mem to the end) and the LLC fall (from its memorised peak to the end)."""
    ev: dict[str, float | None] = {"t_mem": t_mem, "t_gen": t_gen}
    if t_mem is None or t_gen is None:
        return ev
    if complexity_key and complexity_key in series:
        prof = complexity_profile(steps, series[complexity_key], series["test_loss"], t_mem, t_gen)
        ev["t_complexity_fall"] = prof.get("t_fall_half") if prof["usable"] else None
    if "fourier_ipr" in series:
        s, y = _finite(steps, series["fourier_ipr"])
        if len(y):
            i = min(int(np.searchsorted(s, t_mem)), len(s) - 1)
            ev["t_fourier_rise"] = crossing_time(s, y, 0.5 * (y[i] + y[-1]), "up", after=s[i])
    if "llc" in series:
        s, y = _finite(steps, series["llc"])
        win = (s >= t_mem) & (s <= t_gen)
        if win.any():
            ipk = int(np.flatnonzero(win)[np.argmax(y[win])])
            ev["t_llc_fall"] = crossing_time(s, y, 0.5 * (y[ipk] + y[-1]), "down", after=s[ipk])
    return ev


def sfm_events(
    steps: np.ndarray, support: np.ndarray, t_mem: float | None, t_gen: float | None
) -> dict[str, float | None]:
    """t_mem, t_gen, and the support collapse: first step after the peak where the support is
    below the geometric mean of its peak and final values (p^2 -> p is a log-scale change)."""
    s, y = _finite(steps, support)
    ev: dict[str, float | None] = {"t_mem": t_mem, "t_gen": t_gen, "t_support_fall": None}
    if len(y) and y.max() > 0 and y[-1] > 0:
        ipk = int(np.argmax(y))
        ev["t_support_fall"] = crossing_time(s, y, math.sqrt(y[ipk] * y[-1]), "down", after=s[ipk])
    return ev


def decide_all(data: Mapping[str, Any], th: Thresholds = Thresholds()) -> list[Verdict]:
    """All five verdicts from a data bundle of series (see :func:`run_crosscheck` for its keys)."""
    tc = data["transformer"]
    steps = _arr(tc["step"])
    series = {k: _arr(v) for k, v in tc.items() if k != "step"}
    t_mem, t_gen = data["t_mem"], data["t_gen"]
    sfm = data["sfm"]
    comp = {k: series[k] for k in COMPLEXITY_KEYS if k in series}
    v1 = verdict_complexity(steps, comp, series["test_loss"], t_mem, t_gen, th)
    primary = next(iter(comp), None)
    if v1.details.get("measures"):
        holding = [k for k, p in v1.details["measures"].items() if p["holds"]]
        primary = holding[0] if holding else next(iter(v1.details["measures"]))
    v2 = verdict_fourier(
        steps,
        series.get("fourier_ipr", np.full_like(steps, np.nan)),
        t_mem,
        t_gen,
        _arr(sfm["step"]),
        _arr(sfm["support"]),
        data["p"],
        th,
    )
    ev_tc = transformer_events(steps, series, t_mem, t_gen, primary)
    ev_sfm = sfm_events(_arr(sfm["step"]), _arr(sfm["support"]), sfm["t_mem"], sfm["t_gen"])
    v3 = verdict_timing(ev_tc, ev_sfm, th)
    v3.details.update({"events_transformer": ev_tc, "events_sfm": ev_sfm, "primary": primary})
    sw = data["sweeps"]
    v4 = verdict_regularisation(
        sw["transformer"]["strength"],
        sw["transformer"]["t_gen"],
        sw["sfm"]["strength"],
        sw["sfm"]["t_gen"],
        th,
    )
    v5 = verdict_llc(
        steps, series.get("llc", np.full_like(steps, np.nan)), t_mem, t_gen, data["p"], th
    )
    return [v1, v2, v3, v4, v5]


# ============================================================================================
# Running the three legs


@dataclass(frozen=True)
class CrosscheckConfig:
    """What the crosscheck runs. Defaults: a few minutes on 2 CPU cores (docs/crosscheck.md)."""

    p: int = 31
    op: str = "+"
    frac: float = 0.5
    seed: int = 0
    # transformer (SPEC §4.2 architecture at reduced width; lr/wd chosen so it groks by ~1000 steps)
    model: ArchConfig = ArchConfig(d_model=64, n_heads=4, d_head=16, d_mlp=256)
    lr: float = 5e-3
    weight_decay: float = 1.0
    steps: int | None = None  # None: 1500, or the train preset's own
    eval_points: int = 60
    measure_points: int = 12
    builtin_measures: tuple[str, ...] = ("spectral", "compression", "fourier")
    train_preset: str | None = None  # a transformer_check preset replaces the fields above
    wd_sweep: tuple[float, ...] = (0.3, 1.0, 3.0)  # multiples of weight_decay
    parallel_sweep: bool = True  # sweep runs in worker processes beside the main run
    device: str = "cpu"
    # extra measures
    llc_eps: float = 1e-4
    llc_gamma: float = 100.0
    llc_chains: int = 2
    llc_steps: int = 100
    llc_burnin: int = 30
    lmn_samples: int = 32
    mediation_pairs: int = 64
    # SFM on the same task
    sfm_schedule: str = "increasing"
    sfm_beta: float = 0.02
    sfm_sweep: tuple[float, ...] = (0.5, 1.0, 2.0)  # multiples of sfm_beta
    sfm_steps: int = 3000

    def __post_init__(self) -> None:
        from theory.base.errors import check_odd_prime, check_range

        check_odd_prime("p", self.p)
        check_range("frac", self.frac, 0.0, 1.0, lo_open=True, hi_open=True)
        if self.op not in OPS:
            raise InputError(f"op: must be one of + - * /, got {self.op!r}")
        if self.steps is not None:
            check_int("steps", self.steps, lo=1)
        for name in ("wd_sweep", "sfm_sweep"):
            if not getattr(self, name) or any(m <= 0 for m in getattr(self, name)):
                raise InputError(f"{name}: give positive multiples of the default strength")


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # tests and smoke runs: seconds; events may not occur (verdicts then say "undecided")
    "tiny": {
        "p": 11,
        "frac": 0.6,
        "model": ArchConfig(d_model=32, n_heads=2, d_head=16, d_mlp=64),
        "steps": 60,
        "eval_points": 10,
        "measure_points": 4,
        "builtin_measures": ("fourier",),
        "wd_sweep": (1.0, 3.0),
        "parallel_sweep": False,
        "llc_chains": 2,
        "llc_steps": 10,
        "llc_burnin": 5,
        "lmn_samples": 8,
        "mediation_pairs": 16,
        "sfm_steps": 200,
    },
    # the part-1 presets (papers' settings; GPU when present for nanda/paper004)
    "quick": {"train_preset": "quick", "p": 47, "frac": 0.4, "device": "auto"},
    "nanda": {"train_preset": "nanda", "p": 113, "frac": 0.3, "device": "auto", "sfm_steps": 6000},
    "paper004": {
        "train_preset": "paper004",
        "p": 97,
        "frac": 0.3,
        "device": "auto",
        "wd_sweep": (1.0,),
        "sfm_steps": 6000,
    },
}


def make_config(preset: str = "default", **overrides: Any) -> CrosscheckConfig:
    """The named preset with ``overrides`` (``None`` values ignored)."""
    if preset not in PRESETS:
        raise InputError(f"preset: must be one of {', '.join(PRESETS)}, got {preset!r}")
    kw = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return CrosscheckConfig(**kw)


def _train_config(cfg: CrosscheckConfig, weight_decay: float, with_measures: bool):
    from transformer_check.data import TaskConfig
    from transformer_check.train import TrainConfig

    if cfg.train_preset is not None:
        from transformer_check.presets import preset

        base = preset(cfg.train_preset, op=cfg.op, p=cfg.p, frac=cfg.frac, steps=cfg.steps)
        base = dataclasses.replace(base, seed=cfg.seed, device=cfg.device)
    else:
        base = TrainConfig(
            task=TaskConfig(p=cfg.p, op=cfg.op, frac=cfg.frac, seed=cfg.seed),
            model=cfg.model,
            steps=cfg.steps or 1500,
            lr=cfg.lr,
            eval_points=cfg.eval_points,
            measure_points=cfg.measure_points,
            seed=cfg.seed,
            device=cfg.device,
        )
        base = dataclasses.replace(base, weight_decay=cfg.weight_decay)
    return dataclasses.replace(
        base,
        weight_decay=weight_decay,
        measures=tuple(cfg.builtin_measures) if with_measures else (),
        measure_points=base.measure_points if with_measures else 0,
        checkpoint_every=0,
        snapshots=False,
    )


def extra_measures(cfg: CrosscheckConfig) -> dict[str, Any]:
    """Part-2 measures for the training hook: paper 003, LMN, CMA/skip-ablation, LLC."""
    from transformer_check.measures.circuit import circuit_measure
    from transformer_check.measures.llc import SGLDConfig, llc_measure
    from transformer_check.measures.lmn import lmn_measure
    from transformer_check.measures.mediation import mediation_measure
    from transformer_check.measures.sparsity import sparsity_measure
    from transformer_check.measures.weight_entropy import weight_entropy_measure

    sg = SGLDConfig(
        eps=cfg.llc_eps,
        gamma=cfg.llc_gamma,
        n_chains=cfg.llc_chains,
        n_steps=cfg.llc_steps,
        n_burnin=cfg.llc_burnin,
        seed=cfg.seed,
    )
    return {
        "sparsity": sparsity_measure(),
        "weight_entropy": _pooled_only(weight_entropy_measure(), "weight_entropy"),
        "circuit": circuit_measure(seed=cfg.seed),
        "lmn": lmn_measure(n_samples=cfg.lmn_samples, seed=cfg.seed),
        "mediation": mediation_measure(n_pairs=cfg.mediation_pairs, seed=cfg.seed),
        "llc": llc_measure(sg),
    }


def _pooled_only(fn, key: str):
    def measure(model, ds):
        return {key: fn(model, ds)[key]}

    return measure


def theory_numbers(p: int, beta: float, frac: float) -> dict[str, Any]:
    """The theory's predictions for this task (SPEC §1.4, §2.1, §2.4)."""
    from theory.kolmogorov import enumerative_code_bits, paper004_code_bits
    from theory.rlct import lambda_gen, lambda_mem

    n = int(frac * p * p)
    out: dict[str, Any] = {
        "p": p,
        "n_train": n,
        "lambda_mem": lambda_mem(p),
        "lambda_gen": lambda_gen(p),
        "support_mem": p * p,
        "support_gen": p,
        "K_bits_mem": enumerative_code_bits(p, p * p),
        "K_bits_gen": enumerative_code_bits(p, p),
        "K_paper004_bits_mem": paper004_code_bits(lambda_mem(p), p),
        "K_paper004_bits_gen": paper004_code_bits(lambda_gen(p), p),
        "free_energy_gap_at_n": (lambda_mem(p) - lambda_gen(p)) * math.log(n),
    }
    try:
        from theory.gates import occam_gate_threshold

        out["occam_gate_tau_prox"] = occam_gate_threshold(beta, n, p)
    except Exception as exc:  # noqa: BLE001 - report, do not hide
        out["occam_gate_tau_prox"] = f"unavailable: {exc}"
    return out


def run_sfm(cfg: CrosscheckConfig) -> dict[str, Any]:
    """The SFM on the same task, and its beta sweep (one batched call)."""
    from sfm import SFMConfig, simulate

    betas = [cfg.sfm_beta * m for m in cfg.sfm_sweep]
    if cfg.sfm_beta not in betas:
        betas = [cfg.sfm_beta, *betas]
    confs = [
        SFMConfig(
            p=cfg.p,
            f=cfg.frac,
            op=cfg.op,
            schedule=cfg.sfm_schedule,
            beta=b,
            steps=cfg.sfm_steps,
            seed=cfg.seed,
        )
        for b in betas
    ]
    res = simulate(confs)
    i0 = betas.index(cfg.sfm_beta)
    col = res.curves.column(i0)
    return {
        "curves": {k: np.asarray(v) for k, v in col.items()},
        "t_mem": res.events[i0].t_mem,
        "t_gen": res.events[i0].t_gen,
        "sweep": {
            "strength": betas,
            "t_gen": [e.t_gen for e in res.events],
            "t_mem": [e.t_mem for e in res.events],
        },
    }


def _series(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Rows of the training log -> aligned float arrays (NaN where a key was not logged)."""
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    out = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(v is None or isinstance(v, int | float) for v in vals):
            out[k] = np.array([np.nan if v is None else float(v) for v in vals])
    return out


def run_crosscheck(
    cfg: CrosscheckConfig,
    out_dir: str | Path,
    th: Thresholds = Thresholds(),
    progress: bool = True,
    command: str = "transformer_check crosscheck",
) -> dict[str, Any]:
    """Run theory, SFM and transformer legs, decide the verdicts, write JSON/CSV/figures."""
    from transformer_check.train import train

    out = Path(out_dir)
    t0 = time.perf_counter()
    log = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
    log("crosscheck: theory + SFM")
    theory = theory_numbers(cfg.p, cfg.sfm_beta, cfg.frac)
    sfm = run_sfm(cfg)
    # The sweep runs (no extra measures) go to worker processes while the main run trains here:
    # on two cores this nearly halves the wall time.
    sweep = [(m, _base_wd(cfg) * m) for m in cfg.wd_sweep if m != 1.0]
    pool = _sweep_pool(cfg, len(sweep))
    futures = (
        {wd: pool.submit(_sweep_run, cfg, wd, str(out / f"sweep_wd{wd:g}")) for _, wd in sweep}
        if pool is not None
        else {}
    )
    try:
        log(
            "crosscheck: transformer with all measures"
            + (f" (+ {len(sweep)} weight-decay runs in parallel)" if pool else "")
        )
        main_cfg = _train_config(cfg, _base_wd(cfg), with_measures=True)
        res = train(main_cfg, out / "transformer", measures=extra_measures(cfg), progress=progress)
        series = _series(res.rows)
        sweep_wd, sweep_tgen = [], []
        for m in cfg.wd_sweep:
            wd = _base_wd(cfg) * m
            if m == 1.0:
                t_gen = res.t_gen
            elif wd in futures:
                t_gen = futures[wd].result()
            else:
                log(f"crosscheck: weight-decay sweep, wd = {wd:g}")
                t_gen = _sweep_run(cfg, wd, str(out / f"sweep_wd{wd:g}"))
            sweep_wd.append(wd)
            sweep_tgen.append(t_gen)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    data = {
        "p": cfg.p,
        "t_mem": res.t_mem,
        "t_gen": res.t_gen,
        "transformer": {"step": series["step"], **series},
        "sfm": {
            "step": sfm["curves"]["step"],
            "support": sfm["curves"]["support"],
            "t_mem": sfm["t_mem"],
            "t_gen": sfm["t_gen"],
        },
        "sweeps": {
            "transformer": {"strength": sweep_wd, "t_gen": sweep_tgen},
            "sfm": sfm["sweep"],
        },
    }
    verdicts = decide_all(data, th)
    elapsed = time.perf_counter() - t0
    sfm_rows = [
        dict(zip(sfm["curves"], vals, strict=True))
        for vals in zip(*sfm["curves"].values(), strict=True)
    ]
    write_csv(out / "sfm_curves.csv", sfm_rows)
    sweep_rows = [
        {"system": "transformer", "strength": s, "t_gen": t}
        for s, t in zip(sweep_wd, sweep_tgen, strict=True)
    ] + [
        {"system": "sfm", "strength": s, "t_gen": t}
        for s, t in zip(sfm["sweep"]["strength"], sfm["sweep"]["t_gen"], strict=True)
    ]
    write_csv(out / "sweeps.csv", sweep_rows)
    report = {
        "metadata": run_metadata(
            command,
            {"crosscheck": cfg, "thresholds": th},
            seed=cfg.seed,
            extra={"seconds": elapsed},
        ),
        "verdicts": {v.key: dataclasses.asdict(v) | {"label": v.label} for v in verdicts},
        "summary": {v.key: {"label": v.label, "value": v.value} for v in verdicts},
        "events": {
            "transformer": {"t_mem": res.t_mem, "t_gen": res.t_gen},
            "sfm": {"t_mem": sfm["t_mem"], "t_gen": sfm["t_gen"]},
        },
        "theory": theory,
        "paths": {"transformer_metrics": out / "transformer" / "metrics.csv"},
    }
    write_json(out / "crosscheck.json", report)
    from transformer_check.crosscheck_plots import plot_crosscheck

    figs = plot_crosscheck(data, sfm["curves"], theory, verdicts, out / "crosscheck")
    report["paths"]["figure"] = figs[0]
    write_json(out / "crosscheck.json", report)
    report["data"] = data
    report["verdict_objects"] = verdicts
    return report


def _sweep_run(cfg: CrosscheckConfig, wd: float, out_dir: str) -> int | None:
    """One weight-decay run without extra measures; returns its t_gen (None: did not grok)."""
    import torch

    from transformer_check.train import train

    torch.set_num_threads(1)
    r = train(_train_config(cfg, wd, with_measures=False), out_dir, progress=False, plot=False)
    return r.t_gen


def _sweep_pool(cfg: CrosscheckConfig, n_runs: int):
    """A spawn-based process pool for the sweep (None when serial is better: 1 CPU or 0 runs)."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    workers = min(n_runs, max(0, (os.cpu_count() or 1) - 1))
    if workers < 1 or cfg.parallel_sweep is False:
        return None
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def _base_wd(cfg: CrosscheckConfig) -> float:
    if cfg.train_preset is None:
        return cfg.weight_decay
    from transformer_check.presets import preset

    return preset(cfg.train_preset).weight_decay


# ============================================================================================
# CLI


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crosscheck`` on the transformer_check CLI (discovered by its cli.py)."""
    sp = subparsers.add_parser(
        "crosscheck",
        help="theory vs SFM vs transformer: decide each SPEC §4.4 prediction",
        description=(
            "Run the theory, the SFM and transformer training with every measure on one task, "
            "decide the five predictions of SPEC §4.4 and write crosscheck.json + figures."
        ),
    )
    sp.add_argument("--preset", default="default", choices=sorted(PRESETS))
    sp.add_argument("--p", type=arg_type(check_int, lo=3), default=None, help="modulus (prime)")
    sp.add_argument("--op", choices=OPS, default=None)
    sp.add_argument("--steps", type=arg_type(check_int, lo=1), default=None)
    sp.add_argument("--seed", type=arg_type(check_int, lo=0), default=None)
    sp.add_argument("--device", default=None, help="cpu, cuda or auto")
    add_out_argument(sp, "runs/transformer_check-crosscheck")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    cfg = make_config(
        args.preset, p=args.p, op=args.op, steps=args.steps, seed=args.seed, device=args.device
    )
    rep = run_crosscheck(cfg, args.out, progress=not args.quiet)
    for key, s in rep["summary"].items():
        val = "n/a" if s["value"] is None else f"{s['value']:.3g}"
        print(f"{key:26s} {s['label']:9s} {val}")
    print(f"report: {Path(args.out) / 'crosscheck.json'}  figure: {rep['paths']['figure']}")
    return 0
