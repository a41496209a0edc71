"""The eps-beta calibration sweep of the LLC estimator (definitions §2.3; Lau et al. 2023).

SGLD's step size ``eps`` and inverse temperature (through ``n beta``) have no universal good
value: too large an ``eps`` and the chain is unstable (diverges, or the sampled loss falls below
``L_n(w*)`` / keeps drifting); too small and it does not mix in the budgeted steps. The practice
(Lau et al. 2023, App. on hyper-parameters; devinterp's "calibration sweep" notebook) is to run
the estimator over a grid of ``eps`` and ``n beta`` and read off a region where the estimate is
finite, positive, stationary and flat in ``eps``. :func:`calibrate_llc` runs that grid on one
:class:`~.llc_vmap.LLCTarget` (so ``L_n(w*)`` and the data are prepared once for every point) and
applies the rule stated there; :func:`.llc_plots.plot_calibration` draws it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from theory.base.errors import InputError
from transformer_check.measures.llc import SGLDConfig, result_from_trace
from transformer_check.measures.llc_vmap import LLCTarget, run_chains

__all__ = ["CalibrationPoint", "Calibration", "calibrate_llc"]


@dataclass
class CalibrationPoint:
    """One grid point: ``eps``, ``nbeta`` and what the chains gave there.

    ``diverged``: some chain's loss became non-finite. ``stable``: not diverged, ``llc > 0`` and
    ``|drift| <= 3 drift_se + rel_tol llc`` (see :func:`calibrate_llc`). ``loss_trace``: the
    chains' sampled losses including burn-in, ``[n_chains, n_burnin + n_steps]``.
    """

    eps: float
    nbeta: float
    llc: float
    llc_se: float
    drift: float
    drift_se: float
    diverged: bool
    stable: bool
    loss_trace: np.ndarray

    def summary(self) -> dict[str, float | bool]:
        """The flat numbers (no trace), for JSON."""
        return {
            k: getattr(self, k)
            for k in ("eps", "nbeta", "llc", "llc_se", "drift", "drift_se", "diverged", "stable")
        }


@dataclass
class Calibration:
    """The sweep: ``points`` in grid order (``nbeta`` outer, ``eps`` inner) and the pick."""

    points: list[CalibrationPoint]
    eps_grid: tuple[float, ...]
    nbeta_grid: tuple[float, ...]
    config: SGLDConfig
    init_loss: float
    rel_tol: float
    recommended: CalibrationPoint | None
    # How the pick was made: "plateau" (it agrees with the next smaller stable eps), "fallback"
    # (no two neighbouring stable points agree: the smallest stable eps, unconfirmed) or "none".
    recommended_rule: str = "none"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the grid, every point's numbers and the recommended point."""
        return {
            "eps_grid": list(self.eps_grid),
            "nbeta_grid": list(self.nbeta_grid),
            "config": dataclasses.asdict(self.config),
            "init_loss": self.init_loss,
            "rel_tol": self.rel_tol,
            "points": [p.summary() for p in self.points],
            "recommended": None if self.recommended is None else self.recommended.summary(),
            "recommended_rule": self.recommended_rule,
        }


def _point(
    trace: np.ndarray, target: LLCTarget, eps: float, nbeta: float, cfg: SGLDConfig, rel_tol: float
) -> CalibrationPoint:
    if not np.all(np.isfinite(trace)):
        nan = math.nan
        return CalibrationPoint(eps, nbeta, nan, nan, nan, nan, True, False, trace)
    res = result_from_trace(trace, target, nbeta / target.n, cfg)
    draws = res.loss_trace
    half = draws.shape[1] // 2
    # Per-chain half-split drift (LLCResult.drift is its mean): its spread gives an SE.
    per_chain = nbeta * (draws[:, half:].mean(axis=1) - draws[:, :half].mean(axis=1))
    c = per_chain.shape[0]
    drift_se = float(per_chain.std(ddof=1) / math.sqrt(c)) if c > 1 else math.nan
    drift = float(per_chain.mean())
    bound = (3 * drift_se if c > 1 else 0.0) + rel_tol * abs(res.llc)
    stable = bool(res.llc > 0 and abs(drift) <= bound)
    return CalibrationPoint(eps, nbeta, res.llc, res.llc_se, drift, drift_se, False, stable, trace)


