"""Engine invariants (Hypothesis) and agreement with a naive string-keyed BDM written from definitions §3.2."""

from __future__ import annotations

import gzip
import itertools
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bdm import BDM, Correlated, Ignore, Recursive
from bdm.bitplane import split_planes, top_pair_sums
from bdm.encoding import codes_to_digits, digits_to_codes, normalise_codes
from bdm.perturbation import perturbation
from bdm.tables import pybdm_data_dir, safe_load_pickle
from theory.base.errors import InputError

HSET = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def eng():
    """Engines sharing loaded tables: eng(ndim, nsymbols, side, partition)."""
    tables = {}

    def get(ndim=1, nsymbols=2, side=None, partition=None):
        b = BDM(ndim, nsymbols, side, partition or Ignore(), table=tables.get((ndim, nsymbols)))
        tables[(ndim, nsymbols)] = b.table
        return b

    return get


# -- a naive implementation, straight from definitions §3.2, on strings ----------------------------------
def _raw_table(name):
    return safe_load_pickle(gzip.decompress((pybdm_data_dir() / name).read_bytes()))


def _norm(key):
    m = {}
    return "".join(m.setdefault(ch, str(len(m))) for ch in key)


def _naive_blocks(x, side, part):
    """Blocks as (shape, string key) by explicit slicing loops."""
    out = []

    def tiles(a, s, step, full_only):
        ranges = [range(0, (n - s + 1) if not full_only else n, step) for n in a.shape]
        for start in itertools.product(*ranges):
            sl = tuple(slice(i, min(i + s, n)) for i, n in zip(start, a.shape, strict=True))
            yield a[sl]

    def rec(a, s):
        for blk in tiles(a, s, s, True):
            if blk.shape == (s,) * a.ndim:
                out.append(blk)
            elif isinstance(part, Recursive) and min(blk.shape) >= max(part.min_length, 1):
                rec(blk, min(blk.shape))

    if isinstance(part, Correlated):
        out.extend(b for b in tiles(x, side, part.shift, False) if b.shape == (side,) * x.ndim)
    else:
        rec(x, side)
    return [(b.shape, "".join(map(str, b.ravel()))) for b in out]


def _naive_bdm(x, side, part, table):
    cnt = Counter(_naive_blocks(x, side, part))
    total = 0.0
    for (shape, key), n in cnt.items():
        t = table[shape]
        ctm = t.get(_norm(key), max(t.values()) + 1)
        total += ctm + math.log2(n)
    return total


@pytest.fixture(scope="module")
def raw1():
    return _raw_table("ctm-b2-d12.pkl.gz")


@pytest.fixture(scope="module")
def raw2():
    return _raw_table("ctm-b2-d4x4.pkl.gz")


PARTS = st.sampled_from(
    [
        Ignore(),
        Recursive(2),
        Recursive(1),
        Recursive(0),
        Correlated(1),
        Correlated(2),
        Correlated(5),
    ]
)


@HSET
@given(
    x=arrays(np.int8, st.integers(1, 60), elements=st.integers(0, 1)),
    part=PARTS,
    side=st.integers(1, 12),
)
def test_naive_1d(x, part, side, eng, raw1):
    b = eng(1, 2, side, part)
    naive = _naive_blocks(x, side, part)
    if not naive:
        with pytest.raises(InputError, match="smaller than one block"):
            b.bdm(x)
        return
    assert b.bdm(x) == pytest.approx(_naive_bdm(x, side, part, raw1), rel=1e-12)


@HSET
@given(
    x=arrays(
        np.int8, st.tuples(st.integers(1, 14), st.integers(1, 14)), elements=st.integers(0, 1)
    ),
    part=PARTS,
    side=st.integers(1, 4),
)
def test_naive_2d(x, part, side, eng, raw2):
    b = eng(2, 2, side, part)
    if not _naive_blocks(x, side, part):
        with pytest.raises(InputError, match="smaller than one block"):
            b.bdm(x)
        return
    assert b.bdm(x) == pytest.approx(_naive_bdm(x, side, part, raw2), rel=1e-12)


