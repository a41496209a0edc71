"""Rader's prime-length 2-D real DFT: the SFM's ``rfft2``/``irfft2`` pair at its smooth floor.

For a prime ``p`` pocketfft does a length-``p`` DFT by Bluestein's method (padded convolutions of
length ``>= 2p - 1``), about 3x a smooth length. Rader (1968) writes the DFT off the zero
frequency as a cyclic convolution of the smooth length ``q = p - 1``: with ``g`` a primitive root
(definitions §1.3), ``k = g^m`` and ``u = g^-a`` give ``k u = g^(m-a)``, so in 2-D

    ``sum_{u,v != 0} x[u, v] w^(k u + l v) = (x~ (*) (b (x) b))[m, n]``,
    ``x~[a, c] = x[g^-a, g^-c]``, ``b[j] = w^(g^j)``, ``w = exp(-+ 2 pi i / p)``,

a 2-D cyclic convolution of size ``q x q`` (Rader 1968, applied on both axes). The input's
``u = 0`` and ``v = 0`` terms join the convolution: subtracting row 0 and column 0 from every row
and column of ``x~`` adds their 1-D DFTs, because ``sum_j b[j] = sum_{u != 0} w^u = -1``. The
output's zero row and column are the 1-D DFTs of the column and row sums (``O(p log p)``).

Real symmetry halves the convolution. Since ``g^h = -1`` (``h = q / 2``), a real ``x`` has a
spectrum with ``M[m + h, n + h] = conj(M[m, n])``: ``Re M`` is invariant under the shift by
``(h, h)`` and ``Im M`` changes sign, so their ``q x q`` spectra live on the even and the odd
``s + t`` respectively. The real array ``E = Re M + Im M`` therefore has the spectrum
``M^ * (1 on even s + t, -i on odd)``, one real convolution: ``E = irfft2(rfft2(x~) * K)``, and
``M[m, n] = ((E + E') + i (E - E')) / 2`` with ``E' = E[m + h, n + h]``. The inverse transform
runs the same construction backwards (``E_in = Re W~ + Im W~``, factor ``+i`` on odd ``s + t``).
Each ``p x p`` transform thus costs one real ``q x q`` FFT pair plus two fused permutation
passes (numba), against Bluestein's two padded complex transforms per axis.

References
----------
Rader (1968), Discrete Fourier transforms when the number of data samples is prime,
Proc. IEEE 56(6):1107-1108; definitions §1.1 (the model), §1.3 (the primitive root), §1.6 (drift).
"""

from __future__ import annotations

import os

import numba as nb
import numpy as np
import scipy.fft as sfft

from theory.base.errors import InputError, check_odd_prime
from theory.base.modular import primitive_root

try:  # scipy.fft's own pocketfft binding: the public wrappers cost ~20-60 us a call in Python
    from scipy.fft._pocketfft import pypocketfft as _pocketfft
except ImportError:  # pragma: no cover - a scipy without it takes the public functions
    _pocketfft = None

__all__ = ["RADER_MAX_FACTOR", "RADER_MIN_P", "Rader2D", "largest_prime_factor", "use_rader"]

#: Smallest prime for which the Fourier basis uses :class:`Rader2D` instead of pocketfft's
#: prime-length transform: below it pocketfft's direct pass is as fast as the convolution plus
#: its permutations (measured pair times: at p = 11-31 the two tie, from p = 37 on Rader wins).
RADER_MIN_P = 37

#: Largest prime factor of ``p - 1`` for which the Rader path is used. Rader's FFTs have the
#: length ``p - 1``; when it is ``2 x`` a large prime (p = 107, 167, 347, 1019, ...) pocketfft
#: does that length by Bluestein's method too, twice per transform, and the plain path wins (at
#: p = 347 and 1019 by 2-3x; with factors up to 23, e.g. p = 139, 1013, Rader still wins).
RADER_MAX_FACTOR = 23


def largest_prime_factor(n: int) -> int:
    """Largest prime factor of the integer ``n >= 2`` (trial division).

    Examples
    --------
    >>> from sfm.rader import largest_prime_factor
    >>> largest_prime_factor(96), largest_prime_factor(1018)
    (3, 509)
    """
    f, last = 2, 1
    while f * f <= n:
        while n % f == 0:
            n //= f
            last = f
        f += 1
    return max(last, n) if n > 1 else last


