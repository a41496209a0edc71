"""Embedding geometry: is there a one-dimensional ring ordered like ``Z_p``? (Zhang et al. (2026)'s
condensation claim; docs/ring.md).

Zhang et al. (2026) claims that grokking collapses the embedding from a high-dimensional cloud onto a ring
isomorphic to ``Z_p``. For ``p`` points ``v_0 .. v_{p-1}`` (one per residue) this module:

1. centres them and takes their two leading principal components (SVD); ``var_top2`` is the share
   of the total variance in that plane;
2. reads each point's angle ``theta_a`` and radius ``r_a`` in the plane;
3. scores every key frequency ``k = 1 .. (p-1)/2`` by the phase coherence
   ``R_{k,s} = |(1/p) sum_a exp(i(theta_a - s 2 pi k a / p))|``, ``s = +-1`` (1 exactly when the
   residues, ordered by ``a -> k a mod p``, go once round the circle in order, up to rotation and
   reflection); ``ring_k = max_s R_{k,s}``, ``score = max_k ring_k``;
4. compares the score with its value for a structureless (i.i.d. Gaussian) embedding,
   :func:`ring_null`, a max of ``p - 1`` exponentials.

The measure applies it to the token embedding of the residues and to the final residual stream at
``=`` averaged over the inputs with the same answer (keys ``ring_*`` and ``ring_resid_*``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from scipy import integrate

from theory.base.errors import InputError, check_int, check_range
from transformer_check.measures.shared import SharedWork, all_inputs_cache
from transformer_check.model import FINAL_RESID

__all__ = [
    "RingOptions",
    "RingGeometry",
    "principal_plane",
    "phase_coherence",
    "ring_scores",
    "ring_geometry",
    "ring_null",
    "ring_null_quantile",
    "class_means",
    "ring_keys",
    "ring_measure",
]


@dataclass(frozen=True)
class RingOptions:
    """Knobs of :func:`ring_measure`.

    ``resid``: also measure the final residual stream averaged per answer (``ring_resid_*``);
    ``per_k``: also report every frequency's ``ring_k`` (``ring_score.k{K}``, ``K = 1..(p-1)/2``:
    a key set fixed by ``p``, 56 keys per point set at ``p = 113``, hence off by default).
    """

    resid: bool = True
    per_k: bool = False

    def __post_init__(self) -> None:
        for name in ("resid", "per_k"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise InputError(f"{name}: must be true or false, got {v!r}")


@dataclass(frozen=True)
class RingGeometry:
    """The ring statistics of one point set (docs/ring.md, definitions).

    ``scores[k-1]`` is ``ring_k`` for ``k = 1..(p-1)/2``; ``best_k`` its argmax (the smallest on a
    tie); ``score = scores[best_k - 1]``; ``excess = (score - ring_null(p)) / (1 - ring_null(p))``.
    A point set without variance (all points equal) has NaN everywhere and ``best_k = 0``.
    """

    var_top2: float
    scores: np.ndarray
    best_k: int
    score: float
    radial_cv: float
    excess: float


def _as_points(points: Any, p: int | None) -> np.ndarray:
    """``points`` as a finite float64 ``[p, d]`` array with an odd number of rows >= 3."""
    X = np.asarray(points, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise InputError(f"points: expected a [p, d] array (one row per residue), got {X.shape}")
    n = X.shape[0]
    if p is not None and check_int("p", p, 3) != n:
        raise InputError(f"p: got p={p} but {n} points; pass one row per residue 0..p-1")
    # Odd: frequencies k and p - k are then distinct, so the reflection pairs are well defined.
    if n < 3 or n % 2 == 0:
        raise InputError(f"points: need an odd number >= 3 of rows (one per residue), got {n}")
    if not np.isfinite(X).all():
        raise InputError("points: contain NaN or infinity; measure a finite embedding")
    return X


def principal_plane(points: np.ndarray) -> tuple[np.ndarray, float]:
    """``(scores [n, 2], var_top2)``: the centred points' coordinates on their first two principal
    components and the share of the total variance there (PCA by SVD, Jolliffe 2002 §1.1).

    ``var_top2`` is NaN when the points have no variance beyond round-off.
    """
    X = np.asarray(points, dtype=np.float64)
    Xc = X - X.mean(axis=0, keepdims=True)
    U, S, _ = np.linalg.svd(Xc, full_matrices=False)
    s2 = S**2
    total = float(s2.sum())
    # Centring equal points leaves round-off of relative size eps: no variance, no plane.
    if total <= (1e3 * np.finfo(np.float64).eps) ** 2 * float((X**2).sum()) or total == 0.0:
        return np.zeros((X.shape[0], 2)), math.nan
    k = min(2, S.size)
    scores = np.zeros((X.shape[0], 2))
    scores[:, :k] = U[:, :k] * S[:k]  # PC scores U S (d = 1 leaves PC2 = 0)
    return scores, float(s2[:k].sum() / total)


def phase_coherence(theta: np.ndarray) -> np.ndarray:
    """``R_j = |(1/n) sum_a exp(i theta_a) exp(-2 pi i j a / n)|`` for ``j = 0 .. n-1``.

    ``R_k`` is ``R_{k,+1}`` and ``R_{n-k}`` is ``R_{k,-1}`` of the module docstring: the DFT of
    ``z_a = exp(i theta_a)`` over ``n`` (numpy's sign convention). Parseval (Oppenheim & Schafer,
    *Discrete-Time Signal Processing* §8.6): ``sum_j R_j^2 = (1/n) sum_a |z_a|^2 = 1``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    return np.abs(np.fft.fft(np.exp(1j * theta))) / theta.size


