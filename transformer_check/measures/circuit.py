"""Approximate local circuit complexity (Golechha (2024) §3; definitions §4.3).

How much the model's predictive distribution moves when its weights are perturbed a little:

    C(theta) = E_delta mean_x KL( p_theta(. | x) || p_{theta + delta}(. | x) )   (nats)

A model built from few, robust pathways changes little; one with many fragile, input-specific
circuits changes a lot. Perturbations (every weight tensor with >= 2 dims, embeddings
included; biases and LayerNorm gains untouched):

* ``mode="gaussian"`` (default): ``delta = sigma * rms(W) * xi``, ``xi ~ N(0, 1)`` i.i.d., with
  ``sigma = 0.1`` -- relative to each tensor's own scale, so weight decay's shrinkage alone does
  not change it;
* ``mode="zero"``: a random fraction ``sigma`` of each tensor's entries set to zero (Golechha (2024)'s
  ablation form).

Averaged over ``draws`` seeded perturbations (default 4). For logits ``z = W x`` and small
Gaussian ``delta W`` the second-order value is ``(1/2) s^2 ||x||^2 (1 - sum_y p_y^2)`` with
``s = sigma rms(W)``; the tests check it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from theory.base.errors import InputError, check_choice, check_int, check_positive

__all__ = ["CircuitOptions", "local_circuit_complexity", "circuit_measure"]

MODES = ("gaussian", "zero")


@dataclass(frozen=True)
class CircuitOptions:
    """Knobs of :func:`circuit_measure`: perturbation size and kind, draws and their seed."""

    sigma: float = 0.1
    mode: str = "gaussian"
    draws: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_positive("sigma", self.sigma, allow_zero=True)
        if self.mode == "zero" and self.sigma > 1:
            raise InputError(f"sigma: the zeroed fraction must be in [0, 1], got {self.sigma}")
        check_int("draws", self.draws, 1)
        check_int("seed", self.seed)


@torch.no_grad()
def local_circuit_complexity(
    model: nn.Module,
    inputs: Tensor,
    *,
    sigma: float = 0.1,
    mode: str = "gaussian",
    draws: int = 4,
    seed: int = 0,
    forward: Callable[[nn.Module, Tensor], Tensor] | None = None,
) -> float:
    """Mean KL(p_theta || p_theta+delta) over inputs and perturbation draws (Golechha (2024)), nats."""
    if mode not in MODES:
        raise InputError(f"mode: must be one of {MODES}, got {mode!r}")
    if not sigma >= 0:
        raise InputError(f"sigma: perturbation size must be >= 0, got {sigma}")
    if mode == "zero" and sigma > 1:
        raise InputError(f"sigma: the zeroed fraction must be in [0, 1], got {sigma}")
    if draws < 1:
        raise InputError(f"draws: must be >= 1, got {draws}")
    fwd = forward or (lambda m, x: m(x))
    names = [n for n, p in model.named_parameters() if p.dim() >= 2]
    if not names:
        raise InputError("model: no weight tensor with >= 2 dimensions to perturb")
    saved = dict(model.named_parameters())
    gen = torch.Generator(device=saved[names[0]].device).manual_seed(int(seed))
    logp = F.log_softmax(fwd(model, inputs).double(), dim=-1)
    call = _Call(model, fwd)
    total = 0.0
    for _ in range(draws):
        # The perturbed weights go in through functional_call: the model's own tensors are never
        # written (their _version stays, so work shared between measures stays valid).
        moved = {}
        for n in names:
            w = saved[n].detach()
            if mode == "gaussian":
                rms = torch.sqrt((w * w).mean())
                noise = torch.randn(w.shape, generator=gen, device=w.device, dtype=w.dtype)
                moved[f"model.{n}"] = w + sigma * rms * noise
            else:
                keep = torch.rand(w.shape, generator=gen, device=w.device) >= sigma
                moved[f"model.{n}"] = w * keep
        logq = F.log_softmax(torch.func.functional_call(call, moved, (inputs,)).double(), dim=-1)
        total += float((logp.exp() * (logp - logq)).sum(-1).mean())
    return total / draws


class _Call(nn.Module):
    """``fwd(model, x)`` as a module, so ``functional_call`` can swap ``model``'s weights."""

    def __init__(self, model: nn.Module, fwd: Callable[[nn.Module, Tensor], Tensor]) -> None:
        super().__init__()
        self.model, self.fwd = model, fwd

    def forward(self, x: Tensor) -> Tensor:
        return self.fwd(self.model, x)


def circuit_measure(
    sigma: float = 0.1, mode: str = "gaussian", draws: int = 4, seed: int = 0
) -> Callable[[nn.Module, object], dict[str, float]]:
    """Measure ``f(model, dataset)`` on the training inputs (where memorisation lives).

    The same seed at every checkpoint: successive values differ by the model, not the noise.
    """

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        x = dataset.train_x.to(next(model.parameters()).device)  # type: ignore[attr-defined]
        return {
            "circuit_complexity": local_circuit_complexity(
                model, x, sigma=sigma, mode=mode, draws=draws, seed=seed
            )
        }

    return measure
