"""Orthogonal bases in which the singular feature machine stores its weights (definitions §1.1, §1.3).

Weights are kept in *scaled* coordinates ``V[a, b] = W[a, b] * sqrt(n_a * n_b) / p`` where
``n_a = ||phi_a||^2`` is the squared norm of the 1-D basis function. For the Fourier characters
``n_a = p``, so ``V`` is exactly the definitions' ``W`` (definitions §1.1); for the discrete-log basis of ``*`` and ``/`` the
scaling makes every basis function count equally, so the drift, the Occam gate threshold and the
support count mean the same thing in both bases (see ``docs/sfm.md``).

In scaled coordinates the model is ``yhat = p * S(V)`` with ``S`` the orthonormal 2-D synthesis, and
the drift of definitions §1.6 is ``V <- V + (eta / p) * A(R)`` with ``A = S^-1`` the orthonormal analysis.

The Fourier basis stores only the half spectrum ``V[:, :(p+1)//2]`` (real FFTs, Hermitian symmetry
``V[-k, -l] = conj(V[k, l])`` supplies the rest); the discrete-log basis stores the full ``p x p``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.fft as sfft

from theory.base.modular import primitive_root

from .rader import Rader2D, use_rader

__all__ = [
    "Basis",
    "FourierBasis",
    "LogBasis",
    "make_basis",
    "primitive_root",
    "discrete_log_tables",
]


def discrete_log_tables(p: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(r, power, ind)``: ``power[m] = r**m mod p`` and ``ind[power[m]] = m`` (``ind[0] = -1``)."""
    r = primitive_root(p)
    power = np.empty(p - 1, dtype=np.int64)
    x = 1
    for m in range(p - 1):
        power[m] = x
        x = (x * r) % p
    ind = np.full(p, -1, dtype=np.int64)
    ind[power] = np.arange(p - 1)
    return r, power, ind


