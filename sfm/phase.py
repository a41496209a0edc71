"""Phase labels, critical thresholds and power-law fits for sweeps (docs/sfm.md, "Phase diagram").

Labels (per seed, by rule, from the definitions §1.8 events):
``groks``                 t_mem and t_gen occur and t_mem < t_gen
``generalises directly``  t_gen occurs without an earlier t_mem
``memorises and stays``   t_mem occurs, t_gen does not
``underfits``             neither occurs and the final train relative error is >= 1e-2
``partial``               neither occurs, train fits (< 1e-2) but test is in [1e-2, 0.1]
``diverged``              the train error blew up (paper drift without a gate)
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .observables import REL_MEM_TRAIN

__all__ = [
    "PHASES",
    "classify",
    "majority",
    "FEW_DOF",
    "FewDofWarning",
    "t_interval",
    "format_estimate",
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


# A fit with this many degrees of freedom or fewer gets a FewDofWarning: t_{0.975,dof} is 12.7 at
# dof 1 and 4.30 at dof 2 (against 1.96 for a normal), so its interval is wide, and the residual
# variance behind the SE rests on one or two numbers (docs/statistics.md, "Fits").
FEW_DOF = 2


class FewDofWarning(UserWarning):
    """A least-squares fit with ``dof <= FEW_DOF``: its 95% interval is wide (docs/statistics.md)"""


def t_interval(estimate: float, se: float, dof: int) -> tuple[float, float]:
    """Two-sided 95% interval ``estimate +- t_{0.975,dof} se`` of an OLS parameter (Student t with
    the residual dof; e.g. Draper & Smith, Applied Regression Analysis, §3.2); NaNs if dof < 1."""
    if dof < 1 or not math.isfinite(se):
        return (float("nan"), float("nan"))
    h = float(stats.t.ppf(0.975, dof)) * se
    return (float(estimate - h), float(estimate + h))


def format_estimate(name: str, estimate: float, ci: Sequence[float], dof: int) -> str:
    """One fitted parameter as text that says what its interval is, e.g.
    ``k = -2.94 (95% CI -3.70 to -2.18, dof 1)``; decimals give the half-width two digits."""
    lo, hi = (float(c) for c in ci)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{name} = {estimate:.3g} (no interval: dof {dof})"
    half = 0.5 * (hi - lo)
    d = 2 if half <= 0 else max(0, 1 - math.floor(math.log10(half)))
    return f"{name} = {estimate:.{d}f} (95% CI {lo:.{d}f} to {hi:.{d}f}, dof {dof})"


def _warn_few_dof(what: str, n: int, dof: int) -> bool:
    """Warn (and return True) when ``dof <= FEW_DOF``; stacklevel points at the fit's caller."""
    if dof > FEW_DOF:
        return False
    t = float(stats.t.ppf(0.975, dof))
    warnings.warn(
        f"{what}: {n} points leave {dof} degree(s) of freedom, so the 95% interval is "
        f"+-{t:.3g} SE; add grid points before quoting the fitted parameters",
        FewDofWarning,
        stacklevel=3,
    )
    return True


@dataclass(frozen=True)
class PowerLawFit:
    """``y = A x^k`` by least squares on ``ln y = ln A + k ln x``; standard errors from residuals.

    ``*_se``: standard errors from the residual variance (``s^2 (X'WX)^-1``); ``*_ci``: the
    two-sided 95% intervals ``estimate +- t_{0.975,dof} SE`` with ``dof = n_points - 2``;
    ``few_dof`` is True (and a :class:`FewDofWarning` was issued) when ``dof <= FEW_DOF``.
    """

    exponent: float
    exponent_se: float
    log_prefactor: float
    log_prefactor_se: float
    n_points: int
    r2: float
    x_range: tuple[float, float]
    dof: int
    exponent_ci: tuple[float, float]
    log_prefactor_ci: tuple[float, float]
    few_dof: bool

    def describe(self) -> str:
        """``k = ... (95% CI ... to ..., dof ...)``: the exponent as it should be quoted."""
        return format_estimate("k", self.exponent, self.exponent_ci, self.dof)


