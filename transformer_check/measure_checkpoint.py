"""Every measure of one checkpoint (definitions §4.3, §2.3), written as JSON + CSV + a spectra figure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.measures import ALL_MEASURES, build_measures
from transformer_check.measures.basic import basic_metrics
from transformer_check.measures.fourier import frequency_energy
from transformer_check.train import load_model

__all__ = ["measure_checkpoint", "all_measures", "spectra_figure"]

MeasureOptions = Mapping[str, Mapping[str, Any]]


def all_measures(
    model, ds, measures: tuple[str, ...] = ALL_MEASURES, options: MeasureOptions | None = None
) -> dict[str, Any]:
    """Basic metrics plus each named measure of ``model`` on ``ds`` (definitions §4.3).

    Parameters
    ----------
    model : Transformer
        The model measured.
    ds : ModularDataset
        Its dataset, on the model's device.
    measures : tuple of str, default ALL_MEASURES
        Registered measures to compute after the basic loss, accuracy and norm.
    options : mapping, optional
        Measure name -> its options (:func:`~transformer_check.measures.build_measures`).

    Returns
    -------
    dict of str to object
        Every value by key (floats, and a few descriptive strings).
    """
    vals: dict[str, Any] = dict(basic_metrics(model, ds))
    for fn in build_measures(measures, options).values():
        vals.update(fn(model, ds))
    return vals


def measure_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    device: str = "cpu",
    measures: tuple[str, ...] = ALL_MEASURES,
    coarse_eps: float | None = None,
    coarse_budget: int | None = None,
    options: MeasureOptions | None = None,
) -> dict[str, Any]:
    """Load ``checkpoint``, compute the measures, write ``measures.json/.csv`` and ``spectra``.

    Measure options start from the run's own (its training config's), then ``coarse_eps`` and
    ``coarse_budget`` (compression's ``eps``/``budget``), then ``options``; later ones win.

    Parameters
    ----------
    checkpoint : str or Path
        Any checkpoint :func:`~transformer_check.train.load_model` reads (full, weights-only or
        an export).
    out_dir : str or Path
        Folder for ``measures.json``, ``measures.csv`` and ``spectra.png/.svg``.
    device : str, default "cpu"
        ``cpu``, ``cuda`` or ``auto``.
    measures : tuple of str, default ALL_MEASURES
        Registered measures to compute (definitions §4.3, §2.3 for the LLC).
    coarse_eps, coarse_budget : optional
        The compression measure's ``eps`` and ``budget``.
    options : mapping, optional
        Measure name -> field overrides.

    Returns
    -------
    dict
        What ``measures.json`` holds: ``metadata``, ``step`` and ``measures``.

    Raises
    ------
    InputError
        If the checkpoint is damaged or inconsistent, or a measure or option is invalid.
    """
    model, cfg, ds, meta = load_model(checkpoint, device=device)
    opts = {name: dict(o) for name, o in cfg.measure_option_map().items()}
    for key, value in (("eps", coarse_eps), ("budget", coarse_budget)):
        if value is not None:
            opts.setdefault("compression", {})[key] = value
    for name, o in (options or {}).items():
        opts.setdefault(name, {}).update(o)
    dsd = ds.to(next(model.parameters()).device)
    vals = all_measures(model, dsd, measures, opts)
    out = Path(out_dir)
    result = {
        "metadata": run_metadata(
            "transformer_check measure",
            {
                "checkpoint": str(checkpoint),
                "train_config": cfg,
                "coarse_eps": opts["compression"]["eps"],
                "measure_options": opts,
            },
            seed=cfg.seed,
        ),
        "step": meta.get("step"),
        "measures": vals,
    }
    write_json(out / "measures.json", result)
    write_csv(out / "measures.csv", [{"step": meta.get("step"), **vals}])
    title = f"{Path(checkpoint).name}: step {meta.get('step')}"
    save_figure(spectra_figure(model, ds, title), out / "spectra")
    return result


@torch.no_grad()
def spectra_figure(model, ds, title: str) -> Figure:
    """Singular-value spectra of every weight matrix and the embedding's Fourier energy."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, m in model.named_weight_matrices().items():
        s = torch.linalg.svdvals(m.double()).cpu().numpy()
        a1.semilogy(np.arange(1, s.size + 1), s / s.sum(), lw=1.2, label=name)
    a1.set_xlabel("index i")
    a1.set_ylabel("normalised singular value s_i / sum s")
    a1.set_title("Singular-value spectra (DeMoss et al. (2024) eq. 12)")
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
    return fig
