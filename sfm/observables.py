"""Per-step observables and events of definitions §1.8.

Losses and relative errors come out of every step's fused residual pass, so the events
``t_mem``/``t_gen`` are exact to the step; the rest is recorded at logged steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

__all__ = [
    "REL_MEM_TRAIN",
    "REL_MEM_TEST",
    "REL_GEN_TEST",
    "Curves",
    "Events",
    "EventTracker",
    "Residuals",
    "support_size",
    "k_bits",
    "log_observables",
]

#: definitions §1.8: t_mem = first step with train rel < 1e-2 and test rel > 0.1.
REL_MEM_TRAIN = 1e-2
REL_MEM_TEST = 0.1
#: definitions §1.8: t_gen = first step with test rel < 1e-2.
REL_GEN_TEST = 1e-2

CURVE_FIELDS = (
    "train_loss",
    "train_rel",
    "test_rel",
    "support",
    "lambda_hat",
    "K_bits",
    "K_paper_bits",
    "F_n",
    "tau",
    "hermitian_err",
)


@dataclass
class Curves:
    """Observables at logged steps: ``step`` has shape ``(L,)``, every other field ``(L, B)``.

    ``L`` is the number of logged steps, ``B`` the batch size; entries an element did not reach
    are NaN.

    Parameters
    ----------
    step : numpy.ndarray
        The logged steps (state ``t`` is the model after ``t`` updates).
    train_loss : numpy.ndarray
        ``L_n = (1/2n) sum_i r_i^2`` over the training pairs (definitions §1.5).
    train_rel, test_rel : numpy.ndarray
        Relative squared errors on the training and test pairs (definitions §1.8).
    support : numpy.ndarray
        ``|S|``, coefficients above the support threshold in the full array (definitions §1.8).
    lambda_hat : numpy.ndarray
        The RLCT estimate ``|S| / 2`` (definitions §1.4).
    K_bits : numpy.ndarray
        Enumerative code length of the support in bits (definitions §2.4).
    K_paper_bits : numpy.ndarray
        Zhang et al. (2026)'s code length of ``lambda_hat`` in bits (definitions §2.4).
    F_n : numpy.ndarray
        The free energy ``n L_n + lambda_hat ln n`` (definitions §1.5).
    tau : numpy.ndarray
        The hard-gate threshold of the step (0 without a hard gate; definitions §1.7).
    hermitian_err : numpy.ndarray
        ``max |V[-a, -b] - conj(V[a, b])|`` (definitions §1.4); 0 means a real model.

    References
    ----------
    Definitions §1.8; Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262.
    """

    step: np.ndarray
    train_loss: np.ndarray
    train_rel: np.ndarray
    test_rel: np.ndarray
    support: np.ndarray
    lambda_hat: np.ndarray
    K_bits: np.ndarray
    K_paper_bits: np.ndarray
    F_n: np.ndarray
    tau: np.ndarray
    hermitian_err: np.ndarray

    @classmethod
    def empty(cls, L: int, B: int) -> Curves:
        kw = {k: np.full((L, B), np.nan) for k in CURVE_FIELDS}
        return cls(step=np.zeros(L, dtype=np.int64), **kw)

    def truncate(self, L: int) -> None:
        self.step = self.step[:L]
        for k in CURVE_FIELDS:
            setattr(self, k, getattr(self, k)[:L])

    def column(self, b: int) -> dict[str, np.ndarray]:
        """One batch element's curves as ``{name: (L,) array}`` including ``step``.

        Parameters
        ----------
        b : int
            Index of the batch element.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        return {"step": self.step, **{k: getattr(self, k)[:, b] for k in CURVE_FIELDS}}


@dataclass
class Events:
    """The events of one run (definitions §1.8); ``None`` means it did not occur within the run.

    Parameters
    ----------
    t_mem : int, optional
        First step with train relative error below ``1e-2`` and test relative error above 0.1.
    t_gen : int, optional
        First step with test relative error below ``1e-2``.
    diverged_at : int, optional
        Step at which the train relative error passed ``1e8`` or became non-finite.
    final_train_rel, final_test_rel : float
        Relative errors at the last recorded step.
    last_step : int
        The last step recorded for this element.
    extra : dict
        Further events added by callers (e.g. sweeps).

    References
    ----------
    Definitions §1.8.
    """

    t_mem: int | None = None
    t_gen: int | None = None
    diverged_at: int | None = None
    final_train_rel: float = float("nan")
    final_test_rel: float = float("nan")
    last_step: int = 0
    extra: dict = field(default_factory=dict)


