"""Zhang et al. (2026)'s condensation verdicts (6)-(8): pure functions on synthetic series."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_crosscheck_verdicts import STEPS, T_GEN, T_MEM, condensation_series

from theory.base.trajectory import Trajectory
from transformer_check.crosscheck import Thresholds, verdict_bdm_drop, verdict_bypass, verdict_ring
from transformer_check.crosscheck.condensation import decide_condensation, logged_thirds
from transformer_check.crosscheck.pooled import pool_verdicts
from transformer_check.crosscheck.rules import RULES
from transformer_check.measures.mediation import layer_thirds
from transformer_check.measures.ring import ring_null_quantile

P = 31


def _series(**changes):
    s = condensation_series(STEPS)
    s.update(changes)
    return s


def test_the_clean_story_holds_with_the_stated_numbers():
    s = _series()
    ring, bdm, bypass = decide_condensation(STEPS, s, T_MEM, T_GEN, P)
    assert (ring.holds, bdm.holds, bypass.holds) == (True, True, True)
    # ring: the mean over logged steps >= t_gen minus the value at the first logged step >= t_mem
    i_mem = int(np.searchsorted(STEPS, T_MEM))
    after = s["ring_score"][STEPS >= T_GEN].mean()
    assert ring.value == pytest.approx(after - s["ring_score"][i_mem], abs=1e-12)
    assert ring.details["null_quantile"] == pytest.approx(ring_null_quantile(P, 0.99))
    # bdm: plateau = mean over [t_mem, t_gen), final = last value
    win = (STEPS >= T_MEM) & (STEPS < T_GEN)
    plateau = s["bdm_bits"][win].mean()
    assert bdm.value == pytest.approx((plateau - s["bdm_bits"][-1]) / plateau, abs=1e-12)
    assert bdm.details["drop_minus_raw_drop"] > 0
    # bypass: costs at the last step; thirds of 6 blocks
    assert bypass.details["thirds"] == [[0, 2], [2, 4], [4, 6]]
    first, middle, last = bypass.details["test_cost_at_end"]
    assert bypass.value == pytest.approx(min(first, last) - middle, abs=1e-12)
    assert bypass.details["min_train_cost_at_t_mem"] == pytest.approx(0.98)


def test_a_flat_ring_fails_and_a_ring_below_the_null_fails():
    flat = verdict_ring(STEPS, _series(ring_score=np.full(len(STEPS), 0.9)), T_MEM, T_GEN, P)
    assert flat.holds is False and flat.value == pytest.approx(0.0)
    # a gain of 0.25 that ends below the null's 99% quantile is no ring
    q = ring_null_quantile(P, 0.99)
    low = np.where(STEPS >= T_GEN, q - 0.01, q - 0.26)
    v = verdict_ring(STEPS, _series(ring_score=low), T_MEM, T_GEN, P)
    assert v.value == pytest.approx(0.25) and v.details["above_null"] < 0 and v.holds is False


def test_bdm_that_falls_no_more_than_the_raw_size_fails():
    s = _series(bz2_naive_bytes=_series()["bdm_bits"])
    v = verdict_bdm_drop(STEPS, s, T_MEM, T_GEN)
    assert v.value >= 0.1 and v.details["drop_minus_raw_drop"] == 0 and v.holds is False
    flat = verdict_bdm_drop(STEPS, _series(bdm_bits=np.full(len(STEPS), 5.0)), T_MEM, T_GEN)
    assert flat.value == 0 and flat.holds is False


def test_bypass_needs_three_blocks_and_the_thirds():
    one = {"skip_acc.none": np.ones(3), "skip_acc.0-1": np.ones(3)}
    v = verdict_bypass(np.arange(3.0), one, 0, 1)
    assert v.holds is None and "1 block" in v.reason
    singles = {
        "skip_acc.none": np.ones(3),
        **{f"skip_acc.{i}-{i + 1}": np.ones(3) for i in range(4)},
    }
    v = verdict_bypass(np.arange(3.0), singles, 0, 1)
    assert v.holds is None and "thirds" in v.reason
    assert verdict_bypass(np.arange(3.0), {}, 0, 1).reason.startswith("skip-ablation was not")


def test_bypass_fails_when_a_third_is_bypassable_at_memorisation():
    s = _series(**{"skip_train_acc.2-4": np.ones(len(STEPS))})
    v = verdict_bypass(STEPS, s, T_MEM, T_GEN)
    assert v.details["min_train_cost_at_t_mem"] == 0 and v.holds is False


def test_missing_events_and_series_are_undecided():
    for v in decide_condensation(STEPS, _series(), T_MEM, None, P):
        assert v.holds is None and v.value is None and v.reason
    for v in decide_condensation(STEPS, {}, T_MEM, T_GEN, P):
        assert v.holds is None and "not logged" in v.reason


@given(st.integers(3, 96))
def test_layer_thirds_partition_the_blocks(n):
    thirds = layer_thirds(n)
    assert thirds[0][0] == 0 and thirds[-1][1] == n
    assert all(a < b for a, b in thirds)
    assert all(thirds[i][1] == thirds[i + 1][0] for i in range(2))
    assert thirds[0][1] - thirds[0][0] == thirds[2][1] - thirds[2][0] == n // 3
    keys = {"skip_acc.none": [1.0]} | {f"skip_acc.{a}-{b}": [1.0] for a, b in thirds}
    assert logged_thirds(keys) == (n, thirds)


def test_paper004_thirds_are_sixteen_blocks():
    assert layer_thirds(48) == [(0, 16), (16, 32), (32, 48)]


def test_thresholds_move_the_verdicts():
    s = _series()
    strict = Thresholds(ring_gain_min=0.99, bdm_drop_min=0.9, bypass_gap_min=0.99)
    assert [v.holds for v in decide_condensation(STEPS, s, T_MEM, T_GEN, P, strict)] == [False] * 3


def test_pooled_over_seeds_with_side_conditions():
    seeds = [
        decide_condensation(STEPS, condensation_series(STEPS), T_MEM, T_GEN, P) for _ in range(3)
    ]
    rules = {k: RULES[k] for k in ("ring", "bdm_drop", "bypass")}
    pooled = pool_verdicts(seeds, rules, [0, 1, 2])
    assert [pv.label for pv in pooled] == ["holds"] * 3
    assert all(pv.side_verdict is True for pv in pooled)


def test_the_figure_draws_the_three_condensation_panels():
    from test_crosscheck_run import _clean_seed

    from theory.predictions import task_predictions
    from transformer_check.crosscheck.plots import plot_crosscheck
    from transformer_check.crosscheck.rules import rules_for

    def drawable(d):
        """The synthetic seed plus the accuracy and SFM series the other panels draw."""
        tc, sf = d.transformer, d.sfm
        acc = np.linspace(0, 1, len(tc.steps))
        tc = Trajectory(tc.steps, {**tc.series, "train_acc": acc, "test_acc": acc}, tc.events)
        rel = np.linspace(1, 0, len(sf.steps))
        extra = {"train_rel": rel, "test_rel": rel, "lambda_hat": sf["support"] / 2}
        sf = Trajectory(sf.steps, {**sf.series, **extra}, sf.events)
        return dataclasses.replace(d, transformer=tc, sfm=sf)

    datas = [drawable(_clean_seed(1.0, 25.0)), drawable(_clean_seed(1.1, 30.0))]
    pooled = pool_verdicts([d.decide() for d in datas], rules_for(Thresholds()), [0, 1])
    fig = plot_crosscheck(datas, task_predictions(P, 0.02, 0.5), pooled)
    titles = [ax.get_title() for ax in fig.axes]
    for word in ("Ring", "BDM drop", "Bypass"):
        assert any(t.startswith(word) for t in titles), titles
    bypass = next(ax for ax in fig.axes if ax.get_title().startswith("Bypass"))
    labels = bypass.get_legend_handles_labels()[1]
    thirds = {"first": (0, 2), "middle": (2, 4), "last": (4, 6)}
    assert labels == [f"skip {n} third [{a}, {b})" for n, (a, b) in thirds.items()]
    text = "".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "(8) HOLDS" in text and "bypass" in text
