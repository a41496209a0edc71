"""Lambert-W crossover (definitions §2.1): root identity, ordering, three solvers, phase winners."""

import math

import mpmath
import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.crossover import (
    ACCURATE,
    SIMPLE,
    crossover_n,
    lambert_roots_mpmath,
    lambert_roots_scipy,
    lambert_roots_sympy,
    paper004_crossover,
    root_condition_number,
    root_tolerance,
    symbolic_roots,
)
from theory.energy import free_energy, free_energy_gap

U = np.finfo(float).eps

# log10(a - e) spans the branch point neighbourhood; log10(a) spans up to 1e12.
a_near_e = st.floats(-12, 0).map(lambda t: math.e + 10.0**t)
a_wide = st.floats(math.log10(math.e) + 1e-9, 12).map(lambda t: 10.0**t)
a_values = st.one_of(a_near_e, a_wide)


@settings(max_examples=200, deadline=None)
@given(a_values)
def test_roots_satisfy_n_equals_a_ln_n(a):
    # Rounding n to float moves h(n) = n - a ln n by |h'(n)| n u = |n - a| u, and evaluating h
    # costs about (n + a ln n) u; with a few ulps for lambertw: bound 16 u (n + a ln n + |n - a|).
    for n in lambert_roots_scipy(a):
        assert abs(n - a * math.log(n)) <= 16 * U * (n + a * math.log(n) + abs(n - a))


@settings(max_examples=200, deadline=None)
@given(a_values)
def test_roots_bracket_a(a):
    n0, n1 = lambert_roots_scipy(a)
    # h(n) = n - a ln n has its minimum at n = a, so the roots straddle it; n0 in (1, e].
    assert 1.0 < n0 <= a <= n1
    assert n0 <= math.e * (1 + 1e-7)


@settings(max_examples=60, deadline=None)
@given(a_values)
def test_three_solvers_agree(a):
    sc = lambert_roots_scipy(a)
    mp = lambert_roots_mpmath(a, 50)
    sy = lambert_roots_sympy(a, 50)
    with mpmath.workdps(50):
        for k in range(2):
            ref = mp[k]
            # sympy and mpmath both work at 50 digits from the same exact binary a.
            assert abs(mpmath.mpf(sy[k]) - ref) <= mpmath.mpf(10) ** -40 * ref
            # and the 50-digit root satisfies the identity (same error model as the float test).
            am = mpmath.mpf(a)
            scale = ref + am * mpmath.log(ref) + abs(ref - am)
            assert abs(ref - am * mpmath.log(ref)) <= mpmath.mpf(10) ** -45 * scale
            # scipy is float64: tolerance from the root's condition number (sqrt law near a = e).
            assert abs(sc[k] - float(ref)) <= root_tolerance(a, float(ref)), (a, k)


@pytest.mark.parametrize(
    "a, n0, n1",
    [
        # Independent values from scipy's lambertw, refined by Newton's method in mpmath.
        (10.0, 1.1183255915896296, 35.771520639572972),
        (1e12, None, None),
    ],
)
def test_known_values(a, n0, n1):
    got0, got1 = lambert_roots_scipy(a)
    if n0 is None:
        # For huge a: n0 = 1 + 1/a + O(1/a^2), n1 = a ln a (1 + o(1)) with the exact value from mpmath.
        assert got0 == pytest.approx(1 + 1 / a, rel=1e-15)
        with mpmath.workdps(40):
            f = lambda n: n - a * mpmath.log(n)  # noqa: E731
            ref = mpmath.findroot(f, a * math.log(a))
        assert got1 == pytest.approx(float(ref), rel=1e-13)
    else:
        assert got0 == pytest.approx(n0, rel=1e-15)
        assert got1 == pytest.approx(n1, rel=1e-15)


def test_condition_number_formula():
    # d ln n / d ln a from implicit differentiation of n = a ln n, checked by finite differences.
    a = 50.0
    n = lambert_roots_scipy(a)[1]
    h = 1e-6
    dn = (lambert_roots_scipy(a * (1 + h))[1] - lambert_roots_scipy(a * (1 - h))[1]) / (2 * h * n)
    assert root_condition_number(a, n) == pytest.approx(abs(dn), rel=1e-6)