def use_rader(p: int) -> bool:
    """Whether the Fourier basis of the prime ``p`` does its transforms by :class:`Rader2D`.

    The rule: ``p >= RADER_MIN_P`` and ``p - 1`` smooth (largest prime factor at most
    ``RADER_MAX_FACTOR``), so that the convolution's ``(p - 1)``-point FFTs are fast.

    Parameters
    ----------
    p : int
        The odd prime modulus.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sfm.rader import use_rader
    >>> use_rader(31), use_rader(97), use_rader(1009), use_rader(1019)
    (False, True, True, False)
    """
    return p >= RADER_MIN_P and largest_prime_factor(p - 1) <= RADER_MAX_FACTOR


def _threads(workers: int | None) -> int:
    """``scipy.fft``'s reading of ``workers``: None is 1, -1 every CPU, -2 all but one, ..."""
    if workers is None:
        return 1
    return workers if workers > 0 else max(1, (os.cpu_count() or 1) + 1 + workers)


def _r2c(x: np.ndarray, axes: tuple[int, ...], workers: int | None) -> np.ndarray:
    """Unnormalised forward real FFT over ``axes``: ``scipy.fft.rfftn(x, axes=axes)``."""
    if _pocketfft is None:  # pragma: no cover
        return sfft.rfftn(x, axes=axes, workers=workers)
    return _pocketfft.r2c(x, axes, True, 0, None, _threads(workers))


def _c2r(x: np.ndarray, axes: tuple[int, ...], n: int, workers: int | None) -> np.ndarray:
    """Unnormalised inverse real FFT over ``axes``, last one of length ``n``:
    ``scipy.fft.irfftn(x, s, axes=axes, norm="forward")``."""
    if _pocketfft is None:  # pragma: no cover
        s = [x.shape[a] for a in axes[:-1]] + [n]
        return sfft.irfftn(x, s=s, axes=axes, norm="forward", workers=workers)
    return _pocketfft.c2r(x, axes, n, False, 0, None, _threads(workers))


@nb.njit(cache=True)
def _gather_forward(x, S, rho, sums):  # pragma: no cover - numba
    """``rho[b, a, c] = x[b, g^-a, g^-c] - x[b, 0, g^-c] - x[b, g^-a, 0]``; row and column sums.

    Subtracting row 0 and column 0 along the whole block folds the ``u = 0`` and ``v = 0`` terms
    into the convolution: ``sum_j b[j] = sum_{u != 0} w^u = -1`` turns each into its 1-D DFT.
    ``sums[b, 0]`` are the column sums, ``sums[b, 1]`` the row sums (the zero row and column).
    Each source row is first copied whole (a streamed read), then permuted inside the cache.
    """
    B, p = x.shape[0], x.shape[1]
    q = S.shape[0]
    r0 = np.empty(q)
    tmp = np.empty(p)
    for b in range(B):
        for c in range(q):
            r0[c] = x[b, 0, S[c]]
        s = 0.0
        for v in range(p):
            sums[b, 0, v] = x[b, 0, v]
            s += x[b, 0, v]
        sums[b, 1, 0] = s
        for a in range(q):
            u = S[a]
            s = 0.0
            for v in range(p):
                t = x[b, u, v]
                tmp[v] = t
                s += t
                sums[b, 0, v] += t
            sums[b, 1, u] = s
            ca = tmp[0]
            dst = rho[b, a]
            for c in range(q):
                dst[c] = tmp[S[c]] - r0[c] - ca


@nb.njit(cache=True)
def _assemble_forward(E, ind, edge, x00, inv_p, out):  # pragma: no cover - numba
    """The half spectrum: ``out[k, l] = M[ind k, ind l] + x[0, 0] / p`` off the zero row/column.

    ``M = (E + E') + i (E - E')`` with ``E' = E[m + h, n + h]`` (the ``1 / 2p`` is in the kernel).
    ``edge[b]`` are the ``rfft`` of the column sums (row 0 of ``out``) and of the row sums (column
    0; ``conj`` of ``-k`` for ``k >= (p + 1) / 2``).
    """
    B, p, half = out.shape
    q = E.shape[1]
    h = q // 2
    e1 = np.empty(q)
    e2 = np.empty(q)
    for b in range(B):
        c = x00[b] * inv_p
        for l in range(half):
            out[b, 0, l] = edge[b, 0, l] * inv_p
        for k in range(1, p):
            m = ind[k]
            mm = m + h if m < h else m - h
            e1[:] = E[b, m]
            e2[:] = E[b, mm]
            out[b, k, 0] = (edge[b, 1, k] if k < half else np.conj(edge[b, 1, p - k])) * inv_p
            for l in range(1, half):
                n = ind[l]
                nn = n + h if n < h else n - h
                s1 = e1[n]
                s2 = e2[nn]
                out[b, k, l] = complex(s1 + s2 + c, s1 - s2)


