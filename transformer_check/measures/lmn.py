"""Linear mapping number (Liu, Zhong & Tegmark (2023) §2 eqs. 1-3; definitions §4.3).

For inputs ``x_1..x_N`` of a function ``f`` (here: a chosen layer -> the logits), the linear
connectivity ``L_ij`` is the mean over output coordinates k of ``r^2(y_k(lambda), lambda)`` along
``f(x_i + lambda (x_j - x_i))`` at 21 uniform points ``lambda = 0, 0.05, ..., 1`` (Liu et al. (2023)
footnote 2); ``L_ii = 1``. A coordinate constant along the path is linear: its ``r^2`` is 1.
With ``lambda_tilde = |eig(L)| / sum |eig(L)|``, ``S = -sum lambda_tilde log2 lambda_tilde`` (bits)
and ``LMN = 2^S``: 1 for any affine f, c for c equal clusters that are linear within and
"parabolic" (r^2 = 0) across.

For the transformer, the layer is the last block's post-attention residual stream at the last
position (the MLP input), and f is the rest of the network: MLP, residual, LayerNorm if any, and
unembedding -- the analogue of the paper's "first hidden layer -> logits".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from theory.base.errors import InputError, check_int
from transformer_check.model import act_name

__all__ = [
    "N_INTERP",
    "LMNOptions",
    "linear_connectivity",
    "lmn_from_connectivity",
    "linear_mapping_number",
    "transformer_tail",
    "lmn_measure",
]

N_INTERP = 21  # Liu et al. (2023) footnote 2


@dataclass(frozen=True)
class LMNOptions:
    """Knobs of :func:`lmn_measure`: how many seeded inputs the connectivity matrix spans."""

    n_samples: int = 48
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("n_samples", self.n_samples, 1)
        check_int("seed", self.seed)


def _r2_paths(y: Tensor, lam: Tensor) -> Tensor:
    """r^2 of each path's coordinates against lambda; ``y: [P, K, d_out]`` -> ``[P, d_out]``."""
    lc = lam - lam.mean()
    yc = y - y.mean(dim=1, keepdim=True)
    cov = torch.einsum("k,pkd->pd", lc, yc) / lam.numel()
    var_l = (lc * lc).mean()
    var_y = (yc * yc).mean(dim=1)
    scale = y.abs().amax(dim=1).clamp_min(1e-300)
    const = var_y <= (1e-12 * scale) ** 2  # flat coordinate: linear by convention
    r2 = cov * cov / (var_l * torch.where(const, torch.ones_like(var_y), var_y))
    return torch.where(const, torch.ones_like(r2), r2.clamp(0.0, 1.0))


@torch.no_grad()
def linear_connectivity(
    f: Callable[[Tensor], Tensor], x: Tensor, n_points: int = N_INTERP, batch_pairs: int = 256
) -> np.ndarray:
    """The N x N linear connectivity matrix L of Liu et al. (2023) eq. 2 (symmetric, unit diagonal)."""
    if x.dim() != 2 or x.shape[0] < 1:
        raise InputError(f"x: expected [N, d_in] points with N >= 1, got {tuple(x.shape)}")
    if n_points < 3:
        raise InputError(f"n_points: need >= 3 interpolation points, got {n_points}")
    N = x.shape[0]
    lam = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64)
    ii, jj = np.triu_indices(N, k=1)
    L = np.eye(N)
    lam_x = lam.to(x.dtype).to(x.device)
    for s in range(0, len(ii), batch_pairs):
        i = torch.as_tensor(ii[s : s + batch_pairs], device=x.device)
        j = torch.as_tensor(jj[s : s + batch_pairs], device=x.device)
        xi, xj = x[i], x[j]  # [P, d]
        # Walk every segment from its lexicographically smaller end, so the path points (and so L)
        # are bit-identical under any relabelling of x; r^2 is symmetric in lambda -> 1 - lambda
        # mathematically, but not in rounding when an output is nearly flat along the path.
        diff = xj - xi
        first = (diff != 0).to(torch.int8).argmax(dim=1)
        swap = diff.gather(1, first[:, None])[:, 0] < 0
        xi, xj = torch.where(swap[:, None], xj, xi), torch.where(swap[:, None], xi, xj)
        path = xi[:, None, :] + lam_x[None, :, None] * (xj - xi)[:, None, :]  # [P, K, d]
        P, K, d = path.shape
        y = f(path.reshape(P * K, d)).reshape(P, K, -1).double().cpu()
        r2 = _r2_paths(y, lam).mean(dim=1).numpy()
        L[ii[s : s + batch_pairs], jj[s : s + batch_pairs]] = r2
        L[jj[s : s + batch_pairs], ii[s : s + batch_pairs]] = r2
    return L


def lmn_from_connectivity(L: np.ndarray) -> tuple[float, float]:
    """``(LMN, S_NL)``: ``S = -sum l~ log2 l~`` over ``l~ = |eig L| / sum |eig L|`` (Liu et al. (2023) eq. 3)."""
    L = np.asarray(L, dtype=float)
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise InputError(f"L: expected a square matrix, got shape {L.shape}")
    ev = np.abs(np.linalg.eigvalsh(0.5 * (L + L.T)))
    tot = ev.sum()
    if tot <= 0:
        raise InputError("L: all eigenvalues are zero; the connectivity matrix is empty")
    q = ev[ev > 0] / tot
    S = float(-(q * np.log2(q)).sum())
    return float(2.0**S), S


def linear_mapping_number(
    f: Callable[[Tensor], Tensor], x: Tensor, n_points: int = N_INTERP
) -> float:
    """LMN = 2^S_NL of ``f`` on the points ``x`` (Liu et al. (2023) §2)."""
    return lmn_from_connectivity(linear_connectivity(f, x, n_points))[0]


def transformer_tail(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """``f``: last block's post-attention residual (last position) -> logits: the model's
    ``logits_from_mid`` (docs/model_protocol.md)."""
    return model.logits_from_mid


@torch.no_grad()
def transformer_mid_resid(model: nn.Module, tokens: Tensor) -> Tensor:
    """Last block's MLP-input residual at the last position ``[B, d_model]``: the cache's
    ``resid_mid`` of the last layer (docs/model_protocol.md)."""
    cache: dict = {}
    model(tokens, cache=cache)
    return cache[act_name("resid_mid", model.cfg.n_layers - 1)][:, -1]


def lmn_measure(n_samples: int = 48, seed: int = 0) -> Callable[[nn.Module, object], dict]:
    """Measure ``f(model, dataset)``: LMN on a fixed seeded sample of ``n_samples`` inputs.

    Inputs are drawn from all p^2 pairs (train and test) once per dataset, so every checkpoint
    is measured on the same points.
    """

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        xs = torch.cat([dataset.train_x, dataset.test_x])  # type: ignore[attr-defined]
        g = torch.Generator().manual_seed(int(seed))
        idx = torch.randperm(xs.shape[0], generator=g)[: min(n_samples, xs.shape[0])]
        tokens = xs[idx].to(next(model.parameters()).device)
        mid = transformer_mid_resid(model, tokens)
        L = linear_connectivity(transformer_tail(model), mid)
        lmn, S = lmn_from_connectivity(L)
        return {"lmn": lmn, "lmn_entropy_bits": S}

    return measure
