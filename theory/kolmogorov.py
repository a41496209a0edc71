"""Kolmogorov-complexity proxies for SFM weight matrices (definitions §2.4)."""

from __future__ import annotations

import bz2
import lzma
import math

import numpy as np
from numpy.typing import ArrayLike

from theory.base.errors import InputError, check_int, check_odd_prime

__all__ = [
    "hermitian_orbits",
    "active_orbits",
    "enumerative_code_bits",
    "paper004_code_bits",
    "quantise",
    "compressed_sizes",
    "log2_binomial",
]


def hermitian_orbits(p: int) -> int:
    """``N = (p^2 + 1) / 2`` orbits of ``(k, l) -> (-k, -l)`` on ``Z_p^2`` (definitions §2.4)."""
    p = check_odd_prime("p", p)
    return (p * p + 1) // 2


def active_orbits(support_size: int) -> int:
    """Orbits touched by a symmetric support of ``d = |S|`` entries: ``ceil(d / 2)``.

    The origin is its own orbit (1 real parameter); every other orbit is a conjugate pair (2 reals),
    so ``|S|`` is odd exactly when the origin is active.
    """
    return (check_int("support_size", support_size, lo=0) + 1) // 2


def log2_binomial(n: int, k: int) -> float:
    """``log2 C(n, k)`` from the exact integer where it is cheap, via ``lgamma`` beyond
    (absolute error then about ``u lgamma(n + 1) / ln 2``)."""
    if not 0 <= k <= n:
        raise InputError(f"k: must lie in [0, {n}], got {k}")
    if n <= 20_000 or min(k, n - k) <= 2_000:
        return math.log2(math.comb(n, k))
    lg = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return lg / math.log(2)


def enumerative_code_bits(p: int, support_size: int, bits: int = 32) -> float:
    """``K(W) = ceil(log2(N+1)) + log2 C(N, s) + d b`` bits for a Hermitian W (definitions §2.4).

    ``N`` orbits, ``s`` active orbits, ``d = |S|`` real parameters at ``b`` bits each. K is
    non-decreasing in ``|S|`` whenever ``b >= log2 N`` (one more parameter costs b bits, the
    subset code changes by at most ``log2 N``).
    """
    n_orb = hermitian_orbits(p)
    d = check_int("support_size", support_size, lo=0, hi=p * p)
    b = check_int("bits", bits, lo=1)
    s = active_orbits(d)
    return math.ceil(math.log2(n_orb + 1)) + log2_binomial(n_orb, s) + d * b


def paper004_code_bits(lam: float, p: int, bits: int = 32) -> float:
    """Zhang et al. (2026)'s ``K ~ lambda (2 log2 p + C_float)`` with ``C_float = 2 b`` (definitions §2.4)."""
    p = check_odd_prime("p", p)
    b = check_int("bits", bits, lo=1)
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"lam: the RLCT must be finite and >= 0, got {lam!r}")
    return lam * (2 * math.log2(p) + 2 * b)


def quantise(w: ArrayLike, bits: int = 8) -> np.ndarray:
    """Uniform symmetric quantiser of the real and imaginary parts to ``bits``-bit integers.

    The step is ``max|x| / (2^(bits-1) - 1)`` over all real components; returns int16/int32 codes
    (real parts then imaginary parts stacked on a new leading axis for complex input).
    """
    b = check_int("bits", bits, lo=2, hi=31)
    a = np.asarray(w)
    parts = np.stack([a.real, a.imag]) if np.iscomplexobj(a) else a.astype(float)[None]
    if not np.all(np.isfinite(parts)):
        raise InputError("w: contains NaN or inf; quantise finite weights only")
    scale = np.max(np.abs(parts))
    levels = 2 ** (b - 1) - 1
    q = np.zeros(parts.shape) if scale == 0 else np.rint(parts / scale * levels)
    return q.astype(np.int16 if b <= 16 else np.int32)


def compressed_sizes(w: ArrayLike, bits: int = 8) -> dict[str, int]:
    """Compressed sizes in bits of the quantised W: bz2, lzma, zstd (definitions §2.4 empirical bounds)."""
    import zstandard

    raw = quantise(w, bits).tobytes()
    return {
        "raw": 8 * len(raw),
        "bz2": 8 * len(bz2.compress(raw, 9)),
        "lzma": 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
        "zstd": 8 * len(zstandard.ZstdCompressor(level=19).compress(raw)),
    }
