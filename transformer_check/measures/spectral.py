"""Spectral entropy and effective rank of weight matrices (DeMoss et al. (2024) eqs. 12, 15, 16; definitions §4.3)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "SpectralOptions",
    "spectral_entropy",
    "effective_rank",
    "spectral_entropy_penalty",
    "spectral_measures",
]

_TINY = 1e-30


def spectral_entropy(M: Tensor) -> Tensor:
    """``H = -sum s_bar log s_bar`` with ``s_bar = s / sum s`` (DeMoss et al. (2024) eq. 15; nats).

    Differentiable; batched over leading dims. A zero matrix has no spectrum: it gets ``H = 0``.
    """
    s = torch.linalg.svdvals(M.double() if M.dtype == torch.float64 else M.float())
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
def spectral_measures(model, ds=None) -> dict[str, float]:
    """Per-matrix ``H_svd.<name>`` and ``rank_eff.<name>``, their mean and total (definitions §4.3)."""
    out: dict[str, float] = {}
    hs = []
    for name, m in model.named_weight_matrices().items():
        h = float(spectral_entropy(m.detach().double()))
        hs.append(h)
        out[f"H_svd.{name}"] = h
        out[f"rank_eff.{name}"] = math.exp(h)
    out["H_svd_mean"] = sum(hs) / len(hs)
    out["rank_eff_total"] = sum(math.exp(h) for h in hs)
    return out
