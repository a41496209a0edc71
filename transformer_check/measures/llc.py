"""Local learning coefficient by SGLD on the localised tempered posterior (definitions §2.3).

The estimator samples

    p(w) ∝ exp(-n beta L_n(w) - (gamma/2) ||w - w*||^2),   beta = 1 / ln n,

with the SGLD step ``w <- w - (eps/2)(n beta grad L_batch + gamma (w - w*)) + N(0, eps)`` and
returns ``lambda_hat = n beta (mean sampled loss - L_n(w*))`` with ``L_n(w*)`` on the full training
set (Lau et al. 2023). All chains advance together as one vectorised computation
(:mod:`.llc_vmap`). Entry points: :func:`estimate_llc` for a module and a loss closure,
:func:`estimate_llc_at` for a functional loss of a parameter dict, :func:`llc_measure` for the
training hook. The reduced-rank regression problem that validates it (Aoyagi & Watanabe 2005,
definitions §2.2) is in :mod:`.llc_rrr`; the eps-beta calibration sweep in :mod:`.llc_calibrate`;
the figures in :mod:`.llc_plots`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from theory.base.errors import InputError, check_int
from transformer_check.measures.llc_rrr import RRRProblem, rrr_problem
from transformer_check.measures.llc_vmap import (
    LLCTarget,
    LossAt,
    module_target,
    parse_selector,
    run_chains,
)

__all__ = [
    "SGLDConfig",
    "LLC_MEASURE_CONFIG",
    "LLCResult",
    "LLCTarget",
    "estimate_llc",
    "estimate_llc_at",
    "classifier_loss",
    "sample_target",
    "result_from_trace",
    "RRRProblem",
    "rrr_problem",
    "llc_measure",
    "quadratic_llc",
]


@dataclass(frozen=True)
class SGLDConfig:
    """SGLD hyper-parameters of the LLC estimator (definitions §2.3).

    ``eps`` step size; ``gamma`` localisation strength; ``n_chains`` independent chains started at
    w*; ``n_steps`` recorded draws per chain after ``n_burnin`` discarded ones; ``batch_size``
    rows per gradient (``None``: full batch; each chain draws its own rows); ``beta`` inverse
    temperature (``None``: 1/ln n); ``params`` the sampled subset (``None``: every parameter),
    comma-separated name patterns such as ``blocks.0.attn`` or ``blocks.0.attn.W_*[1]`` (head 1),
    see :func:`.llc_vmap.select_params`; the others stay at w*.

    Cost: :attr:`gradient_evaluations` ``= n_chains (n_burnin + n_steps)`` loss gradients (each on
    ``batch_size`` rows or the full batch), taken as ``n_burnin + n_steps`` vectorised steps.
    """

    eps: float = 1e-4
    gamma: float = 100.0
    n_chains: int = 4
    n_steps: int = 400
    n_burnin: int = 100
    batch_size: int | None = None
    beta: float | None = None
    seed: int = 0
    params: str | None = None

    def __post_init__(self) -> None:
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise InputError(
                f"eps: must be a positive finite step size, got {self.eps}; use e.g. 1e-4"
            )
        if not (self.gamma >= 0 and math.isfinite(self.gamma)):
            raise InputError(f"gamma: must be >= 0 and finite, got {self.gamma}; use e.g. 100")
        check_int("n_chains", self.n_chains, 1)
        check_int("n_steps", self.n_steps, 1)
        check_int("n_burnin", self.n_burnin, 0)
        check_int("seed", self.seed)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1)
        if self.beta is not None and not (self.beta > 0 and math.isfinite(self.beta)):
            raise InputError(f"beta: must be positive and finite or None, got {self.beta}")
        if self.params is not None:
            parse_selector(self.params)

    @property
    def gradient_evaluations(self) -> int:
        """The cost of one estimate: ``n_chains (n_burnin + n_steps)`` loss gradients."""
        return self.n_chains * (self.n_burnin + self.n_steps)


# The training-time measure's settings, the cross-check's (docs/crosscheck.md): cheap, for
# trajectories. Budget per call: 2 x (30 + 100) = 260 full-batch gradients in 130 vectorised steps.
LLC_MEASURE_CONFIG = SGLDConfig(n_chains=2, n_steps=100, n_burnin=30, eps=1e-4, gamma=100.0)


@dataclass
class LLCResult:
    """Result of :func:`estimate_llc`; ``llc`` is the mean over chains, ``llc_se`` its standard error."""

    llc: float
    llc_se: float
    llc_per_chain: np.ndarray
    loss_trace: np.ndarray  # [n_chains, n_steps] sampled (minibatch) losses after burn-in
    init_loss: float  # L_n(w*) on the full training set
    n: int
    beta: float
    config: SGLDConfig = field(default_factory=SGLDConfig)
    burnin_trace: np.ndarray | None = None  # [n_chains, n_burnin] the discarded draws

    @property
    def drift(self) -> float:
        """Second-half minus first-half estimate (all chains): a mixing diagnostic (Geweke-like).

        A chain still relaxing towards the posterior (slow, flat singular directions) shows a
        non-zero drift; its size bounds the remaining bias of the mean to first order.
        """
        half = self.loss_trace.shape[1] // 2
        if half < 1:
            return math.nan
        nb = self.n * self.beta
        return float(nb * (self.loss_trace[:, half:].mean() - self.loss_trace[:, :half].mean()))

    def summary(self) -> dict[str, float]:
        """Flat numbers for logs and JSON."""
        return {
            "llc": self.llc,
            "llc_se": self.llc_se,
            "llc_drift": self.drift,
            "llc_init_loss": self.init_loss,
        }


def result_from_trace(
    trace: np.ndarray, target: LLCTarget, beta: float, cfg: SGLDConfig
) -> LLCResult:
    """The estimate ``n beta (mean sampled loss - L_n(w*))`` per chain (definitions §2.3) from
    the sampled losses ``trace [n_chains, n_burnin + n_steps]`` (burn-in first)."""
    burn, draws = trace[:, : cfg.n_burnin], trace[:, cfg.n_burnin :]
    nbeta = target.n * beta
    per_chain = nbeta * (draws.mean(axis=1) - target.init_loss)
    se = float(per_chain.std(ddof=1) / math.sqrt(cfg.n_chains)) if cfg.n_chains > 1 else math.nan
    return LLCResult(
        llc=float(per_chain.mean()),
        llc_se=se,
        llc_per_chain=per_chain,
        loss_trace=draws,
        init_loss=target.init_loss,
        n=target.n,
        beta=beta,
        config=cfg,
        burnin_trace=burn,
    )


def sample_target(
    target: LLCTarget, config: SGLDConfig | None = None, *, progress: bool = False
) -> LLCResult:
    """SGLD chains on a prepared :class:`~.llc_vmap.LLCTarget` (definitions §2.3).

    Raises
    ------
    FloatingPointError
        If a chain diverged (a non-finite sampled loss).
    """
    cfg = config or SGLDConfig()
    beta = cfg.beta if cfg.beta is not None else 1.0 / math.log(target.n)
    nbeta = target.n * beta
    trace = run_chains(
        target,
        eps=cfg.eps,
        gamma=cfg.gamma,
        nbeta=nbeta,
        n_chains=cfg.n_chains,
        n_total=cfg.n_burnin + cfg.n_steps,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=progress,
    )
    if not np.all(np.isfinite(trace)):
        raise FloatingPointError(
            "SGLD diverged (non-finite loss): lower eps or raise gamma; "
            f"eps={cfg.eps}, n*beta={nbeta:.3g}"
        )
    return result_from_trace(trace, target, beta, cfg)


def estimate_llc(
    model: nn.Module,
    loss_fn: Callable[[Tensor | None], Tensor],
    n: int,
    config: SGLDConfig | None = None,
    *,
    progress: bool = False,
) -> LLCResult:
    """Estimate the LLC of a module at its current parameters w* by SGLD (definitions §2.3).

    Parameters
    ----------
    model : nn.Module
        Its trainable parameters are w*; they are never modified (the chains run on copies
        swapped in by ``torch.func.functional_call``, all chains in one vmapped computation).
    loss_fn : callable
        ``loss_fn(idx)``: mean per-sample NLL (nats) of the training rows ``idx`` (``None``: all
        ``n``), computed by calling ``model``. It must be vmappable (no in-place writes to
        parameters, no data-dependent Python control flow on them).
    n : int
        Number of training samples.
    config : SGLDConfig, optional
        Sampler settings; ``config.params`` samples a subset, the rest fixed at w*.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    LLCResult
    """
    cfg = config or SGLDConfig()
    return sample_target(module_target(model, loss_fn, n, cfg.params), cfg, progress=progress)


def estimate_llc_at(
    loss_at: LossAt,
    w_star: Mapping[str, Tensor],
    n: int,
    config: SGLDConfig | None = None,
    *,
    batched: bool = False,
    progress: bool = False,
) -> LLCResult:
    """Estimate the LLC of a functional loss ``loss_at(params, idx)`` at ``w_star`` (definitions §2.3).

    ``batched=True``: ``loss_at`` takes parameters with a leading chain dimension and returns one
    loss per chain (as :meth:`RRRProblem.loss_of`), so no ``vmap`` is needed; otherwise it is
    vmapped over the chains. ``config.params`` selects a subset of ``w_star``'s keys.
    """
    cfg = config or SGLDConfig()
    target = LLCTarget.build(loss_at, w_star, n, batched=batched, selector=cfg.params)
    return sample_target(target, cfg, progress=progress)


def quadratic_llc(
    hess_eigs: np.ndarray, n: int, config: SGLDConfig | None = None
) -> tuple[float, float]:
    """Stationary mean and per-step-variance-free sd of the estimator for a quadratic loss.

    For ``L_n(w) = L_n(w*) + (1/2) sum_i h_i u_i^2`` full-batch SGLD is an AR(1) process per
    eigendirection with ``k_i = n beta h_i + gamma`` and ``a_i = 1 - eps k_i / 2``; its stationary
    variance is ``1 / (k_i (1 - eps k_i / 4))``, so the estimator's expectation is
    ``sum_i n beta h_i / (2 k_i (1 - eps k_i / 4))`` (-> d/2 as eps, gamma -> 0: the regular
    RLCT; the excess over the eps = 0 value is the SGLD discretisation bias). The second number is
    the exact standard deviation of one chain's time-average over ``n_steps`` stationary draws,
    from ``Cov(u_t^2, u_{t+s}^2) = 2 v^2 a^{2s}`` (definitions §2.3 estimator, checked in tests).
    """
    cfg = config or SGLDConfig()
    h = np.clip(np.asarray(hess_eigs, dtype=float), 0.0, None)
    beta = cfg.beta if cfg.beta is not None else 1.0 / math.log(n)
    nb = n * beta
    k = nb * h + cfg.gamma
    if np.any(cfg.eps * k >= 4.0):
        raise InputError(f"eps: SGLD is unstable for eps*k_max = {cfg.eps * k.max():.3g} >= 4")
    v = 1.0 / (k * (1.0 - cfg.eps * k / 4.0))
    c = 0.5 * nb * h  # estimator units per u^2
    mean = float(np.sum(c * v))
    a2 = (1.0 - cfg.eps * k / 2.0) ** 2
    T = cfg.n_steps
    # Var of the mean of T stationary draws of c u^2: (2 c^2 v^2 / T^2) sum_{s,t} a^{2|s-t|}.
    geo = (T * (1 + a2) / (1 - a2) - 2 * a2 * (1 - a2**T) / (1 - a2) ** 2) / T**2
    var = float(np.sum(2.0 * c**2 * v**2 * geo))
    return mean, math.sqrt(var)


# --------------------------------------------------------------------------------------------
# As a training-time measure


def classifier_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Callable[[Tensor | None], Tensor]:
    """The closure ``loss_fn(idx)`` of :func:`estimate_llc` for a classifier: the mean per-sample
    NLL in nats (``loss``, default cross-entropy) of the rows ``idx`` of ``(x, y)`` (None: all)."""
    loss_f = loss or torch.nn.functional.cross_entropy

    def loss_fn(idx: Tensor | None) -> Tensor:
        if idx is None:
            return loss_f(model(x), y)
        return loss_f(model(x[idx]), y[idx])

    return loss_fn


def llc_measure(
    config: SGLDConfig | None = None, *, loss: Callable[[Tensor, Tensor], Tensor] | None = None
) -> Callable[[nn.Module, object], dict[str, float]]:
    """A measure ``f(model, dataset) -> {"llc": ..., "llc_se": ...}`` for the training hook.

    Uses the training split with per-sample cross-entropy (the model's NLL in nats) by default.
    Default SGLD settings: :data:`LLC_MEASURE_CONFIG`. The chain seed is fixed so successive
    checkpoints are compared with the same noise. Cost per call: ``config.gradient_evaluations``
    loss gradients (260 by default; seconds on the quick model in benchmarks/results/bench_llc.json).
    """
    cfg = config or LLC_MEASURE_CONFIG

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        dev = next(model.parameters()).device
        x = dataset.train_x.to(dev)  # type: ignore[attr-defined]
        y = dataset.train_y.to(dev)  # type: ignore[attr-defined]
        was_training = model.training
        model.eval()
        try:
            res = estimate_llc(model, classifier_loss(model, x, y, loss), len(y), cfg)
        finally:
            model.train(was_training)
        return res.summary()

    return measure
