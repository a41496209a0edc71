"""Figures of a run: dynamics on one page and |W| heatmaps (init, memorisation, generalisation)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .dynamics import RunResult
from .phase import format_estimate, t_interval

__all__ = ["dynamics_figure", "heatmap_figure"]


def _events(ax, ev) -> None:
    for t, name, col in ((ev.t_mem, "t_mem", "tab:orange"), (ev.t_gen, "t_gen", "tab:green")):
        if t is not None:
            ax.axvline(t + 1, color=col, ls="--", lw=1, label=f"{name} = {t}")


def dynamics_figure(res: RunResult, b: int = 0) -> Figure:
    """Losses, support & lambda, K & F_n against steps (log x: ``step + 1``) on one page."""
    cfg, ev, c, task = res.configs[b], res.events[b], res.curves, res.tasks[b]
    p = cfg.p
    x = c.step + 1
    fig, axes = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    ax = axes[0]
    ax.loglog(x, np.maximum(c.train_rel[:, b], 1e-34), label="train rel. error")
    ax.loglog(x, np.maximum(c.test_rel[:, b], 1e-34), label="test rel. error")
    ax.axhline(1e-2, color="grey", lw=0.8, ls=":", label="1e-2 (definitions §1.8)")
    _events(ax, ev)
    ax.set_ylabel("relative error  sum r² / sum y²")
    ax.set_title(f"SFM p={p}, op '{cfg.op}', f={cfg.f} (n={task.n}), schedule '{cfg.schedule}'")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    # log axes: an empty support (W = 0 at t = 0) is drawn at 0.5, below the first tick.
    ax.loglog(x, np.maximum(c.support[:, b], 0.5), color="tab:blue", label="support |S|")
    ax.axhline(p * p, color="tab:red", ls=":", lw=1, label="p² (memorising, λ = p²/2)")
    ax.axhline(p, color="tab:green", ls=":", lw=1, label="p (Fourier-sparse, λ = p/2)")
    ax.set_ylim(0.4, 2.0 * p * p)
    ax.set_ylabel("support |S|")
    ax2 = ax.twinx()
    ax2.set_yscale("log")
    ax2.set_ylim(0.2, p * p)
    ax2.set_ylabel("λ̂ = |S| / 2")
    _events(ax, ev)
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    ax.loglog(
        x, np.maximum(c.K_bits[:, b], 1.0), color="tab:purple", label="K (enumerative code, bits)"
    )
    ax.set_ylabel("K  [bits]", color="tab:purple")
    ax2 = ax.twinx()
    ax2.loglog(x, np.maximum(c.F_n[:, b], 1e-3), color="tab:brown", label="F_n = n L_n + λ̂ ln n")
    ax2.set_ylabel("F_n  [nats]", color="tab:brown")
    _events(ax, ev)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    ax.set_xlabel("step + 1")
    fig.tight_layout()
    return fig


def heatmap_figure(res: RunResult) -> Figure:
    """|W| (log colour) at initialisation, t_mem and t_gen, frequencies centred (element 0)."""
    snaps = res.snapshots
    cfg = res.configs[0]
    names = [("init", "initialisation (t = 0)"), ("mem", "memorisation"), ("gen", "generalisation")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    mags = [np.abs(snaps[k]) for k, _ in names if k in snaps]
    top = max([m.max() for m in mags] + [1e-12])
    norm = LogNorm(vmin=top * 1e-4, vmax=top)
    fourier = res.basis.name == "fourier"
    im = None
    for ax, (key, title) in zip(axes, names, strict=True):
        ev = res.events[0]
        t = {"init": 0, "mem": ev.t_mem, "gen": ev.t_gen}[key]
        if key not in snaps:
            ax.text(0.5, 0.5, f"{key}: event did not occur", ha="center", va="center")
            ax.set_axis_off()
            continue
        M = np.abs(snaps[key])
        if not M.any():
            ax.text(0.5, 0.5, "W = 0", ha="center", va="center", transform=ax.transAxes)
        if fourier:
            M = np.fft.fftshift(M)
        shown = np.where(M > top * 1e-4, M, np.nan)
        im = ax.imshow(shown, norm=norm, cmap="viridis", origin="lower", interpolation="nearest")
        s = int(np.count_nonzero(np.abs(snaps[key]) > 0))
        ax.set_title(f"|W| at {title}\nstep {t}, {s} nonzero entries")
        lab = "frequency (centred)" if fourier else "discrete-log basis index"
        ax.set_xlabel(f"l: {lab}")
        ax.set_ylabel(f"k: {lab}")
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.85, label="|W[k, l]|")
    fig.suptitle(f"SFM weights, p={cfg.p}, op '{cfg.op}', schedule '{cfg.schedule}'")
    return fig


_ABBREV = {
    "groks": ("G", "groks"),
    "generalises directly": ("D", "generalises directly"),
    "memorises and stays": ("M", "memorises and stays"),
    "underfits": ("U", "underfits"),
    "partial": ("P", "partial (test 1e-2..0.1)"),
    "diverged": ("X", "diverged"),
}


def phase_diagram_figure(spec, results, analysis) -> Figure:
    """t_gen heatmap over (schedule strength, n/p) with rule-based region letters, one panel per p."""
    ps = sorted({r["point"]["p"] for r in results})
    fig, axes = plt.subplots(1, len(ps), figsize=(7.5 * len(ps), 6), squeeze=False)
    sname = spec.strength_name
    for ax, p in zip(axes[0], ps, strict=True):
        rs = [r for r in results if r["point"]["p"] == p]
        xs = sorted({r["point"]["strength"] for r in rs})
        fs = sorted({r["point"]["f"] for r in rs})
        Z = np.full((len(fs), len(xs)), np.nan)
        lab = [["" for _ in xs] for _ in fs]
        nop = [None] * len(fs)
        for r in rs:
            i, j = fs.index(r["point"]["f"]), xs.index(r["point"]["strength"])
            nop[i] = r["n_over_p"]
            if r["t_gen_median"] is not None:
                Z[i, j] = np.log10(max(r["t_gen_median"], 1.0))
            frac = r["frac_generalise"]
            lab[i][j] = _ABBREV[r["phase"]][0] + (f"\n{frac:.0%}" if 0 < frac < 1 else "")
        vmax = max(1.0, float(np.nanmax(Z)) if np.isfinite(Z).any() else 1.0)
        im = ax.imshow(Z, origin="lower", aspect="auto", cmap="magma_r", vmin=0, vmax=vmax)
        for i in range(len(fs)):
            for j in range(len(xs)):
                dark = np.isfinite(Z[i, j]) and Z[i, j] > 0.55 * vmax
                ax.text(
                    j,
                    i,
                    lab[i][j],
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="tab:cyan" if np.isnan(Z[i, j]) else ("white" if dark else "black"),
                    weight="bold",
                )
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(fs)), [f"{v:.2f}\n(f={f:g})" for v, f in zip(nop, fs, strict=True)])
        ax.set_xlabel(f"schedule strength {sname} ({spec.schedule} gate)")
        ax.set_ylabel("n / p  (training pairs per residue)")
        ax.set_title(f"median t_gen over {spec.seeds} seeds, p={p}, op '{spec.op}', eta={spec.eta}")
        fig.colorbar(im, ax=ax, label="log10 median t_gen  (blank: no t_gen)")
    handles = [
        plt.Line2D([], [], ls="", marker=f"${a}$", color="k", label=lbl, markersize=9)
        for a, lbl in _ABBREV.values()
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=9,
        title="region by rule (letter: majority of seeds; % = seeds reaching t_gen)",
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def _points_and_fit(ax, pts, fits, key, marker: str, label: str) -> None:
    """Median t_gen of the fully generalising points ``pts = [(x, result)]`` and their fit."""
    xs = [x for x, r in pts if r["frac_generalise"] == 1]
    ys = [r["t_gen_median"] for x, r in pts if r["frac_generalise"] == 1]
    if not xs:
        return
    line = ax.loglog(xs, ys, marker, label=label)[0]
    fit = fits.get(key) or fits.get(str(key))  # keys are floats in memory, strings after JSON
    if fit:
        xx = np.geomspace(*fit["x_range"], 50)
        ax.loglog(
            xx,
            np.exp(fit["log_prefactor"]) * xx ** fit["exponent"],
            "-",
            color=line.get_color(),
            label=f"  fit {_exponent_text(fit)}",
        )


def _exponent_text(fit: dict) -> str:
    """``k = ... (95% CI ..., dof ...)`` of a fit read from JSON; a sweep written before the fits
    carried ``dof``/``exponent_ci`` gets them from its ``n_points`` and ``exponent_se``."""
    dof = int(fit.get("dof", fit["n_points"] - 2))
    ci = fit.get("exponent_ci") or t_interval(fit["exponent"], fit["exponent_se"], dof)
    return format_estimate("k", fit["exponent"], [float(c) for c in ci], dof)


def power_law_figure(spec, results, analysis) -> Figure:
    """t_gen against schedule strength (one line per n/p) and against n/p, with fitted power laws."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    sname = spec.strength_name
    for p, info in analysis["per_p"].items():
        rs = [r for r in results if r["point"]["p"] == int(p)]
        for f in sorted({r["point"]["f"] for r in rs}):
            pts = sorted((r["point"]["strength"], r) for r in rs if r["point"]["f"] == f)
            label = f"p={p}, n/p={pts[0][1]['n_over_p']:.2f}"
            _points_and_fit(a1, pts, info["power_law_t_gen_vs_strength_by_f"], f, "o", label)
        for x in sorted({r["point"]["strength"] for r in rs}):
            pts = sorted((r["n_over_p"], r) for r in rs if r["point"]["strength"] == x)
            fits = info["power_law_t_gen_vs_n_over_p_by_strength"]
            _points_and_fit(a2, pts, fits, x, "s", f"p={p}, {sname}={x:g}")
    a1.set_xlabel(f"schedule strength {sname}")
    a1.set_ylabel("median t_gen (points where every seed generalises)")
    a1.set_title("t_gen against schedule strength")
    a2.set_xlabel("n / p")
    a2.set_ylabel("median t_gen (points where every seed generalises)")
    a2.set_title("t_gen against n / p")
    for a in (a1, a2):
        if a.get_legend_handles_labels()[0]:  # a tiny grid may have no fit to label
            a.legend(fontsize=7)
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
