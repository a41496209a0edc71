"""Naive dense-design-matrix SFM (definitions §1.1, §1.6): the independent reference for tests and the
benchmark. Nothing here uses an FFT; the ``n x p^2`` matrix is built from the definitions.

Coordinates are the scaled ones of :mod:`sfm.basis` (equal to the definitions' ``W`` (definitions §1.1) for ``+ -``):
row ``i`` of the design matrix is ``E[i, (a, b)] = p e_a(u_i) e_b(v_i)`` with ``e_a`` the
orthonormal 1-D basis, so ``yhat = E vec(V)`` and the drift is ``V += (eta / p^2) E^H r``
(for characters ``E^H r = fft2(R)``, definitions §1.6).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "basis_matrix",
    "design_matrix",
    "dense_predict",
    "dense_drift",
    "dense_hard_gate",
    "dense_step",
]


def _brute_discrete_log(p: int) -> np.ndarray:
    """``ind[u]`` with ``r**ind[u] = u``, by brute-force search for a primitive root."""
    for r in range(2, p):
        seen, x = {}, 1
        for m in range(p - 1):
            if x in seen:
                break
            seen[x] = m
            x = (x * r) % p
        if len(seen) == p - 1:
            ind = np.full(p, -1)
            for u, m in seen.items():
                ind[u] = m
            return ind
    raise ValueError("no primitive root")


def basis_matrix(op: str, p: int) -> np.ndarray:
    """``Phi[u, a] = e_a(u)``: orthonormal characters (``+ -``) or ``{delta_0, psi_j / sqrt(p-1)}``."""
    u = np.arange(p)
    if op in ("+", "-"):
        return np.exp(2j * np.pi * np.outer(u, u) / p) / np.sqrt(p)
    ind = _brute_discrete_log(p)
    Phi = np.zeros((p, p), dtype=np.complex128)
    Phi[0, 0] = 1.0
    j = np.arange(p - 1)
    for x in range(1, p):
        Phi[x, 1:] = np.exp(2j * np.pi * j * ind[x] / (p - 1)) / np.sqrt(p - 1)
    return Phi


def design_matrix(op: str, p: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Dense ``E`` (``len(u) x p^2``, complex): ``E[i, (a, b)] = p Phi[u_i, a] Phi[v_i, b]``."""
    Phi = basis_matrix(op, p)
    E = p * Phi[u][:, :, None] * Phi[v][:, None, :]
    return E.reshape(len(u), p * p)


def dense_predict(E: np.ndarray, Vfull: np.ndarray) -> np.ndarray:
    """``yhat_i = <E_i, vec V>`` (real part; the imaginary part vanishes for Hermitian V)."""
    return (E @ Vfull.reshape(-1)).real


def dense_drift(E: np.ndarray, r: np.ndarray, eta: float, p: int) -> np.ndarray:
    """``(eta / p^2) E^H r`` reshaped to ``p x p`` (definitions §1.6, dense form)."""
    return (eta / (p * p)) * (E.conj().T @ r).reshape(p, p)


def dense_hard_gate(V: np.ndarray, tau: float) -> np.ndarray:
    """``H_tau(V) = V 1(|V| > tau)`` (definitions §1.7)."""
    return np.where(np.abs(V) > tau, V, 0.0)


def dense_step(
    E: np.ndarray, y: np.ndarray, Vfull: np.ndarray, eta: float, p: int, tau: float = 0.0
) -> np.ndarray:
    """One naive drift + hard-gate step on the training rows ``E``, targets ``y``."""
    r = y - dense_predict(E, Vfull)
    return dense_hard_gate(Vfull + dense_drift(E, r, eta, p), tau)