@nb.njit(cache=True)
def _gather_inverse(V, S, Ein, sums):  # pragma: no cover - numba
    """``Ein[b, a, c] = Re z + Im z``, ``z = W[g^-a, g^-c] - W[0, g^-c] - W[g^-a, 0]`` of V.

    ``W[k, l] = V[k, l]`` for ``l < (p + 1) / 2``, else ``conj(V[-k, -l])`` (definitions §1.1);
    subtracting row 0 and column 0 folds them into the convolution as in :func:`_gather_forward`.
    Column 0 is taken Hermitian, ``(V[k, 0] + conj V[-k, 0]) / 2``, as pocketfft's ``irfft2`` does
    (it keeps only the real part of its last-axis zero frequency). ``sums[b, 0]`` are the column
    sums of W, ``sums[b, 1]`` its row sums (half spectra, for ``irfft``).
    """
    B, p, half = V.shape
    q = S.shape[0]
    w0 = np.empty(p, dtype=np.complex128)
    c0 = np.empty(p, dtype=np.complex128)
    enc = np.empty(p)
    for b in range(B):
        for k in range(p):
            c0[k] = 0.5 * (V[b, k, 0] + np.conj(V[b, (p - k) % p, 0]))
        for l in range(half):
            w0[l] = V[b, 0, l]
            sums[b, 0, l] = 0.0
        w0[0] = c0[0]
        for l in range(half, p):
            w0[l] = np.conj(V[b, 0, p - l])
        for k in range(p):
            sums[b, 0, 0] += c0[k]
            for l in range(1, half):
                sums[b, 0, l] += V[b, k, l]
        for k in range(half):
            km = (p - k) % p
            r = c0[k]
            for l in range(1, half):
                r += V[b, k, l] + np.conj(V[b, km, l])
            sums[b, 1, k] = r
        for a in range(q):
            k = S[a]
            km = p - k
            ck = c0[k]
            # Row k of W, less row 0 and column 0, encoded as Re + Im; then permuted in cache.
            for l in range(1, half):
                z = V[b, k, l] - w0[l] - ck
                enc[l] = z.real + z.imag
                z = np.conj(V[b, km, l]) - w0[p - l] - ck
                enc[p - l] = z.real + z.imag
            dst = Ein[b, a]
            for c in range(q):
                dst[c] = enc[S[c]]


@nb.njit(cache=True)
def _assemble_inverse(Y, ind, edge, w00, scale, edge_scale, out):  # pragma: no cover - numba
    """``out[u, v] = scale (Y[ind u, ind v] + W[0, 0] / p)`` off the zero row and column.

    ``edge[b]`` are the unnormalised inverse DFTs of the column sums (row 0 of ``out``, times
    ``edge_scale``) and of the row sums (column 0); ``w00[b]`` is ``W[0, 0] / p``.
    """
    B, p = out.shape[0], out.shape[1]
    q = Y.shape[1]
    yr = np.empty(q)
    for b in range(B):
        c = w00[b]
        for v in range(p):
            out[b, 0, v] = edge_scale * edge[b, 0, v]
        for u in range(1, p):
            yr[:] = Y[b, ind[u]]
            row = out[b, u]
            row[0] = edge_scale * edge[b, 1, u]
            for v in range(1, p):
                row[v] = scale * (yr[ind[v]] + c)


