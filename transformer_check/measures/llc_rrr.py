"""Reduced-rank regression, the LLC's reference problem (Aoyagi & Watanabe 2005, definitions §2.2).

The loss is written through sufficient statistics so that a full-batch step costs O(parameters)
whatever ``n`` is, and with broadcasting operations only, so that it takes parameters with a
leading chain dimension as they are (the vectorised chains of :mod:`.llc_vmap` need no ``vmap``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from theory.base.errors import InputError

__all__ = ["RRRProblem", "rrr_problem"]


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
    _tr_yy: Tensor = field(init=False, repr=False)  # tr Syy
    _Syx: Tensor = field(init=False, repr=False)  # Sxy^T, contiguous

    def __post_init__(self) -> None:
        self._tr_yy = torch.trace(self.Syy)
        self._Syx = self.Sxy.T.contiguous()

    @property
    def params(self) -> list[Tensor]:
        """The leaves ``[B, A]`` at w*."""
        return [self.B, self.A]

    @property
    def w_star(self) -> dict[str, Tensor]:
        """w* by name, the form :func:`~.llc.estimate_llc_at` samples from."""
        return {"B": self.B.detach(), "A": self.A.detach()}

    def loss_at(self, B: Tensor, A: Tensor) -> Tensor:
        """``L_n(B, A) = (1/2)(tr Syy - 2 tr(W Sxy) + tr(W Sxx W^T))``, ``W = B A``.

        ``B`` ``[..., N, H]`` and ``A`` ``[..., H, M]`` may carry leading (chain) dimensions; the
        result then has them: traces are written as sums of elementwise products.
        """
        W = B @ A
        # = 0.5 tr Syy + sum((0.5 W Sxx - Sxy^T) * W): the same trace identity, fewer operations
        return 0.5 * self._tr_yy + ((0.5 * (W @ self.Sxx) - self._Syx) * W).sum((-2, -1))

    def loss_of(self, params: dict[str, Tensor], idx: Tensor | None = None) -> Tensor:
        """``L_n`` of ``{"B": ..., "A": ...}`` (``idx`` ignored: sufficient statistics, exact)."""
        return self.loss_at(params["B"], params["A"])

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
        """Number of parameters ``H (M + N)``."""
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
