"""Nanda et al.'s Fourier progress measures (Nanda, Chan, Lieberum, Smith, Steinhardt, ICLR 2023,
"Progress measures for grokking via mechanistic interpretability"; docs/nanda_measures.md).

Every quantity is read off the model on all ``p^2`` inputs ``(a, b)`` at the last position:

* **Neuron key frequencies** (paper §4, neuron clusters): each last-layer MLP neuron, centred over the
  inputs, is written in the 2-D real Fourier basis over ``(a, b)``; the share of its variance on
  frequency ``k``'s linear terms ``cos/sin(w_k a)``, ``cos/sin(w_k b)`` and quadratic terms
  (their four products), ``w_k = 2 pi k / p``, is its fraction explained by ``k``. A neuron
  belongs to its best frequency when that fraction exceeds ``threshold`` (0.85, the paper's
  cut); a frequency is *key* when at least ``min_share`` of the neurons belong to it.
* **Restricted loss** (§5.1, "restricted loss"): the logits of every output ``c`` projected onto
  the directions ``cos(w_k(a+b))``, ``sin(w_k(a+b))`` of the key frequencies -- so only the terms
  ``cos(w_k(a+b-c))`` of Fig. 1's algorithm survive -- plus each output's mean over the inputs
  (the authors' bias correction), scored on all ``p^2`` inputs as in their code.
* **Excluded loss** (§5.1, "excluded loss"): the training loss after those key-frequency
  components are removed from the logits (no bias correction).
* **Fourier view of the logits** (§4, the logits in the Fourier basis): the share of the centred logits' variance on
  the key directions, the share on every ``a+b`` direction, and :func:`logit_fourier_norms`.

For ``a - b`` the directions are those of ``a - b``; for other operations only the neuron part
is defined, and for ``/`` (no full grid) nothing is: those values are NaN, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from theory.base.errors import InputError, check_choice, check_int, check_range
from transformer_check.model import act_name

__all__ = [
    "NandaOptions",
    "SPLITS",
    "fourier_basis",
    "fourier_basis_names",
    "fourier_2d",
    "neuron_frequency_fractions",
    "assign_neurons",
    "sum_directions",
    "project_logits",
    "restricted_logits",
    "excluded_logits",
    "cross_entropy",
    "logit_fourier_norms",
    "Grid",
    "full_grid",
    "nanda_measure",
]

SPLITS = ("all", "train", "test")


@dataclass(frozen=True)
class NandaOptions:
    """Knobs of :func:`nanda_measure`.

    ``threshold``: fraction of a neuron's variance its best frequency must explain (paper: 0.85);
    ``min_share``: share of the MLP neurons a frequency needs to be key; ``key_freqs``: fix the
    key frequencies instead (e.g. the final model's, as the paper does across checkpoints);
    ``restricted_on``: inputs the restricted loss is scored on (the authors' code: all).
    """

    threshold: float = 0.85
    min_share: float = 0.02
    key_freqs: tuple[int, ...] | None = None
    restricted_on: str = "all"

    def __post_init__(self) -> None:
        check_range("threshold", self.threshold, 0.0, 1.0, hi_open=True)
        check_range("min_share", self.min_share, 0.0, 1.0)
        check_choice("restricted_on", self.restricted_on, SPLITS)
        if self.key_freqs is not None:
            if not isinstance(self.key_freqs, tuple):
                raise InputError(f"key_freqs: expected a list of integers, got {self.key_freqs!r}")
            for k in self.key_freqs:
                check_int("key_freqs", k, 1)
            if len(set(self.key_freqs)) != len(self.key_freqs):
                raise InputError(f"key_freqs: list each frequency once, got {self.key_freqs!r}")


# ------------------------------------------------------------------ the Fourier basis (§4)


def fourier_basis(p: int) -> np.ndarray:
    """Rows ``1, cos(w_1 x), sin(w_1 x), ..., sin(w_h x)``, each of unit norm, ``h = (p-1)/2``
    (paper §4; an orthonormal basis of ``R^p`` for odd ``p``)."""
    x = np.arange(p)
    rows = [np.ones(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [np.cos(2 * np.pi * k * x / p), np.sin(2 * np.pi * k * x / p)]
    B = np.stack(rows)
    return B / np.linalg.norm(B, axis=1, keepdims=True)


def fourier_basis_names(p: int) -> list[str]:
    """Names of :func:`fourier_basis`'s rows: ``const``, ``cos 1``, ``sin 1``, ..."""
    return ["const"] + [f"{t} {k}" for k in range(1, (p - 1) // 2 + 1) for t in ("cos", "sin")]


def fourier_2d(x: Tensor) -> Tensor:
    """Coefficients ``[p, p, ...]`` of ``x [p, p, ...]`` (axes ``a``, ``b``) in the 2-D basis
    :func:`fourier_basis` ``x`` :func:`fourier_basis` (Nanda et al.'s ``fft2d``); two matmuls."""
    p = x.shape[0]
    B = torch.as_tensor(fourier_basis(p), dtype=x.dtype, device=x.device)
    rest = x.shape[2:]
    y = (B @ x.reshape(p, -1)).reshape(p, p, -1)  # a -> its Fourier component
    return torch.matmul(B, y).reshape(p, p, *rest)  # b -> its Fourier component, batched over a


def neuron_frequency_fractions(acts: Tensor) -> tuple[Tensor, Tensor]:
    """``(frac [h, N], var [N])`` for activations ``acts [p, p, N]`` over ``(a, b)``.

    ``frac[k-1, n]``: share of neuron ``n``'s centred variance on the 2-D Fourier block
    ``{1, cos w_k, sin w_k} x {1, cos w_k, sin w_k}`` minus the constant -- four linear and four
    quadratic terms (Nanda et al. §4; the authors' ``extract_freq_2d``). The fractions of one neuron
    sum to at most 1 (the rest is on products of two different frequencies). ``var[n]``: its
    centred sum of squares; a constant neuron (dead, or round-off only) gets 0 and fractions 0.
    """
    p = acts.shape[0]
    if acts.dim() != 3 or acts.shape[1] != p or p % 2 == 0:
        raise InputError(f"acts: expected [p, p, neurons] with p odd, got {tuple(acts.shape)}")
    x = acts - acts.mean(dim=(0, 1), keepdim=True)
    q = fourier_2d(x).square()
    h, n = (p - 1) // 2, x.shape[-1]
    idx = (torch.arange(p, device=x.device) + 1) // 2  # basis row -> its frequency
    g1 = torch.zeros(h + 1, p, n, dtype=q.dtype, device=q.device).index_add_(0, idx, q)
    g = torch.zeros(h + 1, h + 1, n, dtype=q.dtype, device=q.device).index_add_(1, idx, g1)
    k = torch.arange(1, h + 1, device=x.device)
    block = g[k, k] + g[0, k] + g[k, 0]  # [h, N]
    var = x.square().sum(dim=(0, 1))
    # Centring a constant leaves round-off of relative size eps^2, not signal.
    live = var > 1e4 * torch.finfo(x.dtype).eps ** 2 * acts.square().sum(dim=(0, 1))
    frac = torch.where(live, block / torch.where(live, var, 1.0), 0.0)
    return frac, torch.where(live, var, 0.0)


def assign_neurons(
    frac: Tensor, var: Tensor, threshold: float = 0.85, min_share: float = 0.02
) -> tuple[list[int], Tensor, Tensor]:
    """``(key_freqs, best_freq [N], best_frac [N])`` from :func:`neuron_frequency_fractions`.

    A live neuron whose best frequency explains more than ``threshold`` of its variance is that
    frequency's (Nanda et al. §4, their 0.85 cluster cut); ``best_freq`` is 0 otherwise. A key
    frequency holds at least ``max(1, ceil(min_share * N))`` neurons: a frequency the algorithm
    uses is carried by many neurons, and a stray neuron is not a circuit.
    """
    best_frac, best = frac.max(dim=0)
    member = (var > 0) & (best_frac > threshold)
    best_freq = torch.where(member, best + 1, 0)
    need = max(1, math.ceil(min_share * frac.shape[1] - 1e-9))
    counts = torch.bincount(best_freq, minlength=frac.shape[0] + 1)[1:]
    keys = [int(k) + 1 for k in torch.nonzero(counts >= need).flatten()]
    return keys, best_freq, best_frac


# ------------------------------------------------------------- logits in the a+b directions


def sum_directions(
    p: int, freqs: Sequence[int], sign: int = 1, *, device=None, dtype=torch.float64
) -> Tensor:
    """Unit vectors ``[p^2, 2m]`` over the grid ``(a, b)`` (row ``a p + b``): ``cos(w_k(a + s b))``
    and ``sin(w_k(a + s b))`` for each ``k`` in ``freqs``, ``s = sign`` (Nanda et al. §5.1; the
    authors' ``get_component_cos_xpy``). Orthonormal, and orthogonal to the constants."""
    a = torch.arange(p, device=device, dtype=dtype).repeat_interleave(p)
    b = torch.arange(p, device=device, dtype=dtype).repeat(p)
    cols = []
    for k in freqs:
        th = 2 * math.pi * k * (a + sign * b) / p
        cols += [torch.cos(th), torch.sin(th)]
    if not cols:
        return torch.zeros(p * p, 0, device=device, dtype=dtype)
    return torch.stack(cols, dim=1) / math.sqrt(p * p / 2)


def project_logits(logits: Tensor, directions: Tensor) -> Tensor:
    """Each output's column of ``logits [p^2, C]`` projected on the span of ``directions``."""
    return directions @ (directions.T @ logits)


def restricted_logits(logits: Tensor, p: int, freqs: Sequence[int], sign: int = 1) -> Tensor:
    """Key-frequency components plus each output's mean over inputs (§5.1 with the authors'
    bias correction: the projection has mean zero, so this is the mean they add back)."""
    d = sum_directions(p, freqs, sign, device=logits.device, dtype=logits.dtype)
    return project_logits(logits, d) + logits.mean(dim=0, keepdim=True)


def excluded_logits(logits: Tensor, p: int, freqs: Sequence[int], sign: int = 1) -> Tensor:
    """The logits with their key-frequency components removed (§5.1, excluded loss)."""
    d = sum_directions(p, freqs, sign, device=logits.device, dtype=logits.dtype)
    return logits - project_logits(logits, d)


def cross_entropy(logits: Tensor, labels: Tensor) -> float:
    """Mean cross-entropy in float64 (confident logits underflow in float32)."""
    return float(F.cross_entropy(logits.double(), labels))


def logit_fourier_norms(logits: Tensor | np.ndarray, p: int) -> np.ndarray:
    """``[p, p]`` norms over the outputs of the logits' 2-D Fourier coefficients over ``(a, b)``
    in :func:`fourier_basis` order (rows: the ``a`` component, columns: ``b``; Nanda et al.
    §4). ``logits``: ``[p^2, C]`` in grid order or ``[p, p, C]``. For plotting."""
    L = np.asarray(logits.detach().cpu() if isinstance(logits, Tensor) else logits, np.float64)
    if L.shape[0] == p * p and L.ndim == 2:
        L = L.reshape(p, p, -1)
    if L.ndim != 3 or L.shape[:2] != (p, p):
        raise InputError(f"logits: expected [p^2, C] or [p, p, C] with p={p}, got {L.shape}")
    coef = fourier_2d(torch.from_numpy(L)).numpy()
    return np.sqrt((coef**2).sum(axis=-1))


# ---------------------------------------------------------------------------- the measure


@dataclass(frozen=True)
class Grid:
    """All ``p^2`` inputs in grid order (row ``a p + b``), their labels and split, and the sign
    ``s`` of the operation when it is ``a + s b`` (None otherwise)."""

    tokens: Tensor
    labels: Tensor
    train: Tensor
    sign: int | None


def full_grid(ds: Any) -> Grid | None:
    """The dataset's inputs as the full ``(a, b)`` grid, or None when they are not one (``/``)."""
    x = torch.cat([ds.train_x, ds.test_x]).cpu()
    y = torch.cat([ds.train_y, ds.test_y]).cpu()
    p = int(ds.p)
    varying = [j for j in range(x.shape[1]) if bool((x[:, j] != x[0, j]).any())]
    if len(varying) != 2 or x.shape[0] != p * p:
        return None
    a, b = x[:, varying[0]], x[:, varying[1]]
    g = a * p + b
    order = torch.argsort(g)
    if not torch.equal(g[order], torch.arange(p * p)):
        return None
    a, b, y = a[order], b[order], y[order]
    train = order < ds.train_x.shape[0]
    sign = next((s for s in (1, -1) if torch.equal(y, (a + s * b) % p)), None)
    return Grid(x[order], y, train, sign)


def _nan_values(keys: str = "", n_keys: float = math.nan) -> dict[str, float | str]:
    out: dict[str, float | str] = {"nanda_key_freqs": keys, "nanda_n_key_freqs": n_keys}
    for k in ("neuron_fve", "neuron_assigned", "full_loss", "restricted_loss", "excluded_loss"):
        out[f"nanda_{k}"] = math.nan
    out["nanda_logit_key_fraction"] = out["nanda_logit_sum_fraction"] = math.nan
    return out


def nanda_measure(
    threshold: float = 0.85,
    min_share: float = 0.02,
    key_freqs: tuple[int, ...] | None = None,
    restricted_on: str = "all",
) -> Callable[[Any, Any], dict[str, float | str]]:
    """Measure ``f(model, dataset)``: Nanda et al.'s neuron key frequencies, restricted loss,
    excluded loss and logit Fourier shares (keys ``nanda_*``; module docstring).

    Uses only ``model(tokens, cache=dict)`` (the cache key ``act_name("mlp_hidden", L-1)``),
    ``model.cfg.n_layers`` and the parameters' device.
    """
    opts = NandaOptions(threshold, min_share, key_freqs, restricted_on)

    @torch.no_grad()
    def measure(model: Any, ds: Any) -> dict[str, float | str]:
        grid = full_grid(ds)
        if grid is None:
            return _nan_values()
        p, h = int(ds.p), (int(ds.p) - 1) // 2
        if opts.key_freqs is not None and max(opts.key_freqs) > h:
            raise InputError(f"key_freqs: frequencies must lie in 1..{h} for p={p}")
        dev = next(model.parameters()).device
        cache: dict[str, Tensor] = {}
        logits = model(grid.tokens.to(dev), cache=cache).double()
        if logits.shape[-1] < p:
            raise InputError(f"model: {logits.shape[-1]} outputs, fewer than p={p} residues")
        logits = logits[:, :p]  # drop extra outputs such as an '=' column
        # float32 is ample for fractions compared with 0.85 and twice as fast as float64
        hidden = cache[act_name("mlp_hidden", int(model.cfg.n_layers) - 1)][:, -1].float()
        frac, var = neuron_frequency_fractions(hidden.reshape(p, p, -1))
        found, best_freq, best_frac = assign_neurons(frac, var, opts.threshold, opts.min_share)
        keys = sorted(opts.key_freqs) if opts.key_freqs is not None else found
        live = var > 0
        n_live = int(live.sum())
        out = _nan_values(" ".join(map(str, keys)), float(len(keys)))
        if n_live:
            out["nanda_neuron_fve"] = float(best_frac[live].mean())
            in_key = torch.isin(best_freq, torch.tensor(keys or [-1], device=best_freq.device))
            out["nanda_neuron_assigned"] = float((in_key & live).sum()) / n_live
        if grid.sign is None:  # not a +- b: the logits' a+b structure is undefined
            return out
        labels, train = grid.labels.to(dev), grid.train.to(dev)
        split = {"all": slice(None), "train": train, "test": ~train}[opts.restricted_on]
        restricted = restricted_logits(logits, p, keys, grid.sign)
        excluded = excluded_logits(logits, p, keys, grid.sign)
        centred = logits - logits.mean(dim=0, keepdim=True)
        total = float(centred.square().sum())
        every = sum_directions(p, range(1, h + 1), grid.sign, device=dev)
        out["nanda_full_loss"] = cross_entropy(logits[split], labels[split])
        out["nanda_restricted_loss"] = cross_entropy(restricted[split], labels[split])
        out["nanda_excluded_loss"] = cross_entropy(excluded[train], labels[train])
        if total > 0:
            key_part = float((restricted - logits.mean(dim=0, keepdim=True)).square().sum())
            out["nanda_logit_key_fraction"] = key_part / total
            out["nanda_logit_sum_fraction"] = float((every.T @ logits).square().sum()) / total
        return out

    return measure
