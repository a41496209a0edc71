"""Figure page of the cross-check: transformer measures, SFM curves and theory predictions on one
rescaled time axis (tau: t_mem -> 0, t_gen -> 1, per seed; definitions §4.4), each series the median
over seeds with a min-max band, and the pooled verdicts."""

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
from transformer_check.crosscheck.condensation import NULL_LEVEL, logged_thirds
from transformer_check.crosscheck.events import rescaled_time
from transformer_check.crosscheck.pooled import PooledVerdict
from transformer_check.crosscheck.verdicts import CrosscheckData, Sweeps
from transformer_check.measures.ring import ring_null_quantile

__all__ = ["plot_crosscheck", "normalise", "band"]

TC_COMPLEXITY = {
    "coarse_bytes": "coarse-grained size (DeMoss et al. (2024))",
    "lmn": "LMN (Liu et al. (2023))",
    "circuit_complexity": "local circuit complexity (Golechha (2024))",
    "weight_entropy": "abs. weight entropy (Golechha (2024))",
    "bdm_bits": "BDM (Zhang et al. (2026))",
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


def _axis(trajs: Sequence[Trajectory]) -> tuple[list[np.ndarray], bool]:
    """Each seed's x values: rescaled time when every seed has both events, else log10(1+step)
    for all (one axis for every seed, or the band would mix two time scales)."""
    xs = [_tau(t) for t in trajs]
    if all(ok for _, ok in xs):
        return [x for x, _ in xs], True
    return [np.log10(1 + t.steps) for t in trajs], False


def band(
    xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], n: int = 160
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and min-max over seeds of series ``ys[i]`` on axes ``xs[i]``, on a common grid.

    Each seed's logged (finite) points are interpolated linearly on the grid inside their own
    range and left out outside it, so a seed never contributes where it was not observed.
    """
    parts = [
        _logged(np.asarray(x, float), np.asarray(y, float))[:2] for x, y in zip(xs, ys, strict=True)
    ]
    parts = [(x, y) for x, y in parts if len(x) >= 1]
    if not parts:
        e = np.array([])
        return e, e, e, e
    lo_x = min(float(x.min()) for x, _ in parts)
    hi_x = max(float(x.max()) for x, _ in parts)
    grid = np.linspace(lo_x, hi_x, n) if hi_x > lo_x else np.array([lo_x])
    stack = np.full((len(parts), len(grid)), np.nan)
    for i, (x, y) in enumerate(parts):
        order = np.argsort(x)
        x, y = x[order], y[order]
        inside = (grid >= x[0]) & (grid <= x[-1])
        stack[i, inside] = np.interp(grid[inside], x, y)
    seen = np.isfinite(stack).any(axis=0)
    grid, stack = grid[seen], stack[:, seen]
    return grid, np.nanmedian(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)


def _plot_band(ax: Axes, xs, ys, color: str, label: str, **kw) -> None:
    g, med, lo, hi = band(xs, ys)
    if not len(g):
        return
    ax.plot(g, med, color=color, label=label, **kw)
    if len(xs) > 1:
        ax.fill_between(g, lo, hi, color=color, alpha=0.15, lw=0)


def _panel_fit(ax: Axes, tcs, sfms, x_tc, x_sfm) -> None:
    """(a) transformer accuracy and SFM relative error."""
    _plot_band(ax, x_tc, [t["train_acc"] for t in tcs], "C0", "transformer train acc")
    _plot_band(ax, x_tc, [t["test_acc"] for t in tcs], "C0", "transformer test acc", ls="--")
    err = [1 - np.clip(t["train_rel"], 0, 1) for t in sfms]
    _plot_band(ax, x_sfm, err, "C3", "SFM 1 − train rel. error")
    err = [1 - np.clip(t["test_rel"], 0, 1) for t in sfms]
    _plot_band(ax, x_sfm, err, "C3", "SFM 1 − test rel. error", ls="--")
    ax.set_title("Fit: transformer accuracy and SFM relative error")
    ax.set_ylabel("accuracy / 1 − rel. error")
    ax.legend(fontsize=7, loc="lower right")


def _panel_complexity(ax: Axes, tcs, sfms, x_tc, x_sfm) -> None:
    """(b) the complexity measures (normalised per seed) against the SFM's lambda_hat."""
    for i, (k, lab) in enumerate(TC_COMPLEXITY.items()):
        if all(k in t and np.isfinite(t[k]).sum() > 1 for t in tcs):
            _plot_band(ax, x_tc, [normalise(t[k]) for t in tcs], f"C{i}", lab, marker="")
    lam = [normalise(t["lambda_hat"]) for t in sfms]
    _plot_band(ax, x_sfm, lam, "k", "SFM λ̂ = |S|/2", lw=2, alpha=0.6)
    ax.set_title("Complexity (each min–max normalised per seed)")
    ax.set_ylabel("normalised complexity")
    ax.legend(fontsize=7, loc="upper right")


def _panel_fourier(ax: Axes, tcs, sfms, theory: TaskPredictions, x_tc, x_sfm) -> None:
    """(c) embedding Fourier concentration against the SFM support, with the theory's p^2, p."""
    if all("fourier_ipr" in t for t in tcs):
        _plot_band(ax, x_tc, [t["fourier_ipr"] for t in tcs], "C2", "transformer embedding IPR")
    ax.set_ylabel("IPR of |DFT2(W_E)|", color="C2")
    ax.set_yscale("log")
    twin = ax.twinx()
    _plot_band(twin, x_sfm, [t["support"] for t in sfms], "C3", "SFM support |S|")
    right = max(float(np.max(x)) for x in x_sfm)
    twin.axhline(theory.support_mem, color="C3", ls=":", lw=1)
    twin.axhline(theory.support_gen, color="C3", ls="--", lw=1)
    twin.text(right, theory.support_mem, " theory p²", fontsize=7, va="bottom", ha="right")
    twin.text(right, theory.support_gen, " theory p", fontsize=7, va="bottom", ha="right")
    twin.set_yscale("log")
    twin.set_ylabel("SFM support", color="C3")
    ax.set_title("Fourier collapse: embedding IPR and SFM support p² → p")
    _joint_legend(ax, twin, "center left")


def _panel_llc(ax: Axes, tcs, sfms, theory: TaskPredictions, x_tc, x_sfm) -> None:
    """(d) the transformer's LLC against the SFM's lambda_hat and the theory's lambdas."""
    if all("llc" in t for t in tcs):
        _plot_band(ax, x_tc, [t["llc"] for t in tcs], "C4", "transformer LLC (SGLD)")
    ax.set_ylabel("transformer LLC  λ̂(w*)", color="C4")
    twin = ax.twinx()
    _plot_band(twin, x_sfm, [t["lambda_hat"] for t in sfms], "k", "SFM λ̂", alpha=0.6)
    twin.axhline(theory.lambda_mem, color="k", ls=":", lw=1, label="theory λ_mem = p²/2")
    twin.axhline(theory.lambda_gen, color="k", ls="--", lw=1, label="theory λ_gen = p/2")
    twin.set_yscale("log")
    twin.set_ylabel("SFM / theory λ")
    ax.set_title("Learning coefficient: transformer LLC vs SFM and theory")
    _joint_legend(ax, twin, "upper right")


def _panel_ring(ax: Axes, tcs, p: int, x_tc) -> None:
    """(g) the ring score of the embedding and of the answer's residual stream, with the null."""
    for key, color, lab in (("ring_score", "C1", "token embedding"),
                            ("ring_resid_score", "C5", "residual at '=' (mean per answer)")):  # fmt: skip
        if all(key in t for t in tcs):
            _plot_band(ax, x_tc, [t[key] for t in tcs], color, lab)
    ax.axhline(ring_null_quantile(p, NULL_LEVEL), color="0.4", ls="--", lw=1,
               label=f"null {NULL_LEVEL:.0%} quantile (no ring)")  # fmt: skip
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("ring score (best key frequency)")
    ax.set_title("Ring: residues on a circle ordered by k·a (Zhang et al. (2026))")
    _legend(ax, "upper left")


def _panel_bdm(ax: Axes, tcs, x_tc) -> None:
    """(h) K_BDM of the quantised weights against the raw bz2 size, each over its value at init."""
    for key, color, lab in (("bdm_bits", "C4", "K_BDM, quartile-quantised (Zhang et al. (2026))"),
                            ("bz2_naive_bytes", "0.3", "bz2 of raw float32 weights")):  # fmt: skip
        if all(key in t for t in tcs):
            ys = [_over_first(t[key]) for t in tcs]
            _plot_band(ax, x_tc, ys, color, lab)
    ax.set_ylabel("size / size at init")
    ax.set_title("BDM drop: quantised vs raw weights")
    _legend(ax, "lower left")


def _over_first(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, float)
    f = y[np.isfinite(y)]
    return y / f[0] if len(f) and f[0] != 0 else y


def _panel_bypass(ax: Axes, tcs, x_tc) -> None:
    """(i) accuracy lost by skipping each third of the blocks: test (solid), train (dashed)."""
    found = [logged_thirds(t.series) for t in tcs]
    if any(f is None or not f[1] for f in found) or len({f[0] for f in found}) != 1:
        n = {f[0] for f in found if f is not None}
        why = f"{'/'.join(map(str, sorted(n)))} block(s)" if n else "not logged"
        ax.text(0.5, 0.5, f"no thirds to skip ({why})", ha="center", va="center",
                transform=ax.transAxes, color="0.4")  # fmt: skip
    else:
        for i, (a, b) in enumerate(found[0][1]):
            for split, ls in (("skip_acc", "-"), ("skip_train_acc", "--")):
                if all(f"{split}.{a}-{b}" in t for t in tcs):
                    cost = [t[f"{split}.none"] - t[f"{split}.{a}-{b}"] for t in tcs]
                    name = ("first", "middle", "last")[i]
                    lab = f"skip {name} third [{a}, {b})" if ls == "-" else None
                    _plot_band(ax, x_tc, cost, f"C{i}", lab, ls=ls)
    ax.set_ylabel("accuracy lost by skipping")
    ax.set_title("Bypass: skip-ablation of thirds (test —, train --)")
    _legend(ax, "upper left")


def _legend(ax: Axes, loc: str) -> None:
    """A legend only when something was drawn (a series that was not logged draws nothing)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc=loc)


def _joint_legend(ax: Axes, twin: Axes, loc: str) -> None:
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc=loc)


def _panel_sweeps(ax: Axes, sweeps: Sequence[Sweeps]) -> None:
    """(e) t_gen against regularisation strength (relative to the default): the median over seeds
    with min-max whiskers; seeds that never grokked are counted at the ceiling."""
    finite = [
        float(v)
        for sw in sweeps
        for one in (sw.transformer, sw.sfm)
        for v in one.t_gen
        if v is not None
    ]
    ceiling = 1.6 * max(finite) if finite else 1.0
    ticks: set[float] = set()
    for which, color, lab in (("transformer", "C0", "transformer (weight decay)"),
                              ("sfm", "C3", "SFM (gate β)")):  # fmt: skip
        runs = [getattr(sw, which) for sw in sweeps]
        s = np.asarray(runs[0].strength, dtype=float)
        t = np.array([[np.nan if v is None else float(v) for v in r.t_gen] for r in runs])
        x = s / np.median(s)
        ticks.update(round(float(v), 3) for v in x)
        with np.errstate(all="ignore"):
            med = np.array([np.nanmedian(c) if np.isfinite(c).any() else np.nan for c in t.T])
            lo = np.array([np.nanmin(c) if np.isfinite(c).any() else np.nan for c in t.T])
            hi = np.array([np.nanmax(c) if np.isfinite(c).any() else np.nan for c in t.T])
        ax.errorbar(x, med, yerr=[med - lo, hi - med], marker="o", color=color, capsize=3,
                    label=f"{lab}: median, min–max over {len(runs)} seed(s)")  # fmt: skip
        miss = (~np.isfinite(t)).sum(axis=0)
        for xi, m in zip(x, miss, strict=True):
            if m:  # never grokked: an open marker at the ceiling, with the count
                ax.scatter([xi], [ceiling], marker="^", facecolors="none", edgecolors=color, s=60)
                ax.annotate(f"{m}/{len(runs)} no grok", (xi, ceiling), fontsize=6, color=color,
                            xytext=(4, 2), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel("regularisation strength / default")
    ax.set_ylabel("t_gen (steps)")
    ax.set_title("Stronger regularisation → earlier grokking?")
    ax.legend(fontsize=7)


def _panel_verdicts(ax: Axes, pooled: Sequence[PooledVerdict]) -> None:
    """(f) the pooled verdict table."""
    ax.axis("off")
    k = pooled[0].n_seeds if pooled else 0
    lines = [f"Verdicts over {k} seed(s) (1-5: definitions §4.4; 6-8: Zhang et al. (2026))", ""]
    for i, v in enumerate(pooled, 1):
        val = "n/a" if v.mean is None else f"{v.mean:.3g}"
        ci = f" [{v.ci[0]:.3g}, {v.ci[1]:.3g}] (95% CI)" if v.ci else ""
        lines.append(f"({i}) {v.label.upper():9s} {v.key}")
        lines.append(f"     mean = {val}{ci}; holds in {v.n_holds}/{v.n_seeds}")
        if v.reason:
            lines += textwrap.wrap(
                f"({v.reason})", 70, initial_indent="     ", subsequent_indent="      "
            )
    lines += ["", "rules: docs/statistics.md; each verdict's in crosscheck.json"]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=6.5)


def plot_crosscheck(
    datas: Sequence[CrosscheckData], theory: TaskPredictions, pooled: Sequence[PooledVerdict]
) -> Figure:
    """Nine panels: accuracy, complexity, Fourier/support, LLC/lambda, sweeps, ring, BDM vs raw
    size, skip-ablation of thirds, verdicts; every series is the median over seeds with its
    min-max band."""
    tcs = [d.transformer for d in datas]
    sfms = [d.sfm for d in datas]
    x_tc, ok_tc = _axis(tcs)
    x_sfm, ok_sfm = _axis(sfms)
    both = ok_tc and ok_sfm
    fig, axes = plt.subplots(3, 3, figsize=(17, 14))
    (a1, a2, a3), (a4, a5, a7), (a8, a9, a6) = axes
    _panel_fit(a1, tcs, sfms, x_tc, x_sfm)
    _panel_complexity(a2, tcs, sfms, x_tc, x_sfm)
    _panel_fourier(a3, tcs, sfms, theory, x_tc, x_sfm)
    _panel_llc(a4, tcs, sfms, theory, x_tc, x_sfm)
    _panel_ring(a7, tcs, datas[0].p, x_tc)
    _panel_bdm(a8, tcs, x_tc)
    _panel_bypass(a9, tcs, x_tc)
    a9.set_xlabel(
        "rescaled log time  τ = ln(1+t)−ln(1+t_mem) / (ln(1+t_gen)−ln(1+t_mem)), per seed"
        if both
        else "log10(1 + step)  (an event is missing in some seed: not rescaled)"
    )
    for ax in (a1, a2, a3, a4, a7, a8, a9):
        _events(ax, both)
        ax.grid(alpha=0.3)
    _panel_sweeps(a5, [d.sweeps for d in datas])
    a5.grid(alpha=0.3, which="both")
    _panel_verdicts(a6, pooled)
    k = len(datas)
    fig.suptitle(
        f"Cross-check on a ∘ b mod {datas[0].p}: transformer vs singular feature machine vs "
        f"theory ({k} seed{'s' if k > 1 else ''}: median, band = min–max over seeds)",
        fontsize=13,
    )
    fig.tight_layout()
    return fig
