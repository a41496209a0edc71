"""sfm.rader (Rader 1968 in 2-D) against scipy.fft, the dense naive reference and the old path."""

from __future__ import annotations

import doctest
import math
from unittest import mock

import numpy as np
import pytest
import scipy.fft as sfft

import sfm.rader as rader
from sfm.basis import FourierBasis
from sfm.dynamics import SFMConfig, simulate
from sfm.rader import RADER_MAX_FACTOR, RADER_MIN_P, Rader2D, largest_prime_factor, use_rader
from sfm.reference import dense_drift, design_matrix
from theory.base.errors import InputError

EPS = np.finfo(float).eps
PRIMES = [3, 5, 7, 11, 13, 31, 37, 41, 97, 101]


def fft_bound(p: int, x: np.ndarray) -> float:
    """Frobenius bound on the error of a ``p x p`` DFT of ``x`` by either path.

    A radix FFT of length n computes a unitary transform with 2-norm error at most about
    ``eps log2 n`` times the input norm (Higham 2002, Accuracy and Stability of Numerical
    Algorithms, §24.1); 10x slack covers both paths' constants. Rader's convolution sees the
    input with row 0 and column 0 subtracted from every row and column, whose norm is at most
    ``||x|| + sqrt(p) (||x[0, :]|| + ||x[:, 0]||)``.
    """
    n = np.linalg.norm(x) + math.sqrt(p) * (np.linalg.norm(x[0, :]) + np.linalg.norm(x[:, 0]))
    return 10 * EPS * math.log2(p * p) * n


