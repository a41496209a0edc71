"""Pooled verdicts over seeds (transformer_check/crosscheck/pooled.py; docs/statistics.md)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theory.base.errors import InputError
from theory.base.io import to_jsonable
from transformer_check.crosscheck.pooled import (
    RULES,
    PooledVerdict,
    Rule,
    clopper_pearson,
    interval_verdict,
    mean_interval,
    pool_key,
    pool_verdicts,
    rules_for,
    seeds_needed,
)
from transformer_check.crosscheck.verdicts import (
    Thresholds,
    Verdict,
    verdict_fourier,
    verdict_llc,
    verdict_regularisation,
    verdict_timing,
)

FAST = settings(max_examples=60, deadline=None)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
sides = st.sampled_from([">=", "<=", "<"])


_AUTO = object()


def _v(key: str, value: float | None, holds=_AUTO, **details) -> Verdict:
    """A seed's verdict of ``key``; ``holds`` defaults to the rule applied to ``value``."""
    if holds is _AUTO:
        holds = None if value is None or key not in RULES else RULES[key].holds(value)
    return Verdict(key, "prediction", "statistic", value, "threshold", holds, dict(details))


def _rule(side: str, thr: float = 0.0, interval: str = "t") -> Rule:
    return Rule("llc_falls", "x", thr, side, interval)  # type: ignore[arg-type]


def _llc(values, rule=None):
    return pool_key([_v("llc_falls", x) for x in values], rule)


# --- intervals ----------------------------------------------------------------------------------


@FAST
@given(st.lists(finite, min_size=2, max_size=12), st.sampled_from(["t", "bootstrap"]))
def test_interval_contains_the_mean(values, kind):
    pv = _llc(values, _rule(">=", interval=kind))
    lo, hi = pv.ci
    slack = 1e-12 * max(1.0, max(abs(x) for x in values))  # the mean's own rounding
    assert lo - slack <= pv.mean <= hi + slack
    if kind == "bootstrap":  # a percentile interval never leaves the observed range
        assert min(values) - slack <= lo and hi <= max(values) + slack


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 20])
def test_clopper_pearson_matches_scipy_binomtest(n):
    """Independent: scipy's exact binomial test inverts the two one-sided tests itself."""
    for k in range(n + 1):
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        lo, hi = clopper_pearson(k, n)
        assert lo == pytest.approx(ref.low, abs=1e-12) and hi == pytest.approx(ref.high, abs=1e-12)
    # the textbook value: 4 of 4 -> (0.025^(1/4), 1)
    assert clopper_pearson(4, 4) == pytest.approx((0.025**0.25, 1.0), abs=1e-12)


def test_bootstrap_of_a_normal_sample_matches_the_normal_theory_interval():
    """For K = 40 normal values the percentile bootstrap of the mean is, to Monte-Carlo accuracy,
    mean +- 1.96 sd sqrt((K-1)/K)/sqrt(K): its B = 10_000 quantiles are good to ~0.03 SE and the
    bootstrap distribution's skew to ~0.02 SE, so 0.1 of the half-width is a 3-SD bound. The t
    interval (t_39 = 2.023) is wider by the factor 2.023 / (1.96 sqrt(39/40)) = 1.046."""
    x = np.random.default_rng(7).normal(3.0, 2.0, 40)
    m, sd, n = x.mean(), x.std(ddof=1), x.size
    lo, hi = mean_interval(x, "bootstrap")
    h_plug = 1.959964 * sd * math.sqrt((n - 1) / n) / math.sqrt(n)
    assert abs(lo - (m - h_plug)) < 0.1 * h_plug and abs(hi - (m + h_plug)) < 0.1 * h_plug
    tlo, thi = mean_interval(x, "t")
    h_t = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    assert (tlo, thi) == pytest.approx((m - h_t, m + h_t), rel=1e-12)
    assert abs((hi - lo) / (thi - tlo) - 1 / 1.046) < 0.1


