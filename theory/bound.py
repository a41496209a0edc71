"""Compression generalisation bound (DeMoss et al. (2024), eq. 4; definitions §2.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from theory.base.errors import InputError, check_positive, check_range

__all__ = ["GeneralisationBound", "generalisation_bound"]


@dataclass(frozen=True)
class GeneralisationBound:
    """``R <= R_hat + gap`` with the inputs and the unit K was given in."""

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
    """``R <= R_hat + sqrt((K + 2 log K + log(1/delta)) / (2n))`` (DeMoss et al. (2024) eq. 4; definitions §2.5).

    Logs are natural. ``unit="nats"`` uses eq. 4 literally with K in nats; ``unit="bits"`` takes K in
    bits and uses ``K ln 2 + 2 ln K`` (the prior ``2^-K / K^2`` of Lotfi et al., whose eq. 4 is cited).
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
