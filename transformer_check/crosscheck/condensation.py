"""Zhang et al. (2026)'s condensations as verdicts (6)-(8): the embedding ring, the BDM drop and the
middle-layer bypass (Zhang et al. (2026) §4-5; docs/crosscheck.md, "Zhang et al. (2026)'s condensations").

Like :mod:`.verdicts`, each ``verdict_*`` is a pure function of logged series, so it is testable
on synthetic ones; a series that was not logged or an event that never occurred gives
"undecided" with its reason, never a guess. The series are the training measures' keys:
``ring_score`` (:mod:`transformer_check.measures.ring`), ``bdm_bits`` and ``bz2_naive_bytes``
(:mod:`~transformer_check.measures.bdm_measure`, :mod:`~transformer_check.measures.compression`),
``skip_acc.{a}-{b}`` and ``skip_train_acc.{a}-{b}``
(:mod:`~transformer_check.measures.mediation`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from transformer_check.crosscheck.events import finite_part
from transformer_check.crosscheck.verdict_base import Thresholds, Verdict
from transformer_check.measures.mediation import layer_thirds
from transformer_check.measures.ring import ring_null_quantile

__all__ = [
    "RING_KEY",
    "RESID_RING_KEY",
    "NULL_LEVEL",
    "verdict_ring",
    "verdict_bdm_drop",
    "verdict_bypass",
    "logged_thirds",
    "decide_condensation",
]

RING_KEY, RESID_RING_KEY = "ring_score", "ring_resid_score"
BDM_KEY, RAW_KEY = "bdm_bits", "bz2_naive_bytes"
# A ring must beat this quantile of the ring score of a structureless embedding (docs/ring.md).
NULL_LEVEL = 0.99
_SKIP = re.compile(r"^skip_acc\.(\d+)-(\d+)$")


def _at(steps: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float] | None:
    """(step, value) of the first logged value at or after ``t`` (None if none)."""
    s, v = finite_part(steps, y)
    i = int(np.searchsorted(s, t))
    return None if i >= len(s) else (float(s[i]), float(v[i]))


def _after(steps: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    s, v = finite_part(steps, y)
    return v[s >= t]


def verdict_ring(
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_mem: float | None,
    t_gen: float | None,
    p: int,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(6) The embedding collapses onto a ring isomorphic to Z_p (Zhang et al. (2026), condensation 2).

    Statistic: ``mean ring score over logged steps >= t_gen - ring score at t_mem`` of the token
    embedding (>= ring_gain_min). Side condition: the mean after t_gen exceeds the NULL_LEVEL
    quantile of a structureless embedding's score (docs/ring.md), so a gain between two noise
    levels is not called a ring. The residual stream's ring is reported beside it.
    """
    v = Verdict(
        "ring",
        "the embedding collapses onto a ring isomorphic to Z_p at generalisation",
        "mean ring score at and after t_gen - ring score at t_mem (token embedding)",
        None,
        f">= {th.ring_gain_min} and the ring after t_gen above the null's {NULL_LEVEL:.0%} quantile",
        None,
    )
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur"
        return v
    if RING_KEY not in series:
        v.reason = "the ring score was not logged (measure 'ring')"
        return v
    at_mem = _at(steps, series[RING_KEY], t_mem)
    after = _after(steps, series[RING_KEY], t_gen)
    if at_mem is None or not len(after):
        v.reason = "no ring score logged at t_mem or after t_gen"
        return v
    null_q = ring_null_quantile(p, NULL_LEVEL)
    ring_after = float(after.mean())
    v.value = ring_after - at_mem[1]
    v.holds = bool(v.value >= th.ring_gain_min and ring_after > null_q)
    v.details = {
        "ring_at_t_mem": at_mem[1],
        "t_mem_logged": at_mem[0],
        "ring_after_t_gen": ring_after,
        "ring_final": float(after[-1]),
        "null_quantile": null_q,
        "above_null": ring_after - null_q,
        "null_level": NULL_LEVEL,
    }
    if RESID_RING_KEY in series:
        r_mem = _at(steps, series[RESID_RING_KEY], t_mem)
        r_after = _after(steps, series[RESID_RING_KEY], t_gen)
        if r_mem is not None and len(r_after):
            v.details["resid_ring_at_t_mem"] = r_mem[1]
            v.details["resid_ring_after_t_gen"] = float(r_after.mean())
    if "ring_k" in series and (k := _at(steps, series["ring_k"], t_gen)) is not None:
        v.details["ring_k_at_t_gen"] = k[1]
    return v


