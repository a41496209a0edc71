"""Phase labels, thresholds and fits used by `python -m sfm sweep` (docs/sfm.md, statistics.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sfm.phase import (
    FewDofWarning,
    classify,
    critical_edges,
    format_estimate,
    gate_law_fit,
    majority,
    power_law_fit,
    t_interval,
)
from sfm.plots import _exponent_text
from theory.base.io import to_jsonable

# Binomial bounds for a coverage count over N simulated fits: an interval of true coverage q
# covers Binomial(N, q) times; 3 SD either side keeps a false failure below 0.3%.
N_SIM = 400


def _coverage_bounds(q: float, n: int = N_SIM) -> tuple[float, float]:
    sd = math.sqrt(n * q * (1 - q))
    return n * q - 3 * sd, n * q + 3 * sd


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewDofWarning)
        fit = power_law_fit(x, y)
    assert math.isclose(fit.exponent, k, abs_tol=1e-9)
    assert math.isclose(fit.log_prefactor, a, abs_tol=1e-8)
    assert fit.exponent_se < 1e-8
    assert fit.dof == n - 2 and fit.few_dof == (n - 2 <= 2)
    lo, hi = fit.exponent_ci
    assert lo <= fit.exponent <= hi and hi - lo < 1e-6


def _ols_by_hand(x, y, w):
    """Weighted OLS from the normal equations, independent of sfm.phase: (beta, se, dof)."""
    X = np.column_stack([np.ones_like(x), x])
    W = np.diag(w)
    xtwx_inv = np.linalg.inv(X.T @ W @ X)
    beta = xtwx_inv @ X.T @ W @ y
    r = y - X @ beta
    dof = len(y) - 2
    s2 = float(r @ W @ r) / dof
    return beta, np.sqrt(np.diag(s2 * xtwx_inv)), dof


@pytest.mark.parametrize("n", [3, 4, 6, 11])
@pytest.mark.parametrize("weighted", [False, True])
def test_power_law_interval_matches_independent_ols(n, weighted):
    """The exponent's SE and 95% interval equal those of OLS solved by hand (and, unweighted,
    scipy.stats.linregress's stderr) with the t quantile at dof = n - 2."""
    rng = np.random.default_rng(n)
    x = np.geomspace(0.1, 10, n)
    y = 3.0 * x**-1.3 * np.exp(rng.normal(0, 0.3, n))
    w = rng.uniform(0.5, 3.0, n) if weighted else np.ones(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewDofWarning)
        fit = power_law_fit(x, y, w if weighted else None)
    beta, se, dof = _ols_by_hand(np.log(x), np.log(y), w)
    assert fit.dof == dof == n - 2
    assert math.isclose(fit.exponent, beta[1], rel_tol=1e-10)
    assert math.isclose(fit.exponent_se, se[1], rel_tol=1e-8)
    assert math.isclose(fit.log_prefactor_se, se[0], rel_tol=1e-8)
    t = stats.t.ppf(0.975, dof)
    assert np.allclose(fit.exponent_ci, (beta[1] - t * se[1], beta[1] + t * se[1]), rtol=1e-8)
    assert np.allclose(fit.log_prefactor_ci, (beta[0] - t * se[0], beta[0] + t * se[0]), rtol=1e-8)
    if not weighted:
        lr = stats.linregress(np.log(x), np.log(y))
        assert math.isclose(fit.exponent_se, lr.stderr, rel_tol=1e-8)
        assert math.isclose(fit.log_prefactor_se, lr.intercept_stderr, rel_tol=1e-8)


@pytest.mark.parametrize("n_points", [3, 8])
def test_power_law_interval_covers_truth_95_percent(n_points):
    """With lognormal noise, the 95% interval holds the true exponent in 95% of 400 fits (within
    3 binomial SDs, 367-393); at 3 points (dof 1) the normal-quantile interval +-1.96 SE would
    cover only P(|t_1| < 1.96) = 70% of them, which is why the fits use t."""
    rng = np.random.default_rng(0)
    x = np.geomspace(0.01, 1, n_points)
    hits = hits_z = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewDofWarning)
        for _ in range(N_SIM):
            y = 50 * x**-1.7 * np.exp(rng.normal(0, 0.2, x.size))
            f = power_law_fit(x, y)
            hits += f.exponent_ci[0] <= -1.7 <= f.exponent_ci[1]
            hits_z += abs(f.exponent + 1.7) <= 1.96 * f.exponent_se
    lo, hi = _coverage_bounds(0.95)
    assert lo <= hits <= hi
    if n_points == 3:
        q_z = 2 * math.atan(1.96) / math.pi  # t_1 is the Cauchy distribution
        lo_z, hi_z = _coverage_bounds(q_z)
        assert lo_z <= hits_z <= hi_z and hits_z < lo