def test_double_root_at_e():
    c = crossover_n(math.e, 1.0)
    assert c.n0 == pytest.approx(math.e) and c.n_minus1 == pytest.approx(math.e)
    assert [w for *_, w in c.intervals] == [ACCURATE]


def test_winners_follow_the_sign_of_the_gap():
    c = crossover_n(dlambda=30.0, dloss=2.0)
    assert [w for *_, w in c.intervals] == [ACCURATE, SIMPLE, ACCURATE]
    for n in (1.01, 0.5 * (c.n0 + c.n_minus1), 10 * c.n_minus1):
        gap = free_energy_gap(n, 2.0, 30.0)
        assert c.winner(n) == (SIMPLE if gap < 0 else ACCURATE)


def test_no_crossing_cases():
    below = crossover_n(dlambda=2.0, dloss=1.0)  # a = 2 < e
    assert not below.has_crossing and below.n0 is None and below.n_minus1 is None
    assert [w for *_, w in below.intervals] == [ACCURATE]
    assert "< e" in below.message
    noiseless = crossover_n(dlambda=5.0, dloss=0.0)
    assert not noiseless.has_crossing and [w for *_, w in noiseless.intervals] == [SIMPLE]


def test_lnln_correction_roots_are_zeros_of_the_corrected_gap():
    c = crossover_n(dlambda=10.0, dloss=1.0, dm=-1.0)
    for n in (c.n0, c.n_minus1):
        assert abs(free_energy_gap(n, 1.0, 10.0, -1.0)) < 1e-9 * n
    # F_A - F_B with explicit multiplicities equals -gap (m_A = 1, m_B = 2 gives dm = -1).
    n = 7.0
    fa = free_energy(n, 0.0, 10.0, m=1)
    fb = free_energy(n, 1.0, 0.0, m=2)
    assert fb - fa == pytest.approx(free_energy_gap(n, 1.0, 10.0, -1.0), rel=1e-14)
    # the correction shifts the upper root by O(ln ln n / dL) only
    plain = crossover_n(10.0, 1.0)
    assert abs(c.n_minus1 - plain.n_minus1) < 3.0


def test_paper004_is_the_w_minus1_root():
    beta, p, eps = 0.5, 97, 1e-2
    res = paper004_crossover(beta, p, eps)
    a = beta * (p * p - p) / eps
    expected = -a * scipy.special.lambertw(-1 / a, -1).real
    assert res.n_star == pytest.approx(expected, rel=1e-14)
    assert "BACK to the accurate phase" in res.meaning
    assert res.crossover.winner(res.n_star * 2) == ACCURATE
    assert res.crossover.winner(res.n_star / 2) == SIMPLE
    assert paper004_crossover(beta, p, 0.0).n_star is None


def test_symbolic_solution_is_lambert_w():
    sym = symbolic_roots()
    text = str(sym["n_-1"])
    assert "LambertW" in text and "-1)" in text
    n, dlam, dloss = (sorted(sym["equation"].free_symbols, key=str)[i] for i in (2, 1, 0))
    # substitute the symbolic root back into the equation at a numeric point
    val = (
        (sym["equation"].lhs - sym["equation"].rhs).subs(n, sym["n_-1"]).subs({dlam: 30, dloss: 2})
    )
    assert abs(complex(val.evalf(30))) < 1e-25


@pytest.mark.parametrize(
    "bad",
    [dict(dlambda=-1, dloss=1), dict(dlambda=1, dloss=-0.5), dict(dlambda=float("nan"), dloss=1)],
)
def test_bad_input_is_rejected(bad):
    with pytest.raises(InputError, match="dlambda|dloss"):
        crossover_n(**bad)
    with pytest.raises(InputError, match="p: must be an odd prime"):
        paper004_crossover(0.5, 91, 1e-2)
