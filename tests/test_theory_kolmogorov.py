"""Kolmogorov proxies (definitions §2.4), gate thresholds (definitions §1.7), free energy and the bound (definitions §2.5)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.bound import generalisation_bound
from theory.energy import free_energy
from theory.gates import l0_prox_threshold, occam_gate_threshold
from theory.kolmogorov import (
    active_orbits,
    compressed_sizes,
    enumerative_code_bits,
    hermitian_orbits,
    log2_binomial,
    paper004_code_bits,
    quantise,
)

PRIMES = [3, 5, 7, 11, 13, 31, 97, 211]


def test_orbits_by_brute_force():
    for p in (3, 5, 7, 11):
        seen, orbits = set(), 0
        for k in range(p):
            for l in range(p):
                if (k, l) not in seen:
                    orbits += 1
                    seen |= {(k, l), ((-k) % p, (-l) % p)}
        assert hermitian_orbits(p) == orbits == (p * p + 1) // 2


def test_active_orbits_match_a_symmetric_support():
    p = 7
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = np.zeros((p, p), bool)
        for k, l in rng.integers(0, p, size=(rng.integers(0, 20), 2)):
            mask[k, l] = mask[-k % p, -l % p] = True
        orbits = {min((k, l), (-k % p, -l % p)) for k, l in zip(*np.nonzero(mask), strict=True)}
        assert active_orbits(int(mask.sum())) == len(orbits)


def test_enumerative_code_hand_value():
    # p = 3: N = 5 orbits; |S| = 3 -> s = 2; K = ceil(log2 6) + log2 C(5, 2) + 3 * 8
    assert enumerative_code_bits(3, 3, bits=8) == pytest.approx(3 + math.log2(10) + 24, rel=1e-15)


@given(st.sampled_from(PRIMES), st.integers(min_value=0), st.integers(1, 64))
def test_enumerative_code_monotone_in_support(p, d, bits):
    d = d % (p * p)
    n_orb = hermitian_orbits(p)
    # one more parameter costs b bits; the subset code changes by at most log2 N
    if bits >= math.log2(n_orb):
        assert enumerative_code_bits(p, d + 1, bits) > enumerative_code_bits(p, d, bits)


def test_log2_binomial_branches_agree():
    for n, k in [(6000, 3000), (40_000, 17), (40_000, 39_999), (40_000, 20_000), (30_001, 2_500)]:
        exact = math.log2(math.comb(n, k))
        # lgamma of numbers near n! carries an absolute error of a few u * ln(n!)
        tol = 8 * np.finfo(float).eps * math.lgamma(n + 1) / math.log(2)
        assert abs(log2_binomial(n, k) - exact) <= tol


def test_paper004_form_is_linear_in_lambda():
    assert paper004_code_bits(10, 97, 32) == pytest.approx(10 * (2 * math.log2(97) + 64))
    assert paper004_code_bits(0, 97) == 0


def test_quantise_and_compress():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(31, 31)) + 1j * rng.normal(size=(31, 31))
    q = quantise(w, 8)
    assert q.shape == (2, 31, 31) and np.abs(q).max() == 127
    # uniform quantiser error <= half a step
    step = np.max(np.abs(np.stack([w.real, w.imag]))) / 127
    assert np.max(np.abs(q * step - np.stack([w.real, w.imag]))) <= step / 2 + 1e-12
    sparse = np.zeros((31, 31), complex)
    sparse[np.arange(31), np.arange(31)] = 1.0
    s_dense, s_sparse = compressed_sizes(w), compressed_sizes(sparse)
    for codec in ("bz2", "lzma", "zstd"):
        assert s_sparse[codec] < s_dense[codec] <= 1.1 * s_dense["raw"] + 2000
    with pytest.raises(InputError, match="w: contains NaN"):
        quantise(np.array([np.nan]))


def test_gate_thresholds():
    # prox convention: tau = sqrt(2 beta eta ln n) / p
    assert occam_gate_threshold(0.5, 2823, 97) == pytest.approx(math.sqrt(math.log(2823)) / 97)
    assert occam_gate_threshold(0.5, 2823, 97, convention="paper") == pytest.approx(
        math.sqrt(math.log(2823) / 2823)
    )
    with pytest.raises(InputError, match="eta: must lie in"):
        occam_gate_threshold(0.5, 100, 97, eta=2.0)
    with pytest.raises(InputError, match="convention"):
        occam_gate_threshold(0.5, 100, 97, convention="nope")


@given(st.floats(0.01, 10), st.floats(1e-4, 1), st.floats(-3, 3))
def test_hard_gate_is_the_l0_prox(c, mu, w):
    # prox of c*1(w != 0) + (w - v)^2 / (2 mu): keep v iff v^2 / (2 mu) > c  <=>  |v| > sqrt(2 c mu)
    tau = l0_prox_threshold(c, mu)
    keep_cost, zero_cost = c, w * w / (2 * mu)
    if abs(abs(w) - tau) > 1e-9:
        assert (abs(w) > tau) == (keep_cost < zero_cost)


def test_free_energy_and_correction():
    assert free_energy(100, 0.1, 5.0) == pytest.approx(10 + 5 * math.log(100))
    assert free_energy(100, 0.1, 5.0, m=3) == pytest.approx(
        10 + 5 * math.log(100) - 2 * math.log(math.log(100))
    )
    np.testing.assert_allclose(free_energy(np.array([10.0, 100.0]), 0.0, 1.0), np.log([10, 100]))
    with pytest.raises(InputError, match="n: "):
        free_energy(0, 0.1, 1.0)


def test_generalisation_bound():
    b = generalisation_bound(0.1, K=1000.0, n=10_000, delta=0.05, unit="nats")
    assert b.bound == pytest.approx(
        0.1 + math.sqrt((1000 + 2 * math.log(1000) + math.log(20)) / 20_000)
    )
    bits = generalisation_bound(0.0, K=1000.0, n=10_000, unit="bits")
    assert bits.gap < b.gap  # 1000 bits = 693 nats
    with pytest.raises(InputError, match="delta"):
        generalisation_bound(0.0, 10.0, 10, delta=1.5)
