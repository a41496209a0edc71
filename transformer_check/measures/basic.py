"""Loss, accuracy and parameter norm (definitions §4.3, first items)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_check.data import ModularDataset

__all__ = ["loss_accuracy", "l2_norm", "basic_metrics"]


@torch.no_grad()
def loss_accuracy(
    model: nn.Module, x: Tensor, y: Tensor, chunk: int = 16384
) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of the last-position logits on ``(x, y)``."""
    loss_sum, correct = 0.0, 0
    for i in range(0, x.shape[0], chunk):
        logits = model(x[i : i + chunk]).float()
        loss_sum += F.cross_entropy(logits, y[i : i + chunk], reduction="sum").item()
        correct += int((logits.argmax(-1) == y[i : i + chunk]).sum())
    n = max(int(x.shape[0]), 1)
    return loss_sum / n, correct / n


@torch.no_grad()
def l2_norm(model: nn.Module) -> float:
    """Total L2 norm ``sqrt(sum theta_i^2)`` over every parameter (definitions §4.3)."""
    return math.sqrt(sum(float(p.double().pow(2).sum()) for p in model.parameters()))


def basic_metrics(model: nn.Module, ds: ModularDataset) -> dict[str, float]:
    """Train/test loss and accuracy and the L2 norm: the always-logged row of definitions §4.3."""
    dev = next(model.parameters()).device
    tr_l, tr_a = loss_accuracy(model, ds.train_x.to(dev), ds.train_y.to(dev))
    te_l, te_a = loss_accuracy(model, ds.test_x.to(dev), ds.test_y.to(dev))
    return {
        "train_loss": tr_l,
        "train_acc": tr_a,
        "test_loss": te_l,
        "test_acc": te_a,
        "l2_norm": l2_norm(model),
    }
