"""The 4-symbol 2-D bit-plane CTM (definitions §3.3).

No published table covers 4x4 blocks over 4 symbols, so a 4-symbol block ``b`` gets
``CTM^(4)(b) = CTM^(2)(high bit-plane of b) + CTM^(2)(low bit-plane of b)``, each plane looked up
(normalised, with the missing-block rule) in the published binary 2-D table. This is an upper
bound, up to an additive constant, on the complexity of ``b`` since the two planes determine it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .encoding import normalise_codes
from .tables import CTMTable

__all__ = ["BitPlaneTable", "split_planes", "top_pair_sums"]


def split_planes(codes4: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 block codes -> (high-plane, low-plane) base-2 codes of the same cell order.

    Digit ``j`` of a base-4 code sits in bits ``2j+1`` (high) and ``2j`` (low) counting from the
    least significant cell, so the planes are the odd and even bits compacted.
    """
    codes4 = np.asarray(codes4, dtype=np.int64)
    hi = np.zeros_like(codes4)
    lo = np.zeros_like(codes4)
    for j in range(length):
        lo |= ((codes4 >> (2 * j)) & 1) << j
        hi |= ((codes4 >> (2 * j + 1)) & 1) << j
    return hi, lo


def top_pair_sums(values: np.ndarray, mult: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` largest elements of the multiset ``{v_i + v_j}`` with multiplicity ``a_i a_j``.

    ``values`` are distinct and sorted descending. Pair ``(i, j)`` is needed only if fewer than ``m``
    raw pairs are strictly larger in both coordinates, i.e. ``A_i A_j < m`` with ``A`` the exclusive
    cumulative multiplicity; that keeps the candidate set near ``m log m``.
    """
    if m <= 0:
        return np.zeros(0)
    a = np.asarray(mult, dtype=np.int64)
    excl = np.concatenate([[0], np.cumsum(a)[:-1]])
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for i in range(values.size):
        if excl[i] >= m:
            break
        jmax = values.size if excl[i] == 0 else int(np.searchsorted(excl, -(-m // excl[i])))
        ii.append(np.full(jmax, i, dtype=np.int64))
        jj.append(np.arange(jmax, dtype=np.int64))
    i_arr = np.concatenate(ii)
    j_arr = np.concatenate(jj)
    sums = values[i_arr] + values[j_arr]
    pm = a[i_arr] * a[j_arr]
    order = np.argsort(-sums, kind="stable")
    sums, pm = sums[order], pm[order]
    upto = int(np.searchsorted(np.cumsum(pm), m)) + 1
    return np.repeat(sums[:upto], pm[:upto])[:m]


@dataclass(frozen=True)
class BitPlaneTable:
    """Table-like view: 4-symbol 2-D blocks priced by the binary 2-D table plane by plane.

    ``CTM^(4)(b) = CTM^(2)(high bit-plane of b) + CTM^(2)(low bit-plane of b)``, each plane looked
    up (normalised, with the missing-block rule) in the published binary table: an upper bound, up
    to an additive constant, on the complexity of ``b`` (definitions §3.3). Same interface as
    :class:`PublishedTable`.

    Parameters
    ----------
    binary : CTMTable
        The published binary 2-D table, ``load_table(2, 2)``.
    ndim, nsymbols : int
        Fixed at 2 and 4.

    References
    ----------
    Definitions §3.3; Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262 (``K_BDM`` over 4 symbols).

    Examples
    --------
    >>> from bdm import BitPlaneTable, load_table
    >>> t = BitPlaneTable(load_table(2, 2))
    >>> t.name, t.n_raw((4, 4)) == 4**16
    ('BITPLANE-B4-D4X4', True)
    """

    binary: CTMTable
    ndim: int = 2
    nsymbols: int = 4

    @property
    def name(self) -> str:
        return f"BITPLANE-B4-{self.binary.name.split('-')[-1]}"

    @property
    def shapes(self):
        return self.binary.shapes

    @property
    def load_seconds(self) -> float:
        return self.binary.load_seconds

    def lookup_raw(
        self, shape: tuple[int, ...], codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """CTM^(4) of raw base-4 codes and a mask of blocks whose two planes are both tabled."""
        st = self.binary.shape_table(shape)
        length = math.prod(shape)
        hi, lo = split_planes(codes, length)
        c_hi, f_hi = st.lookup(normalise_codes(hi, length, 2))
        c_lo, f_lo = st.lookup(normalise_codes(lo, length, 2))
        return c_hi + c_lo, f_hi & f_lo

    def min_ctm(self, shape: tuple[int, ...]) -> float:
        """Simplest 4-symbol block: both planes at the binary minimum."""
        st = self.binary.shape_table(shape)
        return st.min_ctm + st.min_ctm

    def n_raw(self, shape: tuple[int, ...]) -> int:
        return 4 ** math.prod(shape)

    def top_raw(self, shape: tuple[int, ...], m: int) -> np.ndarray:
        """CTM^(4) of the ``m`` most complex raw 4-symbol blocks, descending."""
        st = self.binary.shape_table(shape)
        vals, k = st.descending()
        # Raw binary blocks per distinct CTM value, then all (high, low) plane pairs.
        uniq, inv = np.unique(-vals, return_inverse=True)
        mult = np.bincount(inv, weights=k).astype(np.int64)
        return top_pair_sums(-uniq, mult, min(m, self.n_raw(shape)))
