"""Occam gate schedules of definitions §1.7, each a named option with documented defaults.

Updates in scaled coordinates, ``s = eta / p``, ``D = A(M .* r)``::

    name        defs   update
    none        §1.6   V <- V + s D  (plain drift; eta = 1 from 0 is the min-norm interpolant)
    fixed       (a)    V <- H_tau(V + s D),  tau = occam_gate_threshold(beta, n, p, eta)
    neff        (b)    as fixed with n replaced by n_eff(t) = max(1, c t)
    increasing  (b2)   tau(t) = sqrt(2 beta eta ln(1 + t)) / p  (the default)
    ista        (c)    V <- S_theta(V + s D),  soft threshold theta = eta alpha
    l2_gate     (c2)   V <- H_tau((1 - eta wd) V + s D),  tau as fixed
    square      (d)    V = A .* A,  A <- A + eta (2 conj(A) D / p - wd A)

Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262, define the gate; the schedules are
definitions §1.7 (a)-(d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.base.errors import InputError

__all__ = [
    "SCHEDULES",
    "SCHEDULE_DEFAULTS",
    "STRENGTH",
    "ScheduleParams",
    "gate_threshold",
    "tau_schedule",
    "uses_hard_gate",
    "support_eps",
]

#: The schedule names of definitions §1.7, the default (``increasing``) first.
SCHEDULES = ("increasing", "fixed", "neff", "ista", "l2_gate", "square", "none")

#: Each schedule's parameter defaults, chosen by measurement at p = 97, f = 0.3, op '+'
#: (docs/sfm.md, "Defaults"); e.g. ``SCHEDULE_DEFAULTS["increasing"] == {"beta": 0.02}``.
SCHEDULE_DEFAULTS: dict[str, dict[str, float]] = {
    "increasing": {"beta": 0.02},
    "fixed": {"beta": 0.3},
    "neff": {"beta": 0.02, "c": 1.0},
    "ista": {"alpha": 0.0005},
    "l2_gate": {"beta": 0.015, "wd": 0.01},
    "square": {"wd": 0.002, "init_scale": 0.1},
    "none": {},
}

#: The parameter a sweep calls "schedule strength" for each schedule.
STRENGTH = {
    "increasing": "beta",
    "fixed": "beta",
    "neff": "beta",
    "ista": "alpha",
    "l2_gate": "wd",
    "square": "wd",
    "none": None,
}


@dataclass(frozen=True)
class ScheduleParams:
    """Numeric parameters of a schedule (unused ones are ignored by that schedule)."""

    beta: float = 0.02
    c: float = 1.0
    alpha: float = 0.0005
    wd: float = 0.0
    init_scale: float = 0.1


def uses_hard_gate(name: str) -> bool:
    """Schedules that end each step with the hard gate ``H_tau`` (definitions §1.7 (a), (b), (b2), (c2))."""
    return name in ("fixed", "neff", "increasing", "l2_gate")


def support_eps(name: str, p: int) -> float:
    """Support threshold of definitions §1.8: 0 after a gate (hard or soft), ``1e-3 p**-0.5`` otherwise."""
    return 0.0 if uses_hard_gate(name) or name == "ista" else 1e-3 * p**-0.5


def gate_threshold(beta, n, p: int, eta, convention: str = "prox"):
    """Occam gate threshold ``tau`` (definitions §1.7) via :func:`theory.gates.occam_gate_threshold`.

    ``prox``: ``sqrt(2 beta eta ln n) / p``; ``paper``: ``sqrt(2 beta ln n / n)``. Vectorised over
    ``beta``, ``n``, ``eta``; ``n <= 1`` gives ``tau = 0`` (no gate before the first effective pair).
    """
    from theory.gates import occam_gate_threshold

    b, nn, e = np.broadcast_arrays(
        np.asarray(beta, dtype=float), np.asarray(n, dtype=float), np.asarray(eta, dtype=float)
    )
    out = np.zeros(b.shape)
    for idx in np.ndindex(b.shape):
        if nn[idx] > 1.0:
            out[idx] = occam_gate_threshold(
                float(b[idx]), float(nn[idx]), p, eta=float(e[idx]), convention=convention
            )
    return out if out.ndim else float(out)


def tau_schedule(
    name: str,
    t: int,
    p: int,
    n: np.ndarray,
    eta: np.ndarray,
    params: list[ScheduleParams],
    convention: str,
    fixed_tau: np.ndarray | None = None,
) -> np.ndarray:
    """Hard-gate threshold per batch element at step ``t`` (state ``t`` -> ``t + 1``)."""
    if name in ("fixed", "l2_gate"):
        assert fixed_tau is not None
        return fixed_tau
    beta = np.array([q.beta for q in params])
    if name == "increasing":
        # (b2): tau(t) = sqrt(2 beta eta ln(1 + t)) / p, the prox threshold with n -> 1 + t.
        return np.sqrt(2.0 * beta * eta * np.log1p(t)) / p
    if name == "neff":
        c = np.array([q.c for q in params])
        return np.asarray(gate_threshold(beta, np.maximum(1.0, c * t), p, eta, convention))
    raise InputError(f"schedule: {name!r} has no hard gate threshold")
