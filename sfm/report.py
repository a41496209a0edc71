"""Summary of one run: events, lambda and K before/after, theory's predictions beside them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dynamics import RunResult
from .observables import CURVE_FIELDS
from .schedules import STRENGTH, gate_threshold, uses_hard_gate
from .task import interpolant_support

__all__ = ["run_summary", "curve_rows", "noise_floor"]


def noise_floor(f: float, mean_y2: float, p: int) -> float:
    """RMS of an off-support coefficient of the memorising solution ``A(M .* Y)/p``.

    Each of the ``p^2`` pairs enters with a Bernoulli(f) mask, so the scaled coefficient has
    variance ``f (1 - f) mean(y^2) / p^2`` (docs/sfm.md, "Why the gate has to grow").
    """
    return math.sqrt(f * (1.0 - f) * mean_y2) / p


def _at(curves, b: int, step: int | None, name: str) -> float | None:
    if step is None:
        return None
    i = int(np.searchsorted(curves.step, step))
    if i >= len(curves.step) or curves.step[i] != step:
        return None
    return float(getattr(curves, name)[i, b])


_AT_EVENT = ("train_rel", "test_rel", "support", "lambda_hat", "K_bits", "F_n")
#: Schedules whose gate follows definitions §1.7's ``beta ln n`` prior (the theory's threshold applies).
_BETA_GATES = ("fixed", "neff", "increasing", "l2_gate")


def run_summary(res: RunResult, b: int = 0) -> dict[str, Any]:
    """Measured events and observables next to theory/ predictions (definitions §1.4, §1.8, §2.1, §2.4)."""
    cfg, task, ev, c = res.configs[b], res.tasks[b], res.events[b], res.curves
    p, n = cfg.p, task.n
    q = cfg.params()
    strength_name = STRENGTH.get(cfg.schedule)
    out: dict[str, Any] = {
        "p": p,
        "op": cfg.op,
        "f": cfg.f,
        "n": n,
        "n_over_p": n / p,
        "schedule": cfg.schedule,
        "strength": {strength_name: getattr(q, strength_name)} if strength_name else {},
        "events": _events(ev, int(c.step[-1])),
        "final": _final(c, b),
        "at_t_mem": {k: _at(c, b, ev.t_mem, k) for k in _AT_EVENT},
        "at_t_gen": {k: _at(c, b, ev.t_gen, k) for k in _AT_EVENT},
        "theory": _theory(p, interpolant_support(cfg.op, task.g)),
    }
    sigma = noise_floor(cfg.f, float(np.mean(task.Y[task.domain] ** 2)), p)
    out["theory"]["memorisation_noise_floor"] = sigma
    if uses_hard_gate(cfg.schedule) and ev.t_gen is not None:
        tau_gen = _at(c, b, ev.t_gen, "tau")
        out["gate_at_t_gen"] = tau_gen
        out["gate_at_t_gen_over_noise_floor"] = (
            None if tau_gen is None or sigma == 0 else tau_gen / sigma
        )
    if cfg.schedule in _BETA_GATES:
        eta = 1.0 if cfg.convention == "prox" else p * p / n
        out["theory"]["gate_threshold_at_n"] = float(
            gate_threshold(q.beta, n, p, eta, cfg.convention)
        )
    measured = _measured_crossover(
        _at(c, b, ev.t_mem, "lambda_hat"),
        _at(c, b, ev.t_mem, "train_loss"),
        float(c.lambda_hat[-1, b]),
        float(c.train_loss[-1, b]),
        n,
    )
    if measured is not None:
        out["free_energy_crossover_measured"] = measured
    if cfg.schedule in _BETA_GATES and q.beta > 0:
        out["paper004_crossover"] = _paper004(q.beta, p, float(c.train_loss[-1, b]))
    return out


def _events(ev, last: int) -> dict[str, Any]:
    """The definitions §1.8 events, the grokking delay, and a note for each event that did not occur."""
    notes = []
    if ev.t_mem is None:
        notes.append(f"t_mem did not occur within {last} steps")
    if ev.t_gen is None:
        notes.append(f"t_gen did not occur within {last} steps")
    if ev.diverged_at is not None:
        notes.append(f"diverged at step {ev.diverged_at}")
    both = ev.t_mem is not None and ev.t_gen is not None
    return {
        "t_mem": ev.t_mem,
        "t_gen": ev.t_gen,
        "diverged_at": ev.diverged_at,
        "grok_delay": (ev.t_gen - ev.t_mem) if both and ev.t_gen > ev.t_mem else None,
        "notes": notes,
    }


def _final(c, b: int) -> dict[str, Any]:
    """Observables at the last logged step."""
    return {
        "step": int(c.step[-1]),
        "train_rel": float(c.train_rel[-1, b]),
        "test_rel": float(c.test_rel[-1, b]),
        "support": int(c.support[-1, b]),
        "lambda_hat": float(c.lambda_hat[-1, b]),
        "K_bits": float(c.K_bits[-1, b]),
        "F_n": float(c.F_n[-1, b]),
        "max_hermitian_err": float(np.nanmax(c.hermitian_err[:, b])),
    }


def _theory(p: int, s_star: int) -> dict[str, Any]:
    """theory/'s learning coefficients and code lengths of both phases (definitions §1.4, §2.4)."""
    from theory.kolmogorov import enumerative_code_bits, paper004_code_bits
    from theory.rlct import lambda_gen, lambda_mem

    return {
        "lambda_mem": lambda_mem(p),
        "lambda_gen": lambda_gen(p),
        "lambda_interpolant": s_star / 2.0,
        "interpolant_support": s_star,
        "K_bits_full_support": enumerative_code_bits(p, p * p),
        "K_bits_interpolant": enumerative_code_bits(p, s_star),
        "K_paper_bits_mem": paper004_code_bits(lambda_mem(p), p),
        "K_paper_bits_gen": paper004_code_bits(s_star / 2.0, p),
        "lambda_hat_mem_is_bic_count_note": (
            "p^2/2 is the BIC count of the full-support model; with n < p^2 pairs it is not "
            "the empirical learning coefficient (definitions §1.4)"
        ),
    }