@dataclass(frozen=True)
class Basis:
    """Interface shared by the Fourier and discrete-log bases (definitions §1.1, §1.3)."""

    p: int
    name: str = field(init=False, default="")

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the stored coefficient array (per batch element)."""
        raise NotImplementedError

    def synthesis(self, V: np.ndarray, workers: int | None = None) -> np.ndarray:
        """``yhat = p * S(V)``: model outputs on all ``p x p`` pairs, batched on leading axes."""
        raise NotImplementedError

    def analysis(self, R: np.ndarray, workers: int | None = None) -> np.ndarray:
        """``A(R) = S^-1(R)`` (orthonormal), so the drift is ``V += (eta / p) * A(R)``."""
        raise NotImplementedError

    def to_full(self, V: np.ndarray) -> np.ndarray:
        """The full ``p x p`` coefficient array (Hermitian completion for half storage)."""
        raise NotImplementedError

    def from_full(self, Vfull: np.ndarray) -> np.ndarray:
        """Stored representation of a full ``p x p`` coefficient array."""
        raise NotImplementedError

    @cached_property
    def multiplicity(self) -> np.ndarray:
        """How many full-array entries each stored entry stands for (for support counts)."""
        raise NotImplementedError

    def hermitian_error(self, V: np.ndarray) -> np.ndarray:
        """``max |V[-a, -b] - conj(V[a, b])|`` per batch element (definitions §1.4); 0 means symmetric."""
        full = self.to_full(V)
        mir = self.mirror
        flipped = full[..., mir, :][..., :, mir]
        return np.max(np.abs(flipped - np.conj(full)), axis=(-2, -1))

    @cached_property
    def mirror(self) -> np.ndarray:
        """Index ``a -> -a`` on one coefficient axis (complex conjugation of the basis function)."""
        raise NotImplementedError


@dataclass(frozen=True)
class FourierBasis(Basis):
    """Fourier characters of ``Z_p``, the basis of ``+`` and ``-`` (definitions §1.1).

    The characters are ``chi_k(u) = exp(2 pi i k u / p)`` and the model is
    ``yhat = p^2 ifft2(W)``. Only the half spectrum ``V[:, :(p+1)//2]`` is stored; Hermitian
    symmetry ``V[-k, -l] = conj(V[k, l])`` supplies the rest. Where :func:`~sfm.rader.use_rader`
    picks it (``p >= 37`` with ``p - 1`` smooth) the ``p x p`` transforms go through
    :class:`~sfm.rader.Rader2D` (Rader 1968: a cyclic convolution of the size ``p - 1``), else
    through pocketfft's prime-length ones; both equal ``scipy.fft.irfft2``/``rfft2`` to round-off.

    Parameters
    ----------
    p : int
        The odd prime modulus.

    See Also
    --------
    LogBasis : the basis of ``*`` and ``/``.
    make_basis : the basis for an operation.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), Grokking From Abstraction to Intelligence,
    arXiv:2603.29262; definitions §1.1.

    Examples
    --------
    >>> from sfm import FourierBasis
    >>> b = FourierBasis(11)
    >>> b.name, b.shape
    ('fourier', (11, 6))
    """

    name: str = field(init=False, default="fourier")

    @property
    def half(self) -> int:
        return (self.p + 1) // 2

    @property
    def shape(self) -> tuple[int, int]:
        return (self.p, self.half)

    @cached_property
    def rader(self) -> Rader2D | None:
        """The Rader plan of this ``p`` when :func:`~sfm.rader.use_rader` picks it, else None."""
        return Rader2D(self.p) if use_rader(self.p) else None

    def synthesis(self, V: np.ndarray, workers: int | None = None) -> np.ndarray:
        # p * irfft2_ortho(W) = p^2 * ifft2(W) for Hermitian W (definitions §1.1).
        if self.rader is not None:
            return self.rader.irfft2(V, scale=float(self.p), workers=workers)
        y = sfft.irfft2(V, s=(self.p, self.p), axes=(-2, -1), norm="ortho", workers=workers)
        y *= self.p
        return y

    def analysis(self, R: np.ndarray, workers: int | None = None) -> np.ndarray:
        # (1/p) rfft2_ortho(R) = fft2(R) / p^2 restricted to the stored half (definitions §1.6).
        if self.rader is not None:
            return self.rader.rfft2(R, workers=workers)
        return sfft.rfft2(R, axes=(-2, -1), norm="ortho", workers=workers)

    def to_full(self, V: np.ndarray) -> np.ndarray:
        p, h = self.p, self.half
        full = np.empty(V.shape[:-2] + (p, p), dtype=np.complex128)
        full[..., :, :h] = V
        # W[k, l] for l > p/2 is conj(W[-k, -l]) with -l in the stored half.
        neg = (-np.arange(p)) % p
        cols = np.arange(h, p)
        full[..., :, h:] = np.conj(V[..., neg, :][..., :, neg[cols]])
        return full

    def from_full(self, Vfull: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(Vfull[..., :, : self.half])

    @cached_property
    def multiplicity(self) -> np.ndarray:
        m = np.full(self.shape, 2, dtype=np.int64)
        m[:, 0] = 1
        return m

    def hermitian_error(self, V: np.ndarray) -> np.ndarray:
        # Only the l = 0 column can break the symmetry inside half storage.
        col = V[..., :, 0]
        neg = (-np.arange(self.p)) % self.p
        return np.max(np.abs(col[..., neg] - np.conj(col)), axis=-1)

    @cached_property
    def mirror(self) -> np.ndarray:
        return (-np.arange(self.p)) % self.p


@dataclass(frozen=True)
class LogBasis(Basis):
    """Discrete-log basis of ``*`` and ``/`` (definitions §1.3).

    The basis is ``{delta_0} U {psi_j(u) = exp(2 pi i j ind_r(u) / (p-1))}`` with ``ind_r`` the
    discrete logarithm to the primitive root ``r``. Coefficient index 0 is ``delta_0``; index
    ``1 + j`` is ``psi_j``, ``j = 0 .. p-2``. Implemented as a permutation by the discrete log
    plus a size ``p-1`` FFT; the full ``p x p`` array is stored.

    Parameters
    ----------
    p : int
        The odd prime modulus.

    See Also
    --------
    FourierBasis : the basis of ``+`` and ``-``.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262; definitions §1.3.

    Examples
    --------
    >>> from sfm import LogBasis
    >>> b = LogBasis(11)
    >>> b.name, b.shape, b.tables[0]
    ('dlog', (11, 11), 2)
    """

    name: str = field(init=False, default="dlog")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.p, self.p)

    @cached_property
    def tables(self) -> tuple[int, np.ndarray, np.ndarray]:
        return discrete_log_tables(self.p)

    @cached_property
    def norms2(self) -> np.ndarray:
        """Squared norms ``n_a``: 1 for ``delta_0``, ``p - 1`` for each ``psi_j``."""
        n = np.full(self.p, self.p - 1, dtype=np.float64)
        n[0] = 1.0
        return n

    def _synth_axis(self, C: np.ndarray, axis: int, workers: int | None) -> np.ndarray:
        p = self.p
        _, power, _ = self.tables
        C = np.moveaxis(C, axis, -1)
        out = np.empty(C.shape[:-1] + (p,), dtype=np.complex128)
        out[..., 0] = C[..., 0]
        out[..., power] = sfft.ifft(C[..., 1:], axis=-1, norm="ortho", workers=workers)
        return np.moveaxis(out, -1, axis)

    def _anal_axis(self, F: np.ndarray, axis: int, workers: int | None) -> np.ndarray:
        p = self.p
        _, power, _ = self.tables
        F = np.moveaxis(F, axis, -1)
        out = np.empty(F.shape[:-1] + (p,), dtype=np.complex128)
        out[..., 0] = F[..., 0]
        out[..., 1:] = sfft.fft(F[..., power], axis=-1, norm="ortho", workers=workers)
        return np.moveaxis(out, -1, axis)

    def synthesis(self, V: np.ndarray, workers: int | None = None) -> np.ndarray:
        y = self._synth_axis(self._synth_axis(V, -1, workers), -2, workers)
        return self.p * y.real

    def analysis(self, R: np.ndarray, workers: int | None = None) -> np.ndarray:
        return self._anal_axis(self._anal_axis(R.astype(np.complex128), -1, workers), -2, workers)

    def to_full(self, V: np.ndarray) -> np.ndarray:
        return V

    def from_full(self, Vfull: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(Vfull)

    @cached_property
    def multiplicity(self) -> np.ndarray:
        return np.ones(self.shape, dtype=np.int64)

    @cached_property
    def mirror(self) -> np.ndarray:
        # conj(delta_0) = delta_0, conj(psi_j) = psi_{-j mod (p-1)}.
        j = np.arange(self.p - 1)
        return np.concatenate([[0], 1 + ((-j) % (self.p - 1))])

    def scale(self) -> np.ndarray:
        """``sqrt(n_a n_b) / p``: definitions-unit ``W = V / scale`` (coefficient of phi_a (x) phi_b)."""
        n = np.sqrt(self.norms2)
        return np.outer(n, n) / self.p


def make_basis(op: str, p: int) -> Basis:
    """The basis in which operation ``op`` has a sparse exact interpolant (definitions §1.3).

    Parameters
    ----------
    op : str
        One of ``+``, ``-`` (Fourier basis) or ``*``, ``/`` (discrete-log basis).
    p : int
        The odd prime modulus.

    Returns
    -------
    Basis
        A :class:`FourierBasis` or a :class:`LogBasis`.

    Raises
    ------
    ValueError
        If ``op`` is not one of the four operations.

    References
    ----------
    Definitions §1.3.

    Examples
    --------
    >>> from sfm import make_basis
    >>> make_basis("+", 11).name, make_basis("/", 11).name
    ('fourier', 'dlog')
    """
    if op in ("+", "-"):
        return FourierBasis(p)
    if op in ("*", "/"):
        return LogBasis(p)
    raise ValueError(f"op: must be one of + - * /, got {op!r}")