def test_t_interval_covers_the_mean_95_percent_at_four_seeds():
    """400 draws of K = 4 normal values: the t interval holds the true mean in 95% of them, within
    3 binomial SDs (367-393); the percentile bootstrap covers far fewer (the reason continuous
    statistics use t)."""
    rng = np.random.default_rng(1)
    hits_t = hits_b = 0
    for _ in range(400):
        x = rng.normal(0.0, 1.0, 4)
        lo, hi = mean_interval(x, "t")
        hits_t += lo <= 0.0 <= hi
        lo, hi = mean_interval(x, "bootstrap")
        hits_b += lo <= 0.0 <= hi
    sd = math.sqrt(400 * 0.95 * 0.05)
    assert 380 - 3 * sd <= hits_t <= 380 + 3 * sd
    assert hits_b < 380 - 3 * sd


def test_no_spread_gives_the_point_and_few_values_are_refused():
    assert mean_interval([0.1, 0.1, 0.1], "bootstrap") == (0.1, 0.1)
    assert mean_interval([0.1, 0.1, 0.1], "t") == (0.1, 0.1)
    assert _llc([0.1, 0.1, 0.1]).mean == 0.1
    for bad in ([1.0], [1.0, math.inf]):
        with pytest.raises(InputError, match="at least 2 finite"):
            mean_interval(bad, "t")
    with pytest.raises(InputError, match="'t' or 'bootstrap'"):
        mean_interval([1.0, 2.0], "z")  # type: ignore[arg-type]


# --- the decision rule --------------------------------------------------------------------------


@FAST
@given(finite, finite, finite)
def test_interval_verdict_flips_with_the_side(a, b, thr):
    lo, hi = min(a, b), max(a, b)
    ge = interval_verdict(lo, hi, _rule(">=", thr))
    lt = interval_verdict(lo, hi, _rule("<", thr))
    assert (ge is None) == (lt is None)
    if ge is not None:
        assert ge is (not lt)
    # "<=" is ">=" of the negated values
    le = interval_verdict(lo, hi, _rule("<=", thr))
    assert le == interval_verdict(-hi, -lo, _rule(">=", -thr))
    # holds exactly when every point of the interval holds
    for side in (">=", "<=", "<"):
        r = _rule(side, thr)
        v = interval_verdict(lo, hi, r)
        assert (v is True) == (r.holds(lo) and r.holds(hi))
        assert (v is False) == (not r.holds(lo) and not r.holds(hi))


@FAST
@given(st.lists(finite, min_size=2, max_size=8), finite)
def test_pooled_verdict_flips_with_the_side(values, thr):
    ge, lt = _llc(values, _rule(">=", thr)), _llc(values, _rule("<", thr))
    assert ge.ci == lt.ci
    assert (ge.holds is None) == (lt.holds is None)
    if ge.holds is not None:
        assert ge.holds is (not lt.holds)


@FAST
@given(
    st.lists(st.one_of(st.none(), finite), min_size=1, max_size=8),
    st.sampled_from(sorted(RULES)),
    st.randoms(use_true_random=False),
)
def test_permuting_seeds_changes_nothing(values, key, rnd):
    details = [
        {"sfm_ratio_over_theory": 1.0, "ordering_ok": True, "sfm": {"rho": -1.0}},
        {"sfm_ratio_over_theory": 5.0, "ordering_ok": False, "sfm": {"rho": 0.5}},
        {},
    ]
    vs = [_v(key, x, **details[i % 3]) for i, x in enumerate(values)]
    order = list(range(len(vs)))
    rnd.shuffle(order)
    a = pool_key(vs, seeds=range(len(vs)))
    b = pool_key([vs[i] for i in order], seeds=order)
    per_seed = ("seeds", "values", "seed_holds", "side_values", "side_ok")
    for f in dataclasses.fields(PooledVerdict):
        if f.name not in per_seed:
            assert getattr(a, f.name) == getattr(b, f.name), f.name
    for f in per_seed:
        got = dict(zip(b.seeds, getattr(b, f) or [None] * len(vs), strict=True))
        want = dict(zip(a.seeds, getattr(a, f) or [None] * len(vs), strict=True))
        assert got == want, f