@HSET
@given(x=arrays(np.int8, st.integers(12, 120), elements=st.integers(0, 3)), k=st.integers(2, 5))
def test_additivity_over_identical_copies(x, k, eng):
    """k aligned copies multiply every count by k: BDM(X^k) = BDM(X) + D log2 k (definitions §3.2)."""
    b = eng(1, 4, 12)
    x = x[: 12 * (x.size // 12)]
    distinct = sum(bc.codes.size for bc in b.count(x))
    assert b.bdm(np.tile(x, k)) == pytest.approx(b.bdm(x) + distinct * math.log2(k), rel=1e-12)
    assert b.ent(np.tile(x, k)) == pytest.approx(b.ent(x), abs=1e-12)


@HSET
@given(
    x=arrays(np.int8, st.integers(6, 150), elements=st.integers(0, 8)),
    nsym=st.sampled_from([2, 4, 5, 6, 9]),
    perm_seed=st.integers(0, 2**32 - 1),
    part=PARTS,
)
def test_relabelling_invariance_published(x, nsym, perm_seed, part, eng):
    """Published tables are normalised: a symbol permutation leaves BDM and entropy unchanged."""
    x = x % nsym
    perm = np.random.default_rng(perm_seed).permutation(nsym).astype(np.int8)
    b = eng(1, nsym, 6, part)
    assert b.bdm(perm[x]) == pytest.approx(b.bdm(x), rel=1e-12)
    assert b.ent(perm[x]) == pytest.approx(b.ent(x), abs=1e-12)


@HSET
@given(
    x=arrays(np.int8, st.tuples(st.integers(4, 20), st.integers(4, 20)), elements=st.integers(0, 3))
)
def test_bitplane_symmetries(x, eng):
    """CTM^(4) = CTM(high) + CTM(low) is invariant under flipping either plane and swapping them."""
    b = eng(2, 4)
    ref = b.bdm(x)
    for y in (x ^ 1, x ^ 2, ((x & 1) << 1) | (x >> 1)):
        assert b.bdm(y.astype(np.int8)) == pytest.approx(ref, rel=1e-12)


@HSET
@given(
    x=arrays(np.int8, st.tuples(st.integers(4, 16), st.integers(4, 16)), elements=st.integers(0, 3))
)
def test_bitplane_equals_sum_of_planes_blockwise(x, eng):
    b4, b2 = eng(2, 4), eng(2, 2)
    for bc in b4.count(x):
        hi, lo = split_planes(bc.codes, 16)
        c_hi, _ = b2.table.lookup_raw((4, 4), hi)
        c_lo, _ = b2.table.lookup_raw((4, 4), lo)
        np.testing.assert_array_equal(bc.ctm, c_hi + c_lo)


@HSET
@given(
    x=arrays(np.int8, st.integers(12, 300), elements=st.integers(0, 3)),
    nsym=st.sampled_from([2, 4]),
)
def test_entropy_and_normalisation_bounds(x, nsym, eng):
    x = x % nsym
    b = eng(1, nsym, 12)
    r = b.measure(x)
    assert 0.0 <= r.entropy <= math.log2(r.n_blocks) + 1e-12
    assert r.entropy <= math.log2(r.n_distinct) + 1e-12
    shape_counts = {(12,): r.n_blocks}
    lo, hi = b.min_bdm(shape_counts), b.max_bdm(shape_counts)
    assert lo - 1e-9 <= r.bdm
    assert -1e-12 <= r.nbdm
    if r.n_missing_blocks == 0:
        # A missing block costs max CTM + 1 (pybdm's rule), which the max construction (keys of
        # the table only) does not reach: only inputs inside the table are bounded above.
        assert r.bdm <= hi + 1e-9
        assert r.nbdm <= 1 + 1e-12


def test_normalisation_extremes(eng):
    b = eng(1, 2, 12)
    assert b.nbdm(np.zeros(120, dtype=int)) == 0.0
    # The max construction: the most complex keys, each raw block once.
    st_ = b.table.table.shapes[(12,)]
    vals, k = st_.descending()
    top = np.repeat(vals, k)[:10]
    assert b.max_bdm({(12,): 10}) == pytest.approx(math.fsum(top), rel=1e-15)
    # Wrapping the cycle (n > 4096 raw blocks) spreads counts evenly.
    n = 2 * 4096 + 3
    expect = math.fsum(np.repeat(vals, k)) + 4096 * 1.0 + 3 * (math.log2(3) - 1)
    assert b.max_bdm({(12,): n}) == pytest.approx(expect, rel=1e-12)
    with pytest.raises(InputError, match="undefined"):
        eng(1, 2, 1).nbdm(np.zeros(1, dtype=int))


def test_bitplane_max_construction_brute_force(eng):
    """Top raw 4-symbol 2x2 blocks by CTM^(4), against enumerating all 256 of them."""
    b = eng(2, 4, 2)
    codes = np.arange(4**4)
    ctm, _ = b.table.lookup_raw((2, 2), codes)
    brute = np.sort(ctm)[::-1]
    for m in (1, 5, 17, 100, 256):
        np.testing.assert_array_equal(b.table.top_raw((2, 2), m), brute[:m])


@settings(max_examples=60, deadline=None)
@given(
    vals=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=12, unique=True),
    mult=st.lists(st.integers(1, 5), min_size=12, max_size=12),
    m=st.integers(1, 400),
)
def test_top_pair_sums_brute_force(vals, mult, m):
    v = np.sort(np.array(vals))[::-1]
    a = np.array(mult[: v.size])
    raw = np.repeat(v, a)
    brute = np.sort((raw[:, None] + raw[None, :]).ravel())[::-1]
    np.testing.assert_array_equal(
        top_pair_sums(v, a, min(m, brute.size)), brute[: min(m, brute.size)]
    )


@HSET
@given(
    digits=arrays(
        np.int8, st.tuples(st.integers(1, 30), st.integers(1, 12)), elements=st.integers(0, 8)
    ),
    base=st.sampled_from([2, 4, 5, 6, 9]),
)
def test_codes_and_normalisation(digits, base):
    digits = digits % base
    codes = digits_to_codes(digits, base)
    np.testing.assert_array_equal(codes_to_digits(codes, digits.shape[1], base), digits)
    got = codes_to_digits(normalise_codes(codes, digits.shape[1], base), digits.shape[1], base)
    expect = [_norm("".join(map(str, row))) for row in digits]
    assert ["".join(map(str, row)) for row in got] == expect


@HSET
@given(
    x=arrays(
        np.int8, st.tuples(st.integers(4, 10), st.integers(4, 10)), elements=st.integers(0, 3)
    ),
    part=PARTS,
    metric=st.sampled_from(["bdm", "ent"]),
    seed=st.integers(0, 100),
)
def test_perturbation_matches_recomputation(x, part, metric, seed, eng):
    b = eng(2, 4, 3, part)
    measure = b.bdm if metric == "bdm" else b.ent
    base = measure(x)
    r = perturbation(b, x, metric=metric, seed=seed)
    brute = []
    for cell, v in zip(map(tuple, r.idx), r.new_values, strict=True):
        y = x.copy()
        y[cell] = v
        brute.append(measure(y) - base)
    np.testing.assert_allclose(r.delta, brute, rtol=0, atol=1e-9)
    assert r.as_map(x.shape).shape == x.shape
    # Same seed, same draws; the binary table flips deterministically.
    again = perturbation(b, x, metric=metric, seed=seed)
    np.testing.assert_array_equal(again.new_values, r.new_values)


@HSET
@given(
    x=arrays(np.int8, st.integers(12, 60), elements=st.integers(0, 1)),
    part=PARTS,
    seed=st.integers(0, 1000),
)
def test_perturbation_keep_changes_is_sequential(x, part, seed, eng):
    b = eng(1, 2, 6, part)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(15, 1))
    vals = rng.integers(0, 2, size=15)
    r = perturbation(b, x, idx=idx, values=vals, keep_changes=True)
    y = x.copy()
    for (i,), v, d in zip(idx, vals, r.delta, strict=True):
        before = b.bdm(y)
        y[i] = v
        assert d == pytest.approx(b.bdm(y) - before, abs=1e-9)


