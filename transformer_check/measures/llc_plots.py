"""Figures of the LLC estimator (definitions §2.3): per-chain loss traces and the eps-beta sweep.

Both draw ``n beta (L - L_n(w*))``, the estimator's own units, so a flat trace at height ``y``
reads directly as a chain estimating ``lambda = y`` (Lau et al. 2023). Figures are written with
:func:`theory.base.io.save_figure` (``.png`` and ``.svg``, atomically).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from theory.base.io import save_figure

if TYPE_CHECKING:
    from transformer_check.measures.llc import LLCResult
    from transformer_check.measures.llc_calibrate import Calibration

__all__ = ["plot_loss_traces", "plot_calibration"]


def _traces(ax: Any, trace: np.ndarray, n_burnin: int, nbeta: float, init_loss: float) -> None:
    """Chains of ``trace [C, T]`` in estimator units, burn-in shaded."""
    t = np.arange(trace.shape[1])
    for c, row in enumerate(trace):
        ax.plot(t, nbeta * (row - init_loss), lw=0.7, alpha=0.8, label=f"chain {c}")
    if n_burnin:
        ax.axvspan(0, n_burnin, color="0.85", zorder=0)


def plot_loss_traces(result: LLCResult, path_stem: str | os.PathLike) -> list[Path]:
    """Each chain's sampled loss ``n beta (L_t - L_n(w*))`` over its steps, burn-in shaded.

    Parameters
    ----------
    result : LLCResult
        From :func:`.llc.estimate_llc` (its ``burnin_trace`` is drawn when present).
    path_stem : str or os.PathLike
        Output path without suffix.

    Returns
    -------
    list of Path
        The ``.png`` and ``.svg`` written.
    """
    import matplotlib.pyplot as plt

    burn = result.burnin_trace if result.burnin_trace is not None else result.loss_trace[:, :0]
    trace = np.concatenate([burn, result.loss_trace], axis=1)
    nbeta = result.n * result.beta
    fig, ax = plt.subplots(figsize=(8, 4))
    _traces(ax, trace, burn.shape[1], nbeta, result.init_loss)
    ax.axhline(
        result.llc, color="k", lw=1, ls="--", label=f"LLC {result.llc:.3g} ± {result.llc_se:.2g}"
    )
    ax.set_xlabel("SGLD step (shaded: burn-in)")
    ax.set_ylabel(r"$n\beta\,(L_t - L_n(w^*))$")
    cfg = result.config
    ax.set_title(f"LLC loss traces: eps={cfg.eps:g}, n·beta={nbeta:.4g}, gamma={cfg.gamma:g}")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path_stem)


def plot_calibration(cal: Calibration, path_stem: str | os.PathLike) -> list[Path]:
    """The eps-beta sweep: LLC vs eps per n beta (left), every grid point's traces (right).

    Unstable points are drawn hollow, diverged ones as crosses on the axis; the recommended
    point (see :func:`.llc_calibrate.calibrate_llc`) is ringed.

    Parameters
    ----------
    cal : Calibration
        From :func:`.llc_calibrate.calibrate_llc`.
    path_stem : str or os.PathLike
        Output path without suffix.

    Returns
    -------
    list of Path
        The ``.png`` and ``.svg`` written.
    """
    import matplotlib.pyplot as plt

    ne, nb = len(cal.eps_grid), len(cal.nbeta_grid)
    fig = plt.figure(figsize=(5 + 2.2 * ne, max(4.0, 1.9 * nb)))
    grid = fig.add_gridspec(nb, ne + 2)
    ax = fig.add_subplot(grid[:, :2])
    for k, beta in enumerate(cal.nbeta_grid):
        row = [p for p in cal.points if p.nbeta == beta]
        ok = [p for p in row if p.stable]
        bad = [p for p in row if not p.stable and not p.diverged]
        color = f"C{k}"
        ax.errorbar(
            [p.eps for p in ok],
            [p.llc for p in ok],
            yerr=[2 * p.llc_se for p in ok],
            fmt="o-",
            color=color,
            label=f"n·beta={beta:.4g}",
        )
        ax.scatter([p.eps for p in bad], [p.llc for p in bad], facecolors="none", edgecolors=color)
        div = [p.eps for p in row if p.diverged]
        ax.scatter(div, [0.0] * len(div), marker="x", color=color)
    rec = cal.recommended
    if rec is not None:
        ax.scatter([rec.eps], [rec.llc], s=160, facecolors="none", edgecolors="k", label="picked")
    ax.set_xscale("log")
    ax.set_xlabel("SGLD step size eps")
    ax.set_ylabel("LLC estimate (±2 SE); hollow: unstable, x: diverged")
    ax.set_title("eps–beta calibration sweep")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    for i, beta in enumerate(cal.nbeta_grid):
        for j, eps in enumerate(cal.eps_grid):
            p = next(q for q in cal.points if q.nbeta == beta and q.eps == eps)
            sub = fig.add_subplot(grid[i, j + 2])
            tr = np.where(np.isfinite(p.loss_trace), p.loss_trace, np.nan)
            _traces(sub, tr, cal.config.n_burnin, beta, cal.init_loss)
            state = "diverged" if p.diverged else ("stable" if p.stable else "unstable")
            if p.diverged:
                sub.set_yscale("symlog")  # the runaway spans hundreds of decades
            sub.set_title(f"eps={eps:.2g} nβ={beta:.3g}\n{state}", fontsize=7)
            sub.tick_params(labelsize=6)
    fig.tight_layout()
    return save_figure(fig, path_stem)
