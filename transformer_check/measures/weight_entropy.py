"""Absolute weight entropy (Golechha (2024) §3; definitions §4.3).

With ``q_i = |w_i| / sum_j |w_j|`` over the entries of a weight matrix (or of all matrices
pooled), ``H = -sum_i q_i ln q_i`` in nats: ``ln D`` when all ``D`` magnitudes are equal, ``ln k``
when k equal weights carry everything, 0 for a single non-zero weight. It is invariant to the
overall scale, so weight decay's uniform shrinkage does not move it; only the *spread* of the
magnitudes does. ``normalised=True`` divides by ``ln D`` (in [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from theory.base.errors import InputError
from transformer_check.measures._checks import check_bool

__all__ = ["WeightEntropyOptions", "absolute_weight_entropy", "weight_entropy_measure"]


@dataclass(frozen=True)
class WeightEntropyOptions:
    """Knobs of :func:`weight_entropy_measure`; ``per_matrix=False`` logs the pooled value only."""

    normalised: bool = False
    per_matrix: bool = True

    def __post_init__(self) -> None:
        check_bool("normalised", self.normalised)
        check_bool("per_matrix", self.per_matrix)


def absolute_weight_entropy(w: Tensor, normalised: bool = False) -> float:
    """``-sum q ln q`` with ``q = |w| / ||w||_1`` (Golechha (2024) absolute weight entropy), nats."""
    a = w.detach().abs().reshape(-1).to(torch.float64)
    if a.numel() == 0:
        raise InputError("w: empty weight tensor")
    total = float(a.sum())
    if total == 0.0:
        raise InputError("w: all weights are zero; the magnitude distribution is undefined")
    q = a[a > 0] / total
    h = float(-(q * torch.log(q)).sum())
    if normalised:
        return h / math.log(a.numel()) if a.numel() > 1 else 0.0
    return h


def weight_entropy_measure(
    normalised: bool = False, per_matrix: bool = True
) -> Callable[[nn.Module, object], dict]:
    """Measure ``f(model, dataset)``: entropy per 2-D weight matrix and pooled over all of them.

    Uses ``model.named_weight_matrices()`` when present, otherwise every parameter with at least
    2 dimensions. Keys ``weight_entropy`` and (with ``per_matrix``) ``weight_entropy.{name}``.
    """

    def measure(model: nn.Module, dataset: object = None) -> dict[str, float]:
        mats = _matrices(model)
        out = {}
        if per_matrix:
            out = {
                f"weight_entropy.{k}": absolute_weight_entropy(v, normalised)
                for k, v in mats.items()
            }
        pooled = torch.cat([v.detach().reshape(-1) for v in mats.values()])
        out["weight_entropy"] = absolute_weight_entropy(pooled, normalised)
        return out

    return measure


def _matrices(model: nn.Module) -> Mapping[str, Tensor]:
    if hasattr(model, "named_weight_matrices"):
        return model.named_weight_matrices()
    return {n: p for n, p in model.named_parameters() if p.dim() >= 2}
