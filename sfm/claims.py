"""The SFM's claims as executable properties (docs/claims.md): ``CLAIMS`` for ``python -m theory check``.

Identities must never fail (a counterexample is a bug); laws are measured statements, and a
counterexample is a result. Budgets keep the whole catalogue to about two minutes on two cores
(small p, runs that stop at ``t_gen``). Registered under the ``occam.claims`` entry point ``sfm``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
from hypothesis import strategies as st

from theory.claims import IDENTITY, LAW, Budget, Claim, ClaimFailed
from theory.strategies import odd_primes

from .dynamics import SFMConfig, simulate
from .schedules import STRENGTH
from .strategies import settings, strength_pairs
from .task import interpolant_support

__all__ = ["CLAIMS", "replay_command", "MIN_DATA_ABOVE", "MIN_DATA_BELOW"]

#: n / (p ln p) above which a run generalises, and below which none does (measured, p 7-31,
#: increasing gate, eta = 1, 3000 steps: every seed generalised from 1.6-2.2, none below 1.0).
MIN_DATA_ABOVE = 2.5
MIN_DATA_BELOW = 0.8
HARD_GATES = ("increasing", "fixed", "neff", "l2_gate")


def replay_command(cfg: SFMConfig) -> str:
    """The ``python -m sfm run`` line that reproduces ``cfg`` (its flags, as ``--help`` lists them)."""
    parts = [
        "python -m sfm run",
        f"--p {cfg.p}",
        f"--f {cfg.f:g}",
        f"--op '{cfg.op}'",
        f"--target {cfg.target}",
        f"--schedule {cfg.schedule}",
    ]
    key = STRENGTH[cfg.schedule]
    if key is not None:
        parts.append(f"--{key} {getattr(cfg.params(), key):g}")
    parts += [f"--eta {cfg.eta:g}", f"--steps {cfg.steps}", f"--seed {cfg.seed}"]
    return " ".join(parts)


def _run(cfgs: Iterable[SFMConfig]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weak-frequency warnings: the claims judge the outcome
        return simulate(list(cfgs))


def _last(series: np.ndarray) -> float:
    ok = series[~np.isnan(series)]
    return float(ok[-1]) if ok.size else float("nan")


# --- identities -------------------------------------------------------------------------------


def _lambda_is_half_support(cfg: SFMConfig) -> dict:
    res = _run([cfg])
    S, lam = res.curves.support[:, 0], res.curves.lambda_hat[:, 0]
    bad = np.flatnonzero(lam != S / 2.0)
    vals = {"p": cfg.p, "steps_logged": int(S.size), "final_support": _last(S)}
    if bad.size:
        i = int(bad[0])
        vals.update(step=int(res.curves.step[i]), support=float(S[i]), lambda_hat=float(lam[i]))
        raise ClaimFailed(f"lambda_hat {lam[i]} != |S|/2 = {S[i] / 2} at step {vals['step']}", vals)
    return vals


def _one_step_interpolates(cfg: SFMConfig) -> dict:
    cfg1 = SFMConfig(
        p=cfg.p, f=cfg.f, op=cfg.op, target=cfg.target, schedule="none", steps=1, seed=cfg.seed
    )
    res = _run([cfg1])
    rel = float(res.curves.train_rel[-1, 0])
    vals = {"p": cfg.p, "f": cfg.f, "train_rel_step1": rel}
    if not rel < 1e-20:
        raise ClaimFailed(f"train rel error after one eta=1 drift step is {rel:.3g}, not 0", vals)
    return vals


# --- laws --------------------------------------------------------------------------------------


def _groks_to_exact_support(cfg: SFMConfig) -> dict:
    res = _run([cfg])
    ev = res.events[0]
    I = interpolant_support(cfg.op, res.tasks[0].g)
    col = res.trajectory(0).series
    S, lam = _last(col["support"]), _last(col["lambda_hat"])
    vals = {
        "p": cfg.p,
        "n_over_p": res.tasks[0].n / cfg.p,
        "t_gen": ev.t_gen,
        "final_support": S,
        "interpolant_support": I,
        "final_lambda_hat": lam,
        "lambda_mem": cfg.p**2 / 2,
    }
    if ev.t_gen is not None and (S != I or lam != I / 2):
        raise ClaimFailed(
            f"generalised at t_gen={ev.t_gen} but final support {S:g} != interpolant support {I} "
            f"(lambda_hat {lam:g} vs {I / 2:g})",
            vals,
        )
    return vals


def _stronger_is_earlier(pair: tuple[SFMConfig, SFMConfig]) -> dict:
    weak, strong = pair
    res = _run([weak, strong])
    key = STRENGTH[weak.schedule]
    tw, ts = res.events[0].t_gen, res.events[1].t_gen
    vals = {
        "schedule": weak.schedule,
        "p": weak.p,
        "f": weak.f,
        "op": weak.op,
        "seed": weak.seed,
        f"weak_{key}": getattr(weak.params(), key),
        f"strong_{key}": getattr(strong.params(), key),
        "t_gen_weak": tw,
        "t_gen_strong": ts,
    }
    if tw is not None and ts is not None and ts > tw:
        raise ClaimFailed(
            f"{weak.schedule}: stronger {key} {vals[f'strong_{key}']:g} generalised later "
            f"(t_gen {ts}) than {key} {vals[f'weak_{key}']:g} (t_gen {tw})",
            vals,
        )
    return vals


def _min_data_case() -> st.SearchStrategy[SFMConfig]:
    @st.composite
    def case(draw):
        p = draw(odd_primes(11, 31))
        r = draw(st.sampled_from((MIN_DATA_ABOVE, MIN_DATA_BELOW, 3.0, 0.5)))
        f = min(1.0, round(r * p * math.log(p) / p**2, 6))
        return SFMConfig(
            p=p,
            f=f,
            op=draw(st.sampled_from(("+", "-"))),
            schedule="increasing",
            beta=0.1,
            steps=3000,
            seed=draw(st.integers(0, 3)),
            stop_after_gen=0,
        )

    return case()


def _min_data_p_ln_p(cfg: SFMConfig) -> dict:
    res = _run([cfg])
    n = res.tasks[0].n
    r = n / (cfg.p * math.log(cfg.p))
    tg = res.events[0].t_gen
    vals = {"p": cfg.p, "n": n, "n_over_p_ln_p": r, "t_gen": tg, "generalised": tg is not None}
    if r >= MIN_DATA_ABOVE and tg is None:
        raise ClaimFailed(f"n = {r:.2f} p ln p did not generalise in {cfg.steps} steps", vals)
    if r <= MIN_DATA_BELOW and tg is not None:
        raise ClaimFailed(f"n = {r:.2f} p ln p generalised (t_gen {tg})", vals)
    return vals


def _pair_replay(pair) -> str:
    return " && ".join(replay_command(c) for c in pair)


CLAIMS: list[Claim] = [
    Claim(
        name="sfm.lambda_hat_is_half_support",
        statement="At every logged step, lambda_hat = |S| / 2 exactly, |S| the support size.",
        domain="every schedule, op and target; p odd primes 7-23; 200 steps",
        kind=IDENTITY,
        strategy=settings(steps=200, stop_after_gen=None),
        check=_lambda_is_half_support,
        replay=replay_command,
        budget=Budget(examples=15, seconds=15.0),
        source="definitions §1.4 (lambda(S) = |S|/2, theory.rlct.sfm_rlct); definitions §1.8",
    ),
    Claim(
        name="sfm.one_drift_step_interpolates",
        statement="From V = 0, one drift step with eta = 1 fits every training pair: train "
        "relative error < 1e-20 (the minimum-norm interpolant).",
        domain="every op and target; p odd primes 7-23; f in [0.3, 0.9]; schedule none",
        kind=IDENTITY,
        strategy=settings(schedules=("none",), steps=1),
        check=_one_step_interpolates,
        replay=replay_command,
        budget=Budget(examples=15, seconds=10.0),
        source="definitions §1.6 (drift yhat <- yhat + eta M.*r); Zhang et al. (2026) §3",
    ),
    Claim(
        name="sfm.groks_to_exact_support",
        statement="A hard-gate run that generalises (t_gen occurs) ends on the exact "
        "interpolant's support (p for + and -), so lambda_hat goes from p^2/2 to |S*|/2 = p/2.",
        domain="ops + and -; hard-gate schedules; default strength x 0.25-4; p 7-23; f 0.3-0.9; "
        "run 50 steps past t_gen",
        kind=LAW,
        strategy=settings(ops=("+", "-"), schedules=HARD_GATES, stop_after_gen=50),
        check=_groks_to_exact_support,
        replay=replay_command,
        budget=Budget(examples=20, seconds=20.0),
        source="Zhang et al. (2026) §4 (Occam phase transition); definitions §1.3-§1.4",
        axes=("n_over_p", "final_support"),
    ),
    Claim(
        name="sfm.stronger_regularisation_earlier_t_gen",
        statement="For each schedule, raising its strength (x2 or x4, all else equal) gives an "
        "earlier or equal t_gen whenever both runs generalise.",
        domain="every schedule with a strength (beta, alpha or wd); default strength x 0.25-4; "
        "ops + and -; p 7-13; f 0.3-0.9; seeds 0-3",
        kind=LAW,
        strategy=strength_pairs(p=odd_primes(7, 13), ops=("+", "-")),
        check=_stronger_is_earlier,
        replay=_pair_replay,
        budget=Budget(examples=40, seconds=40.0),
        source="Zhang et al. (2026) §5 (regularisation strength and grokking time)",
        axes=("t_gen_weak", "t_gen_strong"),
    ),
    Claim(
        name="sfm.min_data_p_ln_p",
        statement=f"With the increasing gate (beta = 0.1, 3000 steps), a run with n >= "
        f"{MIN_DATA_ABOVE} p ln p generalises and one with n <= {MIN_DATA_BELOW} p ln p does not.",
        domain="ops + and -; p odd primes 11-31; n / (p ln p) in {0.5, 0.8, 2.5, 3}; seeds 0-3",
        kind=LAW,
        strategy=_min_data_case(),
        check=_min_data_p_ln_p,
        replay=replay_command,
        budget=Budget(examples=20, seconds=25.0),
        source="Zhang et al. (2026) §4 (minimum data n ~ p ln p); docs/sfm.md phase diagram",
        axes=("p", "n_over_p_ln_p"),
    ),
]
