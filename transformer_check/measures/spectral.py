"""Spectral entropy and effective rank of weight matrices (DeMoss et al. (2024) eqs. 12, 15, 16; definitions §4.3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from transformer_check.measures.shared import SVD, SharedWork, weight_svds

__all__ = [
    "SpectralOptions",
    "spectral_entropy",
    "entropy_of_spectrum",
    "effective_rank",
    "spectral_entropy_penalty",
    "spectral_measures",
    "spectral_measure",
]

_TINY = 1e-30


def spectral_entropy(M: Tensor) -> Tensor:
    """``H = -sum s_bar log s_bar`` with ``s_bar = s / sum s`` (DeMoss et al. (2024) eq. 15; nats).

    Differentiable; batched over leading dims. A zero matrix has no spectrum: it gets ``H = 0``.
    """
    return entropy_of_spectrum(
        torch.linalg.svdvals(M.double() if M.dtype == torch.float64 else M.float())
    )


def entropy_of_spectrum(s: Tensor) -> Tensor:
    """``H = -sum s_bar log s_bar`` of singular values ``s`` (DeMoss et al. (2024) eq. 15; nats);
    ``H = 0`` for an all-zero spectrum."""
    total = s.sum(dim=-1, keepdim=True)
    sbar = s / total.clamp_min(_TINY)
    return -(sbar * sbar.clamp_min(_TINY).log()).sum(dim=-1)


def effective_rank(M: Tensor) -> Tensor:
    """``rank_eff = exp(H)`` (Roy & Vetterli 2007; DeMoss et al. (2024) §4.2)."""
    return spectral_entropy(M).exp()


def spectral_entropy_penalty(mats: Mapping[str, Tensor]) -> Tensor:
    """Mean spectral entropy over the weight matrices: the DeMoss et al. (2024) eq. 16 regulariser / beta.

    definitions §4.2 fixes the aggregation as the mean over matrices.
    """
    return torch.stack([spectral_entropy(m) for m in mats.values()]).mean()


@dataclass(frozen=True)
class SpectralOptions:
    """:func:`spectral_measures` has no knobs; the empty options keep one calling convention."""


@torch.no_grad()
def spectral_measures(model, ds=None, svd: SVD | None = None) -> dict[str, float]:
    """Per-matrix ``H_svd.<name>`` and ``rank_eff.<name>``, their mean and total (definitions §4.3).

    ``svd``: the matrices' :func:`~transformer_check.measures.shared.weight_svds`, when already
    computed (the same values are computed here otherwise).
    """
    svd = weight_svds(model) if svd is None else svd
    out: dict[str, float] = {}
    hs = []
    for name, (_, s, _) in svd.items():
        h = float(entropy_of_spectrum(s))
        hs.append(h)
        out[f"H_svd.{name}"] = h
        out[f"rank_eff.{name}"] = math.exp(h)
    out["H_svd_mean"] = sum(hs) / len(hs)
    out["rank_eff_total"] = sum(math.exp(h) for h in hs)
    return out


def spectral_measure(shared: SharedWork | None = None) -> Callable[[Any, Any], dict[str, float]]:
    """Measure ``f(model, dataset)``: :func:`spectral_measures`, on ``shared``'s SVDs if given."""

    def measure(model: Any, ds: Any = None) -> dict[str, float]:
        return spectral_measures(model, ds, shared.svd(model) if shared is not None else None)

    return measure
