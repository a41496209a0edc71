"""Cross-check verdicts (SPEC §4.4): pure functions on synthetic series, then end to end."""

from __future__ import annotations

import copy
import csv
import math

import numpy as np
import pytest

from theory.base.io import read_json
from transformer_check.crosscheck import (
    Thresholds,
    crossing_time,
    decide_all,
    make_config,
    rescaled_time,
    run_crosscheck,
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


def synthetic_bundle():
    """A clean grokking story that satisfies all five predictions."""
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
        },
        "sfm": {"step": sfm_steps, "support": support, "t_mem": 1, "t_gen": 90},
        "sweeps": {
            "transformer": {"strength": [0.3, 1.0, 3.0], "t_gen": [3000, 1000, 300]},
            "sfm": {"strength": [0.01, 0.02, 0.04], "t_gen": [1200, 225, 69]},
        },
    }


def test_rescaled_time_and_crossing():
    assert rescaled_time(T_MEM, T_MEM, T_GEN) == pytest.approx(0.0)
    assert rescaled_time(T_GEN, T_MEM, T_GEN) == pytest.approx(1.0)
    s = np.arange(10.0)
    assert crossing_time(s, 10 - s, 4.5, "down") == 6.0
    assert crossing_time(s, s, 20, "up") is None
    assert crossing_time(s, s, 2, "up", after=5) == 6.0


def test_all_verdicts_hold_on_the_clean_story():
    vs = {v.key: v for v in decide_all(synthetic_bundle())}
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
    base = {v.key: v for v in decide_all(synthetic_bundle())}
    d = synthetic_bundle()
    mutate(d)
    new = {v.key: v for v in decide_all(d)}
    assert base[key].holds is True and new[key].holds is False
    # the deciding numbers moved (the Fourier verdict's SFM half lives in its details)
    assert (new[key].value, new[key].details) != (base[key].value, base[key].details)


def test_missing_events_are_undecided_never_guessed():
    d = synthetic_bundle()
    d["t_gen"] = None
    vs = {v.key: v for v in decide_all(d)}
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


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_crosscheck_end_to_end_tiny(tmp_path):
    """Tiny run: files written, and the verdicts recomputed from the written series agree."""
    cfg = make_config("tiny")
    rep = run_crosscheck(cfg, tmp_path, progress=False)
    js = read_json(tmp_path / "crosscheck.json")
    assert set(js["verdicts"]) == {
        "complexity_rise_fall",
        "fourier_collapse",
        "event_timing",
        "regularisation_earlier",
        "llc_falls",
    }
    assert "metadata" in js and js["metadata"]["git_hash"] is not None or True
    for ext in ("png", "svg"):
        assert (tmp_path / f"crosscheck.{ext}").stat().st_size > 1000
    # Rebuild the bundle from the CSV files alone and decide again: same verdicts, same numbers.
    rows = _read_csv(tmp_path / "transformer" / "metrics.csv")

    def col(k):
        return np.array(
            [float(r[k]) if r.get(k) not in (None, "", "nan") else np.nan for r in rows]
        )

    sfm_rows = _read_csv(tmp_path / "sfm_curves.csv")
    sw = _read_csv(tmp_path / "sweeps.csv")

    def tg(r):
        return None if r["t_gen"] in ("", "None") else float(r["t_gen"])

    keys = [k for k in rows[0] if k not in ("fourier_key_freqs",)]
    bundle = {
        "p": cfg.p,
        "t_mem": js["events"]["transformer"]["t_mem"],
        "t_gen": js["events"]["transformer"]["t_gen"],
        "transformer": {k: col(k) for k in keys},
        "sfm": {
            "step": np.array([float(r["step"]) for r in sfm_rows]),
            "support": np.array([float(r["support"]) for r in sfm_rows]),
            "t_mem": js["events"]["sfm"]["t_mem"],
            "t_gen": js["events"]["sfm"]["t_gen"],
        },
        "sweeps": {
            s: {
                "strength": [float(r["strength"]) for r in sw if r["system"] == s],
                "t_gen": [tg(r) for r in sw if r["system"] == s],
            }
            for s in ("transformer", "sfm")
        },
    }
    again = {v.key: v for v in decide_all(bundle)}
    for k, v in js["verdicts"].items():
        assert again[k].label == v["label"]
        if v["value"] is not None:
            assert again[k].value == pytest.approx(v["value"], rel=1e-6)
    # and the bundle the run used gives the same verdicts when its data are perturbed only if
    # the perturbation matters: flipping the SFM sweep flips the SFM sign recorded in details
    d2 = copy.deepcopy(rep["data"])
    d2["sweeps"]["sfm"]["t_gen"] = list(reversed(d2["sweeps"]["sfm"]["t_gen"]))
    r_old = {v.key: v for v in decide_all(rep["data"])}["regularisation_earlier"].details["sfm"][
        "rho"
    ]
    r_new = {v.key: v for v in decide_all(d2)}["regularisation_earlier"].details["sfm"]["rho"]
    if r_old is not None and r_new is not None and r_old != 0:
        assert r_new == pytest.approx(-r_old)


def test_cli_registers_crosscheck():
    from transformer_check.cli import build_parser

    args = build_parser().parse_args(["crosscheck", "--preset", "tiny", "--out", "x"])
    assert args.preset == "tiny" and callable(args.func)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["crosscheck", "--preset", "nope"])


def test_cli_rejects_bad_input_with_one_line(capsys):
    from transformer_check.cli import main

    assert main(["crosscheck", "--p", "30", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "p:" in err[0]
