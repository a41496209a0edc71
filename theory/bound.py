"""Compression generalisation bound (DeMoss et al. (2024), eq. 4; definitions §2.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from theory.base.errors import InputError, check_positive, check_range

__all__ = ["GeneralisationBound", "generalisation_bound"]


@dataclass(frozen=True)
class GeneralisationBound:
    """The bound ``R <= R_hat + gap`` with its inputs and the unit K was given in.

    Made by :func:`generalisation_bound`.

    Attributes
    ----------
    emp_risk : float
        Empirical risk ``R_hat``.
    K : float
        Code length.
    unit : str
        ``"nats"`` or ``"bits"``.
    n : int
        Number of samples.
    delta : float
        Failure probability.
    gap : float
        ``sqrt((K + 2 log K + log(1/delta)) / (2n))``.
    bound : float
        ``emp_risk + gap``.

    References
    ----------
    DeMoss et al. (2024), eq. 4; definitions §2.5.

    Examples
    --------
    >>> from theory import generalisation_bound
    >>> b = generalisation_bound(0.01, 500.0, 2822)
    >>> round(b.gap, 6), round(b.bound, 6)
    (0.302196, 0.312196)
    """

    emp_risk: float
    K: float
    unit: str
    n: int
    delta: float
    gap: float
    bound: float


def generalisation_bound(
    emp_risk: float, K: float, n: float, delta: float = 0.05, unit: str = "nats"
) -> GeneralisationBound:
    """Compression bound ``R <= R_hat + sqrt((K + 2 log K + log(1/delta)) / (2n))``.

    Logs are natural. ``unit="nats"`` uses eq. 4 literally with K in nats; ``unit="bits"`` takes
    K in bits and uses ``K ln 2 + 2 ln K`` (the prior ``2^-K / K^2`` of Lotfi et al., whose eq. 4
    is cited).

    Parameters
    ----------
    emp_risk : float
        Empirical risk ``R_hat >= 0``.
    K : float
        Code length, ``>= 1`` (below 1, ``log K`` is negative).
    n : float
        Number of samples, ``> 0``.
    delta : float, default 0.05
        Failure probability, in ``(0, 1)``.
    unit : {"nats", "bits"}
        Unit of ``K``.

    Returns
    -------
    GeneralisationBound

    Raises
    ------
    InputError
        If an argument is out of range or ``unit`` is unknown.

    References
    ----------
    DeMoss et al. (2024), The Complexity Dynamics of Grokking, eq. 4; Lotfi et al. (2024),
    Non-Vacuous Generalization Bounds for Large Language Models; definitions §2.5.

    Examples
    --------
    >>> from theory import generalisation_bound
    >>> round(generalisation_bound(0.0, 1000.0, 2822, unit="bits").bound, 6)
    0.354669
    """
    emp_risk = check_range("emp_risk", emp_risk, 0.0, None)
    K = check_range(
        "K", K, 1.0, None, hint="K is a code length; values below 1 make log K negative"
    )
    n = check_positive("n", n)
    delta = check_range("delta", delta, 0.0, 1.0, lo_open=True, hi_open=True)
    if unit == "nats":
        complexity = K
    elif unit == "bits":
        complexity = K * math.log(2)
    else:
        raise InputError(f"unit: must be 'nats' or 'bits', got {unit!r}")
    gap = math.sqrt((complexity + 2 * math.log(K) + math.log(1 / delta)) / (2 * n))
    return GeneralisationBound(emp_risk, K, unit, int(n), delta, gap, emp_risk + gap)