@FAST
@given(
    st.one_of(st.none(), finite),
    st.sampled_from([True, False, None]),
    st.sampled_from(sorted(RULES)),
)
def test_one_seed_never_gives_an_interval(value, holds, key):
    pv = pool_key([_v(key, value, holds)])
    assert pv.single_seed and pv.ci is None and pv.fraction_ci is None
    assert pv.holds is holds and pv.n_seeds == 1
    assert pv.seeds_needed is None  # the sd of one seed is unknown


def test_two_seeds_are_pooled_not_copied():
    pv = _llc([0.9, 0.1])  # each seed decides, but the pair straddles 0.2
    assert not pv.single_seed and pv.ci is not None and pv.holds is None
    assert pv.seed_holds == (True, False) and pv.fraction_holding == 0.5


def test_undecided_seeds_are_reported_not_averaged():
    pv = _llc([0.5, None, 0.6, None])
    assert (pv.n_seeds, pv.n_decided, pv.n_undecided) == (4, 2, 2)
    assert pv.mean == pytest.approx(0.55) and pv.ci is not None
    assert "2 seed(s) undecided" in pv.reason
    one = _llc([0.5, None, None])
    assert one.ci is None and one.holds is None and not one.single_seed
    assert "1 of 3 seeds decided" in one.reason
    assert _llc([0.5, math.inf]).n_decided == 1  # non-finite: undecided too


def test_llc_fall_holds_fails_and_straddles():
    """t intervals by hand: mean +- t_{0.975,3} sd / 2 for four seeds."""
    vals = [0.774, 0.811, 0.70, 0.75]
    pv = _llc(vals)
    h = stats.t.ppf(0.975, 3) * np.std(vals, ddof=1) / 2
    assert pv.ci == pytest.approx((np.mean(vals) - h, np.mean(vals) + h))
    assert pv.holds is True and pv.label == "holds" and pv.fraction_ci == clopper_pearson(4, 4)
    assert _llc([0.01, 0.05, 0.02]).holds is False
    assert _llc([0.1, 0.3, 0.15, 0.35]).holds is None


# --- compound predictions -----------------------------------------------------------------------


def _fourier(growth: float, factor: float) -> Verdict:
    ok = growth >= 1.5 and 0.5 <= factor <= 2.0
    return _v("fourier_collapse", growth, ok, sfm_ratio_over_theory=factor)


def test_compound_needs_its_side_condition_in_every_seed():
    good = [_fourier(g, 1.0) for g in (3.0, 3.4, 2.9)]
    assert pool_key(good).holds is True and pool_key(good).side_verdict is True
    bad_sfm = [_fourier(g, 9.0) for g in (3.0, 3.4, 2.9)]
    pv = pool_key(bad_sfm)
    assert pv.statistic_verdict is True and pv.side_verdict is False and pv.holds is False
    mixed = [_fourier(3.0, 1.0), _fourier(3.4, 9.0), _fourier(2.9, 1.0)]
    pv = pool_key(mixed)
    assert pv.holds is None and "mixed" in pv.reason and pv.side_values == (1.0, 9.0, 1.0)
    # the main statistic failing decides "fails" whatever the side condition says
    assert pool_key([_fourier(g, 1.0) for g in (1.0, 1.1, 1.05)]).holds is False


def test_regularisation_rule_reads_the_sfm_rho():
    vs = [
        _v("regularisation_earlier", r, r < 0 and s < 0, sfm={"rho": s})
        for r, s in [(-1.0, -1.0), (-0.5, -1.0), (-1.0, -1.0)]
    ]
    pv = pool_key(vs)
    assert pv.holds is True and pv.side_values == (-1.0, -1.0, -1.0)
    assert pv.ci[1] < 0 and pv.interval == "bootstrap"


