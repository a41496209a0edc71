"""Causal mediation by activation patching and layer-range skip-ablation (Zhang et al. (2026) §4; definitions §4.3).

Causal mediation score of head h (Zhang et al. (2026), "Key Designs" 1): for a clean input ``s1`` (answer
``y1``) and a counterfactual ``s2`` with other operands (answer ``y2 != y1``), let ``s~`` be ``s1``
with h's output (after W_O, every position) replaced by its output on ``s2``. With ``M`` the
logit (log-probability differences equal logit differences),

    CMS(h) = [M(y2|s~) - M(y1|s~)] - [M(y2|s1) - M(y1|s1)]

averaged over ``n_pairs`` seeded pairs. ``cms_rel`` divides by the total effect
``[M(y2|s2) - M(y1|s2)] - [M(y2|s1) - M(y1|s1)]`` averaged over the same pairs (the share of the
effect that flows through h). Skip-ablation: accuracy with a contiguous range of blocks bypassed
(residual passes through unchanged), on the test split (``skip_acc.*``) and on the train split
(``skip_train_acc.*``: at memorisation only the train split can show that a range is essential).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from theory.base.errors import InputError, check_int
from transformer_check.model import act_name

__all__ = [
    "MediationOptions",
    "MediationResult",
    "sample_counterfactual_pairs",
    "causal_mediation",
    "skip_ablation",
    "layer_ranges",
    "layer_thirds",
    "mediation_measure",
]


@dataclass(frozen=True)
class MediationOptions:
    """Knobs of :func:`mediation_measure`; ``ranges`` of blocks to skip (``None``: :func:`layer_ranges`);
    ``train_split``: skip-ablate on the train split too."""

    n_pairs: int = 128
    seed: int = 0
    ranges: tuple[tuple[int, int], ...] | None = None
    train_split: bool = True

    def __post_init__(self) -> None:
        check_int("n_pairs", self.n_pairs, 1)
        check_int("seed", self.seed)
        for r in self.ranges or ():
            if len(r) != 2 or not (0 <= check_int("ranges", r[0]) < check_int("ranges", r[1])):
                raise InputError(f"ranges: each range is [a, b) with 0 <= a < b, got {list(r)}")


@dataclass
class MediationResult:
    """Per-head scores ``[n_layers, n_heads]`` and the total effect they are compared with."""

    cms: np.ndarray
    cms_rel: np.ndarray
    total_effect: float
    n_pairs: int


def sample_counterfactual_pairs(
    x: Tensor, y: Tensor, n_pairs: int, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Seeded (s1, y1, s2, y2) with ``y1 != y2`` drawn from the rows of ``(x, y)``."""
    if len(torch.unique(y)) < 2:
        raise InputError("y: counterfactual pairs need at least two distinct answers")
    g = torch.Generator().manual_seed(int(seed))
    i = torch.randint(len(y), (4 * n_pairs,), generator=g)
    j = torch.randint(len(y), (4 * n_pairs,), generator=g)
    ok = y[i] != y[j]
    i, j = i[ok][:n_pairs], j[ok][:n_pairs]
    return x[i], y[i], x[j], y[j]


@torch.no_grad()
def causal_mediation(
    model: nn.Module, s1: Tensor, y1: Tensor, s2: Tensor, y2: Tensor
) -> MediationResult:
    """Per-head CMS by activation patching (Zhang et al. (2026)), using the model's ``head_patch``/``cache``."""
    cfg = model.cfg
    L, H = cfg.n_layers, cfg.n_heads
    rows = torch.arange(len(y1), device=s1.device)

    def diff(logits: Tensor) -> Tensor:
        return logits[rows, y2] - logits[rows, y1]

    cache2: dict = {}
    base2 = diff(model(s2, cache=cache2))
    base1 = diff(model(s1))
    total = float((base2 - base1).mean())
    cms = np.zeros((L, H))
    for lay in range(L):
        heads2 = cache2[act_name("attn_head_out", lay)]  # [B, T, H, d_model]
        for h in range(H):
            patched = diff(model(s1, head_patch={(lay, h): heads2[:, :, h]}))
            cms[lay, h] = float((patched - base1).mean())
    rel = cms / total if total != 0 else np.full_like(cms, np.nan)
    return MediationResult(cms=cms, cms_rel=rel, total_effect=total, n_pairs=len(y1))