def ring_scores(coherence: np.ndarray) -> np.ndarray:
    """``ring_k = max(R_k, R_{n-k})`` for ``k = 1..(n-1)/2`` from :func:`phase_coherence` (the
    better of the two orientations: a reflected ring at ``k`` is a ring at ``n - k``)."""
    R = np.asarray(coherence, dtype=np.float64)
    n = R.size
    k = np.arange(1, (n - 1) // 2 + 1)
    return np.maximum(R[k], R[n - k])


def ring_geometry(points: np.ndarray, p: int | None = None) -> RingGeometry:
    """The ring statistics of ``points`` ``[p, d]``, row ``a`` the point of residue ``a``.

    ``p`` (optional) must equal the number of rows; it is a check that the rows are the ``p``
    residues, not a selection. The rows must be an odd number >= 3 and finite.
    """
    X = _as_points(points, p)
    n = X.shape[0]
    plane, var_top2 = principal_plane(X)
    if math.isnan(var_top2):
        nan = np.full((n - 1) // 2, math.nan)
        return RingGeometry(math.nan, nan, 0, math.nan, math.nan, math.nan)
    theta = np.arctan2(plane[:, 1], plane[:, 0])  # angle in the PC1-PC2 plane
    r = np.hypot(plane[:, 0], plane[:, 1])
    scores = ring_scores(phase_coherence(theta))
    best = int(np.argmax(scores))
    score = float(scores[best])
    null = ring_null(n)
    return RingGeometry(
        var_top2=var_top2,
        scores=scores,
        best_k=best + 1,
        score=score,
        radial_cv=float(r.std() / r.mean()),  # coefficient of variation of the radii, 0 on a circle
        excess=(score - null) / (1.0 - null),
    )


# ----------------------------------------------------------------------- the null (docs/ring.md)


def _null_m(p: Any) -> int:
    n = check_int("p", p, 3)
    if n % 2 == 0:
        raise InputError(f"p: must be odd (one point per residue of Z_p), got {p!r}")
    return n - 1  # the p - 1 nonzero frequencies, R_{k,+1} and R_{k,-1} for k = 1..(p-1)/2


@lru_cache(maxsize=256)
def _ring_null(n: int) -> float:
    m = n - 1

    # Density of the max M of m Exp(1) variables, m e^-x (1 - e^-x)^(m-1) (David & Nagaraja,
    # *Order Statistics* §2.1), times sqrt(x/p): ring_score = sqrt(M/p) when p R^2 ~ Exp(1).
    def f(x: float) -> float:
        return math.sqrt(x / n) * m * math.exp(-x + (m - 1) * math.log1p(-math.exp(-x)))

    top = math.log(m) + 60.0  # P(M > top) <= m e^-top = e^-60
    value, _ = integrate.quad(f, 0.0, top, points=[math.log(m)], epsabs=1e-13, epsrel=1e-11)
    return float(value)


def ring_null(p: int) -> float:
    """``E[ring_score]`` for an embedding without ring structure (i.i.d. isotropic Gaussian rows):
    ``integral_0^inf sqrt(x/p) m e^-x (1 - e^-x)^(m-1) dx``, ``m = p - 1`` (docs/ring.md, null;
    by quadrature). Approximates the Monte Carlo value within ~2% at p = 47 and 113 (measured)."""
    return _ring_null(_null_m(p) + 1)


def ring_null_quantile(p: int, q: float = 0.99) -> float:
    """The ``q`` quantile of ``ring_score`` under the same null: ``P(M <= x) = (1 - e^-x)^m = q``
    gives ``sqrt(-log(1 - q^(1/m)) / p)`` (docs/ring.md, null)."""
    m = _null_m(p)
    q = check_range("q", q, 0.0, 1.0, lo_open=True, hi_open=True)
    # -expm1(log(q)/m) = 1 - q^(1/m) without cancellation for q near 1
    return math.sqrt(-math.log(-math.expm1(math.log(q) / m)) / (m + 1))


# ----------------------------------------------------------------------------------- the measure


def class_means(resid: torch.Tensor, labels: torch.Tensor, p: int) -> np.ndarray | None:
    """``[p, d]``: the mean of ``resid [N, d]`` over the inputs with answer ``c``, row ``c``; None
    when some answer ``c`` in ``0..p-1`` has no input (then there is no point for residue ``c``)."""
    y = labels.long().cpu()
    if y.numel() == 0 or int(y.min()) < 0 or int(y.max()) >= p:
        return None
    counts = torch.bincount(y, minlength=p).double()
    if bool((counts == 0).any()):
        return None
    R = resid.detach().double().cpu()
    sums = torch.zeros(p, R.shape[1], dtype=torch.float64).index_add_(0, y, R)
    return (sums / counts[:, None]).numpy()


def ring_keys(geom: RingGeometry | None, prefix: str, p: int, per_k: bool) -> dict[str, float]:
    """The measure's keys for one point set, ``{prefix}score`` etc. (docs/ring.md, keys); all NaN
    for ``geom=None`` (no point set)."""
    h = (p - 1) // 2
    if geom is None:
        out = {f"{prefix}{k}": math.nan for k in ("score", "k", "var_top2", "radial_cv", "excess")}
        scores = np.full(h, math.nan)
    else:
        out = {
            f"{prefix}score": geom.score,
            f"{prefix}k": float(geom.best_k) if geom.best_k else math.nan,
            f"{prefix}var_top2": geom.var_top2,
            f"{prefix}radial_cv": geom.radial_cv,
            f"{prefix}excess": geom.excess,
        }
        scores = geom.scores
    if per_k:
        out.update({f"{prefix}score.k{k}": float(scores[k - 1]) for k in range(1, h + 1)})
    return out


def ring_measure(
    resid: bool = True, per_k: bool = False, shared: SharedWork | None = None
) -> Callable[[Any, Any], dict[str, float]]:
    """Measure ``f(model, dataset)``: the ring statistics of the residues' token embedding
    (``model.W_E[:p]``; keys ``ring_score``, ``ring_k``, ``ring_var_top2``, ``ring_radial_cv``,
    ``ring_excess``) and, with ``resid``, of the final residual at ``=`` (``cache[FINAL_RESID]``)
    averaged over all inputs with the same answer (the same keys with prefix ``ring_resid_``).
    ``per_k`` adds ``ring_score.k{K}`` / ``ring_resid_score.k{K}`` for every ``K``. ``shared``:
    read the forward pass over all inputs that
    :class:`~transformer_check.measures.shared.SharedWork` makes once.
    """
    opts = RingOptions(resid, per_k)

    @torch.no_grad()
    def measure(model: Any, ds: Any) -> dict[str, float]:
        p = int(ds.p)
        # The positional embedding adds one vector to every token at a position: centring removes it.
        W = model.W_E[:p].detach().double().cpu().numpy()
        out = ring_keys(ring_geometry(W, p), "ring_", p, opts.per_k)
        if not opts.resid:
            return out
        y = torch.cat([ds.train_y, ds.test_y])
        cache = shared.forward(model, ds) if shared is not None else all_inputs_cache(model, ds)
        # The residual at '=' depends on (a, b); its mean over the inputs with answer c is one
        # point per residue of the output, the set a ring over Z_p would be read from.
        means = class_means(cache[FINAL_RESID], y, p)
        geom = ring_geometry(means, p) if means is not None else None
        out.update(ring_keys(geom, "ring_resid_", p, opts.per_k))
        return out

    return measure