def test_few_dof_warns_and_flags():
    x = [1.0, 2.0, 4.0, 8.0, 16.0]
    y = [5.0, 2.4, 1.3, 0.6, 0.33]
    for n in (3, 4):
        with pytest.warns(FewDofWarning, match=f"{n} points leave {n - 2} degree"):
            assert power_law_fit(x[:n], y[:n]).few_dof
        with pytest.warns(FewDofWarning, match="gate_law_fit"):
            assert gate_law_fit(x[:n], y[:n]).few_dof
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not power_law_fit(x, y).few_dof
        assert not gate_law_fit(x, y).few_dof


def test_format_estimate_says_what_the_interval_is():
    """The docs' old `k = -2.94 +- 0.06` (3 points, SE 0.0642) is this 95% interval at dof 1."""
    ci = t_interval(-2.9356, 0.06423, 1)
    assert math.isclose(ci[1] - ci[0], 2 * 12.7062 * 0.06423, rel_tol=1e-4)
    assert format_estimate("k", -2.9356, ci, 1) == "k = -2.94 (95% CI -3.75 to -2.12, dof 1)"
    assert format_estimate("k", 1.0, (math.nan, math.nan), 0) == "k = 1 (no interval: dof 0)"
    assert all(math.isnan(c) for c in t_interval(1.0, 0.1, 0))


def test_plot_label_reads_fits_from_json_old_and_new():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewDofWarning)
        fit = power_law_fit([1, 2, 4, 8], [10, 4.8, 2.6, 1.2])
    d = json.loads(json.dumps(to_jsonable(dataclasses.asdict(fit))))
    assert _exponent_text(d) == fit.describe()
    old = {k: d[k] for k in ("exponent", "exponent_se", "n_points")}  # a sweep from before dof
    assert _exponent_text(old) == fit.describe()


def test_power_law_fit_needs_three_points():
    assert power_law_fit([1, 2], [3, 4]) is None
    assert power_law_fit([1, 1, 1], [3, 4, 5]) is None


def test_gate_law_fit_recovers_critical_gate():
    """ln(1 + t) = C / beta exactly -> C, and p tau_c = sqrt(2 C eta)."""
    beta = np.array([0.01, 0.02, 0.05, 0.1])
    C = 0.09
    t = np.expm1(C / beta)
    with pytest.warns(FewDofWarning):  # 4 points: dof 2
        g = gate_law_fit(beta, t, eta=0.5)
    assert math.isclose(g.C, C, rel_tol=1e-9)
    assert abs(g.a) < 1e-9
    assert math.isclose(g.critical_gate_times_p, math.sqrt(2 * C * 0.5), rel_tol=1e-9)
    assert g.dof == 2 and g.few_dof


def test_gate_law_interval_matches_linregress_and_maps_to_critical_gate():
    """C's interval is linregress's slope +- t_{0.975, n-2} stderr on (1/beta, ln(1+t)); the
    critical gate's interval is C's mapped through the monotone sqrt(2 C eta)."""
    rng = np.random.default_rng(3)
    beta = np.repeat([0.02, 0.03, 0.05, 0.1, 0.3], 3)
    t = np.expm1(3.0 + 0.12 / beta + rng.normal(0, 0.2, beta.size))
    g = gate_law_fit(beta, t, eta=0.5)
    lr = stats.linregress(1 / beta, np.log1p(t))
    tq = stats.t.ppf(0.975, beta.size - 2)
    assert g.dof == 13 and not g.few_dof
    assert np.allclose(g.C_ci, (lr.slope - tq * lr.stderr, lr.slope + tq * lr.stderr), rtol=1e-8)
    assert np.allclose(
        g.a_ci,
        (lr.intercept - tq * lr.intercept_stderr, lr.intercept + tq * lr.intercept_stderr),
        rtol=1e-8,
    )
    assert np.allclose(g.critical_gate_times_p_ci, [math.sqrt(c) for c in g.C_ci], rtol=1e-12)
    assert g.critical_gate_times_p_ci[0] < g.critical_gate_times_p < g.critical_gate_times_p_ci[1]
    assert g.describe().startswith("C = 0.1")


def test_critical_edges():
    e = critical_edges([0.3, 0.1, 0.03, 1, 3], [True, True, False, True, False])
    assert math.isclose(e["onset"], math.sqrt(0.03 * 0.1))
    assert math.isclose(e["loss"], math.sqrt(1 * 3))
    assert critical_edges([1, 2], [False, False])["censored"] == "never"
    e = critical_edges([1, 2, 4], [True, True, True])
    assert e["onset"] is None and e["censored"] == "always"
    assert critical_edges([2, 4], [False, True], log=False)["onset"] == 3
