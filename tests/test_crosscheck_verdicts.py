"""Cross-check verdicts (definitions §4.4): pure functions on synthetic series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory.base.trajectory import Trajectory
from transformer_check.crosscheck import (
    Sweep,
    Sweeps,
    Thresholds,
    crossing_time,
    decide_all,
    rescaled_time,
    verdict_complexity,
    verdict_fourier,
    verdict_llc,
    verdict_regularisation,
    verdict_timing,
)

STEPS = np.unique(np.round(np.geomspace(1, 3000, 40))).astype(float)
STEPS = np.concatenate([[0.0], STEPS])
T_MEM, T_GEN = 50.0, 1000.0


def _bump(steps, t_peak, t_fall, lo=1.0, hi=3.0, end=1.2):
    """Rises from lo to hi by t_peak, stays, falls to end around t_fall (log-time sigmoids)."""
    ls = np.log1p(steps)
    rise = 1 / (1 + np.exp(-(ls - math.log1p(t_peak) + 1) * 4))
    fall = 1 / (1 + np.exp(-(ls - math.log1p(t_fall)) * 4))
    return lo + (hi - lo) * rise - (hi - end) * fall


def _early_collapse(p=31):
    """SFM support already at p by step ~3: far earlier (rescaled) than the transformer."""
    s = np.arange(0, 400, dtype=float)
    return np.where(s < 1, 0.0, np.where(s < 3, p * p, p))


def condensation_series(steps, n_layers=6):
    """Zhang et al. (2026)'s condensations on a clean story: a ring forming by t_gen, K_BDM falling 30%
    from its plateau (raw size 5%), and after t_gen a bypassable middle third (thirds of 6)."""
    gen = 1 / (1 + np.exp(-(np.log1p(steps) - math.log1p(600)) * 4))
    w = n_layers // 3
    thirds = [(0, w), (w, n_layers - w), (n_layers - w, n_layers)]
    out = {
        "ring_score": 0.25 + 0.7 * gen,
        "ring_resid_score": 0.2 + 0.6 * gen,
        "bdm_bits": _bump(steps, 40, 600, lo=900, hi=1000, end=700),
        "bz2_naive_bytes": _bump(steps, 40, 600, lo=950, hi=1000, end=950),
        "skip_acc.none": 0.02 + 0.98 * gen,
        "skip_train_acc.none": np.ones_like(steps),
    }
    for i, (a, b) in enumerate(thirds):
        out[f"skip_acc.{a}-{b}"] = np.full_like(steps, 0.02) + (0.9 * gen if i == 1 else 0)
        out[f"skip_train_acc.{a}-{b}"] = np.full_like(steps, 0.02)
    return out


def synthetic_bundle():
    """A clean grokking story that satisfies all eight predictions."""
    test_loss = 4.0 - 3.9 / (1 + np.exp(-(np.log1p(STEPS) - math.log1p(600)) * 4))
    ipr = 0.01 + 0.2 / (1 + np.exp(-(np.log1p(STEPS) - math.log1p(400)) * 4))
    sfm_steps = np.arange(0, 400, dtype=float)
    p = 31
    support = np.where(
        sfm_steps < 1, 0.0, p * p - (p * p - p) / (1 + np.exp(-(sfm_steps - 60) / 6))
    )
    return {
        "p": p,
        "t_mem": T_MEM,
        "t_gen": T_GEN,
        "transformer": {
            "step": STEPS,
            "test_loss": test_loss,
            "coarse_bytes": _bump(STEPS, 40, 450),
            "lmn": _bump(STEPS, 30, 500, lo=5, hi=20, end=6),
            "fourier_ipr": ipr,
            "llc": _bump(STEPS, 40, 450, lo=5, hi=100, end=25),
            **condensation_series(STEPS),
        },
        "sfm": {"step": sfm_steps, "support": support, "t_mem": 1, "t_gen": 90},
        "sweeps": {
            "transformer": {"strength": [0.3, 1.0, 3.0], "t_gen": [3000, 1000, 300]},
            "sfm": {"strength": [0.01, 0.02, 0.04], "t_gen": [1200, 225, 69]},
        },
    }


def decide(bundle):
    """:func:`decide_all` on a bundle of plain series (easy to mutate in a test)."""
    tc = {k: v for k, v in bundle["transformer"].items() if k != "step"}
    transformer = Trajectory(
        bundle["transformer"]["step"], tc, {"t_mem": bundle["t_mem"], "t_gen": bundle["t_gen"]}
    )
    sf = bundle["sfm"]
    sfm = Trajectory(
        sf["step"], {"support": sf["support"]}, {"t_mem": sf["t_mem"], "t_gen": sf["t_gen"]}
    )
    sw = bundle["sweeps"]
    sweeps = Sweeps(*(Sweep(sw[k]["strength"], sw[k]["t_gen"]) for k in ("transformer", "sfm")))
    return decide_all(transformer, sfm, sweeps, bundle["p"])


def test_rescaled_time_and_crossing():
    assert rescaled_time(T_MEM, T_MEM, T_GEN) == pytest.approx(0.0)
    assert rescaled_time(T_GEN, T_MEM, T_GEN) == pytest.approx(1.0)
    s = np.arange(10.0)
    assert crossing_time(s, 10 - s, 4.5, "down") == 6.0
    assert crossing_time(s, s, 20, "up") is None
    assert crossing_time(s, s, 2, "up", after=5) == 6.0


def test_all_verdicts_hold_on_the_clean_story():
    vs = {v.key: v for v in decide(synthetic_bundle())}
    assert all(v.holds for v in vs.values()), {k: (v.value, v.reason) for k, v in vs.items()}
    assert vs["llc_falls"].value == pytest.approx((100 - 25) / 100, abs=0.03)
    assert vs["regularisation_earlier"].value == pytest.approx(-1.0)
    assert vs["fourier_collapse"].details["sfm_ratio_over_theory"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (
            lambda d: d["transformer"].update(
                coarse_bytes=np.linspace(1, 3, len(STEPS)), lmn=np.linspace(1, 3, len(STEPS))
            ),
            "complexity_rise_fall",
        ),
        (
            lambda d: d["transformer"].update(fourier_ipr=np.full(len(STEPS), 0.02)),
            "fourier_collapse",
        ),
        (lambda d: d["sfm"].update(support=np.full(400, 961.0)), "fourier_collapse"),
        (
            lambda d: d["sweeps"]["transformer"].update(t_gen=[300, 1000, 3000]),
            "regularisation_earlier",
        ),
        (lambda d: d["transformer"].update(llc=np.linspace(5, 100, len(STEPS))), "llc_falls"),
        (lambda d: d["sfm"].update(support=_early_collapse()), "event_timing"),
    ],
)
def test_changing_the_data_changes_the_verdict(mutate, key):
    base = {v.key: v for v in decide(synthetic_bundle())}
    d = synthetic_bundle()
    mutate(d)
    new = {v.key: v for v in decide(d)}
    assert base[key].holds is True and new[key].holds is False
    # the deciding numbers moved (the Fourier verdict's SFM half lives in its details)
    assert (new[key].value, new[key].details) != (base[key].value, base[key].details)


def test_missing_events_are_undecided_never_guessed():
    d = synthetic_bundle()
    d["t_gen"] = None
    vs = {v.key: v for v in decide(d)}
    for k in ("complexity_rise_fall", "fourier_collapse", "event_timing", "llc_falls"):
        assert vs[k].holds is None and vs[k].value is None and vs[k].reason
    assert verdict_regularisation([1, 2], [None, None], [1, 2], [5, 3]).holds is None


def test_verdict_thresholds_are_the_stated_ones():
    d = synthetic_bundle()
    tc = d["transformer"]
    loose = Thresholds(llc_drop_min=0.9)
    assert verdict_llc(tc["step"], tc["llc"], T_MEM, T_GEN, 31).holds
    assert not verdict_llc(tc["step"], tc["llc"], T_MEM, T_GEN, 31, loose).holds
    v = verdict_complexity(tc["step"], {"c": tc["coarse_bytes"]}, tc["test_loss"], T_MEM, T_GEN)
    prof = v.details["measures"]["c"]
    assert prof["rho_test_loss"] > 0.5 and prof["fall"] > 0.2 and v.value == 1.0
    v = verdict_fourier(
        tc["step"], tc["fourier_ipr"], T_MEM, T_GEN, d["sfm"]["step"], d["sfm"]["support"], 31
    )
    assert v.value == pytest.approx(
        tc["fourier_ipr"][-1] / np.interp(T_MEM, STEPS, tc["fourier_ipr"]), rel=0.1
    )


def test_timing_gap_is_the_rescaled_difference():
    ev_sfm = {"t_mem": 1, "t_gen": 90, "t_support_fall": 60}
    tau_sfm = float(rescaled_time(60, 1, 90))
    t_ev = float(np.expm1(tau_sfm * (math.log1p(T_GEN) - math.log1p(T_MEM)) + math.log1p(T_MEM)))
    v = verdict_timing({"t_mem": T_MEM, "t_gen": T_GEN, "t_llc_fall": t_ev}, ev_sfm)
    assert v.value == pytest.approx(0.0, abs=1e-9) and v.holds
    v = verdict_timing({"t_mem": T_MEM, "t_gen": T_GEN, "t_llc_fall": 2 * T_GEN}, ev_sfm)
    assert v.value == pytest.approx(float(rescaled_time(2 * T_GEN, T_MEM, T_GEN)) - tau_sfm)


def test_regularisation_censoring_ranks_non_grokking_last():
    v = verdict_regularisation([0.3, 1, 3], [None, 900, 400], [1, 2, 4], [300, 200, 100])
    assert v.value == pytest.approx(-1.0) and v.holds
    v = verdict_regularisation([0.3, 1, 3], [400, 900, None], [1, 2, 4], [300, 200, 100])
    assert v.value == pytest.approx(1.0) and v.holds is False
