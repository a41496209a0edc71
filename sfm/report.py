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


def run_summary(res: RunResult, b: int = 0) -> dict[str, Any]:
    """Measured events and observables next to theory/ predictions (SPEC §1.4, §1.8, §2.1, §2.4)."""
    from theory.crossover import crossover_n, paper004_crossover
    from theory.kolmogorov import enumerative_code_bits, paper004_code_bits
    from theory.rlct import lambda_gen, lambda_mem

    cfg, task, ev, c = res.configs[b], res.tasks[b], res.events[b], res.curves
    p, n = cfg.p, task.n
    s_star = interpolant_support(cfg.op, task.g)
    last = int(c.step[-1])
    notes = []
    if ev.t_mem is None:
        notes.append(f"t_mem did not occur within {last} steps")
    if ev.t_gen is None:
        notes.append(f"t_gen did not occur within {last} steps")
    if ev.diverged_at is not None:
        notes.append(f"diverged at step {ev.diverged_at}")
    lam_mem_meas = _at(c, b, ev.t_mem, "lambda_hat")
    lam_end = float(c.lambda_hat[-1, b])
    loss_mem = _at(c, b, ev.t_mem, "train_loss")
    loss_end = float(c.train_loss[-1, b])
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
        "events": {
            "t_mem": ev.t_mem,
            "t_gen": ev.t_gen,
            "diverged_at": ev.diverged_at,
            "grok_delay": (ev.t_gen - ev.t_mem)
            if ev.t_mem is not None and ev.t_gen is not None and ev.t_gen > ev.t_mem
            else None,
            "notes": notes,
        },
        "final": {
            "step": last,
            "train_rel": float(c.train_rel[-1, b]),
            "test_rel": float(c.test_rel[-1, b]),
            "support": int(c.support[-1, b]),
            "lambda_hat": lam_end,
            "K_bits": float(c.K_bits[-1, b]),
            "F_n": float(c.F_n[-1, b]),
            "max_hermitian_err": float(np.nanmax(c.hermitian_err[:, b])),
        },
        "at_t_mem": {
            k: _at(c, b, ev.t_mem, k)
            for k in ("train_rel", "test_rel", "support", "lambda_hat", "K_bits", "F_n")
        },
        "at_t_gen": {
            k: _at(c, b, ev.t_gen, k)
            for k in ("train_rel", "test_rel", "support", "lambda_hat", "K_bits", "F_n")
        },
        "theory": {
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
                "the empirical learning coefficient (SPEC §1.4)"
            ),
        },
    }
    mean_y2 = float(np.mean(task.Y[task.domain] ** 2))
    sigma = noise_floor(cfg.f, mean_y2, p)
    out["theory"]["memorisation_noise_floor"] = sigma
    if uses_hard_gate(cfg.schedule) and ev.t_gen is not None:
        tau_gen = _at(c, b, ev.t_gen, "tau")
        out["gate_at_t_gen"] = tau_gen
        out["gate_at_t_gen_over_noise_floor"] = (
            None if tau_gen is None or sigma == 0 else tau_gen / sigma
        )
    if cfg.schedule in ("fixed", "neff", "increasing", "l2_gate"):
        out["theory"]["gate_threshold_at_n"] = float(
            gate_threshold(
                q.beta, n, p, 1.0 if cfg.convention == "prox" else p * p / n, cfg.convention
            )
        )
    if lam_mem_meas is not None and loss_mem is not None:
        dlam = lam_mem_meas - lam_end
        dloss = loss_end - loss_mem
        if dlam > 0 and dloss >= 0:
            cr = crossover_n(dlam, dloss)
            out["free_energy_crossover_measured"] = {
                "dlambda": dlam,
                "dloss": dloss,
                "has_crossing": cr.has_crossing,
                "n_0": cr.n0,
                "n_minus1": cr.n_minus1,
                "message": cr.message,
                "winner_at_n": cr.winner(n),
            }
        elif dlam > 0:
            out["free_energy_crossover_measured"] = {
                "dlambda": dlam,
                "dloss": dloss,
                "message": "the generalising state has lower loss AND lower lambda: it wins at "
                "every n (no crossing)",
            }
    if cfg.schedule in ("fixed", "neff", "increasing", "l2_gate") and q.beta > 0:
        eps_gen = max(0.0, loss_end)
        pc = paper004_crossover(q.beta, p, eps_gen)
        out["paper004_crossover"] = {
            "beta": q.beta,
            "eps_gen": eps_gen,
            "n_star": pc.n_star,
            "meaning": pc.meaning,
        }
    return out


def curve_rows(res: RunResult, b: int = 0) -> list[dict[str, Any]]:
    """CSV rows of one element's logged curves."""
    col = res.curves.column(b)
    return [
        {"step": int(col["step"][i]), **{k: float(col[k][i]) for k in CURVE_FIELDS}}
        for i in range(len(col["step"]))
    ]