def _plateau_drop(
    steps: np.ndarray, y: np.ndarray, t_mem: float, t_gen: float
) -> dict[str, float] | None:
    """Memorisation plateau (mean over logged steps in [t_mem, t_gen), as bdm-ablation takes it,
    or the first value after t_mem if none lies there), final value, and the relative drop."""
    s, v = finite_part(steps, y)
    if not len(s) or s[-1] < t_gen:
        return None
    win = (s >= t_mem) & (s < t_gen)
    if win.any():
        plateau = float(v[win].mean())
    else:
        at = _at(steps, y, t_mem)
        if at is None:
            return None
        plateau = at[1]
    final = float(v[-1])
    drop = (plateau - final) / abs(plateau) if plateau != 0 else 0.0
    return {"init": float(v[0]), "plateau": plateau, "final": final, "drop": drop}


def verdict_bdm_drop(
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_mem: float | None,
    t_gen: float | None,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(7) K_BDM of the quartile-quantised weights falls from its memorisation plateau
    (Zhang et al. (2026), condensation 4), and falls more than the raw compressed size does.

    Statistic: ``(plateau - final) / plateau`` of ``bdm_bits`` (>= bdm_drop_min). Side condition:
    that drop exceeds the same drop of the unquantised weights' bz2 size (``bz2_naive_bytes``),
    which weight-decay shrinkage alone moves: Zhang et al. (2026)'s argument for quantising.
    """
    v = Verdict(
        "bdm_drop",
        "K_BDM of quartile-quantised weights falls from its plateau at generalisation",
        "(K_BDM plateau on [t_mem, t_gen) - final K_BDM) / plateau",
        None,
        f">= {th.bdm_drop_min} and more than the raw (bz2) size falls",
        None,
    )
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur"
        return v
    if BDM_KEY not in series:
        v.reason = "K_BDM was not logged (measure 'bdm')"
        return v
    bdm = _plateau_drop(steps, series[BDM_KEY], t_mem, t_gen)
    if bdm is None:
        v.reason = "K_BDM not logged after t_mem and after t_gen"
        return v
    v.value = bdm["drop"]
    v.details = {f"bdm_{k}": x for k, x in bdm.items()}
    raw = _plateau_drop(steps, series[RAW_KEY], t_mem, t_gen) if RAW_KEY in series else None
    if raw is None:
        v.reason = "the raw compressed size was not logged (measure 'compression')"
        v.holds = False if bdm["drop"] < th.bdm_drop_min else None
        return v
    v.details.update({f"raw_{k}": x for k, x in raw.items()})
    v.details["drop_minus_raw_drop"] = bdm["drop"] - raw["drop"]
    v.holds = bool(bdm["drop"] >= th.bdm_drop_min and bdm["drop"] > raw["drop"])
    return v


def logged_thirds(series: Mapping[str, np.ndarray]) -> tuple[int, list[tuple[int, int]]] | None:
    """``(n_layers, thirds)`` when the skip-ablation was logged on exactly the three thirds of
    :func:`~transformer_check.measures.mediation.layer_thirds`; None otherwise."""
    ranges = sorted((int(m[1]), int(m[2])) for k in series if (m := _SKIP.match(k)) is not None)
    if not ranges:
        return None
    n = max(b for _, b in ranges)
    if n < 3:
        return n, []
    thirds = layer_thirds(n)
    return (n, thirds) if all(r in ranges for r in thirds) else (n, [])


def _costs(
    steps: np.ndarray, series: Mapping[str, np.ndarray], prefix: str, thirds, t: float
) -> list[float] | None:
    """Accuracy lost by skipping each third, at the first logged step >= ``t``."""
    names = [f"{prefix}.none", *(f"{prefix}.{a}-{b}" for a, b in thirds)]
    if any(k not in series for k in names) or (base := _at(steps, series[names[0]], t)) is None:
        return None
    out = []
    for a, b in thirds:
        at = _at(steps, series[f"{prefix}.{a}-{b}"], t)
        if at is None:
            return None
        out.append(base[1] - at[1])
    return out


def verdict_bypass(
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_mem: float | None,
    t_gen: float | None,
    th: Thresholds = Thresholds(),
) -> Verdict:
    """(8) After generalisation the middle third of the blocks is bypassable, the first and last
    are not; at memorisation none is (Zhang et al. (2026), condensation 1).

    Statistic: ``min(cost_first, cost_last) - cost_middle`` at the last logged step, each cost
    the test accuracy lost by skipping that third (>= bypass_gap_min). Side condition: at t_mem
    every third costs at least bypass_mem_min of the *train* accuracy (the test accuracy is at
    chance then, so only the train split can show a third is essential). Undecided on models
    with fewer than three blocks, where thirds do not exist.
    """
    v = Verdict(
        "bypass",
        "after generalisation the middle third is bypassable, the first and last are not",
        "min(cost first third, cost last third) - cost middle third (test accuracy), at the end",
        None,
        f">= {th.bypass_gap_min} and every third costs >= {th.bypass_mem_min} train acc at t_mem",
        None,
    )
    found = logged_thirds(series)
    if found is None:
        v.reason = "skip-ablation was not logged (measure 'mediation')"
        return v
    n, thirds = found
    if n < 3:
        v.reason = f"the model has {n} block(s); thirds of the skip-ablation need at least 3"
        return v
    if not thirds:
        v.reason = f"skip-ablation was not logged on the thirds {layer_thirds(n)} of {n} blocks"
        return v
    if t_mem is None or t_gen is None:
        v.reason = "t_mem or t_gen did not occur"
        return v
    s, _ = finite_part(steps, series["skip_acc.none"])
    if not len(s) or s[-1] < t_gen:
        v.reason = "no skip-ablation logged after t_gen"
        return v
    end = _costs(steps, series, "skip_acc", thirds, float(s[-1]))
    mem = _costs(steps, series, "skip_train_acc", thirds, t_mem)
    if end is None:
        v.reason = "no skip-ablation logged after t_gen"
        return v
    first, middle, last = end
    v.value = min(first, last) - middle
    v.details = {
        "n_layers": n,
        "thirds": [list(r) for r in thirds],
        "test_cost_at_end": end,
        "train_cost_at_t_mem": mem,
        "min_train_cost_at_t_mem": None if mem is None else min(mem),
    }
    if mem is None:
        v.reason = "train-split skip-ablation not logged at t_mem"
        v.holds = False if v.value < th.bypass_gap_min else None
        return v
    v.holds = bool(v.value >= th.bypass_gap_min and min(mem) >= th.bypass_mem_min)
    return v


def decide_condensation(
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_mem: float | None,
    t_gen: float | None,
    p: int,
    th: Thresholds = Thresholds(),
) -> list[Verdict]:
    """Verdicts (6)-(8) of one transformer run's series."""
    return [
        verdict_ring(steps, series, t_mem, t_gen, p, th),
        verdict_bdm_drop(steps, series, t_mem, t_gen, th),
        verdict_bypass(steps, series, t_mem, t_gen, th),
    ]
