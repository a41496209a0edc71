"""Batched drift + Occam-gate dynamics of the singular feature machine (SPEC §1.5-§1.8).

Many seeds or parameter points sharing ``p``, ``op``, the schedule name and the convention advance
together as one ``(B, p, p//2+1)`` complex array: per step one batched ``irfft2`` (predictions on
all pairs), one fused numba pass (masked residual and both losses), one batched ``rfft2`` (drift)
and one fused gate pass.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from theory.base.errors import InputError, check_int, check_positive, check_range
from theory.base.modular import OPS

from . import kernels
from .basis import Basis, make_basis
from .observables import Curves, Events, EventTracker, log_observables
from .schedules import (
    CONVENTIONS,
    SCHEDULE_DEFAULTS,
    SCHEDULES,
    ScheduleParams,
    gate_threshold,
    support_eps,
    tau_schedule,
    uses_hard_gate,
)
from .task import Task, check_seed, make_task, warn_weak_frequencies

__all__ = ["SFMConfig", "RunResult", "simulate", "simulate_one", "effective_eta"]

#: A run is declared divergent when the train relative error exceeds this (SPEC §1.6, paper drift).
DIVERGED_REL = 1e8


@dataclass(frozen=True)
class SFMConfig:
    """Everything that defines one SFM run (defaults: the ``python -m sfm run`` job).

    ``beta``/``alpha``/``wd``/``c``/``init_scale`` left as ``None`` take the schedule's default from
    :data:`sfm.schedules.SCHEDULE_DEFAULTS`. ``eta`` is ignored under ``convention="paper"``,
    which uses paper 004's ``1/n`` drift, i.e. ``eta = p^2 / n`` (SPEC §1.6).
    """

    p: int = 97
    f: float = 0.3
    op: str = "+"
    target: str = "flat"
    schedule: str = "increasing"
    beta: float | None = None
    alpha: float | None = None
    wd: float | None = None
    c: float | None = None
    init_scale: float | None = None
    eta: float = 1.0
    convention: str = "prox"
    steps: int = 2000
    seed: int = 0
    log_every: int = 1
    stop_after_gen: int | None = None

    def params(self) -> ScheduleParams:
        """Numeric schedule parameters with the schedule's defaults filled in."""
        d = {**ScheduleParams().__dict__, "wd": 0.0}
        d.update(SCHEDULE_DEFAULTS.get(self.schedule, {}))
        for k in ("beta", "alpha", "wd", "c", "init_scale"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return ScheduleParams(**d)

    def validated(self) -> SFMConfig:
        """Check every field (SPEC ranges) and return self; raises :class:`InputError`."""
        from theory.base.errors import check_odd_prime

        check_odd_prime("p", self.p)
        check_range("f", self.f, 0.0, 1.0, lo_open=True, hint="the training fraction of all pairs")
        if self.op not in OPS:
            raise InputError(f"op: must be one of + - * /, got {self.op!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"schedule: must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.convention not in CONVENTIONS:
            raise InputError(f"convention: must be prox or paper, got {self.convention!r}")
        if self.convention == "prox":
            check_range(
                "eta",
                self.eta,
                0.0,
                2.0,
                lo_open=True,
                hi_open=True,
                hint="the drift is stable only for 0 < eta < 2 (SPEC §1.6)",
            )
        check_int("steps", self.steps, lo=1, hi=10_000_000)
        check_seed(self.seed)
        check_int("log_every", self.log_every, lo=1)
        if self.stop_after_gen is not None:
            check_int("stop_after_gen", self.stop_after_gen, lo=0)
        q = self.params()
        check_positive("beta", q.beta, allow_zero=True)
        check_positive("alpha", q.alpha, allow_zero=True)
        check_range("wd", q.wd, 0.0, 1.0, hi_open=True, hint="eta * wd must stay below 1")
        if self.convention == "prox" and self.eta * q.wd >= 1.0:
            raise InputError(f"wd: eta * wd must be < 1, got {self.eta * q.wd:g}; lower wd or eta")
        check_positive("c", q.c)
        check_positive("init_scale", q.init_scale)
        if not isinstance(self.target, str):
            raise InputError("target: give a name (flat, random-phase) or use simulate(task=...)")
        return self


def effective_eta(cfg: SFMConfig, n: int, p: int) -> float:
    """Drift step: ``eta`` (prox) or paper 004's ``1/n`` drift, ``eta = p^2 / n`` (SPEC §1.6)."""
    return cfg.eta if cfg.convention == "prox" else p * p / n


@dataclass
class RunResult:
    """Curves (logged steps x batch), exact events, and final states of a batch of runs."""

    configs: list[SFMConfig]
    tasks: list[Task]
    basis: Basis
    curves: Curves
    events: list[Events]
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)
    final_V: np.ndarray | None = None
    steps_run: int = 0


_SHARED = ("p", "op", "schedule", "convention", "log_every", "target")


def _check_batch(configs: Sequence[SFMConfig]) -> None:
    if not configs:
        raise InputError("configs: empty batch; give at least one configuration")
    first = configs[0]
    for c in configs[1:]:
        for k in _SHARED:
            if getattr(c, k) != getattr(first, k):
                raise InputError(
                    f"{k}: every run in one batch must share it, got {getattr(first, k)!r} and "
                    f"{getattr(c, k)!r}; split the batch"
                )


def _init_square(basis: Basis, B: int, scale: np.ndarray, rngs) -> np.ndarray:
    """Random Hermitian ``A`` with entries of size ``init_scale`` (SPEC §1.7 (d) needs A != 0)."""
    p = basis.p
    out = np.empty((B,) + basis.shape, dtype=np.complex128)
    mir = basis.mirror
    for b in range(B):
        Z = rngs[b].normal(size=(p, p)) + 1j * rngs[b].normal(size=(p, p))
        H = 0.5 * (Z + np.conj(Z[mir][:, mir]))
        out[b] = basis.from_full(H) * scale[b] / math.sqrt(2.0)
    return out


def simulate(
    configs: Sequence[SFMConfig],
    tasks: Sequence[Task] | None = None,
    snapshots: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> RunResult:
    """Run a batch of SFM dynamics (SPEC §1.6-§1.8) and return curves and exact events.

    ``steps`` may differ between configs; the batch runs ``max(steps)`` and an element's events
    are taken only up to its own ``steps``. ``snapshots=True`` keeps ``V`` at initialisation,
    ``t_mem`` and ``t_gen`` of element 0 (for heatmaps).
    """
    configs = [c.validated() for c in configs]
    _check_batch(configs)
    c0 = configs[0]
    p, op, name = c0.p, c0.op, c0.schedule
    if tasks is None:
        rngs = [np.random.default_rng(c.seed) for c in configs]
        tasks = [make_task(p, op, c.f, c.target, rng) for c, rng in zip(configs, rngs, strict=True)]
    else:
        if len(tasks) != len(configs):
            raise InputError("tasks: need one task per config")
        for c, t in zip(configs, tasks, strict=True):
            if (t.p, t.op) != (c.p, c.op):
                raise InputError(
                    f"tasks: task has p={t.p}, op={t.op!r} but its config p={c.p}, op={c.op!r}"
                )
        rngs = [np.random.default_rng(c.seed) for c in configs]
    basis = make_basis(op, p)
    B = len(configs)
    params = [c.params() for c in configs]
    n = np.array([t.n for t in tasks], dtype=float)
    eta = np.array([effective_eta(c, t.n, p) for c, t in zip(configs, tasks, strict=True)])
    T = max(c.steps for c in configs)

    Y = np.ascontiguousarray(np.stack([t.Y for t in tasks]))
    train = np.stack([t.train for t in tasks]).astype(np.float64)
    test = np.stack([t.test for t in tasks]).astype(np.float64)
    yy_tr = np.einsum("buv,buv->b", Y * Y, train)
    yy_te = np.einsum("buv,buv->b", Y * Y, test)

    beta = np.array([q.beta for q in params])
    fixed_tau = None
    if name in ("fixed", "l2_gate"):
        fixed_tau = np.asarray(gate_threshold(beta, n, p, eta, c0.convention)).reshape(B)
    # Largest threshold the run will use, for the weak-frequency warning of SPEC §1.2.
    if uses_hard_gate(name):
        tau_end = (
            fixed_tau
            if fixed_tau is not None
            else tau_schedule(name, T, p, n, eta, params, c0.convention)
        )
        for b in range(B):
            warn_weak_frequencies(op, tasks[b].g, float(tau_end[b]))
    if c0.convention == "paper" and name == "none" and np.any(eta >= 2.0):
        warnings.warn(
            "convention: paper drift (eta = p^2/n >= 2) without a gate diverges (SPEC §1.6)",
            stacklevel=2,
        )

    step = eta / p  # V <- V + (eta / p) A(M .* r)  (SPEC §1.6 in scaled coordinates)
    V = np.zeros((B,) + basis.shape, dtype=np.complex128)
    A = None
    if name == "square":
        A = _init_square(basis, B, np.array([q.init_scale for q in params]), rngs)
        V = A * A
    decay = np.zeros(B)
    if name == "l2_gate":
        decay = eta * np.array([q.wd for q in params])
        if np.any(decay >= 1.0):
            raise InputError(
                f"wd: eta * wd must be < 1, got {decay.max():g} (paper drift has eta = p^2/n); "
                "lower wd"
            )
    wd = np.array([q.wd for q in params])
    theta = eta * np.array([q.alpha for q in params])
    zero_tau = np.zeros(B)
    eps = support_eps(name, p)
    mult = basis.multiplicity

    log_steps = np.unique(np.concatenate([np.arange(0, T + 1, c0.log_every), [T]]))
    curves = Curves.empty(len(log_steps), B)
    tracker = EventTracker(B)
    finished = np.zeros(B, dtype=bool)  # past own steps or stop_after_gen: no more records
    own_steps = np.array([c.steps for c in configs])
    alive = np.ones(B, dtype=bool)
    stop_after = np.array([-1 if c.stop_after_gen is None else c.stop_after_gen for c in configs])
    snaps: dict[str, np.ndarray] = {}
    if snapshots:
        snaps["init"] = basis.to_full(V[0]).copy()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=T, desc="sfm", unit="step", leave=False)
    li = 0
    t_last = 0
    for t in range(T + 1):
        t_last = t
        yhat = basis.synthesis(V, workers=workers)
        tr_ss, te_ss = kernels.masked_residual(Y, yhat, train, test)
        R = yhat  # now holds M .* r
        with np.errstate(invalid="ignore", divide="ignore"):
            tr_rel = tr_ss / yy_tr
            te_rel = np.where(yy_te > 0, te_ss / np.where(yy_te > 0, yy_te, 1.0), np.nan)
        newly = tracker.update(t, tr_rel, te_rel, alive & ~finished, DIVERGED_REL)
        if snapshots:
            if "mem" not in snaps and tracker.t_mem[0] == t:
                snaps["mem"] = basis.to_full(V[0]).copy()
            if "gen" not in snaps and tracker.t_gen[0] == t:
                snaps["gen"] = basis.to_full(V[0]).copy()
        if newly.any():
            alive &= ~newly
            V[newly] = 0.0
            if A is not None:
                A[newly] = 0.0
        if li < len(log_steps) and log_steps[li] == t:
            log_observables(
                curves,
                li,
                t,
                V,
                basis,
                mult,
                eps,
                tr_ss,
                te_ss,
                tr_rel,
                te_rel,
                n,
                p,
                tasks,
                tau=(
                    tau_schedule(name, t, p, n, eta, params, c0.convention, fixed_tau)
                    if uses_hard_gate(name)
                    else zero_tau
                ),
            )
            li += 1
        if t == T:
            break
        done = (
            ~alive
            | (t >= own_steps)
            | ((stop_after >= 0) & (tracker.t_gen >= 0) & (t >= tracker.t_gen + stop_after))
        )
        if np.all(done):
            break
        finished |= done
        D = basis.analysis(R, workers=workers)
        s = np.where(alive, step, 0.0)
        if name == "none":
            V += s[:, None, None] * D
        elif uses_hard_gate(name):
            tau = tau_schedule(name, t, p, n, eta, params, c0.convention, fixed_tau)
            kernels.hard_gate_step(V, D, s, decay * alive, tau)
        elif name == "ista":
            kernels.soft_gate_step(V, D, s, theta * alive)
        elif name == "square":
            # grad of (1/2p^2)||M.*r||^2 + (wd/2)||A||^2 w.r.t. A for V = A .* A (SPEC §1.7 (d)).
            A += (eta * alive)[:, None, None] * (2.0 * np.conj(A) * D / p - wd[:, None, None] * A)
            V = A * A
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    curves.truncate(li)
    return RunResult(
        configs=list(configs),
        tasks=list(tasks),
        basis=basis,
        curves=curves,
        events=tracker.events(),
        snapshots=snaps,
        final_V=V,
        steps_run=t_last,
    )


def simulate_one(cfg: SFMConfig | None = None, **kwargs) -> RunResult:
    """Single run: ``simulate_one(p=31, f=0.5)`` or ``simulate_one(SFMConfig(...))``."""
    cfg = replace(cfg or SFMConfig(), **kwargs)
    return simulate([cfg], snapshots=True)
