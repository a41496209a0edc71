"""Phase labels, thresholds and fits used by `python -m sfm sweep` (docs/sfm.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfm.phase import classify, critical_edges, gate_law_fit, majority, power_law_fit


@pytest.mark.parametrize(
    ("t_mem", "t_gen", "train", "div", "label"),
    [
        (1, 600, 0.0, False, "groks"),
        (None, 7, 0.5, False, "generalises directly"),
        (9, 7, 0.0, False, "generalises directly"),
        (1, None, 0.0, False, "memorises and stays"),
        (None, None, 0.5, False, "underfits"),
        (None, None, float("nan"), False, "underfits"),
        (None, None, 1e-3, False, "partial"),
        (1, None, 0.0, True, "diverged"),
    ],
)
def test_classify_rules(t_mem, t_gen, train, div, label):
    assert classify(t_mem, t_gen, train, div) == label


def test_majority_ties_follow_phase_order():
    assert majority(["underfits", "groks"]) == "groks"
    assert majority(["underfits", "underfits", "groks"]) == "underfits"


@settings(max_examples=50, deadline=None)
@given(k=st.floats(-3, 3), a=st.floats(-5, 5), n=st.integers(3, 12))
def test_power_law_fit_is_exact_on_noise_free_data(k, a, n):
    x = np.geomspace(0.01, 10, n)
    y = np.exp(a) * x**k
    fit = power_law_fit(x, y)
    assert math.isclose(fit.exponent, k, abs_tol=1e-9)
    assert math.isclose(fit.log_prefactor, a, abs_tol=1e-8)
    assert fit.exponent_se < 1e-8


def test_power_law_fit_uncertainty_covers_truth():
    """With lognormal noise, the fitted exponent lies within 3 standard errors in >= 95% of draws."""
    rng = np.random.default_rng(0)
    x = np.geomspace(0.01, 1, 8)
    hits = 0
    for _ in range(400):
        y = 50 * x**-1.7 * np.exp(rng.normal(0, 0.2, x.size))
        f = power_law_fit(x, y)
        hits += abs(f.exponent + 1.7) <= 3 * f.exponent_se
    assert hits >= 0.95 * 400


def test_power_law_fit_needs_three_points():
    assert power_law_fit([1, 2], [3, 4]) is None
    assert power_law_fit([1, 1, 1], [3, 4, 5]) is None


def test_gate_law_fit_recovers_critical_gate():
    """ln(1 + t) = C / beta exactly -> C, and p tau_c = sqrt(2 C eta)."""
    beta = np.array([0.01, 0.02, 0.05, 0.1])
    C = 0.09
    t = np.expm1(C / beta)
    g = gate_law_fit(beta, t, eta=0.5)
    assert math.isclose(g.C, C, rel_tol=1e-9)
    assert abs(g.a) < 1e-9
    assert math.isclose(g.critical_gate_times_p, math.sqrt(2 * C * 0.5), rel_tol=1e-9)


def test_critical_edges():
    e = critical_edges([0.3, 0.1, 0.03, 1, 3], [True, True, False, True, False])
    assert math.isclose(e["onset"], math.sqrt(0.03 * 0.1))
    assert math.isclose(e["loss"], math.sqrt(1 * 3))
    assert critical_edges([1, 2], [False, False])["censored"] == "never"
    e = critical_edges([1, 2, 4], [True, True, True])
    assert e["onset"] is None and e["censored"] == "always"
    assert critical_edges([2, 4], [False, True], log=False)["onset"] == 3
