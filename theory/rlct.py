"""Real log canonical thresholds (RLCTs) used as references (definitions §1.4, §2.2)."""

from __future__ import annotations

from dataclasses import dataclass

from theory.base.errors import InputError, check_int, check_odd_prime

__all__ = ["sfm_rlct", "lambda_mem", "lambda_gen", "RRRRLCT", "rrr_rlct"]


def sfm_rlct(support_size: int) -> float:
    """``lambda(S) = |S| / 2`` for a symmetric SFM support with ``d(S) = |S|`` real parameters (definitions §1.4)."""
    return check_int("support_size", support_size, lo=0) / 2.0


def lambda_mem(p: int) -> float:
    """Full support ``|S| = p^2``: ``p^2 / 2`` — the BIC count, not the empirical LLC when n < p^2 (definitions §1.4)."""
    p = check_odd_prime("p", p)
    return p * p / 2.0


def lambda_gen(p: int) -> float:
    """Diagonal (Fourier-sparse) support ``|S| = p``: ``p / 2`` (definitions §1.4)."""
    return check_odd_prime("p", p) / 2.0


@dataclass(frozen=True)
class RRRRLCT:
    """RLCT and multiplicity of reduced-rank regression (Aoyagi & Watanabe 2005, Main Theorem)."""

    M: int
    N: int
    H: int
    r: int
    lam: float
    multiplicity: int
    case: str


def rrr_rlct(M: int, N: int, H: int, r: int) -> RRRRLCT:
    """RLCT of ``y = B A x`` (A: H x M, B: N x H) at a true map of rank ``r`` (definitions §2.2).

    Aoyagi & Watanabe (2005), Neural Networks 18, Main Theorem: four cases by (M, N, H, r).
    ``M`` input dimension, ``N`` output dimension, ``H`` inner dimension, ``0 <= r <= min(M, N, H)``.
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
