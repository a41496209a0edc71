"""Real log canonical thresholds (RLCTs) used as references (definitions §1.4, §2.2)."""

from __future__ import annotations

from dataclasses import dataclass

from theory.base.errors import InputError, check_int, check_odd_prime

__all__ = ["sfm_rlct", "lambda_mem", "lambda_gen", "RRRRLCT", "rrr_rlct"]


def sfm_rlct(support_size: int) -> float:
    """RLCT ``lambda(S) = |S| / 2`` of a symmetric SFM support with ``d(S) = |S|`` real parameters.

    Parameters
    ----------
    support_size : int
        ``|S| >= 0``.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``support_size`` is not an integer ``>= 0``.

    References
    ----------
    Watanabe (2009) (a regular model's RLCT is d / 2); definitions §1.4.

    Examples
    --------
    >>> from theory import sfm_rlct
    >>> sfm_rlct(97), sfm_rlct(97**2)
    (48.5, 4704.5)
    """
    return check_int("support_size", support_size, lo=0) / 2.0


def lambda_mem(p: int) -> float:
    """RLCT ``p^2 / 2`` of the memorising phase (full support ``|S| = p^2``).

    It is the BIC count, not the empirical LLC when ``n < p^2`` (definitions §1.4).

    Parameters
    ----------
    p : int
        Odd prime modulus.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``p`` is not an odd prime.

    References
    ----------
    Zhang et al. (2026); definitions §1.4.

    Examples
    --------
    >>> from theory import lambda_mem
    >>> lambda_mem(97)
    4704.5
    """
    p = check_odd_prime("p", p)
    return p * p / 2.0


def lambda_gen(p: int) -> float:
    """RLCT ``p / 2`` of the generalising phase (diagonal, Fourier-sparse support ``|S| = p``).

    Parameters
    ----------
    p : int
        Odd prime modulus.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``p`` is not an odd prime.

    References
    ----------
    Zhang et al. (2026); definitions §1.4.

    Examples
    --------
    >>> from theory import lambda_gen
    >>> lambda_gen(97)
    48.5
    """
    return check_odd_prime("p", p) / 2.0


@dataclass(frozen=True)
class RRRRLCT:
    """RLCT and multiplicity of reduced-rank regression, as :func:`rrr_rlct` gives them.

    Attributes
    ----------
    M, N, H, r : int
        Input, output and inner dimension, and the true rank.
    lam : float
        The RLCT.
    multiplicity : int
        Its multiplicity (2 in the balanced odd case).
    case : str
        Which case of the Main Theorem applies.

    References
    ----------
    Aoyagi & Watanabe (2005), Neural Networks 18, Main Theorem; definitions §2.2.

    Examples
    --------
    >>> from theory import rrr_rlct
    >>> rrr_rlct(3, 3, 3, 3)
    RRRRLCT(M=3, N=3, H=3, r=3, lam=4.5, multiplicity=1, case='balanced, M + N + H + r even')
    """

    M: int
    N: int
    H: int
    r: int
    lam: float
    multiplicity: int
    case: str


def rrr_rlct(M: int, N: int, H: int, r: int) -> RRRRLCT:
    """RLCT of reduced-rank regression ``y = B A x`` (A: H x M, B: N x H) at a true map of rank ``r``.

    Four cases by ``(M, N, H, r)`` (Aoyagi & Watanabe 2005, Main Theorem; definitions §2.2).

    Parameters
    ----------
    M : int
        Input dimension, ``>= 1``.
    N : int
        Output dimension, ``>= 1``.
    H : int
        Inner dimension, ``>= 1``.
    r : int
        True rank, ``0 <= r <= min(M, N, H)``.

    Returns
    -------
    RRRRLCT

    Raises
    ------
    InputError
        If a dimension is not a positive integer or ``r > min(M, N, H)``.

    References
    ----------
    Aoyagi & Watanabe (2005), Stochastic complexities of reduced rank regression in Bayesian
    estimation, Neural Networks 18, Main Theorem; definitions §2.2.

    Examples
    --------
    >>> from theory import rrr_rlct
    >>> r = rrr_rlct(10, 10, 5, 2)
    >>> r.lam, r.multiplicity, r.case
    (29.0, 2, 'balanced, M + N + H + r odd')
    >>> rrr_rlct(4, 3, 2, 1).lam
    4.0
    """
    M = check_int("M", M, lo=1)
    N = check_int("N", N, lo=1)
    H = check_int("H", H, lo=1)
    r = check_int("r", r, lo=0)
    if r > min(M, N, H):
        raise InputError(f"r: the true rank must be <= min(M, N, H) = {min(M, N, H)}, got {r}")
    if N + r > M + H:
        lam, m, case = (H * M - H * r + N * r) / 2, 1, "M + H < N + r"
    elif M + r > N + H:
        lam, m, case = (H * N - H * r + M * r) / 2, 1, "N + H < M + r"
    elif H + r > M + N:
        lam, m, case = M * N / 2, 1, "M + N < H + r"
    else:
        core = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2
        if (M + N + H + r) % 2 == 0:
            lam, m, case = core / 8, 1, "balanced, M + N + H + r even"
        else:
            lam, m, case = (core + 1) / 8, 2, "balanced, M + N + H + r odd"
    return RRRRLCT(M, N, H, r, float(lam), m, case)
