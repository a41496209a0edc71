"""Fourier concentration of the token embedding (Zhang et al. (2026) §4; definitions §4.3).

``S[k, l] = |DFT2(W_E)[k, l]|`` over the ``p`` residue tokens (rows) and the model dimension
(columns). The Gini coefficient and the inverse participation ratio ``sum s^4 / (sum s^2)^2`` of
the amplitudes ``s`` rise together when the energy concentrates on a few modes. Key frequencies
come from the DFT along the token axis only (the model axis has no order): the energy of
frequency ``k`` is pooled with its conjugate ``p - k`` and over the model dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "FourierOptions",
    "gini",
    "ipr",
    "frequency_energy",
    "key_frequencies",
    "fourier_measures",
]


def gini(s: np.ndarray) -> float:
    """Gini coefficient of non-negative values: ``sum_i (2i - n - 1) s_(i) / (n sum s)``."""
    x = np.sort(np.abs(np.asarray(s, dtype=np.float64).ravel()))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def ipr(s: np.ndarray) -> float:
    """Inverse participation ratio ``sum s^4 / (sum s^2)^2`` (Zhang et al. (2026)): 1/n (flat) to 1 (one mode)."""
    x2 = np.asarray(s, dtype=np.float64).ravel() ** 2
    total = x2.sum()
    return float((x2**2).sum() / total**2) if total > 0 else 0.0


def frequency_energy(W: np.ndarray) -> np.ndarray:
    """Energy of frequencies ``k = 1 .. (p-1)/2`` of the rows of ``W [p, d]`` (``k`` with ``p-k``)."""
    F = np.fft.fft(W, axis=0)
    e = (np.abs(F) ** 2).sum(axis=1)
    p = W.shape[0]
    half = (p - 1) // 2
    return np.array([e[k] + e[p - k] for k in range(1, half + 1)])


def key_frequencies(W: np.ndarray, factor: float = 3.0) -> list[int]:
    """Frequencies whose energy exceeds ``factor`` times the mean non-constant frequency energy.

    For i.i.d. Gaussian rows each pooled energy is a chi-square with ``2d`` degrees of freedom,
    within a few ``1/sqrt(d)`` of the mean, so a random embedding has no key frequency; a model
    using ``m`` frequencies puts ~``1/m`` of the energy on each, ``(p-1)/(2m)`` times the mean.
    """
    e = frequency_energy(W)
    if e.sum() == 0:
        return []
    return [int(k) + 1 for k in np.flatnonzero(e > factor * e.mean())]


@dataclass(frozen=True)
class FourierOptions:
    """:func:`fourier_measures` has no knobs; the empty options keep one calling convention."""


@torch.no_grad()
def fourier_measures(model, ds) -> dict[str, float | str]:
    """Gini and IPR of ``|DFT2(W_E)|`` and the key frequencies with their energy share."""
    W = model.W_E[: ds.p].detach().double().cpu().numpy()  # residue tokens only
    s = np.abs(np.fft.fft2(W))
    keys = key_frequencies(W)
    e = frequency_energy(W)
    share = float(e[[k - 1 for k in keys]].sum() / e.sum()) if keys else 0.0
    return {
        "fourier_gini": gini(s),
        "fourier_ipr": ipr(s),
        "fourier_n_key": float(len(keys)),
        "fourier_key_share": share,
        "fourier_key_freqs": " ".join(map(str, keys)),
    }
