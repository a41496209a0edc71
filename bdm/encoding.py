"""Integer block codes and first-occurrence normalisation (definitions §3.2).

A block of ``L`` cells over an alphabet of ``b`` symbols is the base-``b`` integer of its row-major
symbols (first cell most significant), so ``'0102'`` over 4 symbols is ``0*64 + 1*16 + 0*4 + 2``.
That integer is the same as pybdm's string key read in base ``b``: equal strings, equal codes.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

__all__ = [
    "digits_to_codes",
    "codes_to_digits",
    "normalise_digits",
    "normalise_codes",
    "n_normalised_blocks",
    "max_code",
    "max_normalised_code",
    "neumaier_sum",
]


def max_code(length: int, base: int) -> int:
    """Number of distinct raw blocks, ``base**length`` (codes lie in ``[0, base**length)``)."""
    return int(base) ** int(length)


def digits_to_codes(digits: np.ndarray, base: int) -> np.ndarray:
    """(n, L) symbols -> (n,) int64 codes, first column most significant."""
    digits = np.asarray(digits)
    codes = np.zeros(digits.shape[0], dtype=np.int64)
    for j in range(digits.shape[1]):
        codes *= base
        codes += digits[:, j]
    return codes


def codes_to_digits(codes: np.ndarray, length: int, base: int) -> np.ndarray:
    """(n,) codes -> (n, L) int8 symbols (inverse of :func:`digits_to_codes`)."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.empty((codes.size, length), dtype=np.int8)
    rest = codes.copy()
    for j in range(length - 1, -1, -1):
        out[:, j] = rest % base
        rest //= base
    return out


def normalise_digits(digits: np.ndarray) -> np.ndarray:
    """Relabel each row so symbols appear as 0, 1, 2, ... in order of first occurrence.

    pybdm ``encoding.normalize_key``, vectorised over rows; ``'40524' -> '01230'``.
    """
    digits = np.asarray(digits)
    n, length = digits.shape
    if n == 0:
        return digits.astype(np.int8)
    base = int(digits.max()) + 1
    label = np.full((n, base), -1, dtype=np.int8)
    nxt = np.zeros(n, dtype=np.int8)
    out = np.empty((n, length), dtype=np.int8)
    rows = np.arange(n)
    for j in range(length):
        d = digits[:, j]
        cur = label[rows, d]
        new = cur < 0
        label[rows[new], d[new]] = nxt[new]
        nxt[new] += 1
        out[:, j] = label[rows, d]
    return out


def normalise_codes(codes: np.ndarray, length: int, base: int) -> np.ndarray:
    """Codes of the first-occurrence-normalised blocks (definitions §3.2 CTM key)."""
    codes = np.asarray(codes, dtype=np.int64)
    if base == 2:
        # Binary normalisation is a complement whenever the first cell is 1.
        top = np.int64(1) << np.int64(length - 1)
        full = (np.int64(1) << np.int64(length)) - 1
        return np.where(codes >= top, full - codes, codes)
    if base & (base - 1) == 0:
        return _normalise_codes_pow2_nb(codes, int(length), int(base).bit_length() - 1)
    return _normalise_codes_nb(codes, int(length), int(base))


@numba.njit(cache=True)
def _normalise_codes_nb(codes, length, base):  # pragma: no cover - compiled
    out = np.empty_like(codes)
    digits = np.empty(length, dtype=np.int64)
    label = np.empty(base, dtype=np.int64)
    for i in range(codes.size):
        c = codes[i]
        for j in range(length - 1, -1, -1):
            digits[j] = c % base
            c //= base
        label[:] = -1
        nxt = 0
        acc = 0
        for j in range(length):
            lab = label[digits[j]]
            if lab < 0:
                lab = nxt
                label[digits[j]] = lab
                nxt += 1
            acc = acc * base + lab
        out[i] = acc
    return out


@numba.njit(cache=True)
def _normalise_codes_pow2_nb(codes, length, shift):  # pragma: no cover - compiled
    """Same as :func:`_normalise_codes_nb` for ``base = 2**shift``: digits by shifts, no division."""
    out = np.empty_like(codes)
    mask = (1 << shift) - 1
    label = np.empty(mask + 1, dtype=np.int64)
    for i in range(codes.size):
        c = codes[i]
        label[:] = -1
        nxt = 0
        acc = 0
        for j in range(length - 1, -1, -1):
            d = (c >> (shift * j)) & mask
            lab = label[d]
            if lab < 0:
                lab = nxt
                label[d] = lab
                nxt += 1
            acc = (acc << shift) | lab
        out[i] = acc
    return out


def max_normalised_code(length: int, base: int) -> int:
    """Largest normalised code: the block 0, 1, ..., b-1, b-1, ... (first occurrences in order)."""
    code = 0
    for j in range(length):
        code = code * base + min(j, base - 1)
    return code


@numba.njit(cache=True)
def neumaier_sum(x):  # pragma: no cover - compiled
    """Compensated (Neumaier) sum: error ~ one ulp of the result, independent of the order."""
    s = 0.0
    comp = 0.0
    for v in x:
        t = s + v
        if abs(s) >= abs(v):
            comp += (s - t) + v
        else:
            comp += (v - t) + s
        s = t
    return s + comp


@cache
def _stirling2_row(n: int) -> tuple[int, ...]:
    row = [1]
    for i in range(1, n + 1):
        new = [0] * (i + 1)
        for k in range(1, i + 1):
            new[k] = k * (row[k] if k < len(row) else 0) + row[k - 1]
        row = new
    return tuple(row)


def n_normalised_blocks(length: int, base: int) -> int:
    """Distinct normalised blocks of ``length`` cells over ``base`` symbols: sum_k S(L, k), k <= b."""
    row = _stirling2_row(int(length))
    return int(sum(row[k] for k in range(1, min(base, length) + 1)))


@numba.njit(cache=True)
def _hash_count_nb(codes):  # pragma: no cover - compiled
    n = codes.size
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    size = 1 << bits
    mask = size - 1
    keys = np.empty(size, dtype=np.int64)
    cnt = np.zeros(size, dtype=np.int64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    sh = np.uint64(64 - bits)
    n_distinct = 0
    for i in range(n):
        c = codes[i]
        h = np.int64((np.uint64(c) * mult) >> sh)
        while True:
            if cnt[h] == 0:
                keys[h] = c
                cnt[h] = 1
                n_distinct += 1
                break
            if keys[h] == c:
                cnt[h] += 1
                break
            h = (h + 1) & mask
    uniq = np.empty(n_distinct, dtype=np.int64)
    counts = np.empty(n_distinct, dtype=np.int64)
    j = 0
    for h in range(size):
        if cnt[h] > 0:
            uniq[j] = keys[h]
            counts[j] = cnt[h]
            j += 1
    return uniq, counts


def count_codes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes and their counts (hash counting, O(n); order unspecified)."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    if codes.size == 0:
        return codes.copy(), np.zeros(0, dtype=np.int64)
    return _hash_count_nb(codes)
