"""Occam-gate thresholds: the hard gate as the proximal map of an l0 penalty (definitions §1.7)."""

from __future__ import annotations

import math

from theory.base.errors import InputError, check_odd_prime, check_positive, check_range
from theory.base.modular import GATE_CONVENTIONS

__all__ = ["l0_prox_threshold", "occam_gate_threshold"]


def l0_prox_threshold(c: float, mu: float) -> float:
    """Threshold ``tau = sqrt(2 c mu)``: ``H_tau`` is the exact prox of ``c ||W||_0`` with step ``mu``.

    Keeping an entry w costs ``c`` and saves ``|w|^2 / (2 mu)`` of the quadratic, so it survives
    iff ``|w| > sqrt(2 c mu)`` (definitions §1.7).

    Parameters
    ----------
    c : float
        Penalty per nonzero entry, ``>= 0``.
    mu : float
        Step size, ``> 0``.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``c < 0`` or ``mu <= 0``.

    References
    ----------
    Blumensath & Davies (2008), Iterative thresholding for sparse approximations; definitions §1.7.

    Examples
    --------
    >>> from theory import l0_prox_threshold
    >>> round(l0_prox_threshold(0.5, 0.01), 6)
    0.1
    """
    return math.sqrt(2.0 * check_positive("c", c, allow_zero=True) * check_positive("mu", mu))


def occam_gate_threshold(
    beta: float, n: float, p: int, eta: float = 1.0, convention: str = "prox"
) -> float:
    """Occam-gate threshold for the l0 prior ``beta ln n ||W||_0`` (definitions §1.7).

    ``prox`` (default): ``tau = sqrt(2 beta eta ln n) / p`` for the drift ``W += (eta/p^2) fft2(R)``.
    ``paper``: Zhang et al. (2026)'s ``tau = sqrt(2 beta ln n / n)`` under its ``1/n`` drift.

    Parameters
    ----------
    beta : float
        Strength of the prior, ``>= 0``.
    n : float
        Number of training pairs, ``>= 1``.
    p : int
        Odd prime modulus.
    eta : float, default 1.0
        Drift step, ``0 < eta < 2`` (used by ``prox`` only).
    convention : {"prox", "paper"}
        Which drift the threshold belongs to.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If an argument is out of range or ``convention`` is unknown.

    References
    ----------
    Zhang et al. (2026); definitions §1.7.

    Examples
    --------
    p = 97 trained on 30% of its pairs (n = 2822):

    >>> from theory import occam_gate_threshold
    >>> round(occam_gate_threshold(0.5, 2822, 97), 6)
    0.029059
    >>> round(occam_gate_threshold(0.5, 2822, 97, convention="paper"), 6)
    0.053061
    """
    beta = check_positive("beta", beta, allow_zero=True)
    n = check_range("n", n, 1.0, None, hint="n is the number of training pairs (>= 1)")
    p = check_odd_prime("p", p)
    if convention == "prox":
        eta = check_range(
            "eta",
            eta,
            0.0,
            2.0,
            lo_open=True,
            hi_open=True,
            hint="the drift is stable for 0 < eta < 2",
        )
        return l0_prox_threshold(beta * math.log(n), eta / p**2)
    if convention == "paper":
        return math.sqrt(2.0 * beta * math.log(n) / n)
    raise InputError(f"convention: must be one of {GATE_CONVENTIONS}, got {convention!r}")