@pytest.mark.parametrize("p", PRIMES)
def test_rfft2_matches_scipy(p):
    rng = np.random.default_rng(p)
    x = rng.normal(size=(3, p, p)) * rng.uniform(0.1, 10, size=(3, 1, 1))
    got = Rader2D(p).rfft2(x)
    ref = sfft.rfft2(x, norm="ortho")
    assert got.shape == ref.shape == (3, p, (p + 1) // 2)
    for b in range(3):
        assert np.linalg.norm(got[b] - ref[b]) <= fft_bound(p, x[b])


@pytest.mark.parametrize("p", PRIMES)
def test_irfft2_matches_scipy_on_any_half_spectrum(p):
    """Also for a non-Hermitian zero column, read as pocketfft does (its Hermitian part)."""
    rng = np.random.default_rng(p + 1)
    V = rng.normal(size=(3, p, (p + 1) // 2)) + 1j * rng.normal(size=(3, p, (p + 1) // 2))
    got = Rader2D(p).irfft2(V, scale=float(p))
    ref = p * sfft.irfft2(V, s=(p, p), norm="ortho")
    for b in range(3):
        # The full spectrum W has norm <= sqrt(2) ||V||; its row 0 and column 0 likewise.
        W = np.concatenate([V[b], V[b, :, 1:]], axis=1)
        assert np.linalg.norm(got[b] - ref[b]) <= p * math.sqrt(2) * fft_bound(p, W[:, :p])


@pytest.mark.parametrize("p", [37, 97])
def test_round_trip_and_leading_axes(p):
    rd = Rader2D(p)
    x = np.random.default_rng(0).normal(size=(2, 3, p, p))
    X = rd.rfft2(x)
    assert X.shape == (2, 3, p, (p + 1) // 2)
    np.testing.assert_array_equal(X[1, 2], rd.rfft2(x[1, 2][None])[0])  # no cross-talk
    back = rd.irfft2(X)
    assert back.shape == x.shape
    for idx in np.ndindex(2, 3):
        assert np.linalg.norm(back[idx] - x[idx]) <= 2 * fft_bound(p, x[idx])
    # Two FFT threads change nothing but the speed.
    np.testing.assert_array_equal(rd.rfft2(x, workers=2), X)
    np.testing.assert_array_equal(rd.irfft2(X, workers=2), back)


def test_public_scipy_fallback_gives_the_same_transforms():
    """Without scipy's pocketfft binding the public functions run; same numbers to round-off."""
    p = 41
    rd = Rader2D(p)
    x = np.random.default_rng(3).normal(size=(2, p, p))
    X, y = rd.rfft2(x), rd.irfft2(rd.rfft2(x))
    with mock.patch.object(rader, "_pocketfft", None):
        np.testing.assert_allclose(rd.rfft2(x), X, rtol=0, atol=fft_bound(p, x[0]))
        np.testing.assert_allclose(rd.irfft2(X), y, rtol=0, atol=fft_bound(p, x[0]))


@pytest.mark.parametrize("p", [37, 41])
@pytest.mark.parametrize("op", ["+", "-"])
def test_fourier_basis_equals_dense_reference(p, op):
    """The Rader path of the basis against the naive design matrix (definitions §1.1, §1.6)."""
    basis = FourierBasis(p)
    assert basis.rader is not None
    rng = np.random.default_rng(p)
    Z = rng.normal(size=(p, p)) + 1j * rng.normal(size=(p, p))
    mir = basis.mirror
    full = 0.5 * (Z + np.conj(Z[mir][:, mir]))  # Hermitian: a real model (definitions §1.4)
    u, v = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    E = design_matrix(op, p, u.ravel(), v.ravel())
    y_dense = (E @ full.ravel()).real.reshape(p, p)
    # As tests/test_sfm_core.py: p^2 products of size <= max|E| max|V|, summed, 16x slack.
    tol = 16 * p * p * EPS * np.max(np.abs(E)) * np.sum(np.abs(full))
    y = basis.synthesis(basis.from_full(full)[None])[0]
    assert np.max(np.abs(y - y_dense)) <= tol
    R = rng.normal(size=(p, p))
    drift = dense_drift(E, R.ravel(), 1.0, p)
    got = basis.to_full(basis.analysis(R[None])[0] / p)
    tol = 16 * p * p * EPS * np.max(np.abs(E)) * np.sum(np.abs(R)) / p**2
    assert np.max(np.abs(got - drift)) <= tol


def test_rule_picks_rader_for_smooth_p_minus_1_from_its_threshold():
    assert RADER_MIN_P == 37 and RADER_MAX_FACTOR == 23
    ps = [3, 31, 37, 47, 59, 97, 107, 211, 401, 1009, 1013, 1019]
    assert [use_rader(p) for p in ps] == [
        False, False, True, True, False, True, False, True, True, True, True, False
    ]  # fmt: skip
    assert FourierBasis(31).rader is None and FourierBasis(1019).rader is None
    assert isinstance(FourierBasis(97).rader, Rader2D)


@pytest.mark.parametrize("n", [2, 3, 4, 12, 46, 96, 97, 210, 1008, 1018, 2 * 3 * 5 * 7 * 11 * 13])
def test_largest_prime_factor_against_sympy(n):
    import sympy

    assert largest_prime_factor(n) == max(sympy.primefactors(n))


@pytest.mark.parametrize(
    ("p", "op", "steps"),
    [(37, "+", 400), (41, "-", 300), (97, "+", 150)],
)
def test_runs_equal_the_pocketfft_path(p, op, steps):
    """Trajectories and events of ``simulate`` equal those of the prime-length FFT path."""
    cfgs = [SFMConfig(p=p, op=op, f=0.5, steps=steps, seed=s, log_every=10) for s in (0, 1)]
    new = simulate(cfgs)
    with mock.patch("sfm.basis.use_rader", return_value=False):
        old = simulate(cfgs)
    assert old.basis.rader is None and new.basis.rader is not None
    for b in range(2):
        assert (new.events[b].t_mem, new.events[b].t_gen) == (
            old.events[b].t_mem,
            old.events[b].t_gen,
        )
    # A hard gate copies round-off only; the states agree to a few ulps of their scale.
    scale = np.max(np.abs(old.final_V))
    np.testing.assert_allclose(new.final_V, old.final_V, rtol=0, atol=64 * EPS * scale)
    np.testing.assert_array_equal(new.curves.support, old.curves.support)
    np.testing.assert_allclose(new.curves.train_rel, old.curves.train_rel, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(new.curves.test_rel, old.curves.test_rel, rtol=1e-9, atol=1e-15)


def test_p_37_run_generalises_as_before():
    """A run to generalisation at p = 37 reaches t_gen at the same step on both paths."""
    cfg = SFMConfig(p=37, f=0.5, steps=3000, stop_after_gen=0, log_every=3000)
    new = simulate([cfg]).events[0]
    with mock.patch("sfm.basis.use_rader", return_value=False):
        old = simulate([cfg]).events[0]
    assert new.t_gen is not None and new.t_gen == old.t_gen
    assert new.final_test_rel == pytest.approx(old.final_test_rel, rel=1e-9, abs=1e-24)


def test_examples_run():
    result = doctest.testmod(rader, optionflags=doctest.ELLIPSIS, report=True, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="p"):
        Rader2D(9)
    rd = Rader2D(7)
    with pytest.raises(InputError, match=r"x: need trailing shape \(7, 7\)"):
        rd.rfft2(np.zeros((7, 6)))
    with pytest.raises(InputError, match=r"V: need trailing shape \(7, 4\)"):
        rd.irfft2(np.zeros((7, 7), dtype=complex))
