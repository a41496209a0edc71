"""The crosscheck's verdicts: pure statistics over Trajectories (definitions §4.4; docs/crosscheck.md).

Each ``verdict_*`` decides one prediction of §4.4 from metric series alone, so it is testable on
synthetic series; :func:`decide_all` reads the transformer's and the SFM's
:class:`~theory.base.trajectory.Trajectory` and the two regularisation sweeps and decides the five
of §4.4 and Zhang et al. (2026)'s three condensations (:mod:`.condensation`). A missing event gives
"undecided", never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.base.errors import InputError
from theory.base.trajectory import Trajectory
from transformer_check.crosscheck.condensation import decide_condensation
from transformer_check.crosscheck.events import (
    as_float_array,
    complexity_profile,
    finite_part,
    rescaled_time,
    sfm_events,
    spearman,
    transformer_events,
)
from transformer_check.crosscheck.verdict_base import Thresholds, Verdict

__all__ = [
    "COMPLEXITY_KEYS",
    "Thresholds",
    "Verdict",
    "Sweep",
    "Sweeps",
    "CrosscheckData",
    "verdict_complexity",
    "verdict_fourier",
    "verdict_timing",
    "verdict_regularisation",
    "verdict_llc",
    "decide_all",
]

# The transformer series that count as complexity measures for prediction (1), in the order the
# primary measure of the timing verdict is chosen.
COMPLEXITY_KEYS = ("coarse_bytes", "lmn", "circuit_complexity", "bdm_bits")


@dataclass(frozen=True)
class Sweep:
    """One system's regularisation sweep: ``t_gen[i]`` at ``strength[i]`` (``None``: never grokked).

    Strength is the transformer's weight decay or the SFM's gate beta.
    """

    strength: tuple[float, ...]
    t_gen: tuple[float | None, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", tuple(float(s) for s in self.strength))
        object.__setattr__(self, "t_gen", tuple(self.t_gen))
        if len(self.strength) != len(self.t_gen):
            raise InputError(
                f"sweep: {len(self.strength)} strengths but {len(self.t_gen)} t_gen values"
            )


@dataclass(frozen=True)
class Sweeps:
    """The transformer's weight-decay sweep and the SFM's beta sweep."""

    transformer: Sweep
    sfm: Sweep


@dataclass(frozen=True)
class CrosscheckData:
    """Everything the verdicts read: both histories, both sweeps and the modulus."""

    p: int
    transformer: Trajectory
    sfm: Trajectory
    sweeps: Sweeps

    def decide(self, th: Thresholds | None = None) -> list[Verdict]:
        """All eight verdicts of these data (:func:`decide_all`)."""
        return decide_all(self.transformer, self.sfm, self.sweeps, self.p, th or Thresholds())


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
    s, y = finite_part(steps, ipr)
    _, sup = finite_part(sfm_steps, sfm_support)
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
    return spearman(as_float_array(strength), t)


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
    s, y = finite_part(steps, llc)
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


def decide_all(
    transformer: Trajectory,
    sfm: Trajectory,
    sweeps: Sweeps,
    p: int,
    th: Thresholds = Thresholds(),
) -> list[Verdict]:
    """All eight verdicts from the transformer's and the SFM's histories and the two sweeps.

    ``transformer`` needs ``test_loss`` and the events t_mem/t_gen, and may carry the complexity
    measures, ``fourier_ipr``, ``llc`` and the series of :mod:`.condensation`; ``sfm`` needs
    ``support`` and its t_mem/t_gen.
    """
    steps = transformer.steps
    series = transformer.series
    t_mem, t_gen = transformer.t_mem, transformer.t_gen
    comp = {k: series[k] for k in COMPLEXITY_KEYS if k in series}
    v1 = verdict_complexity(steps, comp, transformer["test_loss"], t_mem, t_gen, th)
    # The timing verdict follows one complexity measure: the first that holds, else the first.
    primary = next(iter(comp), None)
    if v1.details.get("measures"):
        holding = [k for k, prof in v1.details["measures"].items() if prof["holds"]]
        primary = holding[0] if holding else next(iter(v1.details["measures"]))
    support = sfm["support"]
    v2 = verdict_fourier(
        steps,
        transformer.series_or_nan("fourier_ipr"),
        t_mem,
        t_gen,
        sfm.steps,
        support,
        p,
        th,
    )
    ev_tc = transformer_events(steps, series, t_mem, t_gen, primary)
    ev_sfm = sfm_events(sfm.steps, support, sfm.t_mem, sfm.t_gen)
    v3 = verdict_timing(ev_tc, ev_sfm, th)
    v3.details.update({"events_transformer": ev_tc, "events_sfm": ev_sfm, "primary": primary})
    v4 = verdict_regularisation(
        sweeps.transformer.strength,
        sweeps.transformer.t_gen,
        sweeps.sfm.strength,
        sweeps.sfm.t_gen,
        th,
    )
    v5 = verdict_llc(steps, transformer.series_or_nan("llc"), t_mem, t_gen, p, th)
    return [v1, v2, v3, v4, v5, *decide_condensation(steps, series, t_mem, t_gen, p, th)]
