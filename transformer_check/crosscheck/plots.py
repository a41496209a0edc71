"""Figure page of the cross-check: transformer measures, SFM curves and theory predictions on one
rescaled time axis (tau: t_mem -> 0, t_gen -> 1; SPEC §4.4)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from theory.base.trajectory import Trajectory
from theory.predictions import TaskPredictions
from transformer_check.crosscheck.events import rescaled_time
from transformer_check.crosscheck.verdicts import CrosscheckData, Sweeps, Verdict

__all__ = ["plot_crosscheck", "normalise"]

TC_COMPLEXITY = {
    "coarse_bytes": "coarse-grained size (paper 001)",
    "lmn": "LMN (paper 002)",
    "circuit_complexity": "local circuit complexity (paper 003)",
    "weight_entropy": "abs. weight entropy (paper 003)",
    "bdm_bits": "BDM (paper 004)",
}


def normalise(y: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] over the finite values (constant series -> 0)."""
    y = np.asarray(y, dtype=float)
    f = np.isfinite(y)
    if not f.any():
        return y
    lo, hi = np.nanmin(y[f]), np.nanmax(y[f])
    return (y - lo) / (hi - lo) if hi > lo else np.zeros_like(y)


def _tau(tr: Trajectory) -> tuple[np.ndarray, bool]:
    """Rescaled log time when both events exist, else log10(1 + step) (flagged False)."""
    if tr.t_mem is not None and tr.t_gen is not None and tr.t_gen > tr.t_mem:
        return rescaled_time(tr.steps, tr.t_mem, tr.t_gen), True
    return np.log10(1 + tr.steps), False


def _events(ax: Axes, rescaled: bool) -> None:
    if rescaled:
        for x, lab in ((0.0, "memorisation"), (1.0, "generalisation")):
            ax.axvline(x, color="0.5", ls=":", lw=1)
            ax.text(
                x,
                1.0,
                lab,
                transform=ax.get_xaxis_transform(),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color="0.4",
            )


def _logged(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points where ``y`` was logged (measures are sparser than the losses)."""
    m = np.isfinite(y)
    return x[m], y[m], m


def _panel_fit(ax: Axes, tc: Trajectory, sfm: Trajectory, x_tc, x_sfm) -> None:
    """(a) transformer accuracy and SFM relative error."""
    ax.plot(x_tc, tc["train_acc"], color="C0", label="transformer train acc")
    ax.plot(x_tc, tc["test_acc"], color="C0", ls="--", label="transformer test acc")
    ax.plot(
        x_sfm, 1 - np.clip(sfm["train_rel"], 0, 1), color="C3", label="SFM 1 − train rel. error"
    )
    ax.plot(
        x_sfm,
        1 - np.clip(sfm["test_rel"], 0, 1),
        color="C3",
        ls="--",
        label="SFM 1 − test rel. error",
    )
    ax.set_title("Fit: transformer accuracy and SFM relative error")
    ax.set_ylabel("accuracy / 1 − rel. error")
    ax.legend(fontsize=7, loc="lower right")


def _panel_complexity(ax: Axes, tc: Trajectory, sfm: Trajectory, x_tc, x_sfm) -> None:
    """(b) the complexity measures (normalised) against the SFM's lambda_hat."""
    for i, (k, lab) in enumerate(TC_COMPLEXITY.items()):
        if k in tc and np.isfinite(tc[k]).sum() > 1:
            x, _, m = _logged(x_tc, tc[k])
            ax.plot(x, normalise(tc[k])[m], marker="o", ms=3, color=f"C{i}", label=lab)
    ax.plot(x_sfm, normalise(sfm["lambda_hat"]), color="k", lw=2, alpha=0.6, label="SFM λ̂ = |S|/2")
    ax.set_title("Complexity (each min–max normalised)")
    ax.set_ylabel("normalised complexity")
    ax.legend(fontsize=7, loc="upper right")


def _panel_fourier(
    ax: Axes, tc: Trajectory, sfm: Trajectory, theory: TaskPredictions, x_tc, x_sfm
) -> None:
    """(c) embedding Fourier concentration against the SFM support, with the theory's p^2, p."""
    if "fourier_ipr" in tc:
        x, y, _ = _logged(x_tc, tc["fourier_ipr"])
        ax.plot(x, y, marker="o", ms=3, color="C2", label="transformer embedding IPR")
    ax.set_ylabel("IPR of |DFT2(W_E)|", color="C2")
    ax.set_yscale("log")
    twin = ax.twinx()
    twin.plot(x_sfm, sfm["support"], color="C3", label="SFM support |S|")
    twin.axhline(theory.support_mem, color="C3", ls=":", lw=1)
    twin.axhline(theory.support_gen, color="C3", ls="--", lw=1)
    twin.text(x_sfm[-1], theory.support_mem, " theory p²", fontsize=7, va="bottom", ha="right")
    twin.text(x_sfm[-1], theory.support_gen, " theory p", fontsize=7, va="bottom", ha="right")
    twin.set_yscale("log")
    twin.set_ylabel("SFM support", color="C3")
    ax.set_title("Fourier collapse: embedding IPR and SFM support p² → p")
    _joint_legend(ax, twin, "center left")


def _panel_llc(
    ax: Axes, tc: Trajectory, sfm: Trajectory, theory: TaskPredictions, x_tc, x_sfm
) -> None:
    """(d) the transformer's LLC against the SFM's lambda_hat and the theory's lambdas."""
    if "llc" in tc:
        x, y, m = _logged(x_tc, tc["llc"])
        ax.plot(x, y, marker="o", ms=3, color="C4", label="transformer LLC (SGLD)")
        if "llc_se" in tc:
            se = tc["llc_se"][m]
            ax.fill_between(x, y - 2 * se, y + 2 * se, color="C4", alpha=0.2)
    ax.set_ylabel("transformer LLC  λ̂(w*)", color="C4")
    twin = ax.twinx()
    twin.plot(x_sfm, sfm["lambda_hat"], color="k", alpha=0.6, label="SFM λ̂")
    twin.axhline(theory.lambda_mem, color="k", ls=":", lw=1, label="theory λ_mem = p²/2")
    twin.axhline(theory.lambda_gen, color="k", ls="--", lw=1, label="theory λ_gen = p/2")
    twin.set_yscale("log")
    twin.set_ylabel("SFM / theory λ")
    ax.set_title("Learning coefficient: transformer LLC vs SFM and theory")
    _joint_legend(ax, twin, "upper right")


def _joint_legend(ax: Axes, twin: Axes, loc: str) -> None:
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc=loc)


