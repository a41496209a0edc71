"""Batched drift + Occam-gate dynamics of the singular feature machine (definitions §1.5-§1.8).

Many seeds or parameter points sharing ``p``, ``op``, the schedule name and the convention advance
together as one ``(B, p, p//2+1)`` complex array: per step one batched ``irfft2`` (predictions on
all pairs), one fused numba pass (masked residual and both losses), one batched ``rfft2`` (drift)
and one fused gate pass.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from theory.base.errors import (
    InputError,
    check_int,
    check_odd_prime,
    check_positive,
    check_range,
)
from theory.base.modular import GATE_CONVENTIONS, OPS
from theory.base.trajectory import Trajectory

from . import kernels
from .basis import Basis, make_basis
from .observables import Curves, Events, EventTracker, Residuals, log_observables
from .schedules import (
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

#: A run is declared divergent when the train relative error exceeds this (definitions §1.6, paper drift).
DIVERGED_REL = 1e8


@dataclass(frozen=True)
class SFMConfig:
    """Everything that defines one SFM run (defaults: the ``python -m sfm run`` job).

    Every field is checked against its range in docs/definitions.md on construction.

    Parameters
    ----------
    p : int, default 97
        The modulus, an odd prime.
    f : float, default 0.3
        Training fraction of all pairs, ``0 < f <= 1`` (definitions §1.5).
    op : str, default "+"
        One of ``+ - * /``.
    target : str, default "flat"
        Target name, ``flat`` or ``random-phase`` (definitions §1.2); for user values pass a
        :class:`~sfm.task.Task` to :func:`simulate`.
    schedule : str, default "increasing"
        Occam gate schedule, one of :data:`~sfm.schedules.SCHEDULES` (definitions §1.7).
    beta, alpha, wd, c, init_scale : float, optional
        Schedule parameters; ``None`` takes the schedule's default from
        :data:`~sfm.schedules.SCHEDULE_DEFAULTS`.
    eta : float, default 1.0
        Drift step, ``0 < eta < 2`` (definitions §1.6). Ignored under ``convention="paper"``,
        which uses Zhang et al. (2026)'s ``1/n`` drift, i.e. ``eta = p^2 / n``.
    convention : str, default "prox"
        Gate convention, ``prox`` or ``paper`` (definitions §1.6, §1.7).
    steps : int, default 2000
        Number of drift + gate steps.
    seed : int, default 0
        Seed of the run's ``numpy.random.default_rng`` (the split, random targets, ``square``'s
        initial ``A``).
    log_every : int, default 1
        Observables are recorded every ``log_every`` steps and at the last step.
    stop_after_gen : int, optional
        Stop this many steps after ``t_gen`` (definitions §1.8); ``None`` runs all ``steps``.

    Raises
    ------
    InputError
        If a field is outside its range, e.g. ``p`` not an odd prime or ``eta * wd >= 1``.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262; definitions §1.5-§1.8.

    Examples
    --------
    >>> from sfm import SFMConfig
    >>> cfg = SFMConfig(p=11, f=0.5, schedule="fixed")
    >>> cfg.params().beta
    0.3
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

    def __post_init__(self) -> None:
        """Check every field against its range in docs/definitions.md; raises :class:`InputError`."""
        check_odd_prime("p", self.p)
        check_range("f", self.f, 0.0, 1.0, lo_open=True, hint="the training fraction of all pairs")
        if self.op not in OPS:
            raise InputError(f"op: must be one of + - * /, got {self.op!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"schedule: must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.convention not in GATE_CONVENTIONS:
            raise InputError(f"convention: must be prox or paper, got {self.convention!r}")
        if self.convention == "prox":
            check_range(
                "eta",
                self.eta,
                0.0,
                2.0,
                lo_open=True,
                hi_open=True,
                hint="the drift is stable only for 0 < eta < 2 (definitions §1.6)",
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

    def params(self) -> ScheduleParams:
        """Numeric schedule parameters with the schedule's defaults filled in.

        Returns
        -------
        ScheduleParams
            ``beta``, ``c``, ``alpha``, ``wd``, ``init_scale``: the fields set here, else
            :data:`~sfm.schedules.SCHEDULE_DEFAULTS` of the schedule, else the dataclass defaults.
        """
        d = {**ScheduleParams().__dict__, "wd": 0.0}
        d.update(SCHEDULE_DEFAULTS.get(self.schedule, {}))
        for k in ("beta", "alpha", "wd", "c", "init_scale"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return ScheduleParams(**d)


def effective_eta(cfg: SFMConfig, n: int, p: int) -> float:
    """Drift step: ``eta`` (prox) or Zhang et al. (2026)'s ``1/n`` drift, ``eta = p^2 / n`` (definitions §1.6)."""
    return cfg.eta if cfg.convention == "prox" else p * p / n


@dataclass
class RunResult:
    """Curves (logged steps x batch), exact events, and final states of a batch of runs.

    Returned by :func:`simulate` and :func:`simulate_one`.

    Parameters
    ----------
    configs : list of SFMConfig
        One configuration per batch element.
    tasks : list of Task
        The task each element learned.
    basis : Basis
        The basis shared by the batch.
    curves : Curves
        Observables at the logged steps, each of shape ``(L, B)`` (definitions §1.8).
    events : list of Events
        Exact ``t_mem``, ``t_gen`` and divergence per element (definitions §1.8).
    snapshots : dict of str to numpy.ndarray
        Element 0's full ``V`` at ``init``, ``mem`` and ``gen`` when asked for.
    final_V : numpy.ndarray, optional
        The stored coefficients of every element at the last step.
    steps_run : int
        The last step the batch reached.
    """

    configs: list[SFMConfig]
    tasks: list[Task]
    basis: Basis
    curves: Curves
    events: list[Events]
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)
    final_V: np.ndarray | None = None
    steps_run: int = 0

    def trajectory(self, b: int = 0) -> Trajectory:
        """Element ``b``'s logged curves and events as the shared :class:`Trajectory` record.

        Parameters
        ----------
        b : int, default 0
            Index of the batch element.

        Returns
        -------
        Trajectory
            Series are the columns of :meth:`Curves.column` other than ``step``; events are
            every field of :class:`Events` (``t_mem``, ``t_gen`` first; ``None`` where it did
            not occur) plus its ``extra`` entries.
        """
        col = self.curves.column(b)
        ev = self.events[b]
        events: dict[str, float | None] = {"t_mem": ev.t_mem, "t_gen": ev.t_gen}
        for f in fields(ev):
            if f.name not in events and f.name != "extra":
                events[f.name] = getattr(ev, f.name)
        events.update(ev.extra)
        series = {k: v for k, v in col.items() if k != "step"}
        return Trajectory(col["step"], series, events)


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
    """Random Hermitian ``A`` with entries of size ``init_scale`` (definitions §1.7 (d) needs A != 0)."""
    p = basis.p
    out = np.empty((B,) + basis.shape, dtype=np.complex128)
    mir = basis.mirror
    for b in range(B):
        Z = rngs[b].normal(size=(p, p)) + 1j * rngs[b].normal(size=(p, p))
        H = 0.5 * (Z + np.conj(Z[mir][:, mir]))
        out[b] = basis.from_full(H) * scale[b] / math.sqrt(2.0)
    return out


@dataclass
class _Batch:
    """What stays fixed while a batch runs: tasks, masks and each element's schedule constants."""

    configs: list[SFMConfig]
    tasks: list[Task]
    basis: Basis
    params: list[ScheduleParams]
    n: np.ndarray  # training pairs per element
    eta: np.ndarray  # effective drift step per element (definitions §1.6)
    Y: np.ndarray
    train: np.ndarray  # masks as float64, for the fused residual pass
    test: np.ndarray
    yy_train: np.ndarray  # sum of y^2 over each mask: the relative errors' denominators
    yy_test: np.ndarray
    fixed_tau: np.ndarray | None  # the constant threshold of ``fixed`` and ``l2_gate``
    decay: np.ndarray  # eta * wd of ``l2_gate``, else 0
    wd: np.ndarray
    theta: np.ndarray  # soft threshold eta * alpha of ``ista``
    eps: float  # support threshold (definitions §1.8)
    T: int  # steps the batch runs: the largest element's
    own_steps: np.ndarray
    stop_after: np.ndarray  # stop_after_gen, -1 for none
    log_steps: np.ndarray

    @property
    def schedule(self) -> str:
        return self.configs[0].schedule

    @property
    def convention(self) -> str:
        return self.configs[0].convention

    @property
    def p(self) -> int:
        return self.configs[0].p

    @property
    def size(self) -> int:
        return len(self.configs)

    def tau(self, t: int) -> np.ndarray:
        """Hard-gate threshold of step ``t`` per element (zeros for schedules without one)."""
        if not uses_hard_gate(self.schedule):
            return np.zeros(self.size)
        return tau_schedule(
            self.schedule, t, self.p, self.n, self.eta, self.params, self.convention, self.fixed_tau
        )


@dataclass
class _State:
    """The batch's evolving state: coefficients, who is still running, and what was recorded."""

    V: np.ndarray
    A: np.ndarray | None  # the ``square`` schedule's factor, V = A .* A
    alive: np.ndarray  # not diverged
    finished: np.ndarray  # past own steps or stop_after_gen: no more records
    tracker: EventTracker
    curves: Curves
    snapshots: dict[str, np.ndarray]
    logged: int = 0  # rows of ``curves`` filled
    last_step: int = 0


def _resolve_tasks(
    configs: Sequence[SFMConfig], tasks: Sequence[Task] | None
) -> tuple[list[Task], list[np.random.Generator]]:
    """One task per config (drawn from the config's seed unless given) and the seeds' generators.

    A drawn task consumes its generator first, so ``square``'s initial ``A`` follows from it.
    """
    c0 = configs[0]
    rngs = [np.random.default_rng(c.seed) for c in configs]
    if tasks is None:
        made = [
            make_task(c0.p, c0.op, c.f, c.target, rng) for c, rng in zip(configs, rngs, strict=True)
        ]
        return made, rngs
    if len(tasks) != len(configs):
        raise InputError("tasks: need one task per config")
    for c, t in zip(configs, tasks, strict=True):
        if (t.p, t.op) != (c.p, c.op):
            raise InputError(
                f"tasks: task has p={t.p}, op={t.op!r} but its config p={c.p}, op={c.op!r}"
            )
    return list(tasks), rngs


def _setup(configs: list[SFMConfig], tasks: list[Task]) -> _Batch:
    """Stack the tasks and work out every element's constants; warn about doomed settings."""
    c0 = configs[0]
    p, name = c0.p, c0.schedule
    B = len(configs)
    params = [c.params() for c in configs]
    n = np.array([t.n for t in tasks], dtype=float)
    eta = np.array([effective_eta(c, t.n, p) for c, t in zip(configs, tasks, strict=True)])
    T = max(c.steps for c in configs)

    Y = np.ascontiguousarray(np.stack([t.Y for t in tasks]))
    train = np.stack([t.train for t in tasks]).astype(np.float64)
    test = np.stack([t.test for t in tasks]).astype(np.float64)

    beta = np.array([q.beta for q in params])
    fixed_tau = None
    if name in ("fixed", "l2_gate"):
        fixed_tau = np.asarray(gate_threshold(beta, n, p, eta, c0.convention)).reshape(B)
    # Largest threshold the run will use, for the weak-frequency warning of definitions §1.2.
    if uses_hard_gate(name):
        tau_end = (
            fixed_tau
            if fixed_tau is not None
            else tau_schedule(name, T, p, n, eta, params, c0.convention)
        )
        for b in range(B):
            warn_weak_frequencies(c0.op, tasks[b].g, float(tau_end[b]))
    if c0.convention == "paper" and name == "none" and np.any(eta >= 2.0):
        warnings.warn(
            "convention: paper drift (eta = p^2/n >= 2) without a gate diverges (definitions §1.6)",
            stacklevel=3,
        )
    decay = np.zeros(B)
    if name == "l2_gate":
        decay = eta * np.array([q.wd for q in params])
        if np.any(decay >= 1.0):
            raise InputError(
                f"wd: eta * wd must be < 1, got {decay.max():g} (paper drift has eta = p^2/n); "
                "lower wd"
            )
    return _Batch(
        configs=configs,
        tasks=tasks,
        basis=make_basis(c0.op, p),
        params=params,
        n=n,
        eta=eta,
        Y=Y,
        train=train,
        test=test,
        yy_train=np.einsum("buv,buv->b", Y * Y, train),
        yy_test=np.einsum("buv,buv->b", Y * Y, test),
        fixed_tau=fixed_tau,
        decay=decay,
        wd=np.array([q.wd for q in params]),
        theta=eta * np.array([q.alpha for q in params]),
        eps=support_eps(name, p),
        T=T,
        own_steps=np.array([c.steps for c in configs]),
        stop_after=np.array(
            [-1 if c.stop_after_gen is None else c.stop_after_gen for c in configs]
        ),
        log_steps=np.unique(np.concatenate([np.arange(0, T + 1, c0.log_every), [T]])),
    )


def _initial_state(batch: _Batch, rngs: list[np.random.Generator], snapshots: bool) -> _State:
    """``V = 0`` (``square``: ``V = A .* A`` from a random ``A``), nothing recorded yet."""
    B = batch.size
    V = np.zeros((B,) + batch.basis.shape, dtype=np.complex128)
    A = None
    if batch.schedule == "square":
        A = _init_square(batch.basis, B, np.array([q.init_scale for q in batch.params]), rngs)
        V = A * A
    snaps = {"init": batch.basis.to_full(V[0]).copy()} if snapshots else {}
    return _State(
        V=V,
        A=A,
        alive=np.ones(B, dtype=bool),
        finished=np.zeros(B, dtype=bool),
        tracker=EventTracker(B),
        curves=Curves.empty(len(batch.log_steps), B),
        snapshots=snaps,
    )


def _residuals(batch: _Batch, V: np.ndarray, workers: int | None) -> tuple[np.ndarray, Residuals]:
    """Predictions on all pairs, then ``M .* r`` (returned) and both losses in one fused pass."""
    yhat = batch.basis.synthesis(V, workers=workers)
    tr_ss, te_ss = kernels.masked_residual(batch.Y, yhat, batch.train, batch.test)
    yy_te = batch.yy_test
    with np.errstate(invalid="ignore", divide="ignore"):
        tr_rel = tr_ss / batch.yy_train
        te_rel = np.where(yy_te > 0, te_ss / np.where(yy_te > 0, yy_te, 1.0), np.nan)
    # yhat now holds M .* r
    return yhat, Residuals(tr_ss, te_ss, tr_rel, te_rel)


def _track_events(batch: _Batch, state: _State, t: int, res: Residuals) -> None:
    """Exact definitions §1.8 events of state ``t``; a diverged element is zeroed and stops."""
    newly = state.tracker.update(
        t, res.train_rel, res.test_rel, state.alive & ~state.finished, DIVERGED_REL
    )
    snaps, tr = state.snapshots, state.tracker
    if snaps:  # asked for: holds "init" from the start
        if "mem" not in snaps and tr.t_mem[0] == t:
            snaps["mem"] = batch.basis.to_full(state.V[0]).copy()
        if "gen" not in snaps and tr.t_gen[0] == t:
            snaps["gen"] = batch.basis.to_full(state.V[0]).copy()
    if newly.any():
        state.alive &= ~newly
        state.V[newly] = 0.0
        if state.A is not None:
            state.A[newly] = 0.0


def _log(batch: _Batch, state: _State, t: int, res: Residuals) -> None:
    """Record state ``t``'s observables when ``t`` is a logged step."""
    li = state.logged
    if li < len(batch.log_steps) and batch.log_steps[li] == t:
        log_observables(
            state.curves,
            li,
            t,
            state.V,
            batch.basis,
            batch.eps,
            res,
            batch.n,
            batch.p,
            batch.tau(t),
        )
        state.logged += 1


def _all_done(batch: _Batch, state: _State, t: int) -> bool:
    """Mark elements past their own steps or ``stop_after_gen``; True when none is left."""
    tg = state.tracker.t_gen
    done = (
        ~state.alive
        | (t >= batch.own_steps)
        | ((batch.stop_after >= 0) & (tg >= 0) & (t >= tg + batch.stop_after))
    )
    if np.all(done):
        return True
    state.finished |= done
    return False


def _advance(batch: _Batch, state: _State, t: int, R: np.ndarray, workers: int | None) -> None:
    """One drift + gate step ``t -> t + 1`` of the alive elements (definitions §1.6, §1.7)."""
    D = batch.basis.analysis(R, workers=workers)
    alive = state.alive
    # V <- V + (eta / p) A(M .* r)  (definitions §1.6 in scaled coordinates)
    s = np.where(alive, batch.eta / batch.p, 0.0)
    name = batch.schedule
    if name == "none":
        state.V += s[:, None, None] * D
    elif uses_hard_gate(name):
        kernels.hard_gate_step(state.V, D, s, batch.decay * alive, batch.tau(t))
    elif name == "ista":
        kernels.soft_gate_step(state.V, D, s, batch.theta * alive)
    elif name == "square":
        # grad of (1/2p^2)||M.*r||^2 + (wd/2)||A||^2 w.r.t. A for V = A .* A (definitions §1.7 (d)).
        A = state.A
        A += (batch.eta * alive)[:, None, None] * (
            2.0 * np.conj(A) * D / batch.p - batch.wd[:, None, None] * A
        )
        state.V = A * A


def simulate(
    configs: Sequence[SFMConfig],
    tasks: Sequence[Task] | None = None,
    snapshots: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> RunResult:
    """Run a batch of SFM dynamics (definitions §1.6-§1.8) and return curves and exact events.

    The batch advances as one complex array: per step one batched inverse FFT (predictions),
    one fused residual pass (losses, exact events), one batched FFT (drift) and one gate pass.

    Parameters
    ----------
    configs : sequence of SFMConfig
        The runs; they must share ``p``, ``op``, ``schedule``, ``convention``, ``log_every`` and
        ``target``. ``steps`` may differ: the batch runs ``max(steps)`` and an element's events
        are taken only up to its own ``steps``.
    tasks : sequence of Task, optional
        One task per config; default: drawn by :func:`~sfm.task.make_task` from each config's
        seed.
    snapshots : bool, default False
        Keep element 0's ``V`` at initialisation, ``t_mem`` and ``t_gen`` (for heatmaps).
    progress : bool, default False
        Show a tqdm progress bar.
    workers : int, optional
        Threads for ``scipy.fft``.

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        If the batch is empty, its configs disagree on a shared field, or a task does not match
        its config.

    Warns
    -----
    UserWarning
        When interpolant coefficients lie below the largest gate threshold (definitions §1.2),
        or the paper drift runs without a gate (definitions §1.6).

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262; definitions §1.6 (drift), §1.7 (gate
    schedules), §1.8 (observables and events).

    Examples
    --------
    Three seeds of a p = 11 task, stopped at generalisation, each with the interpolant's
    support of 11:

    >>> from sfm import SFMConfig, simulate
    >>> cfgs = [SFMConfig(p=11, f=0.5, steps=200, seed=s, stop_after_gen=0) for s in range(3)]
    >>> res = simulate(cfgs)
    >>> [e.t_gen for e in res.events]
    [151, 121, 117]
    >>> res.curves.support[-1].astype(int).tolist()
    [11, 11, 11]
    """
    configs = list(configs)
    _check_batch(configs)
    task_list, rngs = _resolve_tasks(configs, tasks)
    batch = _setup(configs, task_list)
    state = _initial_state(batch, rngs, snapshots)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=batch.T, desc="sfm", unit="step", leave=False)
    for t in range(batch.T + 1):
        state.last_step = t
        R, res = _residuals(batch, state.V, workers)
        _track_events(batch, state, t, res)
        _log(batch, state, t, res)
        if t == batch.T or _all_done(batch, state, t):
            break
        _advance(batch, state, t, R, workers)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return _finish(batch, state)


def _finish(batch: _Batch, state: _State) -> RunResult:
    state.curves.truncate(state.logged)
    return RunResult(
        configs=batch.configs,
        tasks=batch.tasks,
        basis=batch.basis,
        curves=state.curves,
        events=state.tracker.events(),
        snapshots=state.snapshots,
        final_V=state.V,
        steps_run=state.last_step,
    )


def simulate_one(cfg: SFMConfig | None = None, **kwargs) -> RunResult:
    """Run one SFM configuration, with snapshots (definitions §1.6-§1.8).

    Parameters
    ----------
    cfg : SFMConfig, optional
        The run; default ``SFMConfig()``.
    **kwargs
        Fields that replace those of ``cfg``: ``simulate_one(p=31, f=0.5)``.

    Returns
    -------
    RunResult
        A batch of one, with ``snapshots`` at ``init``, ``mem`` and ``gen``.

    Raises
    ------
    InputError
        If a field is outside its range.

    Examples
    --------
    >>> from sfm import simulate_one
    >>> r = simulate_one(p=11, f=0.5, steps=200)
    >>> r.events[0].t_mem, r.events[0].t_gen
    (1, 151)
    >>> int(r.curves.support[0, 0]), int(r.curves.support[-1, 0])
    (0, 11)
    >>> round(r.events[0].final_test_rel, 6)
    0.0
    """
    cfg = replace(cfg or SFMConfig(), **kwargs)
    return simulate([cfg], snapshots=True)
