"""The eps-beta calibration sweep and the LLC figures (definitions §2.3) on a quadratic loss."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theory.base.errors import InputError
from theory.base.io import write_json
from transformer_check.measures.llc import SGLDConfig, estimate_llc_at, quadratic_llc, rrr_problem
from transformer_check.measures.llc_calibrate import calibrate_llc
from transformer_check.measures.llc_plots import plot_calibration, plot_loss_traces
from transformer_check.measures.llc_vmap import LLCTarget


@pytest.fixture(scope="module")
def quadratic():
    """A full-rank RRR fit (H = r = min(M, N)): quadratic across the GL(H) gauge orbits, along
    which L_n is exactly constant (h = 0 adds nothing to quadratic_llc): its exact law."""
    P = rrr_problem(3, 2, 2, 2, n=5000, seed=0)
    return P, LLCTarget.build(P.loss_of, P.w_star, P.n, batched=True), P.hessian_eigs()


def test_sweep_flags_divergence_and_matches_the_exact_law(quadratic, tmp_path):
    """Grid across the AR(1) stability edge eps k_max = 4 (quadratic_llc): points above it
    diverge; stable points sit within 4 exact SEs of the eps-dependent mean; the pick is stable."""
    P, target, eigs = quadratic
    cfg = SGLDConfig(gamma=10.0, n_chains=6, n_steps=600, n_burnin=150, seed=0)
    nb = P.n / math.log(P.n)
    k_max = nb * eigs.max() + cfg.gamma
    eps_grid = [0.02 / k_max, 0.1 / k_max, 0.5 / k_max, 6.0 / k_max]
    cal = calibrate_llc(target, eps_grid, [nb, 2 * nb], cfg)
    assert len(cal.points) == 8
    for p in cal.points:
        if p.eps == eps_grid[-1]:
            assert p.diverged and not p.stable
            continue
        assert not p.diverged
        pcfg = SGLDConfig(**{**cfg.__dict__, "eps": p.eps, "beta": p.nbeta / P.n})
        if p.eps * (p.nbeta * eigs.max() + cfg.gamma) >= 4:  # 2 n beta at the 0.5 point is fine
            continue
        mean, sd = quadratic_llc(eigs, P.n, pcfg)
        assert abs(p.llc - mean) < 4 * sd / math.sqrt(cfg.n_chains), (p.eps, p.nbeta, p.llc, mean)
    assert cal.recommended is not None and cal.recommended.stable
    assert cal.recommended.nbeta == nb and cal.recommended.eps < eps_grid[-1]
    assert cal.recommended_rule == "plateau"
    d = cal.to_dict()
    write_json(tmp_path / "cal.json", d)
    back = json.loads((tmp_path / "cal.json").read_text(encoding="utf-8"))
    assert back["recommended"]["eps"] == cal.recommended.eps and len(back["points"]) == 8
    paths = plot_calibration(cal, tmp_path / "cal")
    assert sorted(p.suffix for p in paths) == [".png", ".svg"] and all(
        p.stat().st_size for p in paths
    )


def test_sweep_marks_negative_estimates_unstable(quadratic):
    """Started away from the minimum, the chains fall below L_n(w*): llc < 0 is not stable."""
    P, _, _ = quadratic
    w = {k: v + 0.3 for k, v in P.w_star.items()}
    target = LLCTarget.build(P.loss_of, w, P.n, batched=True)
    cfg = SGLDConfig(gamma=1.0, n_chains=3, n_steps=200, n_burnin=50, seed=1)
    cal = calibrate_llc(target, [1e-4], None, cfg)
    (p,) = cal.points
    assert p.llc < 0 and not p.stable and cal.recommended is None
    assert cal.recommended_rule == "none" and cal.to_dict()["recommended_rule"] == "none"


def test_pick_says_when_no_plateau_confirms_it():
    """Two stable points that disagree: the smaller eps is picked, marked as a fallback; the
    n beta nearest n/ln n is searched first, another row only when it has no stable point."""
    from transformer_check.measures.llc_calibrate import CalibrationPoint, _recommend

    def pt(eps, nb, llc, stable=True):
        return CalibrationPoint(eps, nb, llc, 0.1, 0.0, 0.1, False, stable, np.zeros((2, 4)))

    apart = [pt(1e-4, 10.0, 5.0), pt(1e-3, 10.0, 9.0)]
    pick, rule = _recommend(apart, [10.0], 10.0, 0.1)
    assert pick is apart[0] and rule == "fallback"
    agree = [pt(1e-4, 10.0, 5.0), pt(1e-3, 10.0, 5.2), pt(1e-2, 10.0, 9.0, stable=False)]
    pick, rule = _recommend(agree, [10.0], 10.0, 0.1)
    assert pick is agree[1] and rule == "plateau"
    other_row = [pt(1e-4, 10.0, 5.0, stable=False), pt(1e-4, 30.0, 4.0)]
    pick, rule = _recommend(other_row, [10.0, 30.0], 10.0, 0.1)
    assert pick is other_row[1] and rule == "fallback"
    assert _recommend([pt(1e-4, 10.0, 5.0, stable=False)], [10.0], 10.0, 0.1) == (None, "none")


def test_sweep_rejects_bad_grids(quadratic):
    _, target, _ = quadratic
    with pytest.raises(InputError, match="eps_grid"):
        calibrate_llc(target, [0.0])
    with pytest.raises(InputError, match="nbeta_grid"):
        calibrate_llc(target, [1e-4], [-1.0])
    with pytest.raises(InputError, match="rel_tol"):
        calibrate_llc(target, [1e-4], rel_tol=2.0)


def test_loss_trace_figure(quadratic, tmp_path):
    P, _, _ = quadratic
    cfg = SGLDConfig(eps=1e-4, gamma=10.0, n_chains=3, n_steps=80, n_burnin=20, seed=0)
    res = estimate_llc_at(P.loss_of, P.w_star, P.n, cfg, batched=True)
    assert res.burnin_trace.shape == (3, 20) and np.all(np.isfinite(res.burnin_trace))
    paths = plot_loss_traces(res, tmp_path / "traces")
    assert sorted(p.suffix for p in paths) == [".png", ".svg"] and all(
        p.stat().st_size for p in paths
    )