class EventTracker:
    """Vectorised definitions §1.8 event detection over a batch (O(1) Python work per step)."""

    def __init__(self, B: int) -> None:
        self.t_mem = np.full(B, -1, dtype=np.int64)
        self.t_gen = np.full(B, -1, dtype=np.int64)
        self.diverged_at = np.full(B, -1, dtype=np.int64)
        self.train_rel = np.full(B, np.nan)
        self.test_rel = np.full(B, np.nan)
        self.last_step = np.zeros(B, dtype=np.int64)

    def update(
        self,
        t: int,
        tr_rel: np.ndarray,
        te_rel: np.ndarray,
        active: np.ndarray,
        diverged_rel: float,
    ) -> np.ndarray:
        """Record state ``t`` of the active elements; return a mask of newly diverged ones."""
        ok = np.isfinite(tr_rel) & (tr_rel <= diverged_rel)
        bad = active & ~ok
        if bad.any():
            self.diverged_at[bad] = t
        act = active & ok
        np.copyto(self.train_rel, tr_rel, where=act)
        np.copyto(self.test_rel, te_rel, where=act)
        np.copyto(self.last_step, t, where=act)
        with np.errstate(invalid="ignore"):
            mem = act & (self.t_mem < 0) & (tr_rel < REL_MEM_TRAIN) & (te_rel > REL_MEM_TEST)
            gen = act & (self.t_gen < 0) & (te_rel < REL_GEN_TEST)
        if mem.any():
            self.t_mem[mem] = t
        if gen.any():
            self.t_gen[gen] = t
        return bad

    def events(self) -> list[Events]:
        def opt(x: int) -> int | None:
            return None if x < 0 else int(x)

        return [
            Events(
                t_mem=opt(self.t_mem[b]),
                t_gen=opt(self.t_gen[b]),
                diverged_at=opt(self.diverged_at[b]),
                final_train_rel=float(self.train_rel[b]),
                final_test_rel=float(self.test_rel[b]),
                last_step=int(self.last_step[b]),
            )
            for b in range(len(self.t_mem))
        ]


def support_size(V: np.ndarray, mult: np.ndarray, eps: float) -> np.ndarray:
    """``|S| = #{|W| > eps}`` over the full ``p x p`` array, per batch element (definitions §1.8)."""
    mag2 = V.real * V.real + V.imag * V.imag
    return np.einsum("bij,ij->b", (mag2 > eps * eps).astype(np.int64), mult)


@lru_cache(maxsize=65536)
def _k_enum(p: int, d: int) -> float:
    from theory.kolmogorov import enumerative_code_bits

    return enumerative_code_bits(p, d)


def k_bits(p: int, support: np.ndarray) -> np.ndarray:
    """Enumerative code length ``K(W)`` in bits, 32 bits per real (definitions §2.4, via theory/)."""
    return np.array([_k_enum(p, int(d)) for d in np.ravel(support)]).reshape(np.shape(support))


@dataclass(frozen=True)
class Residuals:
    """Sums of squared residuals and relative errors of one state, per batch element (definitions §1.8)."""

    train_ss: np.ndarray
    test_ss: np.ndarray
    train_rel: np.ndarray
    test_rel: np.ndarray


def log_observables(
    curves: Curves,
    li: int,
    t: int,
    V: np.ndarray,
    basis,
    eps: float,
    res: Residuals,
    n: np.ndarray,
    p: int,
    tau: np.ndarray,
) -> None:
    """Record definitions §1.8 observables of state ``t`` into row ``li``."""
    from theory.energy import free_energy
    from theory.kolmogorov import paper004_code_bits

    S = support_size(V, basis.multiplicity, eps)
    lam = S / 2.0  # theory.rlct.sfm_rlct: lambda(S) = |S| / 2 (definitions §1.4)
    loss = res.train_ss / (2.0 * n)  # L_n = (1/2n) sum_i r_i^2 (definitions §1.5)
    curves.step[li] = t
    curves.train_loss[li] = loss
    curves.train_rel[li] = res.train_rel
    curves.test_rel[li] = res.test_rel
    curves.support[li] = S
    curves.lambda_hat[li] = lam
    curves.K_bits[li] = k_bits(p, S)
    curves.K_paper_bits[li] = [paper004_code_bits(float(x), p) for x in lam]
    with np.errstate(invalid="ignore", over="ignore"):
        fin = np.isfinite(loss)
        curves.F_n[li] = np.where(fin, free_energy(n, np.where(fin, loss, 0.0), lam), np.nan)
    curves.tau[li] = tau
    curves.hermitian_err[li] = basis.hermitian_error(V)