def _panel_sweeps(ax: Axes, sweeps: Sweeps) -> None:
    """(e) t_gen against regularisation strength, both relative to their defaults."""
    systems = (
        (sweeps.transformer, "C0", "transformer (weight decay)"),
        (sweeps.sfm, "C3", "SFM (gate β)"),
    )
    finite = [float(v) for sw, _, _ in systems for v in sw.t_gen if v is not None]
    ceiling = 1.6 * max(finite) if finite else 1.0
    ticks: set[float] = set()
    for sw, color, lab in systems:
        s = np.asarray(sw.strength, dtype=float)
        t = np.array([np.nan if v is None else float(v) for v in sw.t_gen])
        x = s / np.median(s)
        ticks.update(round(float(v), 3) for v in x)
        ax.plot(x, t, marker="o", color=color, label=lab)
        miss = ~np.isfinite(t)
        if miss.any():  # never grokked: drawn at the ceiling with an open marker
            ax.scatter(
                x[miss],
                np.full(miss.sum(), ceiling),
                marker="^",
                facecolors="none",
                edgecolors=color,
                s=60,
                label=f"{lab.split()[0]}: did not grok",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel("regularisation strength / default")
    ax.set_ylabel("t_gen (steps)")
    ax.set_title("Stronger regularisation → earlier grokking?")
    ax.legend(fontsize=7)


def _panel_verdicts(ax: Axes, verdicts: Sequence[Verdict]) -> None:
    """(f) the verdict table."""
    ax.axis("off")
    lines = ["SPEC §4.4 verdicts", ""]
    for i, v in enumerate(verdicts, 1):
        val = "n/a" if v.value is None else f"{v.value:.3g}"
        lines.append(f"({i}) {v.label.upper():9s} {v.key}")
        lines.append(f"     statistic = {val}")
        lines += textwrap.wrap(
            f"threshold {v.threshold}", 62, initial_indent="     ", subsequent_indent="       "
        )
        if v.reason:
            lines.append(f"     ({v.reason})")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=7.5)


def plot_crosscheck(
    data: CrosscheckData, theory: TaskPredictions, verdicts: Sequence[Verdict]
) -> Figure:
    """Six panels: accuracy, complexity, Fourier/support, LLC/lambda, sweeps, verdicts."""
    tc, sfm = data.transformer, data.sfm
    x_tc, ok_tc = _tau(tc)
    x_sfm, ok_sfm = _tau(sfm)
    both = ok_tc and ok_sfm
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    (a1, a2, a3), (a4, a5, a6) = axes
    _panel_fit(a1, tc, sfm, x_tc, x_sfm)
    _panel_complexity(a2, tc, sfm, x_tc, x_sfm)
    _panel_fourier(a3, tc, sfm, theory, x_tc, x_sfm)
    _panel_llc(a4, tc, sfm, theory, x_tc, x_sfm)
    a4.set_xlabel(
        "rescaled log time  τ = ln(1+t)−ln(1+t_mem) / (ln(1+t_gen)−ln(1+t_mem))"
        if both
        else "log10(1 + step)  (an event is missing: not rescaled)"
    )
    for ax in (a1, a2, a3, a4):
        _events(ax, both)
        ax.grid(alpha=0.3)
    _panel_sweeps(a5, data.sweeps)
    a5.grid(alpha=0.3, which="both")
    _panel_verdicts(a6, verdicts)
    fig.suptitle(
        f"Cross-check on a ∘ b mod {data.p}: transformer vs singular feature machine vs theory",
        fontsize=13,
    )
    fig.tight_layout()
    return fig