def _measured_crossover(
    lam_mem: float | None, loss_mem: float | None, lam_end: float, loss_end: float, n: int
) -> dict[str, Any] | None:
    """Free-energy crossover between the measured memorising and final states (definitions §2.1)."""
    from theory.crossover import crossover_n, crossover_record

    if lam_mem is None or loss_mem is None:
        return None
    dlam = lam_mem - lam_end
    dloss = loss_end - loss_mem
    if not dlam > 0:  # also NaN: no crossing to report
        return None
    if not dloss >= 0:
        return {
            "dlambda": dlam,
            "dloss": dloss,
            "message": "the generalising state has lower loss AND lower lambda: it wins at "
            "every n (no crossing)",
        }
    cr = crossover_n(dlam, dloss)
    rec = crossover_record(cr)  # a root beyond float64 as its exact decimal, never "inf"
    return {
        "dlambda": dlam,
        "dloss": dloss,
        "has_crossing": cr.has_crossing,
        "n_0": rec["n0"],
        "n_minus1": rec["n_minus1"],
        "n_minus1_exact": cr.exact.get("n_minus1"),
        "message": cr.message,
        "winner_at_n": cr.winner(n),
    }


def _paper004(beta: float, p: int, loss_end: float) -> dict[str, Any]:
    """Zhang et al. (2026)'s crossover ``n*`` with the final loss as ``eps_gen`` (definitions §2.1)."""
    from theory.crossover import paper004_crossover

    eps_gen = max(0.0, loss_end)
    pc = paper004_crossover(beta, p, eps_gen)
    ex = pc.n_star_exact
    # n* beyond float64 (a tiny final loss) is written as its exact decimal, never "inf".
    n_star = pc.n_star if pc.n_star is None or ex is None or pc.n_star < math.inf else ex["decimal"]
    return {
        "beta": beta,
        "eps_gen": eps_gen,
        "n_star": n_star,
        "n_star_exact": ex,
        "meaning": pc.meaning,
    }


def curve_rows(res: RunResult, b: int = 0) -> list[dict[str, Any]]:
    """CSV rows of one element's logged curves."""
    col = res.curves.column(b)
    return [
        {"step": int(col["step"][i]), **{k: float(col[k][i]) for k in CURVE_FIELDS}}
        for i in range(len(col["step"]))
    ]
