"""The crosscheck's time axis and events: rescaled time, crossings, complexity profiles and the
collapse events of both systems (definitions §4.4; docs/crosscheck.md).

Rescaled time: ``tau(t) = (ln(1+t) - ln(1+t_mem)) / (ln(1+t_gen) - ln(1+t_mem))`` per system, so
memorisation sits at 0 and generalisation at 1 in both the transformer and the SFM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from theory.base.errors import InputError

__all__ = [
    "rescaled_time",
    "crossing_time",
    "complexity_profile",
    "transformer_events",
    "sfm_events",
]


def as_float_array(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def finite_part(steps: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The logged points of ``y`` (measures are logged on a sparser schedule than the losses)."""
    s, v = as_float_array(steps), as_float_array(y)
    m = np.isfinite(v)
    return s[m], v[m]


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation, ``None`` when it is undefined (fewer than 3 or constant)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)


def rescaled_time(t: np.ndarray | float, t_mem: float, t_gen: float) -> np.ndarray:
    """``(ln(1+t) - ln(1+t_mem)) / (ln(1+t_gen) - ln(1+t_mem))``: t_mem -> 0, t_gen -> 1."""
    a, b = math.log1p(t_mem), math.log1p(t_gen)
    if b <= a:
        raise InputError(f"t_gen: must come after t_mem, got t_mem={t_mem}, t_gen={t_gen}")
    return (np.log1p(as_float_array(t)) - a) / (b - a)


def crossing_time(
    steps: np.ndarray, y: np.ndarray, level: float, direction: str, after: float = -np.inf
) -> float | None:
    """First logged step ``> after`` at which ``y`` has crossed ``level`` (``"down"``: y <= level;
    ``"up"``: y >= level); ``None`` if it never does."""
    steps, y = as_float_array(steps), as_float_array(y)
    ok = np.isfinite(y) & (steps > after)
    hit = ok & ((y <= level) if direction == "down" else (y >= level))
    idx = np.flatnonzero(hit)
    return float(steps[idx[0]]) if idx.size else None


def complexity_profile(
    steps: np.ndarray,
    c: np.ndarray,
    test_loss: np.ndarray,
    t_mem: float,
    t_gen: float,
) -> dict[str, Any]:
    """Rise to the memorised peak, fall after it, rank correlation with test loss after t_mem, and
    the fall's half-way step (where c first drops below (peak + final)/2 after the peak)."""
    s, v = finite_part(steps, c)
    tl = as_float_array(test_loss)[np.isin(as_float_array(steps), s)]
    if len(v) < 3:
        return {"usable": False}
    rng = float(np.ptp(v)) or 1.0
    window = (s >= t_mem) & (s <= t_gen)
    if not window.any():
        window = s <= t_gen
    ipk = int(np.flatnonzero(window)[np.argmax(v[window])])
    peak, c0, cend = float(v[ipk]), float(v[0]), float(v[-1])
    after = s >= t_mem
    rho = spearman(v[after], tl[after])
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
        s, y = finite_part(steps, series["fourier_ipr"])
        if len(y):
            i = min(int(np.searchsorted(s, t_mem)), len(s) - 1)
            ev["t_fourier_rise"] = crossing_time(s, y, 0.5 * (y[i] + y[-1]), "up", after=s[i])
    if "llc" in series:
        s, y = finite_part(steps, series["llc"])
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
    s, y = finite_part(steps, support)
    ev: dict[str, float | None] = {"t_mem": t_mem, "t_gen": t_gen, "t_support_fall": None}
    if len(y) and y.max() > 0 and y[-1] > 0:
        ipk = int(np.argmax(y))
        ev["t_support_fall"] = crossing_time(s, y, math.sqrt(y[ipk] * y[-1]), "down", after=s[ipk])
    return ev
