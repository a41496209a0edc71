"""Activation sparsity (Golechha (2024) §3; definitions §4.3).

Sparsity is the fraction of hidden activations that are "off": ``|a| <= tau * scale`` where
``scale`` is the root-mean-square of the same activation tensor (``relative=True``, the default,
so a uniform shrinkage of all weights by weight decay does not change the count) or 1
(``relative=False``, the paper's absolute threshold). Default ``tau = 0.01``. For ReLU units the
exact zeros dominate, and any ``tau`` below the smallest active value gives the exact fraction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from theory.base.errors import InputError, check_positive
from transformer_check.measures._checks import check_bool
from transformer_check.measures.shared import SharedWork, all_inputs_cache
from transformer_check.model import act_name

__all__ = ["SparsityOptions", "activation_sparsity", "sparsity_measure", "mlp_hidden_activations"]


@dataclass(frozen=True)
class SparsityOptions:
    """Knobs of :func:`sparsity_measure`: threshold ``tau``, its scale and which positions count."""

    tau: float = 0.01
    relative: bool = True
    last_position_only: bool = True

    def __post_init__(self) -> None:
        check_positive("tau", self.tau, allow_zero=True)
        check_bool("relative", self.relative)
        check_bool("last_position_only", self.last_position_only)


def activation_sparsity(acts: Tensor, tau: float = 0.01, relative: bool = True) -> float:
    """Fraction of entries with ``|a| <= tau * scale`` (Golechha (2024) activation sparsity)."""
    if tau < 0:
        raise InputError(f"tau: threshold must be >= 0, got {tau}")
    if acts.numel() == 0:
        raise InputError("acts: empty activation tensor; pass at least one activation")
    a = acts.detach().abs().to(torch.float64)
    scale = float(torch.sqrt((a * a).mean())) if relative else 1.0
    if scale == 0.0:
        return 1.0  # every activation is exactly zero
    return float((a <= tau * scale).to(torch.float64).mean())


@torch.no_grad()
def mlp_hidden_activations(model: nn.Module, tokens: Tensor) -> dict[int, Tensor]:
    """Post-activation MLP hidden units ``[B, T, d_mlp]`` per layer, read from the model cache."""
    cache: dict = {}
    model(tokens, cache=cache)
    return _mlp_hidden(model, cache)


def _mlp_hidden(model: nn.Module, cache: Mapping[str, Tensor]) -> dict[int, Tensor]:
    """The ``mlp_hidden`` entries of an activation cache, per layer."""
    # A skipped block leaves no entry, so its layer is absent rather than empty.
    names = {lay: act_name("mlp_hidden", lay) for lay in range(model.cfg.n_layers)}
    return {lay: cache[n] for lay, n in names.items() if n in cache}


def sparsity_measure(
    tau: float = 0.01,
    relative: bool = True,
    last_position_only: bool = True,
    shared: SharedWork | None = None,
) -> Callable[[nn.Module, object], dict[str, float]]:
    """Measure ``f(model, dataset)``: MLP activation sparsity over all p^2 inputs (train + test).

    Keys ``act_sparsity`` (all layers pooled) and ``act_sparsity.{l}``. Only the last position
    feeds the answer, so by default only its activations count. ``shared``: read the forward
    pass over all inputs that :class:`~transformer_check.measures.shared.SharedWork` makes once.
    """

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        cache = (
            shared.forward(model, dataset)
            if shared is not None
            else all_inputs_cache(model, dataset)
        )
        acts = _mlp_hidden(model, cache)
        if last_position_only:
            acts = {k: v[:, -1] for k, v in acts.items()}
        return _per_layer(acts, tau, relative)

    return measure


def _per_layer(acts: Mapping[int, Tensor], tau: float, relative: bool) -> dict[str, float]:
    """Per-layer fractions and their count-weighted mean (each layer with its own scale)."""
    out = {
        f"act_sparsity.{k}": activation_sparsity(v, tau, relative) for k, v in sorted(acts.items())
    }
    if acts:
        counts = [v.numel() for _, v in sorted(acts.items())]
        fr = [out[f"act_sparsity.{k}"] for k in sorted(acts)]
        out["act_sparsity"] = float(
            sum(c * f for c, f in zip(counts, fr, strict=True)) / sum(counts)
        )
    return out
