"""Local learning coefficient by SGLD on the localised tempered posterior (definitions §2.3).

The estimator works for any torch parameters and any loss closure: ``loss_fn(idx)`` returns the
mean per-sample loss (a negative log-likelihood, in nats) over the training rows ``idx`` (``None``
means all ``n`` rows). It samples

    p(w) ∝ exp(-n beta L_n(w) - (gamma/2) ||w - w*||^2),   beta = 1 / ln n,

with the SGLD step ``w <- w - (eps/2)(n beta grad L_batch + gamma (w - w*)) + N(0, eps)`` and
returns ``lambda_hat = n beta (mean sampled loss - L_n(w*))`` with ``L_n(w*)`` on the full training
set. The reduced-rank regression problem (Aoyagi & Watanabe 2005, definitions §2.2) used to validate it is
provided here too (:func:`rrr_problem`), with the loss written through sufficient statistics so that
a full-batch step costs O(parameters) whatever ``n`` is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from theory.base.errors import InputError, check_int

__all__ = [
    "SGLDConfig",
    "LLC_MEASURE_CONFIG",
    "LLCResult",
    "estimate_llc",
    "RRRProblem",
    "rrr_problem",
    "llc_measure",
    "quadratic_llc",
]

LossFn = Callable[[Tensor | None], Tensor]


@dataclass(frozen=True)
class SGLDConfig:
    """SGLD hyper-parameters of the LLC estimator (definitions §2.3).

    ``eps`` step size; ``gamma`` localisation strength; ``n_chains`` independent chains started at
    w*; ``n_steps`` recorded draws per chain after ``n_burnin`` discarded ones; ``batch_size``
    rows per gradient (``None``: full batch); ``beta`` inverse temperature (``None``: 1/ln n).
    """

    eps: float = 1e-4
    gamma: float = 100.0
    n_chains: int = 4
    n_steps: int = 400
    n_burnin: int = 100
    batch_size: int | None = None
    beta: float | None = None
    seed: int = 0

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


# The training-time measure's settings, the cross-check's (docs/crosscheck.md): cheap, for trajectories.
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


def _as_params(params: nn.Module | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(params, nn.Module):
        out = [p for p in params.parameters() if p.requires_grad]
    else:
        out = list(params)
    if not out:
        raise InputError(
            "params: no trainable tensors given; pass a model or a list of leaf tensors"
        )
    return out


def estimate_llc(
    params: nn.Module | Sequence[Tensor],
    loss_fn: LossFn,
    n: int,
    config: SGLDConfig | None = None,
    *,
    progress: bool = False,
) -> LLCResult:
    """Estimate the LLC at the current parameters w* by SGLD (definitions §2.3).

    ``params`` are modified in place during sampling and restored to w* before returning.
    The sampled loss of a step is the (minibatch) loss at which its gradient was taken, as in
    Lau et al. (2023); ``L_n(w*)`` is always the full-data loss.
    """
    cfg = config or SGLDConfig()
    if int(n) < 2:
        raise InputError(f"n: the number of training samples must be >= 2, got {n}")
    n = int(n)
    beta = cfg.beta if cfg.beta is not None else 1.0 / math.log(n)
    nbeta = n * beta
    ps = _as_params(params)
    w_star = [p.detach().clone() for p in ps]
    req = [p.requires_grad for p in ps]
    for p in ps:
        p.requires_grad_(True)
    gen = torch.Generator(device=ps[0].device)
    gen.manual_seed(int(cfg.seed))
    half_eps = 0.5 * cfg.eps
    noise_std = math.sqrt(cfg.eps)
    trace = np.empty((cfg.n_chains, cfg.n_steps))
    try:
        with torch.no_grad():
            init_loss = float(loss_fn(None))
        total = cfg.n_chains * (cfg.n_burnin + cfg.n_steps)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc="SGLD", leave=False)
        for c in range(cfg.n_chains):
            with torch.no_grad():
                for p, w in zip(ps, w_star, strict=True):
                    p.copy_(w)
            for t in range(cfg.n_burnin + cfg.n_steps):
                idx = None
                if cfg.batch_size is not None and cfg.batch_size < n:
                    idx = torch.randint(n, (cfg.batch_size,), generator=gen, device=ps[0].device)
                loss = loss_fn(idx)
                grads = torch.autograd.grad(loss, ps)
                with torch.no_grad():
                    for p, g, w in zip(ps, grads, w_star, strict=True):
                        drift = nbeta * g + cfg.gamma * (p - w)
                        p.add_(drift, alpha=-half_eps)
                        p.add_(
                            torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype),
                            alpha=noise_std,
                        )
                if t >= cfg.n_burnin:
                    trace[c, t - cfg.n_burnin] = float(loss.detach())
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        with torch.no_grad():
            for p, w, r in zip(ps, w_star, req, strict=True):
                p.copy_(w)
                p.requires_grad_(r)
    if not np.all(np.isfinite(trace)):
        raise FloatingPointError(
            "SGLD diverged (non-finite loss): lower eps or raise gamma; "
            f"eps={cfg.eps}, n*beta={nbeta:.3g}"
        )
    per_chain = nbeta * (trace.mean(axis=1) - init_loss)
    se = float(per_chain.std(ddof=1) / math.sqrt(cfg.n_chains)) if cfg.n_chains > 1 else math.nan
    return LLCResult(
        llc=float(per_chain.mean()),
        llc_se=se,
        llc_per_chain=per_chain,
        loss_trace=trace,
        init_loss=init_loss,
        n=n,
        beta=beta,
        config=cfg,
    )


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
# Reduced-rank regression, the reference problem (definitions §2.2)


@dataclass
class RRRProblem:
    """x -> B A x with A: H x M, B: N x H; data y = W0 x + N(0, I_N), x ~ N(0, I_M).

    The loss is ``L_n(B, A) = (1/2n) sum ||y - B A x||^2`` (unit-variance Gaussian NLL minus its
    constant) evaluated from the sufficient statistics ``Sxx, Sxy, Syy`` (exact, any n).
    """

    M: int
    N: int
    H: int
    r: int
    n: int
    W0: Tensor  # [N, M], rank r
    Sxx: Tensor  # [M, M] = (1/n) sum x x^T
    Sxy: Tensor  # [M, N] = (1/n) sum x y^T
    Syy: Tensor  # [N, N]
    A: Tensor  # [H, M] leaf, requires grad (w*)
    B: Tensor  # [N, H] leaf, requires grad (w*)

    @property
    def params(self) -> list[Tensor]:
        return [self.B, self.A]

    def loss_at(self, B: Tensor, A: Tensor) -> Tensor:
        """``L_n(B, A)`` from the sufficient statistics."""
        W = B @ A
        return 0.5 * (
            torch.trace(self.Syy)
            - 2.0 * torch.trace(W @ self.Sxy)
            + torch.trace(W @ self.Sxx @ W.T)
        )

    def loss(self, idx: Tensor | None = None) -> Tensor:
        """Full-batch L_n at the current (B, A); ``idx`` is ignored (sufficient statistics, exact)."""
        return self.loss_at(self.B, self.A)

    def hessian_eigs(self) -> np.ndarray:
        """Eigenvalues of the Hessian of L_n at the current (B, A) (d x d, dense)."""
        nb = self.B.numel()

        def f(flat: Tensor) -> Tensor:
            return self.loss_at(flat[:nb].reshape(self.B.shape), flat[nb:].reshape(self.A.shape))

        flat = torch.cat([self.B.detach().reshape(-1), self.A.detach().reshape(-1)])
        return np.linalg.eigvalsh(torch.autograd.functional.hessian(f, flat).numpy())

    @property
    def d(self) -> int:
        return self.H * (self.M + self.N)


def rrr_problem(
    M: int,
    N: int,
    H: int,
    r: int,
    n: int,
    *,
    seed: int = 0,
    w_star: str = "fit",
    chunk: int = 200_000,
) -> RRRProblem:
    """Draw an RRR data set of size ``n`` and place w* (definitions §2.2 reference problem).

    ``W0 = U diag(s) V^T`` with ``s`` uniform in [1, 2] (well above the noise scale n^-1/2, so the
    true rank is unambiguous). ``w_star="true"``: (B0, A0) with the H - r extra columns/rows zero;
    ``"fit"``: the empirical minimiser of L_n over rank-<=H matrices (truncated SVD in the Sxx
    metric, split as B = U S^1/2, A = S^1/2 V^T Sxx^-1/2), the analogue of a trained network.
    """
    for name, v in (("M", M), ("N", N), ("H", H)):
        if int(v) < 1:
            raise InputError(f"{name}: must be >= 1, got {v}")
    if not (0 <= r <= min(M, N, H)):
        raise InputError(
            f"r: true rank must be in [0, min(M, N, H)] = [0, {min(M, N, H)}], got {r}"
        )
    if w_star not in ("fit", "true"):
        raise InputError(f"w_star: must be 'fit' or 'true', got {w_star!r}")
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((N, N)))
    V, _ = np.linalg.qr(rng.standard_normal((M, M)))
    s = rng.uniform(1.0, 2.0, size=r)
    W0 = (U[:, :r] * s) @ V[:, :r].T
    Sxx = np.zeros((M, M))
    Sxy = np.zeros((M, N))
    Syy = np.zeros((N, N))
    left = n
    while left > 0:
        k = min(chunk, left)
        x = rng.standard_normal((k, M))
        y = x @ W0.T + rng.standard_normal((k, N))
        Sxx += x.T @ x
        Sxy += x.T @ y
        Syy += y.T @ y
        left -= k
    Sxx /= n
    Sxy /= n
    Syy /= n
    if w_star == "true":
        B = np.zeros((N, H))
        A = np.zeros((H, M))
        B[:, :r] = U[:, :r] * np.sqrt(s)
        A[:r, :] = (np.sqrt(s)[:, None]) * V[:, :r].T
    else:
        # min_W tr((W - Wols) Sxx (W - Wols)^T) over rank <= H: truncate C = Wols Sxx^1/2.
        evals, evecs = np.linalg.eigh(Sxx)
        root = (evecs * np.sqrt(evals)) @ evecs.T
        iroot = (evecs / np.sqrt(evals)) @ evecs.T
        Wols = np.linalg.solve(Sxx, Sxy).T  # [N, M]
        Uc, sc, Vct = np.linalg.svd(Wols @ root)
        k = min(H, len(sc))
        B = np.zeros((N, H))
        A = np.zeros((H, M))
        B[:, :k] = Uc[:, :k] * np.sqrt(sc[:k])
        A[:k, :] = (np.sqrt(sc[:k])[:, None] * Vct[:k]) @ iroot

    def t(a: np.ndarray) -> Tensor:
        return torch.tensor(a, dtype=torch.float64)

    return RRRProblem(
        M=M,
        N=N,
        H=H,
        r=r,
        n=n,
        W0=t(W0),
        Sxx=t(Sxx),
        Sxy=t(Sxy),
        Syy=t(Syy),
        A=t(A).requires_grad_(True),
        B=t(B).requires_grad_(True),
    )


# --------------------------------------------------------------------------------------------
# As a training-time measure


def llc_measure(
    config: SGLDConfig | None = None, *, loss: Callable[[Tensor, Tensor], Tensor] | None = None
) -> Callable[[nn.Module, object], dict[str, float]]:
    """A measure ``f(model, dataset) -> {"llc": ..., "llc_se": ...}`` for the training hook.

    Uses the training split with per-sample cross-entropy (the model's NLL in nats) by default.
    Default SGLD settings: :data:`LLC_MEASURE_CONFIG`. The chain seed is fixed so successive
    checkpoints are compared with the same noise.
    """
    cfg = config or LLC_MEASURE_CONFIG
    loss_f = loss or torch.nn.functional.cross_entropy

    def measure(model: nn.Module, dataset: object) -> dict[str, float]:
        x = dataset.train_x  # type: ignore[attr-defined]
        y = dataset.train_y  # type: ignore[attr-defined]
        dev = next(model.parameters()).device
        x = x.to(dev)
        y = y.to(dev)
        was_training = model.training
        model.eval()

        def closure(idx: Tensor | None) -> Tensor:
            if idx is None:
                return loss_f(model(x), y)
            return loss_f(model(x[idx]), y[idx])

        try:
            res = estimate_llc(model, closure, len(y), cfg)
        finally:
            model.train(was_training)
        return res.summary()

    return measure
