"""The BDM ablation's tables (CSV rows, a Markdown table) and its figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from transformer_check.bdm_ablation.summary import (
    RunAblation,
    Spread,
    VariantSummary,
)
from transformer_check.bdm_ablation.variants import (
    PAPER_VARIANT,
    RAW,
    VARIANT_NAMES,
)

__all__ = [
    "ablation_figure",
    "markdown_table",
    "summary_rows",
    "value_rows",
]


def value_rows(results: Sequence[RunAblation]) -> list[dict[str, Any]]:
    """``ablation.csv``: one row per (run, variant, step) with the value and its ratio to init."""
    rows = []
    for res in results:
        for name, vals in res.values.items():
            for step, val in zip(res.steps, vals, strict=True):
                rows.append(
                    {
                        "run": res.run.name,
                        "variant": name,
                        "step": step,
                        "bits": val,
                        "relative_to_init": val / vals[0] if vals[0] else None,
                    }
                )
    return rows


def summary_rows(summaries: Sequence[VariantSummary]) -> list[dict[str, Any]]:
    """``summary.csv``: one flat row per variant."""
    rows = []
    for s in summaries:
        row: dict[str, Any] = {"variant": s.variant, "n_runs": s.n_runs}
        row.update(n_left_out=s.n_left_out, n_rises_then_falls=s.n_rises_then_falls)
        for q in ("rise", "drop", "drop_raw", "drop_minus_raw"):
            sp: Spread = getattr(s, q)
            row.update({f"{q}_mean": sp.mean, f"{q}_min": sp.lo, f"{q}_max": sp.hi})
        rows.append(row)
    return rows


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _cell(sp: Spread) -> str:
    if sp.n == 0:
        return "n/a"
    return f"{_pct(sp.mean)} [{_pct(sp.lo)}, {_pct(sp.hi)}]"


def markdown_table(summaries: Sequence[VariantSummary]) -> str:
    """The ablation as a Markdown table ready for docs, with a caption saying what it shows."""
    head = (
        "| variant | runs | rises then falls | rise mean [min, max] | drop mean [min, max] | "
        "drop − raw drop mean [min, max] |\n|---|---:|---:|---:|---:|---:|\n"
    )
    body = []
    for s in summaries:
        excess = "—" if s.variant == RAW else _cell(s.drop_minus_raw)
        name = f"**{s.variant}**" if s.variant == PAPER_VARIANT else s.variant
        left = f" (+{s.n_left_out} left out)" if s.n_left_out else ""
        body.append(
            f"| {name} | {s.n_runs}{left} | {s.n_rises_then_falls}/{s.n_runs} | {_cell(s.rise)} "
            f"| {_cell(s.drop)} | {excess} |"
        )
    caption = (
        "\n\nrise = (plateau − init)/init, drop = (plateau − final)/plateau, plateau = mean over "
        "checkpoints with t_mem ≤ step < t_gen; raw = bz2 of the float32 weights. Each cell is the "
        "mean over the runs (seeds) counted, and [min, max] the range over them (not a confidence "
        "interval). Bold: the paper's choice (what training logs as bdm_bits). Runs without "
        "t_mem/t_gen or without a checkpoint after t_gen are left out.\n"
    )
    return head + "\n".join(body) + caption


# -- figure -----------------------------------------------------------------------------------


def ablation_figure(results: Sequence[RunAblation], title: str | None = None) -> Figure:
    """One panel per variant and one for ``raw_bz2``: each run's value / its value at init
    against step (log x; step 0 is drawn on the linear stretch below 1), t_mem dashed and t_gen
    dotted in the run's colour."""
    import matplotlib.pyplot as plt

    names = list(results[0].values) if results else [*VARIANT_NAMES, RAW]
    ncols = 3
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, sharex=True
    )
    colours = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        ax = axes[k // ncols][k % ncols]
        for i, res in enumerate(results):
            vals = np.asarray(res.values[name])
            c = colours(i % 10)
            rel = vals / vals[0]
            ax.plot(res.steps, rel, marker=".", ms=3, lw=1.2, color=c, label=res.run.name)
            for t, ls in ((res.run.t_mem, "--"), (res.run.t_gen, ":")):
                if t is not None:
                    ax.axvline(t, color=c, ls=ls, lw=0.9, alpha=0.7)
        ax.axhline(1.0, color="0.5", lw=0.6)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_title(name + (" (paper)" if name == PAPER_VARIANT else ""), fontsize=9)
        ax.grid(alpha=0.3, lw=0.4, which="both")
        if k % ncols == 0:
            ax.set_ylabel("value / value at init")
        if k // ncols == nrows - 1:
            ax.set_xlabel("step")
    for k in range(len(names), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    first = axes[0][0]
    if len(results) <= 10:
        first.legend(fontsize=6, loc="best")
    fig.suptitle(
        (title or "K_BDM ablation over checkpoints")
        + "  (dashed: t_mem, dotted: t_gen, per run colour)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
