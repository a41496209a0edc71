"""Asymptotic Bayes free energy of a phase (definitions §1.5, §2.1; Watanabe 2009, Thm 6.7)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from theory.base.errors import InputError

__all__ = ["free_energy", "free_energy_gap"]


def _check_n(n: ArrayLike, m: float) -> np.ndarray:
    n_arr = np.asarray(n, dtype=float)
    if not np.all(np.isfinite(n_arr)) or np.any(n_arr <= 0):
        raise InputError("n: the number of samples must be finite and > 0")
    if m != 1 and np.any(n_arr <= 1):
        raise InputError("n: the (m-1) ln ln n term needs n > 1; drop m or use larger n")
    return n_arr


def free_energy(n: ArrayLike, loss: ArrayLike, lam: ArrayLike, m: float = 1) -> float | np.ndarray:
    """``F_n = n L + lambda ln n - (m - 1) ln ln n`` (definitions §1.5; the m term is Watanabe's correction).

    ``loss`` is the per-sample loss ``L_n`` (nats), ``lam`` the RLCT, ``m`` its multiplicity.
    Broadcasts over arrays; returns a float for scalar input.
    """
    if m < 1 or int(m) != m:
        raise InputError(f"m: the multiplicity must be an integer >= 1, got {m!r}")
    n_arr = _check_n(n, m)
    out = n_arr * np.asarray(loss, dtype=float) + np.asarray(lam, dtype=float) * np.log(n_arr)
    if m != 1:
        out = out - (m - 1) * np.log(np.log(n_arr))
    return float(out) if np.ndim(out) == 0 else out


def free_energy_gap(
    n: ArrayLike, dloss: float, dlambda: float, dm: float = 0.0
) -> float | np.ndarray:
    """``F_B - F_A = n dL - dlambda ln n + dm ln ln n`` with ``dm = m_A - m_B`` (definitions §2.1).

    Negative where the simple phase B is preferred.
    """
    n_arr = _check_n(n, 2 if dm else 1)
    out = n_arr * dloss - dlambda * np.log(n_arr)
    if dm:
        out = out + dm * np.log(np.log(n_arr))
    return float(out) if np.ndim(out) == 0 else out