def layer_ranges(n_layers: int, width: int | None = None) -> list[tuple[int, int]]:
    """Contiguous half-open ranges ``[a, b)``: every single layer for <= 4 layers, else thirds-like
    windows of ``width`` (default ``max(1, n_layers // 3)``) at stride ``width``."""
    if n_layers < 1:
        raise InputError(f"n_layers: must be >= 1, got {n_layers}")
    w = width or (1 if n_layers <= 4 else max(1, n_layers // 3))
    return [(a, min(a + w, n_layers)) for a in range(0, n_layers, w)]


def layer_thirds(n_layers: int) -> list[tuple[int, int]]:
    """The first, middle and last thirds of ``n_layers >= 3`` blocks, ``[a, b)``: the outer two of
    ``n_layers // 3`` blocks each, the middle one the rest (16/16/16 of 48, as Zhang et al. (2026) skips)."""
    if n_layers < 3:
        raise InputError(f"n_layers: thirds need at least 3 blocks, got {n_layers}")
    w = n_layers // 3
    return [(0, w), (w, n_layers - w), (n_layers - w, n_layers)]


@torch.no_grad()
def skip_ablation(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    ranges: Sequence[tuple[int, int]] | None = None,
    prefix: str = "skip_acc",
) -> dict[str, float]:
    """Accuracy with each range of blocks bypassed; key ``{prefix}.{a}-{b}`` (b exclusive).

    ``{prefix}.none`` is the unablated accuracy for reference.
    """
    n_layers = model.cfg.n_layers
    rs = list(ranges) if ranges is not None else layer_ranges(n_layers)
    out = {f"{prefix}.none": float((model(x).argmax(-1) == y).double().mean())}
    for a, b in rs:
        if not (0 <= a < b <= n_layers):
            raise InputError(f"ranges: [{a}, {b}) is not a range of blocks in [0, {n_layers}]")
        pred = model(x, skip_layers=list(range(a, b))).argmax(-1)
        out[f"{prefix}.{a}-{b}"] = float((pred == y).double().mean())
    return out


def mediation_measure(
    n_pairs: int = 128,
    seed: int = 0,
    ranges: Sequence[tuple[int, int]] | None = None,
    train_split: bool = True,
) -> Callable[[nn.Module, object], dict[str, float]]:
    """Measure ``f(model, dataset)``: CMS summary and skip-ablation accuracies.

    Keys: ``cms_max`` (largest |CMS| over heads), ``cms_mean`` (mean |CMS|), ``cms.{l}.{h}``,
    ``cms_total``, the ``skip_acc.*`` of :func:`skip_ablation` on the test split and, with
    ``train_split``, ``skip_train_acc.*`` on the train split. Pairs come from all p^2 inputs
    (fixed seed, so checkpoints share them).
    """

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        dev = next(model.parameters()).device
        x = torch.cat([dataset.train_x, dataset.test_x]).to(dev)  # type: ignore[attr-defined]
        y = torch.cat([dataset.train_y, dataset.test_y]).to(dev)  # type: ignore[attr-defined]
        s1, y1, s2, y2 = sample_counterfactual_pairs(x, y, n_pairs, seed)
        res = causal_mediation(model, s1, y1, s2, y2)
        out = {
            "cms_max": float(np.abs(res.cms).max()),
            "cms_mean": float(np.abs(res.cms).mean()),
            "cms_total": res.total_effect,
        }
        for (lay, h), v in np.ndenumerate(res.cms):
            out[f"cms.{lay}.{h}"] = float(v)
        xt = dataset.test_x.to(dev)  # type: ignore[attr-defined]
        yt = dataset.test_y.to(dev)  # type: ignore[attr-defined]
        out.update(skip_ablation(model, xt, yt, ranges))
        if train_split:
            xs = dataset.train_x.to(dev)  # type: ignore[attr-defined]
            ys = dataset.train_y.to(dev)  # type: ignore[attr-defined]
            out.update(skip_ablation(model, xs, ys, ranges, prefix="skip_train_acc"))
        return out

    return measure
