"""Phase labels, critical thresholds and power-law fits for sweeps (docs/sfm.md, "Phase diagram").

Labels (per seed, by rule, from the SPEC §1.8 events):
``groks``                 t_mem and t_gen occur and t_mem < t_gen
``generalises directly``  t_gen occurs without an earlier t_mem
``memorises and stays``   t_mem occurs, t_gen does not
``underfits``             neither occurs and the final train relative error is >= 1e-2
``partial``               neither occurs, train fits (< 1e-2) but test is in [1e-2, 0.1]
``diverged``              the train error blew up (paper drift without a gate)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .observables import REL_MEM_TRAIN

__all__ = [
    "PHASES",
    "classify",
    "majority",
    "PowerLawFit",
    "power_law_fit",
    "GateLawFit",
    "gate_law_fit",
    "edge_between",
    "critical_edges",
]

PHASES = (
    "groks",
    "generalises directly",
    "memorises and stays",
    "underfits",
    "partial",
    "diverged",
)


def classify(
    t_mem: int | None, t_gen: int | None, final_train_rel: float, diverged: bool = False
) -> str:
    """Phase label of one run by the rule in the module docstring."""
    if diverged:
        return "diverged"
    if t_gen is not None:
        return "groks" if t_mem is not None and t_mem < t_gen else "generalises directly"
    if t_mem is not None:
        return "memorises and stays"
    if not math.isfinite(final_train_rel) or final_train_rel >= REL_MEM_TRAIN:
        return "underfits"
    return "partial"


def majority(labels: Sequence[str]) -> str:
    """Most common label; ties broken by the order of :data:`PHASES`."""
    counts = Counter(labels)
    best = max(counts.values())
    return next(ph for ph in PHASES if counts.get(ph, 0) == best)


@dataclass(frozen=True)
class PowerLawFit:
    """``y = A x^k`` by least squares on ``ln y = ln A + k ln x``; standard errors from residuals."""

    exponent: float
    exponent_se: float
    log_prefactor: float
    log_prefactor_se: float
    n_points: int
    r2: float
    x_range: tuple[float, float]


def _ols(X: np.ndarray, y: np.ndarray, w: np.ndarray | None):
    w = np.ones_like(y) if w is None else w
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    resid = yw - Xw @ beta
    dof = len(y) - X.shape[1]
    s2 = float(resid @ resid) / dof if dof > 0 else float("nan")
    cov = s2 * np.linalg.inv(Xw.T @ Xw)
    ybar = np.average(y, weights=w)
    ss_tot = float(np.sum(w * (y - ybar) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else float("nan")
    return beta, np.sqrt(np.diag(cov)), r2


def power_law_fit(x, y, weights=None) -> PowerLawFit | None:
    """Fit ``y = A x^k`` (x, y > 0); ``None`` with fewer than 3 points (no uncertainty possible)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.unique(x[ok]).size < 2:
        return None
    X = np.column_stack([np.ones(ok.sum()), np.log(x[ok])])
    w = None if weights is None else np.asarray(weights, float)[ok]
    (a, k), (sa, sk), r2 = _ols(X, np.log(y[ok]), w)
    return PowerLawFit(
        float(k),
        float(sk),
        float(a),
        float(sa),
        int(ok.sum()),
        r2,
        (float(x[ok].min()), float(x[ok].max())),
    )


@dataclass(frozen=True)
class GateLawFit:
    """``ln(1 + t_gen) = a + C / beta``: the increasing gate reaches a fixed level (docs/sfm.md)."""

    C: float
    C_se: float
    a: float
    a_se: float
    n_points: int
    r2: float
    critical_gate_times_p: (
        float  # sqrt(2 C eta): p tau at t_gen, from tau = sqrt(2 beta eta ln(1+t))/p
    )
    critical_gate_times_p_se: float


def gate_law_fit(beta, t_gen, eta: float = 1.0) -> GateLawFit | None:
    """Fit ``ln(1 + t_gen)`` linear in ``1/beta`` (schedule b2, SPEC §1.7); ``None`` if < 3 points."""
    b = np.asarray(beta, float)
    t = np.asarray(t_gen, float)
    ok = (b > 0) & np.isfinite(t) & (t >= 0)
    if ok.sum() < 3 or np.unique(b[ok]).size < 2:
        return None
    X = np.column_stack([np.ones(ok.sum()), 1.0 / b[ok]])
    (a, C), (sa, sC), r2 = _ols(X, np.log1p(t[ok]), None)
    g = math.sqrt(max(2.0 * C * eta, 0.0))
    g_se = (eta * sC / g) if g > 0 else float("nan")
    return GateLawFit(float(C), float(sC), float(a), float(sa), int(ok.sum()), r2, g, g_se)


def edge_between(x_fail: float, x_ok: float, log: bool = True) -> float:
    """Estimate of a threshold between a failing and a succeeding grid value (geometric mean)."""
    return math.sqrt(x_fail * x_ok) if log else 0.5 * (x_fail + x_ok)


def critical_edges(xs: Sequence[float], ok: Sequence[bool], log: bool = True) -> dict:
    """Where ``ok`` switches along sorted ``xs``: first onset (False -> True) and first loss.

    Returns ``{"onset": x or None, "loss": x or None, "censored": str}``: ``onset`` None with
    ``censored = "always"`` if ok at the first grid value, ``"never"`` if never ok.
    """
    order = np.argsort(xs)
    x = np.asarray(xs, float)[order]
    o = np.asarray(ok, bool)[order]
    if not o.any():
        return {"onset": None, "loss": None, "censored": "never"}
    i = int(np.argmax(o))
    onset = None if i == 0 else edge_between(x[i - 1], x[i], log)
    j_rel = np.flatnonzero(~o[i:])
    loss = None if j_rel.size == 0 else edge_between(x[i + j_rel[0] - 1], x[i + j_rel[0]], log)
    return {"onset": onset, "loss": loss, "censored": "always" if i == 0 else ""}