def test_input_errors(eng):
    b = eng(1, 2, 12)
    with pytest.raises(InputError, match="expected integer symbols"):
        b.bdm(np.zeros(24))
    with pytest.raises(InputError, match="symbol 2 is outside the alphabet 0..1"):
        b.bdm(np.full(24, 2))
    with pytest.raises(InputError, match="1-D array"):
        b.bdm(np.zeros((4, 4), dtype=int))
    with pytest.raises(InputError, match="smaller than one block"):
        b.bdm(np.zeros(11, dtype=int))
    with pytest.raises(InputError, match="block sides 1..12"):
        BDM(1, 2, 13, table=b.table)
    with pytest.raises(InputError, match="no CTM table for ndim=2, nsymbols=5"):
        BDM(2, 5)
    with pytest.raises(InputError, match="shift"):
        Correlated(0)
    # Booleans are binary symbols.
    assert b.bdm(np.ones(24, dtype=bool)) == b.bdm(np.ones(24, dtype=int))


@settings(max_examples=60, deadline=None)
@given(codes=arrays(np.int64, st.integers(0, 500), elements=st.integers(0, 9**12)))
def test_hash_count_matches_unique(codes):
    from bdm.encoding import count_codes

    u, k = count_codes(codes)
    order = np.argsort(u)
    u_ref, k_ref = np.unique(codes, return_counts=True)
    np.testing.assert_array_equal(u[order], u_ref)
    np.testing.assert_array_equal(k[order], k_ref)
