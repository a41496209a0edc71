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
    """Number ``N = (p^2 + 1) / 2`` of orbits of ``(k, l) -> (-k, -l)`` on ``Z_p^2``.

    Parameters
    ----------
    p : int
        Odd prime modulus.

    Returns
    -------
    int

    Raises
    ------
    InputError
        If ``p`` is not an odd prime.

    References
    ----------
    Definitions §2.4.

    Examples
    --------
    >>> from theory import hermitian_orbits
    >>> hermitian_orbits(97)
    4705
    """
    p = check_odd_prime("p", p)
    return (p * p + 1) // 2


def active_orbits(support_size: int) -> int:
    """Number ``ceil(d / 2)`` of orbits touched by a symmetric support of ``d = |S|`` entries.

    The origin is its own orbit (1 real parameter); every other orbit is a conjugate pair (2
    reals), so ``|S|`` is odd exactly when the origin is active.

    Parameters
    ----------
    support_size : int
        ``|S| >= 0``.

    Returns
    -------
    int

    Raises
    ------
    InputError
        If ``support_size`` is not an integer ``>= 0``.

    References
    ----------
    Definitions §2.4.

    Examples
    --------
    >>> from theory import active_orbits
    >>> active_orbits(97), active_orbits(97**2)
    (49, 4705)
    """
    return (check_int("support_size", support_size, lo=0) + 1) // 2


def log2_binomial(n: int, k: int) -> float:
    """``log2 C(n, k)``, from the exact integer where it is cheap, via ``lgamma`` beyond.

    The ``lgamma`` route's absolute error is about ``u lgamma(n + 1) / ln 2``.

    Parameters
    ----------
    n, k : int
        ``0 <= k <= n``.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``k`` lies outside ``[0, n]``.

    References
    ----------
    Cover & Thomas (2006), Elements of Information Theory, §13.2 (enumerative codes); definitions §2.4.

    Examples
    --------
    >>> from theory import log2_binomial
    >>> round(log2_binomial(10, 3), 6)
    6.906891
    >>> round(log2_binomial(100_000, 50_000), 3)
    99991.369
    """
    if not 0 <= k <= n:
        raise InputError(f"k: must lie in [0, {n}], got {k}")
    if n <= 20_000 or min(k, n - k) <= 2_000:
        return math.log2(math.comb(n, k))
    lg = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return lg / math.log(2)


def enumerative_code_bits(p: int, support_size: int, bits: int = 32) -> float:
    """Enumerative code length ``K(W) = ceil(log2(N+1)) + log2 C(N, s) + d b`` bits of a Hermitian W.

    ``N`` orbits, ``s`` active orbits, ``d = |S|`` real parameters at ``b`` bits each. K is
    non-decreasing in ``|S|`` whenever ``b >= log2 N`` (one more parameter costs b bits, the
    subset code changes by at most ``log2 N``).

    Parameters
    ----------
    p : int
        Odd prime modulus.
    support_size : int
        ``d = |S|``, in ``[0, p^2]``.
    bits : int, default 32
        Bits per real parameter, ``>= 1``.

    Returns
    -------
    float
        Bits.

    Raises
    ------
    InputError
        If ``p`` is not an odd prime, ``support_size`` is outside ``[0, p^2]`` or ``bits < 1``.

    References
    ----------
    Cover & Thomas (2006), §13.2; definitions §2.4.

    Examples
    --------
    The generalising (``|S| = p``) and memorising (``|S| = p^2``) phases of p = 97:

    >>> from theory import enumerative_code_bits
    >>> round(enumerative_code_bits(97, 97), 6), enumerative_code_bits(97, 97**2)
    (3505.872847, 301101.0)
    """
    n_orb = hermitian_orbits(p)
    d = check_int("support_size", support_size, lo=0, hi=p * p)
    b = check_int("bits", bits, lo=1)
    s = active_orbits(d)
    return math.ceil(math.log2(n_orb + 1)) + log2_binomial(n_orb, s) + d * b


def paper004_code_bits(lam: float, p: int, bits: int = 32) -> float:
    """Zhang et al. (2026)'s code length ``K ~ lambda (2 log2 p + C_float)`` with ``C_float = 2 b``.

    Parameters
    ----------
    lam : float
        The RLCT, finite and ``>= 0``.
    p : int
        Odd prime modulus.
    bits : int, default 32
        Bits per float, ``>= 1``.

    Returns
    -------
    float
        Bits.

    Raises
    ------
    InputError
        If ``lam`` is negative or not finite, ``p`` is not an odd prime or ``bits < 1``.

    References
    ----------
    Zhang et al. (2026); definitions §2.4.

    Examples
    --------
    >>> from theory import paper004_code_bits
    >>> round(paper004_code_bits(48.5, 97), 6)
    3744.191546
    """
    p = check_odd_prime("p", p)
    b = check_int("bits", bits, lo=1)
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"lam: the RLCT must be finite and >= 0, got {lam!r}")
    return lam * (2 * math.log2(p) + 2 * b)


def quantise(w: ArrayLike, bits: int = 8) -> np.ndarray:
    """Uniform symmetric quantiser of the real and imaginary parts to ``bits``-bit integers.

    The step is ``max|x| / (2^(bits-1) - 1)`` over all real components (definitions §2.4).

    Parameters
    ----------
    w : array_like
        Real or complex weights, all finite.
    bits : int, default 8
        Bits per code, in ``[2, 31]``.

    Returns
    -------
    numpy.ndarray
        int16 (``bits <= 16``) or int32 codes; real parts then imaginary parts stacked on a new
        leading axis for complex input (a leading axis of length 1 for real input).

    Raises
    ------
    InputError
        If ``bits`` is out of range or ``w`` holds NaN or inf.

    Examples
    --------
    >>> from theory.kolmogorov import quantise
    >>> quantise([0.5, -1.0, 0.25], 8).tolist()
    [[64, -127, 32]]
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
    """Compressed sizes in bits of the quantised W: bz2, lzma, zstd (empirical upper bounds on K).

    Parameters
    ----------
    w : array_like
        Real or complex weights, quantised by :func:`quantise`.
    bits : int, default 8
        Bits per quantised component.

    Returns
    -------
    dict of str to int
        ``{"raw", "bz2", "lzma", "zstd"}`` sizes in bits.

    Raises
    ------
    InputError
        As :func:`quantise`.

    References
    ----------
    Li & Vitanyi (2008), An Introduction to Kolmogorov Complexity, §8 (compressors as upper
    bounds); definitions §2.4.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import compressed_sizes
    >>> sizes = compressed_sizes(np.zeros((97, 97)))
    >>> sizes["raw"], sizes["bz2"] < sizes["raw"], sorted(sizes)
    (150544, True, ['bz2', 'lzma', 'raw', 'zstd'])
    """
    import zstandard

    raw = quantise(w, bits).tobytes()
    return {
        "raw": 8 * len(raw),
        "bz2": 8 * len(bz2.compress(raw, 9)),
        "lzma": 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
        "zstd": 8 * len(zstandard.ZstdCompressor(level=19).compress(raw)),
    }