def test_rules_agree_with_the_verdict_functions():
    """A seed's verdict is the rule applied to its value and its side condition."""
    th = Thresholds()
    rule = rules_for(th)
    steps = np.arange(0.0, 100.0)
    sfm_steps = np.arange(0.0, 50.0)
    for ipr_end, sup_end in [(0.5, 31.0), (0.11, 31.0), (0.5, 400.0), (0.5, 10.0)]:
        ipr = np.linspace(0.1, ipr_end, steps.size)
        sup = np.concatenate([[961.0], np.full(sfm_steps.size - 1, sup_end)])
        v = verdict_fourier(steps, ipr, 10.0, 60.0, sfm_steps, sup, 31, th)
        r = rule[v.key]
        assert v.holds == (r.holds(v.value) and r.side_condition.ok(v))
    for tau_tc, tau_sfm_fall in [(20.0, 22.0), (20.0, 45.0), (5.0, 5.5), (95.0, 95.0)]:
        tc = {"t_mem": 10.0, "t_gen": 50.0, "t_fourier_rise": tau_tc}
        sf = {"t_mem": 10.0, "t_gen": 50.0, "t_support_fall": tau_sfm_fall}
        v = verdict_timing(tc, sf, th)
        r = rule[v.key]
        assert v.holds == (r.holds(v.value) and r.side_condition.ok(v))
    for tc_t, sfm_t in [
        ([30, 20, 10], [9, 5, 2]),
        ([10, 20, 30], [9, 5, 2]),
        ([30, 20, 10], [2, 5, 9]),
    ]:
        v = verdict_regularisation([0.3, 1, 3], tc_t, [0.01, 0.02, 0.04], sfm_t, th)
        r = rule[v.key]
        assert v.holds == (r.holds(v.value) and r.side_condition.ok(v))
    for end in (20.0, 90.0):
        llc = np.concatenate([np.linspace(5, 100, 40), np.linspace(100, end, 60)])
        v = verdict_llc(steps, llc, 10.0, 60.0, 31, th)
        assert v.holds == rule[v.key].holds(v.value)


def test_rules_follow_the_thresholds():
    th = Thresholds(
        conc_min=3.0,
        gap_max=0.2,
        llc_drop_min=0.4,
        support_tol=1.5,
        ring_gain_min=0.25,
        bdm_drop_min=0.15,
        bypass_gap_min=0.35,
        bypass_mem_min=0.45,
    )
    r = rules_for(th)
    assert [r[k].threshold for k in r] == [0.5, 3.0, 0.2, 0.0, 0.4, 0.25, 0.15, 0.35]
    essential = r["bypass"].side_condition
    assert "0.45" in essential.text and essential.test(0.45) and not essential.test(0.44)
    assert list(r) == list(RULES) and "x1.5" in r["fourier_collapse"].side_condition.text
    assert "[3, +inf)" in r["fourier_collapse"].statement
    assert "bounded" in r["regularisation_earlier"].why and "continuous" in r["llc_falls"].why
    assert _llc([0.3, 0.4]).interval_why == RULES["llc_falls"].why


# --- seeds needed -------------------------------------------------------------------------------


def _brute_seeds(mean, sd, thr):
    k = 2
    while stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k) >= abs(mean - thr):
        k += 1
    return k


@FAST
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=6), st.floats(-5, 5))
def test_seeds_needed_is_the_smallest_k(values, thr):
    v = np.asarray(values)
    got = seeds_needed(values, _rule(">=", thr))
    gap = abs(v.mean() - thr)
    if gap == 0:
        assert got is None
    elif gap / max(v.std(ddof=1), 1e-300) > 0.05:  # the brute loop stays short
        assert got == _brute_seeds(v.mean(), v.std(ddof=1), thr)


