"""Figure page of the cross-check: transformer measures, SFM curves and theory predictions on one
rescaled time axis (tau: t_mem -> 0, t_gen -> 1; SPEC §4.4)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from theory.base.io import save_figure  # noqa: E402

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


def _tau(steps: np.ndarray, t_mem: float | None, t_gen: float | None) -> tuple[np.ndarray, bool]:
    """Rescaled log time when both events exist, else log10(1 + step) (flagged False)."""
    steps = np.asarray(steps, dtype=float)
    if t_mem is not None and t_gen is not None and t_gen > t_mem:
        a, b = math.log1p(t_mem), math.log1p(t_gen)
        return (np.log1p(steps) - a) / (b - a), True
    return np.log10(1 + steps), False


def _events(ax, rescaled: bool) -> None:
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


def plot_crosscheck(
    data: Mapping[str, Any],
    sfm_curves: Mapping[str, np.ndarray],
    theory: Mapping[str, Any],
    verdicts: Sequence[Any],
    stem: str | Path,
) -> list[Path]:
    """Six panels: accuracy, complexity, Fourier/support, LLC/lambda, sweeps, verdicts."""
    tc = data["transformer"]
    p = data["p"]
    x_tc, ok_tc = _tau(tc["step"], data["t_mem"], data["t_gen"])
    sfm = data["sfm"]
    x_sfm, ok_sfm = _tau(sfm_curves["step"], sfm["t_mem"], sfm["t_gen"])
    both = ok_tc and ok_sfm
    xlabel = (
        "rescaled log time  τ = ln(1+t)−ln(1+t_mem) / (ln(1+t_gen)−ln(1+t_mem))"
        if both
        else "log10(1 + step)  (an event is missing: not rescaled)"
    )
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    (a1, a2, a3), (a4, a5, a6) = axes

    # (a) accuracy and relative error
    a1.plot(x_tc, tc["train_acc"], color="C0", label="transformer train acc")
    a1.plot(x_tc, tc["test_acc"], color="C0", ls="--", label="transformer test acc")
    a1.plot(
        x_sfm,
        1 - np.clip(sfm_curves["train_rel"], 0, 1),
        color="C3",
        label="SFM 1 − train rel. error",
    )
    a1.plot(
        x_sfm,
        1 - np.clip(sfm_curves["test_rel"], 0, 1),
        color="C3",
        ls="--",
        label="SFM 1 − test rel. error",
    )
    a1.set_title("Fit: transformer accuracy and SFM relative error")
    a1.set_ylabel("accuracy / 1 − rel. error")
    _events(a1, both)
    a1.legend(fontsize=7, loc="lower right")

    # (b) complexity measures (normalised) vs SFM lambda_hat
    for i, (k, lab) in enumerate(TC_COMPLEXITY.items()):
        if k in tc and np.isfinite(np.asarray(tc[k], dtype=float)).sum() > 1:
            y = np.asarray(tc[k], dtype=float)
            m = np.isfinite(y)
            a2.plot(x_tc[m], normalise(y)[m], marker="o", ms=3, color=f"C{i}", label=lab)
    lam = np.asarray(sfm_curves["lambda_hat"], dtype=float)
    a2.plot(x_sfm, normalise(lam), color="k", lw=2, alpha=0.6, label="SFM λ̂ = |S|/2")
    a2.set_title("Complexity (each min–max normalised)")
    a2.set_ylabel("normalised complexity")
    _events(a2, both)
    a2.legend(fontsize=7, loc="upper right")

    # (c) Fourier concentration vs SFM support with the theory's p^2 and p
    if "fourier_ipr" in tc:
        y = np.asarray(tc["fourier_ipr"], dtype=float)
        m = np.isfinite(y)
        a3.plot(x_tc[m], y[m], marker="o", ms=3, color="C2", label="transformer embedding IPR")
    a3.set_ylabel("IPR of |DFT2(W_E)|", color="C2")
    a3.set_yscale("log")
    b3 = a3.twinx()
    b3.plot(x_sfm, sfm_curves["support"], color="C3", label="SFM support |S|")
    b3.axhline(theory["support_mem"], color="C3", ls=":", lw=1)
    b3.axhline(theory["support_gen"], color="C3", ls="--", lw=1)
    b3.text(x_sfm[-1], theory["support_mem"], " theory p²", fontsize=7, va="bottom", ha="right")
    b3.text(x_sfm[-1], theory["support_gen"], " theory p", fontsize=7, va="bottom", ha="right")
    b3.set_yscale("log")
    b3.set_ylabel("SFM support", color="C3")
    a3.set_title("Fourier collapse: embedding IPR and SFM support p² → p")
    _events(a3, both)
    h1, l1 = a3.get_legend_handles_labels()
    h2, l2 = b3.get_legend_handles_labels()
    a3.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")

    # (d) LLC vs lambda_hat with theory lambda_mem, lambda_gen
    if "llc" in tc:
        y = np.asarray(tc["llc"], dtype=float)
        m = np.isfinite(y)
        a4.plot(x_tc[m], y[m], marker="o", ms=3, color="C4", label="transformer LLC (SGLD)")
        if "llc_se" in tc:
            se = np.asarray(tc["llc_se"], dtype=float)[m]
            a4.fill_between(x_tc[m], y[m] - 2 * se, y[m] + 2 * se, color="C4", alpha=0.2)
    a4.set_ylabel("transformer LLC  λ̂(w*)", color="C4")
    b4 = a4.twinx()
    b4.plot(x_sfm, lam, color="k", alpha=0.6, label="SFM λ̂")
    b4.axhline(theory["lambda_mem"], color="k", ls=":", lw=1, label="theory λ_mem = p²/2")
    b4.axhline(theory["lambda_gen"], color="k", ls="--", lw=1, label="theory λ_gen = p/2")
    b4.set_yscale("log")
    b4.set_ylabel("SFM / theory λ")
    a4.set_title("Learning coefficient: transformer LLC vs SFM and theory")
    a4.set_xlabel(xlabel)
    _events(a4, both)
    h1, l1 = a4.get_legend_handles_labels()
    h2, l2 = b4.get_legend_handles_labels()
    a4.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")

    # (e) sweeps: t_gen against strength, both relative to their defaults
    sw = data["sweeps"]
    finite = [float(v) for k in ("transformer", "sfm") for v in sw[k]["t_gen"] if v is not None]
    ceiling = 1.6 * max(finite) if finite else 1.0
    for sysname, color, lab in (
        ("transformer", "C0", "transformer (weight decay)"),
        ("sfm", "C3", "SFM (gate β)"),
    ):
        s = np.asarray(sw[sysname]["strength"], dtype=float)
        t = np.array([np.nan if v is None else float(v) for v in sw[sysname]["t_gen"]])
        x = s / np.median(s)
        a5.plot(x, t, marker="o", color=color, label=lab)
        miss = ~np.isfinite(t)
        if miss.any():  # never grokked: drawn at the ceiling with an open marker
            a5.scatter(
                x[miss],
                np.full(miss.sum(), ceiling),
                marker="^",
                facecolors="none",
                edgecolors=color,
                s=60,
                label=f"{lab.split()[0]}: did not grok",
            )
    a5.set_xscale("log")
    a5.set_yscale("log")
    a5.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a5.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a5.set_xticks(
        sorted(
            {
                round(float(v), 3)
                for k in ("transformer", "sfm")
                for v in np.asarray(sw[k]["strength"]) / np.median(sw[k]["strength"])
            }
        )
    )
    a5.set_xlabel("regularisation strength / default")
    a5.set_ylabel("t_gen (steps)")
    a5.set_title("Stronger regularisation → earlier grokking?")
    a5.legend(fontsize=7)

    # (f) verdict table
    a6.axis("off")
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
    a6.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
    for ax in (a1, a2, a3, a4):
        ax.grid(alpha=0.3)
    a5.grid(alpha=0.3, which="both")
    fig.suptitle(
        f"Cross-check on a ∘ b mod {p}: transformer vs singular feature machine vs theory",
        fontsize=13,
    )
    fig.tight_layout()
    return save_figure(fig, stem)
