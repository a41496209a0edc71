"""Every measure of one checkpoint (SPEC §4.3, §2.3), written as JSON + CSV + a spectra figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.measures import ALL_MEASURES, get_measure
from transformer_check.measures.basic import basic_metrics
from transformer_check.measures.fourier import frequency_energy
from transformer_check.train import load_model

__all__ = ["measure_checkpoint", "all_measures"]


def all_measures(
    model,
    ds,
    measures: tuple[str, ...] = ALL_MEASURES,
    coarse_eps: float = 0.1,
    coarse_budget: int = 24,
) -> dict[str, Any]:
    """Basic metrics plus each named measure of ``model`` on ``ds``."""
    vals: dict[str, Any] = dict(basic_metrics(model, ds))
    for name in measures:
        opts = {"eps": coarse_eps, "budget": coarse_budget} if name == "compression" else {}
        vals.update(get_measure(name, **opts)(model, ds))
    return vals


def measure_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    device: str = "cpu",
    measures: tuple[str, ...] = ALL_MEASURES,
    coarse_eps: float | None = None,
    coarse_budget: int | None = None,
) -> dict[str, Any]:
    """Load ``checkpoint``, compute the measures, write ``measures.json/.csv`` and ``spectra``."""
    model, cfg, ds, meta = load_model(checkpoint, device=device)
    eps = cfg.coarse_eps if coarse_eps is None else coarse_eps
    budget = cfg.coarse_budget if coarse_budget is None else coarse_budget
    dsd = ds.to(next(model.parameters()).device)
    vals = all_measures(model, dsd, measures, eps, budget)
    out = Path(out_dir)
    result = {
        "metadata": run_metadata(
            "transformer_check measure",
            {"checkpoint": str(checkpoint), "train_config": cfg, "coarse_eps": eps},
            seed=cfg.seed,
        ),
        "step": meta.get("step"),
        "measures": vals,
    }
    write_json(out / "measures.json", result)
    write_csv(out / "measures.csv", [{"step": meta.get("step"), **vals}])
    _plot_spectra(model, ds, out / "spectra", f"{Path(checkpoint).name}: step {meta.get('step')}")
    return result


@torch.no_grad()
def _plot_spectra(model, ds, stem: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, m in model.named_weight_matrices().items():
        s = torch.linalg.svdvals(m.double()).cpu().numpy()
        a1.semilogy(np.arange(1, s.size + 1), s / s.sum(), lw=1.2, label=name)
    a1.set_xlabel("index i")
    a1.set_ylabel("normalised singular value s_i / sum s")
    a1.set_title("Singular-value spectra (paper 001 eq. 12)")
    a1.legend(fontsize=6, ncol=2)
    a1.grid(alpha=0.3, which="both", lw=0.4)
    e = frequency_energy(model.W_E[: ds.p].double().cpu().numpy())
    a2.bar(np.arange(1, e.size + 1), e / e.sum(), color="tab:blue")
    a2.set_xlabel("frequency k (paired with p - k)")
    a2.set_ylabel("share of embedding energy")
    a2.set_title(f"Fourier energy of W_E over tokens (p = {ds.p})")
    a2.grid(alpha=0.3, lw=0.4)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, stem)
