"""Phase labels, t_gen statistics and figures of a transformer sweep (issue 13) over its points.

Every function is pure over ``rows``: one dict per (grid point, seed) with the columns of
``points.csv`` already parsed (``seed``, the grid axes :data:`AXES`, ``steps``, ``t_mem``,
``t_gen``, ``diverged``, ``final_train_acc``, ...). Figures are bare matplotlib ``Figure``
objects (no pyplot state); the sweep saves them with :func:`theory.base.io.save_figure`.

Phase of one run (:func:`classify_run`; the events are those of
:func:`transformer_check.events.detect_events`: ``t_mem`` = first logged step with train accuracy
>= 0.99 while test accuracy < 0.5, ``t_gen`` = first logged step with test accuracy >= 0.99):

``fails``                 the loss diverged, or train accuracy never reached 0.99 and no t_gen
``groks``                 t_mem and t_gen both occur and ``t_gen >= GROK_LAG_RATIO * t_mem``
``generalises directly``  t_gen occurs without such a lag (no t_mem, or t_gen < 2 t_mem)
``memorises``             train accuracy reached 0.99 (t_mem, or at the end), test never 0.99

Why a ratio of 2: steps are logged on a log-spaced grid (consecutive logged steps differ by a
factor ``steps ** (1 / eval_points)``, 1.04 for the quick preset), so ``t_gen > t_mem`` alone can
be one logging interval; ``t_gen >= 2 t_mem`` means the model stayed memorised at least as long
as it took to memorise, a plateau visible on the log-step axis of every grokking plot. The quick
preset (t_mem 44, t_gen 1097: ratio 25) groks by a wide margin.

t_gen over seeds (:func:`t_gen_bands`) is summarised by its median and a distribution-free
confidence interval of the median from order statistics (Conover, *Practical Nonparametric
Statistics*, 3rd ed., §3.2; the interval of ``scipy.stats.quantile_test``): with the sample sorted
as ``x_(1) <= ... <= x_(n)``, ``x_(0) = 0`` and ``x_(n+1) = +inf``, the interval
``[x_(r), x_(n+1-r)]`` covers the median with probability ``1 - 2 P(B <= r - 1)``,
``B ~ Binomial(n, 1/2)``; ``r`` is the largest rank whose coverage is at least ``level``. A run
without t_gen (censored at its budget, or diverged) counts as ``t_gen = +inf``: its true value
lies above every observed one of the point (all seeds of a point share the budget), so the ranks
of the observed values, hence ``x_(r)``, are exact and an upper end ``+inf`` is a valid open
bound; a censored lower end is reported as the budget, which the true value exceeds. The median
is ``+inf`` (unknown) when a middle run did not generalise. With ``n <= 5`` seeds no finite
interval reaches 95% (``r = 0``: ``[0, inf)``); the figures then draw no band and say so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.stats import binom

from theory.base.errors import InputError, check_choice
from transformer_check.events import MEM_TRAIN_ACC

__all__ = [
    "AXES",
    "PHASES",
    "TRAIN_FIT_ACC",
    "GROK_LAG_RATIO",
    "classify_run",
    "majority_phase",
    "swept_axes",
    "median_interval",
    "t_gen_bands",
    "plot_t_gen_vs",
    "plot_phase_diagram",
    "plot_sweep",
]

Row = Mapping[str, Any]

AXES = ("weight_decay", "frac", "lr", "p", "op", "preset")
PHASES = ("groks", "generalises directly", "memorises", "fails")  # also the tie-break order
TRAIN_FIT_ACC = MEM_TRAIN_ACC  # "train fitted": the accuracy of t_mem's detection
GROK_LAG_RATIO = 2.0  # see the module docstring
_REQUIRED = ("seed", "steps", "t_mem", "t_gen", "diverged", "final_train_acc")
_LOG_AXES = {"weight_decay", "lr"}
_CATEGORICAL = {"op", "preset"}
_LABELS = {
    "weight_decay": "AdamW weight decay (decoupled; per step: lr x wd)",
    "frac": "train fraction (share of the p² pairs trained on)",
    "lr": "learning rate (AdamW, after warm-up)",
    "p": "modulus p",
    "op": "operation",
    "preset": "training preset",
}
_SHORT = {a: "wd" if a == "weight_decay" else a for a in AXES}
_T_GEN_LABEL = "t_gen  [optimiser steps: first logged step with test acc >= 0.99]"
_COLOURS = dict(zip(PHASES, ("#4daf4a", "#377eb8", "#ff7f00", "#999999"), strict=True))
_LETTER = {"groks": "G", "generalises directly": "D", "memorises": "M", "fails": "F"}


def _check_rows(rows: Sequence[Row], axes: Sequence[str] = ()) -> list[Row]:
    rows = list(rows)
    if not rows:
        raise InputError("rows: no points given; run the sweep first (points.csv is empty)")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise InputError(f"rows[{i}]: must be a mapping of points.csv columns, got {r!r}")
        missing = [c for c in (*_REQUIRED, *axes) if c not in r]
        if missing:
            raise InputError(
                f"rows[{i}]: missing column(s) {', '.join(missing)}; pass points.csv rows"
            )
    return rows


def _fitted(row: Row, acc_threshold: float) -> bool:
    acc = row["final_train_acc"]
    final_fit = acc is not None and math.isfinite(float(acc)) and float(acc) >= acc_threshold
    return row["t_mem"] is not None or final_fit


def classify_run(
    row: Row, acc_threshold: float = TRAIN_FIT_ACC, lag_ratio: float = GROK_LAG_RATIO
) -> str:
    """Phase of one run by the rule in the module docstring (one of :data:`PHASES`)."""
    if not (isinstance(acc_threshold, int | float) and 0 < acc_threshold <= 1):
        raise InputError(f"acc_threshold: must be in (0, 1], got {acc_threshold!r}")
    if not (isinstance(lag_ratio, int | float) and lag_ratio >= 1):
        raise InputError(f"lag_ratio: must be a number >= 1, got {lag_ratio!r}")
    (row,) = _check_rows([row])
    t_mem, t_gen = row["t_mem"], row["t_gen"]
    if row["diverged"]:
        return "fails"
    if t_gen is not None:
        grokked = t_mem is not None and t_mem < t_gen and t_gen >= lag_ratio * t_mem
        return "groks" if grokked else "generalises directly"
    return "memorises" if _fitted(row, acc_threshold) else "fails"


def _point(r: Row) -> tuple:
    """A run's grid point: its values of :data:`AXES` (the seed, and ``key``, which names the
    seed too, left out), so the seeds of a point group together."""
    return tuple(r.get(a) for a in AXES)


def _by_point(rows: Sequence[Row]) -> dict[tuple, list[Row]]:
    out: dict[tuple, list[Row]] = {}
    for r in rows:
        out.setdefault(_point(r), []).append(r)
    return out


def majority_phase(rows: Sequence[Row], **classify_options: Any) -> list[dict[str, Any]]:
    """Per grid point (the seeds sharing the values of :data:`AXES`): the ``point`` (those
    values), its majority ``phase`` (ties broken by the order of :data:`PHASES`), the
    ``fraction`` of its seeds in that phase, ``n`` seeds, the ``counts`` per phase and ``seeds``."""
    out = []
    for pt, members in _by_point(_check_rows(rows)).items():
        counts = Counter(classify_run(r, **classify_options) for r in members)
        best = max(counts.values())
        out.append(
            {
                "point": {a: v for a, v in zip(AXES, pt, strict=True) if a in members[0]},
                "phase": next(ph for ph in PHASES if counts.get(ph, 0) == best),
                "fraction": best / len(members),
                "n": len(members),
                "counts": {ph: counts.get(ph, 0) for ph in PHASES},
                "seeds": sorted(r["seed"] for r in members),
            }
        )
    return out


def swept_axes(rows: Sequence[Row]) -> list[str]:
    """The columns of :data:`AXES` that take more than one value in ``rows``, in that order."""
    rows = _check_rows(rows)
    return [a for a in AXES if a in rows[0] and len({r.get(a) for r in rows}) > 1]


def median_interval(
    values: Sequence[float], level: float = 0.95, censor_at: float | None = None
) -> dict[str, float | int]:
    """Sample median and the order-statistic interval of the median (module docstring) of
    ``values`` (``+inf`` for a run censored at ``censor_at``, the budget): ``median``, ``lo``,
    ``hi``, ``rank`` r, ``coverage``. A censored lower end is ``censor_at`` (the true x_(r) lies
    above it: a lower bound, so the interval only widens), or ``inf`` if no budget is given."""
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise InputError(f"level: must be a confidence level in (0, 1), got {level!r}")
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0 or np.isnan(x).any() or (x < 0).any():
        raise InputError(f"values: need at least one t_gen >= 0 (or inf), got {list(values)!r}")
    mid = x[(n - 1) // 2 : n // 2 + 1]  # the middle one or two
    median = float(mid.mean()) if np.isfinite(mid).all() else math.inf
    rank, coverage = 0, 1.0
    for r in range(1, (n + 1) // 2 + 1):  # coverage falls as r grows: keep the last that passes
        c = 1.0 - 2.0 * float(binom.cdf(r - 1, n, 0.5))
        if c < level:
            break
        rank, coverage = r, c
    padded = np.concatenate([[0.0], x, [math.inf]])  # x_(0) = 0, x_(n+1) = +inf
    lo, hi = float(padded[rank]), float(padded[n + 1 - rank])
    if math.isinf(lo) and censor_at is not None:
        lo = float(censor_at)
    return {"median": median, "lo": lo, "hi": hi, "rank": rank, "coverage": coverage}


def _sort_values(values) -> list:
    return sorted(set(values), key=lambda v: (isinstance(v, str), v))


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _series_label(series: Mapping[str, Any]) -> str:
    return ", ".join(f"{_SHORT[a]}={_fmt(v)}" for a, v in series.items())


def t_gen_bands(rows: Sequence[Row], axis: str, level: float = 0.95) -> list[dict[str, Any]]:
    """t_gen over seeds per value of ``axis``, one series per combination of the other swept axes.

    Each dict: ``axis``, ``value``, ``series`` (the other axes' values), ``label``, ``n`` seeds,
    ``n_censored`` (no t_gen: censored or diverged), ``steps`` (the budget), ``seeds`` and
    ``t_gen`` (inf when censored) sorted by seed, and :func:`median_interval`'s fields."""
    check_choice("axis", axis, AXES)
    rows = _check_rows(rows, (axis,))
    others = [a for a in swept_axes(rows) if a != axis]
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((tuple(r[a] for a in others), r[axis]), []).append(r)
    series_order = _sort_values(s for s, _ in groups)
    value_order = _sort_values(v for _, v in groups)
    out = []
    for s in sorted(groups, key=lambda g: (series_order.index(g[0]), value_order.index(g[1]))):
        members = sorted(groups[s], key=lambda r: r["seed"])
        t = [math.inf if r["t_gen"] is None else float(r["t_gen"]) for r in members]
        series = dict(zip(others, s[0], strict=True))
        band = {
            "axis": axis,
            "value": s[1],
            "series": series,
            "label": _series_label(series),
            "n": len(members),
            "n_censored": sum(math.isinf(v) for v in t),
            "steps": max(int(r["steps"]) for r in members),
            "seeds": [r["seed"] for r in members],
            "t_gen": t,
        }
        band.update(median_interval(t, level, censor_at=band["steps"]))
        out.append(band)
    return out


def _fixed_text(rows: Sequence[Row], skip: Sequence[str]) -> str:
    """The grid axes that do not vary (and are not plotted), as ``name=value`` for a title."""
    fixed = [a for a in AXES if a in rows[0] and a not in skip and a not in swept_axes(rows)]
    return ", ".join(f"{_SHORT[a]}={_fmt(rows[0][a])}" for a in fixed)


def _coords(axis: str, values: Sequence[Any]) -> tuple[dict[Any, float], str]:
    """Where each value of ``axis`` sits (index for categories, log10 for wd/lr unless a value is
    <= 0) and the scale: ``"cat"``, ``"log"`` or ``"linear"``."""
    vals = _sort_values(values)
    if axis in _CATEGORICAL or any(isinstance(v, str) for v in vals):
        return {v: float(i) for i, v in enumerate(vals)}, "cat"
    if axis in _LOG_AXES and all(v > 0 for v in vals):
        return {v: math.log10(v) for v in vals}, "log"
    return {v: float(v) for v in vals}, "linear"


def plot_t_gen_vs(rows: Sequence[Row], axis: str, level: float = 0.95) -> Figure:
    """t_gen against ``axis`` (log y; log x for wd and lr): per series the median over seeds,
    its ``level`` interval as a band, the seeds as jittered dots, censored seeds as ▲ at the
    budget."""
    bands = t_gen_bands(rows, axis, level)
    rows = list(rows)
    pos, scale = _coords(axis, [b["value"] for b in bands])
    u = sorted(set(pos.values()))
    gap = min(np.diff(u)) if len(u) > 1 else (0.3 if scale == "log" else 1.0)
    width = 0.25 * gap  # the seeds of a point spread over a quarter of the grid spacing
    labels = list(dict.fromkeys(b["label"] for b in bands))
    budgets = sorted({b["steps"] for b in bands})
    finite = [t for b in bands for t in b["t_gen"] if math.isfinite(t) and t > 0]
    y_lo = min(finite + budgets) / 2.0
    y_hi = max(budgets) * 2.0

    def x_of(uu):
        return 10.0 ** np.asarray(uu) if scale == "log" else np.asarray(uu)

    fig = Figure(figsize=(8.5, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.set_yscale("log")
    no_band = False
    for k, label in enumerate(labels):
        colour = f"C{k % 10}"
        ser = [b for b in bands if b["label"] == label]
        shift = (k - (len(labels) - 1) / 2) * width / len(labels)  # series side by side
        uc = np.array([pos[b["value"]] + shift for b in ser])
        med = np.array([b["median"] if math.isfinite(b["median"]) else np.nan for b in ser])
        style = "o" if scale == "cat" else "-o"  # no line between categories
        ax.plot(x_of(uc), med, style, color=colour, ms=7, lw=1.8, label=label or "median")
        dots: list[tuple[float, float]] = []  # one artist per kind and series: fast to draw
        cens: list[tuple[float, float]] = []
        for b, c in zip(ser, uc, strict=True):
            if b["rank"] == 0:
                no_band = True
            elif scale == "cat" or len(ser) == 1:  # a bar: no band along one point
                ax.vlines(x_of(c), b["lo"], min(b["hi"], y_hi), color=colour, lw=8, alpha=0.25)
            if math.isinf(b["median"]):  # a middle seed did not generalise: median unknown
                ax.plot(x_of(c), b["steps"], "^", color=colour, ms=12, mec="k")
            offs = np.linspace(-0.5, 0.5, b["n"]) * width / len(labels) if b["n"] > 1 else [0.0]
            for t, o in zip(b["t_gen"], offs, strict=True):
                if math.isfinite(t):
                    dots.append((c + o, max(t, y_lo)))
                else:
                    cens.append((c + o, b["steps"]))
        for pts, style in ((dots, {"marker": "."}), (cens, {"marker": "^", "mfc": "none"})):
            if pts:
                xu, yv = np.array(pts).T
                ax.plot(x_of(xu), yv, ls="", color=colour, mec=colour, ms=6.5, alpha=0.8, **style)
        if scale != "cat" and len(ser) > 1:  # a band along the series where it is bounded
            ok = np.array([b["rank"] > 0 for b in ser])
            lo = np.array([b["lo"] if b["rank"] > 0 else np.nan for b in ser])
            hi = np.minimum([b["hi"] for b in ser], y_hi)
            alpha = 0.18 if len(labels) <= 3 else 0.1  # many overlapping bands stay legible
            ax.fill_between(x_of(uc), lo, hi, where=ok, color=colour, alpha=alpha, lw=0)
    for s in budgets:
        ax.axhline(s, color="grey", ls=":", lw=1)
        ax.annotate(f"budget {s} steps", (0.995, s), xycoords=("axes fraction", "data"),
                    fontsize=7, color="grey", va="bottom", ha="right")  # fmt: skip
    if scale == "cat":
        ax.set_xticks(list(pos.values()), [_fmt(v) for v in pos])
    elif scale == "log":
        ax.set_xscale("log")
        ax.set_xticks([10.0**v for v in pos.values()], [_fmt(v) for v in pos])
        ax.minorticks_off()  # the grid values label the axis, not powers of ten
    ax.set_xlim(*x_of([u[0] - 0.6 * gap, u[-1] + 0.6 * gap]))  # room for the jittered seeds
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel(_LABELS[axis])
    ax.set_ylabel(_T_GEN_LABEL)
    n_seeds = sorted({b["n"] for b in bands})
    fixed = _fixed_text(rows, [axis])
    ax.set_title(
        f"t_gen against {_SHORT[axis]}: median over {'/'.join(map(str, n_seeds))} seeds, "
        f"{level:.0%} CI of the median (order statistics)" + (f"\n{fixed}" if fixed else ""),
        fontsize=10,
    )
    if no_band:
        ns = sorted({b["n"] for b in bands if b["rank"] == 0})
        cov = 1 - 2.0 ** (1 - ns[-1])  # [x_(1), x_(n)]: r = 1
        note = f"no band at points of {'/'.join(map(str, ns))} seed(s): no finite distribution-"
        note += f"free {level:.0%} CI of the median exists"
        note += f"; the range of {ns[-1]} seeds is a {cov:.1%} CI" if ns[-1] > 1 else ""
        ax.text(0.99, 0.99, note, transform=ax.transAxes, ha="right", va="top", fontsize=7)
    proxies = [
        Line2D([], [], color="k", marker="o", label="median over seeds"),
        Patch(color="k", alpha=0.18, label=f"{level:.0%} CI of the median (open above: to top)"),
        Line2D([], [], color="k", marker=".", ls="", label="one seed"),
        Line2D([], [], color="k", marker="^", mfc="none", ls="", label="censored seed (no t_gen)"),
        Line2D([], [], color="k", marker="^", mec="k", ms=10, ls="", label="median censored"),
    ]
    handles, _ = ax.get_legend_handles_labels()
    series_handles = handles if any(labels) else []
    ax.legend(handles=series_handles + proxies, fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def _t_gen_median(rows: Sequence[Row], level: float) -> float:
    t = [math.inf if r["t_gen"] is None else float(r["t_gen"]) for r in rows]
    return float(median_interval(t, level)["median"])


def _t_gen_text(t: float, steps: int) -> str:
    if math.isinf(t):
        return f"t_gen > {steps}"
    return f"t_gen {t:.0f}"


def plot_phase_diagram(rows: Sequence[Row], level: float = 0.95) -> Figure:
    """Majority phase per (train fraction x weight decay) cell, one panel per combination of the
    other swept axes; each cell says its phase letter, the fraction of seeds in that phase and,
    where it groks, the median t_gen."""
    rows = _check_rows(rows, ("frac", "weight_decay"))
    others = [a for a in swept_axes(rows) if a not in ("frac", "weight_decay")]
    phases = dict(zip(_by_point(rows), majority_phase(rows), strict=True))  # the same order
    medians = {  # the same statistic as t_gen_bands, per grid point
        pt: (_t_gen_median(rs, level), max(int(r["steps"]) for r in rs))
        for pt, rs in _by_point(rows).items()
    }
    panels: dict[tuple, list[Row]] = {}
    for r in rows:
        panels.setdefault(tuple(r[a] for a in others), []).append(r)
    order = _sort_values(panels)
    ncols = min(len(order), 3)
    nrows = math.ceil(len(order) / ncols)
    wds = _sort_values(r["weight_decay"] for r in rows)
    fracs = _sort_values(r["frac"] for r in rows)
    fig = Figure(
        figsize=(max(5.0, 1.3 * len(wds) + 2.5) * ncols, max(3.5, 0.9 * len(fracs) + 2.2) * nrows),
        layout="constrained",
    )
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    cmap = ListedColormap([_COLOURS[ph] for ph in PHASES]).with_extremes(bad="white")
    for ax, combo in zip(axes, order, strict=False):
        cell: dict[tuple, str] = {}
        for r in panels[combo]:
            cell[(fracs.index(r["frac"]), wds.index(r["weight_decay"]))] = _point(r)
        Z = np.full((len(fracs), len(wds)), np.nan)
        for (i, j), key in cell.items():
            Z[i, j] = PHASES.index(phases[key]["phase"])
        ax.imshow(Z, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(PHASES) - 0.5)
        for i in range(len(fracs)):
            for j in range(len(wds)):
                key = cell.get((i, j))
                if key is None:
                    ax.text(j, i, "no run", ha="center", va="center", fontsize=8, color="grey")
                    continue
                ph = phases[key]
                text = f"{_LETTER[ph['phase']]} {ph['fraction']:.0%} of {ph['n']}"
                if ph["phase"] == "groks":
                    text += "\n" + _t_gen_text(*medians[key])
                ax.text(j, i, text, ha="center", va="center", fontsize=8, weight="bold")
        ax.set_xticks(range(len(wds)), [_fmt(w) for w in wds])
        ax.set_yticks(range(len(fracs)), [_fmt(f) for f in fracs])
        ax.set_xlabel("AdamW weight decay (cells in grid order: log-spaced grids)")
        ax.set_ylabel(_LABELS["frac"])
        series = _series_label(dict(zip(others, combo, strict=True)))
        fixed = _fixed_text(rows, ["frac", "weight_decay"])
        ax.set_title(", ".join(s for s in (series, fixed) if s) or "phase diagram", fontsize=10)
    for ax in axes[len(order) :]:
        ax.set_axis_off()
    fig.suptitle("grok / memorise / fail phase diagram over (train fraction x weight decay)")
    handles = [Patch(color=_COLOURS[ph], label=f"{_LETTER[ph]}: {ph}") for ph in PHASES]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(PHASES),
        fontsize=8,
        title=f"majority phase of the seeds (ties: first listed); % = seeds in it; "
        f"t_gen = median over seeds; groks = t_gen >= {GROK_LAG_RATIO:g} t_mem",
        title_fontsize=8,
    )
    return fig


def plot_sweep(rows: Sequence[Row], level: float = 0.95) -> dict[str, Figure]:
    """Every figure that applies: ``t_gen_vs_<axis>`` per swept axis (``t_gen`` alone when only
    seeds vary) and ``phase_diagram`` when frac or weight_decay is swept."""
    rows = _check_rows(rows)
    axes = swept_axes(rows)
    figs = {f"t_gen_vs_{a}": plot_t_gen_vs(rows, a, level) for a in axes}
    if not axes:
        figs["t_gen"] = plot_t_gen_vs(rows, next((a for a in AXES if a in rows[0]), "preset"))
    if {"frac", "weight_decay"} & set(axes):
        figs["phase_diagram"] = plot_phase_diagram(rows, level)
    return figs
