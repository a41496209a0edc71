"""The theory's numbers for one modular-arithmetic task, as the crosscheck reports them.

RLCTs of the memorising and generalising phases (definitions §1.4), their supports, the code
lengths of both phases (definitions §2.4), the free-energy gap at the task's n (definitions §2.1)
and the Occam-gate threshold at the SFM's strength (definitions §1.7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from theory.base.errors import InputError, check_odd_prime, check_range
from theory.gates import occam_gate_threshold
from theory.kolmogorov import enumerative_code_bits, paper004_code_bits
from theory.rlct import lambda_gen, lambda_mem

__all__ = ["TaskPredictions", "task_predictions"]


@dataclass(frozen=True)
class TaskPredictions:
    """What the theory says about ``a op b mod p`` trained on ``n_train`` pairs.

    Made by :func:`task_predictions`.

    Attributes
    ----------
    p : int
        Odd prime modulus.
    n_train : int
        Number of training pairs.
    lambda_mem, lambda_gen : float
        RLCTs of the memorising and generalising phases (definitions §1.4).
    support_mem, support_gen : int
        Their supports, ``p^2`` and ``p``.
    K_bits_mem, K_bits_gen : float
        Enumerative code lengths in bits (definitions §2.4).
    K_paper004_bits_mem, K_paper004_bits_gen : float
        Zhang et al. (2026)'s code lengths in bits.
    free_energy_gap_at_n : float
        ``(lambda_mem - lambda_gen) ln n`` (NaN for ``n < 1``).
    occam_gate_tau_prox : float or str
        The gate threshold, or ``"unavailable: ..."`` with the reason.

    Examples
    --------
    >>> from theory import task_predictions
    >>> t = task_predictions(97, 0.5, 0.3)
    >>> t.n_train, t.support_gen, t.K_bits_mem
    (2822, 97, 301101.0)
    """

    p: int
    n_train: int
    lambda_mem: float
    lambda_gen: float
    support_mem: int
    support_gen: int
    K_bits_mem: float
    K_bits_gen: float
    K_paper004_bits_mem: float
    K_paper004_bits_gen: float
    free_energy_gap_at_n: float
    occam_gate_tau_prox: float | str


def task_predictions(p: int, beta: float, frac: float) -> TaskPredictions:
    """The theory's predictions for modulus ``p``, gate strength ``beta``, train fraction ``frac``.

    ``n = floor(frac p^2)`` (definitions §1.5); the free-energy gap is ``(lambda_mem -
    lambda_gen) ln n`` (definitions §2.1, leading order). The gate threshold needs ``n >= 1``;
    below that it is reported as unavailable with the reason.

    Parameters
    ----------
    p : int
        Odd prime modulus.
    beta : float
        Strength of the Occam gate's l0 prior, ``>= 0``.
    frac : float
        Fraction of the ``p^2`` pairs trained on, in ``(0, 1)``.

    Returns
    -------
    TaskPredictions

    Raises
    ------
    InputError
        If ``p`` is not an odd prime or ``frac`` is outside ``(0, 1)``.

    References
    ----------
    Zhang et al. (2026); definitions §1.4, §1.5, §1.7, §2.1, §2.4.

    Examples
    --------
    >>> from theory import task_predictions
    >>> t = task_predictions(97, 0.5, 0.3)
    >>> t.lambda_mem, t.lambda_gen, round(t.free_energy_gap_at_n, 6), round(t.occam_gate_tau_prox, 6)
    (4704.5, 48.5, 36992.856473, 0.029059)
    >>> task_predictions(3, 0.5, 0.1).occam_gate_tau_prox
    'unavailable: n: must lie in [1, inf], got 0; n is the number of training pairs (>= 1)'
    """
    p = check_odd_prime("p", p)
    frac = check_range("frac", frac, 0.0, 1.0, lo_open=True, hi_open=True)
    n = int(frac * p * p)
    lm, lg = lambda_mem(p), lambda_gen(p)
    try:
        tau: float | str = occam_gate_threshold(beta, n, p)
    except InputError as exc:
        tau = f"unavailable: {exc}"
    return TaskPredictions(
        p=p,
        n_train=n,
        lambda_mem=lm,
        lambda_gen=lg,
        support_mem=p * p,
        support_gen=p,
        K_bits_mem=enumerative_code_bits(p, p * p),
        K_bits_gen=enumerative_code_bits(p, p),
        K_paper004_bits_mem=paper004_code_bits(lm, p),
        K_paper004_bits_gen=paper004_code_bits(lg, p),
        free_energy_gap_at_n=(lm - lg) * math.log(n) if n >= 1 else math.nan,
        occam_gate_tau_prox=tau,
    )