def test_seeds_needed_known_values_and_none():
    # mean 1, sd 1, threshold 0: t_{0.975,5}/sqrt 6 = 1.050, t_{0.975,6}/sqrt 7 = 0.925 -> 7
    assert seeds_needed([0.0, 1.0, 2.0], _rule(">=", 0.0)) == 7
    assert seeds_needed([0.3, 0.3], _rule(">=", 0.2)) == 2  # no spread
    assert seeds_needed([0.3], _rule(">=", 0.2)) is None  # sd unknown
    assert seeds_needed([0.1, 0.3], _rule(">=", 0.2)) is None  # mean on the threshold
    assert seeds_needed([0.1, None, 0.3, 0.5], _rule(">=", 0.0)) == _brute_seeds(0.3, 0.2, 0.0)
    big = seeds_needed([0.0, 1.0], _rule(">=", 0.5001))  # ~ (1.96 * 0.707 / 1e-4)^2 seeds
    assert big == pytest.approx((1.959964 * math.sqrt(0.5) / 1e-4) ** 2, rel=1e-3)


# --- all five, and JSON -------------------------------------------------------------------------


def _seed(g: float, gap: float, rho: float, drop: float, frac: float = 1.0) -> list[Verdict]:
    return [
        _v("complexity_rise_fall", frac),
        _fourier(g, 1.0),
        _v("event_timing", gap, gap <= 0.5, ordering_ok=True),
        _v("regularisation_earlier", rho, rho < 0, sfm={"rho": -1.0}),
        _v("llc_falls", drop),
        _v("ring", 0.5 + gap, above_null=0.3),
        _v("bdm_drop", drop / 2, drop_minus_raw_drop=0.2),
        _v("bypass", drop, min_train_cost_at_t_mem=0.9),
    ]


def test_pool_verdicts_over_all_eight_keys():
    per_seed = [_seed(3, 0.1, -1, 0.8), _seed(2.8, 0.15, -0.5, 0.75), _seed(3.1, 0.05, -1, 0.78)]
    out = pool_verdicts(per_seed, seeds=[0, 1, 2])
    assert [p.key for p in out] == list(RULES)
    assert all(p.holds is True for p in out), [(p.key, p.ci, p.reason) for p in out]
    assert all(p.n_seeds == 3 and p.fraction_holding == 1.0 for p in out)


def test_pool_verdicts_refuses_incomplete_seeds():
    with pytest.raises(InputError, match=r"per_seed\[1\]"):
        pool_verdicts([_seed(3, 0.1, -1, 0.8), _seed(3, 0.1, -1, 0.8)[:4]])
    with pytest.raises(InputError, match="no seeds"):
        pool_verdicts([])
    with pytest.raises(InputError, match="one prediction at a time"):
        pool_key([_v("llc_falls", 0.5), _v("event_timing", 0.1)])
    with pytest.raises(InputError, match="no rule"):
        pool_key([_v("unknown", 0.5)])
    with pytest.raises(InputError, match="distinct labels"):
        pool_key([_v("llc_falls", 0.5), _v("llc_falls", 0.6)], seeds=[1, 1])
    with pytest.raises(InputError, match="clopper_pearson"):
        clopper_pearson(3, 2)


@pytest.mark.parametrize(
    "values", [[0.5], [0.5, None, 0.7], [0.3, 0.4, 0.2, 0.5], [math.inf, 0.4, 0.5]]
)
def test_json_round_trip(values):
    pv = _llc(values)
    text = json.dumps(to_jsonable(pv.to_dict()), allow_nan=False)
    assert PooledVerdict.from_dict(json.loads(text)) == pv
    assert json.loads(text)["label"] == pv.label
    comp = pool_verdicts([_seed(3, 0.1, -1, 0.8), _seed(2.8, 0.6, -0.5, 0.75)])
    for p in comp:
        assert PooledVerdict.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(InputError, match="missing keys"):
        PooledVerdict.from_dict({"key": "llc_falls"})