def _ols(X: np.ndarray, y: np.ndarray, w: np.ndarray | None):
    """Weighted least squares: coefficients, their standard errors ``sqrt(diag(s^2 (X'WX)^-1))``
    with ``s^2 = sum w r^2 / dof`` (weights are relative: the scale comes from the residuals),
    R^2, and ``dof = n - #coefficients``."""
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
    return beta, np.sqrt(np.diag(cov)), r2, dof


def power_law_fit(x, y, weights=None) -> PowerLawFit | None:
    """Fit ``y = A x^k`` (x, y > 0); ``None`` with fewer than 3 points (no uncertainty possible).

    Warns with :class:`FewDofWarning` when 3 or 4 points leave ``dof <= 2``.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.unique(x[ok]).size < 2:
        return None
    X = np.column_stack([np.ones(ok.sum()), np.log(x[ok])])
    w = None if weights is None else np.asarray(weights, float)[ok]
    (a, k), (sa, sk), r2, dof = _ols(X, np.log(y[ok]), w)
    n = int(ok.sum())
    return PowerLawFit(
        float(k),
        float(sk),
        float(a),
        float(sa),
        n,
        r2,
        (float(x[ok].min()), float(x[ok].max())),
        dof,
        t_interval(float(k), float(sk), dof),
        t_interval(float(a), float(sa), dof),
        _warn_few_dof("power_law_fit", n, dof),
    )


@dataclass(frozen=True)
class GateLawFit:
    """``ln(1 + t_gen) = a + C / beta``: the increasing gate reaches a fixed level (docs/sfm.md).

    ``*_se`` and ``*_ci`` as in :class:`PowerLawFit` (``dof = n_points - 2``; the points are
    seed-points, treated as independent). ``critical_gate_times_p_ci`` maps ``C_ci`` through the
    monotone ``sqrt(2 C eta)`` (exact for a monotone map; the ``_se`` is the delta method's).
    """

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
    dof: int
    C_ci: tuple[float, float]
    a_ci: tuple[float, float]
    critical_gate_times_p_ci: tuple[float, float]
    few_dof: bool

    def describe(self) -> str:
        """``C = ... (95% CI ...), p tau_c = ... (95% CI ...)`` as they should be quoted."""
        c = format_estimate("C", self.C, self.C_ci, self.dof)
        g = format_estimate(
            "p tau_c", self.critical_gate_times_p, self.critical_gate_times_p_ci, self.dof
        )
        return f"{c}; {g}"


def gate_law_fit(beta, t_gen, eta: float = 1.0) -> GateLawFit | None:
    """Fit ``ln(1 + t_gen)`` linear in ``1/beta`` (schedule b2, definitions §1.7); ``None`` if < 3 points.

    Warns with :class:`FewDofWarning` when 3 or 4 points leave ``dof <= 2``.
    """
    b = np.asarray(beta, float)
    t = np.asarray(t_gen, float)
    ok = (b > 0) & np.isfinite(t) & (t >= 0)
    if ok.sum() < 3 or np.unique(b[ok]).size < 2:
        return None
    X = np.column_stack([np.ones(ok.sum()), 1.0 / b[ok]])
    (a, C), (sa, sC), r2, dof = _ols(X, np.log1p(t[ok]), None)
    g = math.sqrt(max(2.0 * C * eta, 0.0))
    g_se = (eta * sC / g) if g > 0 else float("nan")  # delta method: d sqrt(2 C eta)/dC = eta / g
    c_ci = t_interval(float(C), float(sC), dof)
    g_ci = tuple(
        math.sqrt(max(2.0 * c * eta, 0.0)) if math.isfinite(c) else float("nan") for c in c_ci
    )
    n = int(ok.sum())
    return GateLawFit(
        float(C),
        float(sC),
        float(a),
        float(sa),
        n,
        r2,
        g,
        g_se,
        dof,
        c_ci,
        t_interval(float(a), float(sa), dof),
        (g_ci[0], g_ci[1]),
        _warn_few_dof("gate_law_fit", n, dof),
    )


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