def _recommend(
    points: list[CalibrationPoint], nbeta_grid: Sequence[float], prefer: float, rel_tol: float
) -> tuple[CalibrationPoint | None, str]:
    """``(point, rule)``: the largest stable eps on the plateau (``"plateau"``), at the grid's
    n beta nearest ``prefer`` (log scale); where no two neighbouring stable points agree, the
    smallest stable eps (``"fallback"``); ``(None, "none")`` without a stable point."""
    order = sorted(nbeta_grid, key=lambda b: abs(math.log(b / prefer)))
    for nb in order:
        row = sorted((p for p in points if p.nbeta == nb and p.stable), key=lambda p: p.eps)
        best = None
        for lo, hi in zip(row, row[1:], strict=False):
            if abs(hi.llc - lo.llc) <= rel_tol * abs(lo.llc) + 2 * math.hypot(hi.llc_se, lo.llc_se):
                best = hi
        if best is not None:
            return best, "plateau"
        if row:
            return row[0], "fallback"
    return None, "none"


def calibrate_llc(
    target: LLCTarget,
    eps_grid: Sequence[float],
    nbeta_grid: Sequence[float] | None = None,
    config: SGLDConfig | None = None,
    *,
    rel_tol: float = 0.1,
) -> Calibration:
    """Run the LLC estimator over ``eps_grid x nbeta_grid`` and pick a stable point.

    Parameters
    ----------
    target : LLCTarget
        What to sample (``module_target`` for a model, ``LLCTarget.build`` for a functional loss).
    eps_grid : sequence of float
        Step sizes, each > 0.
    nbeta_grid : sequence of float, optional
        Values of ``n beta``; default ``[n / ln n]`` (beta = 1/ln n, definitions §2.3).
    config : SGLDConfig, optional
        Chains, steps, burn-in, ``gamma``, batch size and seed of every point (its ``eps`` and
        ``beta`` are replaced by the grid's).
    rel_tol : float, default 0.1
        Relative tolerance of the stationarity and plateau tests below.

    Returns
    -------
    Calibration

    Notes
    -----
    The rule (after Lau et al. 2023 and devinterp's calibration guide): a point is *stable* when
    every chain stays finite, the estimate is positive (a negative one means the chains found
    loss below ``L_n(w*)``: w* is not a local minimum at this temperature, or ``eps`` is too
    large) and the loss trace is stationary after burn-in, ``|drift| <= 3 SE(drift) + rel_tol
    * llc`` (the half-split drift of :attr:`.llc.LLCResult.drift`). Along ``eps`` at fixed
    ``n beta`` the estimate then sits on a plateau; the recommended point is the largest stable
    ``eps`` whose estimate agrees with the next smaller stable one (within ``rel_tol`` relative
    plus 2 combined SEs), i.e. the fastest-mixing step still free of discretisation bias, at the
    grid ``n beta`` nearest ``n / ln n``. ``None`` when no point is stable: widen the grid.
    """
    cfg = config or SGLDConfig()
    eps_t = tuple(float(e) for e in eps_grid)
    nb_t = tuple(float(b) for b in (nbeta_grid or [target.n / math.log(target.n)]))
    if not eps_t or any(not (e > 0 and math.isfinite(e)) for e in eps_t):
        raise InputError(f"eps_grid: needs positive finite step sizes, got {list(eps_grid)}")
    if any(not (b > 0 and math.isfinite(b)) for b in nb_t):
        raise InputError(f"nbeta_grid: needs positive finite values of n*beta, got {list(nb_t)}")
    if not (0 < rel_tol < 1):
        raise InputError(f"rel_tol: must be in (0, 1), got {rel_tol}")
    points = []
    for nb in nb_t:
        for eps in eps_t:
            pcfg = dataclasses.replace(cfg, eps=eps, beta=nb / target.n)
            trace = run_chains(
                target,
                eps=eps,
                gamma=cfg.gamma,
                nbeta=nb,
                n_chains=cfg.n_chains,
                n_total=cfg.n_burnin + cfg.n_steps,
                batch_size=cfg.batch_size,
                seed=cfg.seed,
            )
            points.append(_point(trace, target, eps, nb, pcfg, rel_tol))
    rec, rule = _recommend(points, nb_t, target.n / math.log(target.n), rel_tol)
    return Calibration(points, eps_t, nb_t, cfg, target.init_loss, rel_tol, rec, rule)