class Rader2D:
    """``rfft2``/``irfft2`` (``norm="ortho"``) of size ``p x p``, ``p`` prime, by Rader (1968) in 2-D.

    Drop-in for ``scipy.fft.rfft2(x, norm="ortho")`` and
    ``scipy.fft.irfft2(V, s=(p, p), norm="ortho")`` on arrays with leading batch axes; the work is
    one real ``(p-1) x (p-1)`` FFT pair per transform plus fused permutations (module docstring).

    Parameters
    ----------
    p : int
        The odd prime size.

    Raises
    ------
    InputError
        If ``p`` is not an odd prime.

    References
    ----------
    Rader (1968), Proc. IEEE 56(6):1107-1108; definitions §1.1, §1.3.

    Examples
    --------
    >>> import numpy as np, scipy.fft as sfft
    >>> from sfm.rader import Rader2D
    >>> x = np.random.default_rng(0).normal(size=(2, 11, 11))
    >>> rd = Rader2D(11)
    >>> bool(np.allclose(rd.rfft2(x), sfft.rfft2(x, norm="ortho")))
    True
    >>> bool(np.allclose(rd.irfft2(rd.rfft2(x)), x))
    True
    """

    def __init__(self, p: int) -> None:
        check_odd_prime("p", p)
        g = primitive_root(p)
        q = p - 1
        self.p, self.q, self.h, self.half = p, q, q // 2, (p + 1) // 2
        j = np.arange(q)
        G = np.array([pow(g, int(i), p) for i in j], dtype=np.int64)  # g^j
        self.S = np.ascontiguousarray(G[(-j) % q])  # g^-j
        self.ind = np.zeros(p, dtype=np.int64)
        self.ind[G] = j  # discrete log: ind[g^j] = j
        s = j[:, None] + j[None, :]
        # Spectra of Re M + Im M (forward) and of W~ from Re W~ + Im W~ (inverse): module docstring.
        odd = (s % 2).astype(bool)
        bf = sfft.fft(np.exp(-2j * np.pi * G / p))
        bi = sfft.fft(np.exp(2j * np.pi * G / p))
        # 1 / q^2 is the inverse FFT's normalisation; 1 / 2p and 1 / p are the output's (ortho).
        kf = np.multiply.outer(bf, bf) * np.where(odd, -1j, 1.0) / (2.0 * p * q * q)
        ki = np.multiply.outer(bi, bi) * np.where(odd, 1j, 1.0) / (p * q * q)
        self.kernel_forward = np.ascontiguousarray(kf[:, : self.h + 1])
        self.kernel_inverse = np.ascontiguousarray(ki[:, : self.h + 1])

    def _batch(self, x: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
        if x.ndim < 2 or x.shape[-2:] != shape:
            raise InputError(f"{name}: need trailing shape {shape}, got {x.shape}")
        return x.reshape((-1,) + shape)

    def rfft2(self, x: np.ndarray, workers: int | None = None) -> np.ndarray:
        """``scipy.fft.rfft2(x, norm="ortho")`` of real ``x`` with trailing shape ``(p, p)``.

        Parameters
        ----------
        x : numpy.ndarray
            Real, shape ``(..., p, p)``.
        workers : int, optional
            Threads for the ``(p-1) x (p-1)`` FFTs (``scipy.fft``); the permutation passes are
            serial.

        Returns
        -------
        numpy.ndarray
            Complex, shape ``(..., p, (p + 1) // 2)``.
        """
        p, q = self.p, self.q
        lead = x.shape[:-2]
        xb = np.ascontiguousarray(self._batch(x, (p, p), "x"), dtype=np.float64)
        B = xb.shape[0]
        rho = np.empty((B, q, q))
        sums = np.empty((B, 2, p))
        _gather_forward(xb, self.S, rho, sums)
        P = _r2c(rho, (1, 2), workers)
        P *= self.kernel_forward
        E = _c2r(P, (1, 2), q, workers)
        edge = _r2c(sums, (2,), workers)
        out = np.empty((B, p, self.half), dtype=np.complex128)
        _assemble_forward(E, self.ind, edge, xb[:, 0, 0].copy(), 1.0 / p, out)
        return out.reshape(lead + (p, self.half))

    def irfft2(self, V: np.ndarray, scale: float = 1.0, workers: int | None = None) -> np.ndarray:
        """``scale * scipy.fft.irfft2(V, s=(p, p), norm="ortho")`` of a half spectrum ``V``.

        Parameters
        ----------
        V : numpy.ndarray
            Complex, shape ``(..., p, (p + 1) // 2)``.
        scale : float, default 1.0
            Factor applied in the last pass (the SFM's ``yhat = p * irfft2``, definitions §1.1).
        workers : int, optional
            Threads for the ``(p-1) x (p-1)`` FFTs (``scipy.fft``); the permutation passes are
            serial.

        Returns
        -------
        numpy.ndarray
            Real, shape ``(..., p, p)``.
        """
        p, q = self.p, self.q
        lead = V.shape[:-2]
        Vb = np.ascontiguousarray(self._batch(V, (p, self.half), "V"), dtype=np.complex128)
        B = Vb.shape[0]
        Ein = np.empty((B, q, q))
        sums = np.empty((B, 2, self.half), dtype=np.complex128)
        _gather_inverse(Vb, self.S, Ein, sums)
        P = _r2c(Ein, (1, 2), workers)
        P *= self.kernel_inverse
        Y = _c2r(P, (1, 2), q, workers)
        edge = _c2r(sums, (2,), p, workers)  # sum_k z_k w^(k u): the 1 / p is in edge_scale
        out = np.empty((B, p, p))
        w00 = Vb[:, 0, 0].real / p
        _assemble_inverse(Y, self.ind, edge, w00, float(scale), float(scale) / p, out)
        return out.reshape(lead + (p, p))
