"""One figure page per training run: accuracy, loss and each complexity measure against steps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["PANELS", "plot_run"]

# (title, y label, [(column, legend label)], log-y, optional right axis: (label, [(column, legend)]))
Panel = tuple[str, str, list[tuple[str, str]], bool, tuple[str, list[tuple[str, str]]] | None]
PANELS: list[Panel] = [
    ("Accuracy", "accuracy", [("train_acc", "train"), ("test_acc", "test")], False, None),
    ("Loss", "cross-entropy (nats)", [("train_loss", "train"), ("test_loss", "test")], True, None),
    ("Parameter norm", "L2 norm", [("l2_norm", "total")], False, None),
    (
        "Coarse-grained complexity (DeMoss et al. (2024) Alg. 1)",
        "bz2 bytes",
        [("coarse_bytes", "coarse-grained")],
        False,
        None,
    ),
    ("Naive bz2 of raw weights", "bz2 bytes", [("bz2_naive_bytes", "naive")], False, None),
    ("Compression ratio", "naive / coarse", [("coarse_ratio", "ratio")], True, None),
    ("Spectral entropy", "mean H_svd (nats)", [("H_svd_mean", "mean over matrices")], False, None),
    ("Effective rank", "sum of exp(H_svd)", [("rank_eff_total", "total")], False, None),
    ("BDM of quartile-quantised weights", "K_BDM (bits)", [("bdm_bits", "BDM")], False, None),
    (
        "Fourier concentration of W_E (2-D DFT)",
        "Gini",
        [("fourier_gini", "Gini")],
        False,
        ("IPR", [("fourier_ipr", "IPR")]),
    ),
    (
        "Key frequencies of W_E",
        "number of key frequencies",
        [("fourier_n_key", "# key freqs")],
        False,
        ("energy share", [("fourier_key_share", "energy share")]),
    ),
]


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if v is None or v == "" or isinstance(v, str):
            continue
        v = float(v)
        if math.isfinite(v):
            xs.append(max(float(r["step"]), 1.0))  # step 0 shown at 1 on the log axis
            ys.append(v)
    return xs, ys


def plot_run(
    rows: Sequence[Mapping[str, Any]],
    t_mem: int | None,
    t_gen: int | None,
    title: str = "",
    extra_keys: Sequence[str] = (),
) -> Figure:
    """Grid of panels on a log step axis with ``t_mem``/``t_gen`` marked (the caller saves it)."""
    panels = [p for p in PANELS if any(_series(rows, k)[0] for k, _ in p[2])]
    panels += [(k, k, [(k, k)], False, None) for k in extra_keys if _series(rows, k)[0]]
    ncol = 3
    nrow = max(1, math.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (ptitle, ylabel, series, logy, right) in zip(axes.flat, panels, strict=False):
        for key, label in series:
            xs, ys = _series(rows, key)
            if xs:
                ax.plot(xs, ys, marker="." if len(xs) < 60 else None, ms=3, lw=1.4, label=label)
        if right is not None:
            ax2 = ax.twinx()
            for key, label in right[1]:
                xs, ys = _series(rows, key)
                if xs:
                    ax2.plot(xs, ys, color="tab:purple", marker=".", ms=3, lw=1.2, label=label)
            ax2.set_ylabel(right[0], color="tab:purple")
            ax2.tick_params(axis="y", colors="tab:purple")
            ax2.legend(fontsize=7, loc="center left")
        ax.set_xscale("log")
        if logy and all(y > 0 for k, _ in series for y in _series(rows, k)[1]):
            ax.set_yscale("log")
        for t, name, color in ((t_mem, "t_mem", "tab:red"), (t_gen, "t_gen", "tab:green")):
            if t is not None:
                ax.axvline(max(t, 1), color=color, ls="--", lw=1, label=f"{name} = {t}")
        ax.set_title(ptitle, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both", lw=0.4)
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig
