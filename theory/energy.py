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
    """Asymptotic Bayes free energy ``F_n = n L + lambda ln n - (m - 1) ln ln n`` of one phase.

    Definitions §1.5; the ``m`` term is Watanabe's multiplicity correction (Watanabe 2009, Thm 6.7).
    Broadcasts over arrays.

    Parameters
    ----------
    n : array_like
        Number of samples, finite and ``> 0`` (``> 1`` when ``m > 1``, for the ``ln ln n`` term).
    loss : array_like
        Per-sample loss ``L_n`` in nats.
    lam : array_like
        The RLCT ``lambda`` of the phase.
    m : int, default 1
        Multiplicity of the RLCT, an integer ``>= 1``.

    Returns
    -------
    float or numpy.ndarray
        ``F_n`` in nats: a float for scalar input, else an array of the broadcast shape.

    Raises
    ------
    InputError
        If ``m`` is not an integer ``>= 1``, or ``n`` is not finite and ``> 0`` (``> 1`` for ``m > 1``).

    References
    ----------
    Watanabe (2009), Algebraic Geometry and Statistical Learning Theory, Thm 6.7; definitions §1.5.

    Examples
    --------
    The memorising phase of p = 97 (``lambda = p^2 / 2``) at zero loss and n = 1000:

    >>> from theory.energy import free_energy
    >>> round(free_energy(1000, 0.0, 97**2 / 2), 6)
    32497.53471
    >>> round(free_energy(1000, 0.01, 4656.0, m=2), 6)
    32170.575934
    >>> [round(float(f), 6) for f in free_energy([10, 100], 0.0, 1.5)]
    [3.453878, 6.907755]
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
    """Free-energy gap ``F_B - F_A = n dL - dlambda ln n + dm ln ln n`` of two phases.

    Phase A is the accurate one (lower loss, larger RLCT), B the simple one; the gap is negative
    where B is preferred (definitions §2.1).

    Parameters
    ----------
    n : array_like
        Number of samples, finite and ``> 0`` (``> 1`` when ``dm != 0``).
    dloss : float
        ``L_B - L_A``, the excess per-sample loss of the simple phase (nats).
    dlambda : float
        ``lambda_A - lambda_B``, the RLCT difference.
    dm : float, default 0.0
        ``m_A - m_B``, the multiplicity difference (switches on the ``ln ln n`` term).

    Returns
    -------
    float or numpy.ndarray
        The gap in nats: a float for scalar input, else an array.

    Raises
    ------
    InputError
        If ``n`` is not finite and ``> 0`` (``> 1`` with ``dm``).

    References
    ----------
    Watanabe (2009), Thm 6.7; definitions §2.1.

    Examples
    --------
    At n = 1e5, p = 97's generalising phase (``dlambda = 0.5 (p^2 - p)``, ``dL = 0.01``) wins:

    >>> from theory import free_energy_gap
    >>> round(free_energy_gap(1e5, 0.01, 4656.0), 6)
    -52604.180965
    """
    n_arr = _check_n(n, 2 if dm else 1)
    out = n_arr * dloss - dlambda * np.log(n_arr)
    if dm:
        out = out + dm * np.log(np.log(n_arr))
    return float(out) if np.ndim(out) == 0 else out
