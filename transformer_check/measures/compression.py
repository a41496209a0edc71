"""Naive bz2 size and coarse-grained complexity of the weights (DeMoss et al. (2024) Alg. 1; definitions §4.3).

Coarse-graining (DeMoss et al. (2024) §4.1-4.2): every weight matrix may be replaced by its rank-``k(tau)``
truncated SVD (eq. 13; kept only if ``k(m+n) < mn``, eq. 14), then every stored number is quantised
with a global step ``Delta`` (eq. 11). The result is accepted iff the training loss moves by less
than ``eps`` (eq. 7). The complexity is the bz2 size of the smallest accepted description.

Choices where the paper is loose (docs/transformer_check.md):
- quantisation rounds to the nearest bin, ``Delta * round(theta / Delta)`` (the paper's text; its
  eq. 11 writes ``floor``, which biases every weight by ``-Delta/2``);
- a low-rank matrix is stored as balanced factors ``A = U_k sqrt(S_k)``, ``B = sqrt(S_k) V_k^T``, so
  one global ``Delta`` has the same meaning for both factors and for full matrices;
- the compressed stream holds the integer bin indices (narrowest of int8/16/32 per tensor) after a
  small header (``Delta`` and the per-matrix ranks); the architecture is the decompressor;
- the search is deterministic (:func:`coarse_grain`, ``search="bisect"``): staged bisections on
  the acceptance boundary (:func:`_bisect_search`). ``search="random"`` (uniform ``tau``,
  log-uniform ``Delta``) is the simple alternative it is compared with (tests and
  benchmarks/bench_transformer.py).
"""

from __future__ import annotations

import bz2
import copy
import math
import struct
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from theory.base.errors import InputError, check_int
from transformer_check.measures.shared import SVD, SharedWork, weight_svds

__all__ = [
    "CompressionOptions",
    "bz2_size",
    "naive_bz2_bytes",
    "k_tau",
    "quantise_codes",
    "CoarseGrainResult",
    "CoarseGrainer",
    "coarse_grain",
    "compression_measures",
    "compression_measure",
]

_BZ2_LEVEL = 9


def bz2_size(data: bytes) -> int:
    """Length in bytes of ``bz2.compress(data, 9)``."""
    return len(bz2.compress(data, _BZ2_LEVEL))


@torch.no_grad()
def naive_bz2_bytes(model: torch.nn.Module) -> int:
    """bz2 size of the raw float32 parameters in ``named_parameters`` order (DeMoss et al. (2024) Fig. A.9)."""
    raw = b"".join(p.detach().float().cpu().numpy().tobytes() for p in model.parameters())
    return bz2_size(raw)


def k_tau(s: Tensor, tau: float) -> int:
    """``k(tau) = min{k : sum_{i<=k} s_bar_i >= tau}`` (DeMoss et al. (2024) eq. 13); ``s`` descending."""
    total = float(s.sum())
    if total <= 0:
        return 0
    cum = torch.cumsum(s.double() / total, 0)
    # Round-off can leave the last cumulative sum a hair below 1.
    return int(
        min(int(torch.searchsorted(cum, torch.tensor(tau - 1e-12, dtype=cum.dtype))) + 1, len(s))
    )


def quantise_codes(x: Tensor, delta: float) -> Tensor:
    """Integer bin indices ``round(x / Delta)`` (DeMoss et al. (2024) eq. 11, nearest-bin form)."""
    return torch.round(x.double() / delta).to(torch.int64)


def _pack(codes: Tensor) -> bytes:
    """Codes in the narrowest signed integer width that holds them."""
    a = codes.cpu().numpy()
    m = int(np.abs(a).max()) if a.size else 0
    dt = np.int8 if m < 2**7 else np.int16 if m < 2**15 else np.int32
    return a.astype(dt).tobytes()


@dataclass
class CoarseGrainResult:
    """Outcome of the Alg. 1 search; sizes in bytes, losses in nats."""

    bytes: int  # smallest accepted compressed size
    naive_bytes: int  # bz2 of the raw float32 weights
    ratio: float  # naive_bytes / bytes
    tau: float  # 1.0 means no low-rank step
    delta: float
    loss: float  # training loss of the coarse-grained model
    base_loss: float  # training loss of the original model
    eps: float
    evaluations: int
    ranks: dict[str, int] = field(default_factory=dict)  # low-rank k per matrix (absent: full)
    trace: list[tuple[float, float, bool, int]] = field(
        default_factory=list
    )  # tau, Delta, ok, size


class CoarseGrainer:
    """Evaluates coarse-grained copies of one model: SVDs once, one train-set forward per point.

    ``svd``: the model's :func:`~transformer_check.measures.shared.weight_svds`, when already
    computed (the same values are computed here otherwise).
    """

    def __init__(self, model, x: Tensor, y: Tensor, svd: SVD | None = None) -> None:
        self.model = model
        self.work = copy.deepcopy(model)
        self.x, self.y = x, y
        with torch.no_grad():
            self.mats = {k: v.detach().double() for k, v in model.named_weight_matrices().items()}
            self.svd = weight_svds(model) if svd is None else svd
            mat_ids = {id(p) for p in _matrix_params(model)}
            self.vectors = {
                n: p.detach().double() for n, p in model.named_parameters() if id(p) not in mat_ids
            }
        self.base_loss = self._loss(model)
        # An all-zero model has no scale; any step then quantises it exactly.
        self.max_abs = (
            max(float(t.abs().max()) for t in [*self.mats.values(), *self.vectors.values()]) or 1.0
        )

    def delta_range(self) -> tuple[float, float]:
        """The search range of the quantisation step: from 2^-16 of the largest weight
        (near-lossless) to 2x it (every weight rounds to 0)."""
        return self.max_abs * 2.0**-16, self.max_abs * 2.0

    @torch.no_grad()
    def _loss(self, model) -> float:
        return float(F.cross_entropy(model(self.x).float(), self.y))

    def ranks(self, tau: float) -> dict[str, int]:
        """Matrices that take the rank-``k(tau)`` form (eq. 14: only if ``k(m+n) < mn``)."""
        if tau >= 1.0:
            return {}
        out = {}
        for name, (_, s, _) in self.svd.items():
            m, n = self.mats[name].shape
            k = k_tau(s, tau)
            if k * (m + n) < m * n:
                out[name] = k
        return out

    def next_tau(self, tau: float) -> float:
        """The smallest ``tau' > tau`` whose ranks differ from those of ``tau`` (eq. 13: one more
        singular value kept in some matrix, or a matrix back in full form); 1.0 if there is none.

        Computed from the spectra alone (no loss evaluation)."""
        if tau >= 1.0:
            return 1.0
        now = self.ranks(tau)
        cums = {
            float(c)
            for _, s, _ in self.svd.values()
            if float(s.sum()) > 0
            for c in torch.cumsum(s.double() / float(s.sum()), 0).tolist()
            if c > tau
        }
        # k(tau') grows past cum_k once tau' - 1e-12 > cum_k (k_tau's round-off margin).
        for t in (c + 1e-9 for c in sorted(cums)):
            if t >= 1.0:
                break
            if self.ranks(t) != now:
                return t
        return 1.0

    @torch.no_grad()
    def evaluate(self, tau: float, delta: float) -> tuple[float, int]:
        """Training loss and bz2 size of the ``(tau, Delta)`` coarse-graining of the model."""
        loss, stream = self.coarse_grained(tau, delta)
        return loss, bz2_size(stream)

    @torch.no_grad()
    def coarse_grained(self, tau: float, delta: float) -> tuple[float, bytes]:
        """Training loss and the uncompressed description of the ``(tau, Delta)`` model."""
        ranks = self.ranks(tau)
        header = struct.pack("<d", delta) + b"".join(
            struct.pack("<i", ranks.get(n, -1)) for n in self.mats
        )
        chunks = [header]
        new_mats = {}
        for name, m in self.mats.items():
            if name in ranks:
                u, s, vh = self.svd[name]
                k = ranks[name]
                r = s[:k].sqrt()
                qa = quantise_codes(u[:, :k] * r, delta)
                qb = quantise_codes(r[:, None] * vh[:k], delta)
                chunks += [_pack(qa), _pack(qb)]
                new_mats[name] = (qa.double() @ qb.double()) * delta * delta
            else:
                q = quantise_codes(m, delta)
                chunks.append(_pack(q))
                new_mats[name] = q.double() * delta
        dtype = next(self.work.parameters()).dtype
        self.work.set_weight_matrices({k: v.to(dtype) for k, v in new_mats.items()})
        params = dict(self.work.named_parameters())
        for name, v in self.vectors.items():
            q = quantise_codes(v, delta)
            chunks.append(_pack(q))
            params[name].copy_((q.double() * delta).to(dtype))
        return self._loss(self.work), b"".join(chunks)


def _matrix_params(model) -> list[Tensor]:
    """The parameters that ``named_weight_matrices`` covers (every parameter with >= 2 dims)."""
    return [p for p in model.parameters() if p.dim() >= 2]


def coarse_grain(
    model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 0.1,
    budget: int = 24,
    search: str = "bisect",
    tau_min: float = 0.05,
    seed: int = 0,
    svd: SVD | None = None,
) -> CoarseGrainResult:
    """DeMoss et al. (2024) Alg. 1: smallest bz2 size over ``(tau, Delta)`` with ``|L - L_hat| < eps``.

    ``budget`` counts loss evaluations (forward passes over the training set). If nothing else
    is accepted the result is the lossless float32 description (``bytes == naive_bytes``).
    ``svd``: the model's weight SVDs when already computed (:class:`CoarseGrainer`).
    """
    if budget < 2:
        raise InputError(f"budget: must be >= 2 evaluations, got {budget}")
    if not (eps > 0 and math.isfinite(eps)):
        raise InputError(f"eps: must be a positive finite loss tolerance, got {eps}")
    cg = CoarseGrainer(model, x, y, svd)
    naive = naive_bz2_bytes(model)
    d_lo, d_hi = cg.delta_range()
    best = (naive, 1.0, 0.0, cg.base_loss)  # size, tau, delta, loss
    trace: list[tuple[float, float, bool, int]] = []

    def probe(tau: float, delta: float) -> bool:
        nonlocal best
        loss, stream = cg.coarse_grained(tau, delta)
        ok = abs(loss - cg.base_loss) < eps
        # Only an accepted point needs its (costly) compressed size; a rejected one gets -1.
        size = bz2_size(stream) if ok else -1
        trace.append((tau, delta, ok, size))
        if ok and size < best[0]:
            best = (size, tau, delta, loss)
        return ok

    if search == "bisect":
        _bisect_search(probe, lambda: (best[1], best[2]), tau_min, d_lo, d_hi, budget, cg.next_tau)
    elif search == "random":
        rng = np.random.default_rng(seed)
        for _ in range(budget):
            tau = float(rng.uniform(tau_min, 1.0))
            probe(tau, float(math.exp(rng.uniform(math.log(d_lo), math.log(d_hi)))))
    else:
        raise InputError(f"search: must be 'bisect' or 'random', got {search!r}")
    size, tau, delta, loss = best
    return CoarseGrainResult(
        bytes=size,
        naive_bytes=naive,
        ratio=naive / size,
        tau=tau,
        delta=delta,
        loss=loss,
        base_loss=cg.base_loss,
        eps=eps,
        evaluations=len(trace),
        ranks=cg.ranks(tau) if delta > 0 else {},
        trace=trace,
    )


def _bisect_search(
    probe,
    best_point,
    tau_min: float,
    d_lo: float,
    d_hi: float,
    budget: int,
    next_tau=None,
) -> None:
    """Bisections along the acceptance boundary of ``(tau, log Delta)`` within ``budget`` probes.

    Acceptance is (nearly) monotone in both coordinates (more truncation or a coarser step only
    adds distortion) and the size falls as ``Delta`` grows and as ``tau`` shrinks, so the optimum
    lies on the boundary; which point of it is smallest depends on the model. Stages:
    1. the all-zero model (``Delta = d_hi``): if accepted nothing is smaller;
    2. ``tau = 1`` (no low rank): bisect ``log Delta`` over ``[d_lo, d_hi]`` -> ``Delta_1``, and the
       smallest rejected step ``Delta_1^bad``;
    3. at ``Delta = 0.7, 0.45 x Delta_1``: bisect ``tau`` for the smallest accepted value (a
       finer step tolerates more truncation, so the second level starts below the first);
    4. bisect ``log Delta`` upwards from the best point ``(tau_b, Delta_b)`` towards
       ``Delta_1^bad``, a probed rejection that bounds every ``tau <= 1`` (monotonicity), at
       ``tau = next_tau(tau_b)``: ``tau_b`` is the smallest accepted value, on the boundary,
       where a coarser step is rejected at once, and one more kept singular value moves off it;
    5. the rest: bisect ``tau`` downwards at the best point so far.
    Stages 4-5 replaced a ``log Delta`` bisection at ``tau_b`` up to an assumed rejection at
    ``1.6 Delta_b`` and a third level (``0.3 x Delta_1``) that accepted nothing: on
    examples/runs/quick-seed0 at step 3000, eps 1, 8112 -> 6856 bytes, the 48 x 48 grid's
    optimum 7087 (benchmarks/bench_coarse.py).
    ``best_point()`` returns the current best ``(tau, Delta)``; ``next_tau(tau)`` the next ``tau``
    with other ranks (:meth:`CoarseGrainer.next_tau`; default: ``tau`` itself).
    """
    left = [budget - 1]
    if probe(1.0, d_hi) or left[0] <= 0:
        return

    def bisect(accepts, ok: float | None, bad: float, floor: float, n: int):
        """Bisect between an accepted ``ok`` (``None``: only ``floor`` assumed) and ``bad``."""
        for _ in range(n):
            if left[0] <= 0:
                break
            left[0] -= 1
            mid = 0.5 * ((ok if ok is not None else floor) + bad)
            if accepts(mid):
                ok = mid
            else:
                bad = mid
        return ok, bad

    n1 = max(3, round(0.25 * budget))
    log_d1, log_bad1 = bisect(
        lambda x: probe(1.0, math.exp(x)), None, math.log(d_hi), math.log(d_lo), n1
    )
    if log_d1 is None:
        return
    levels = (0.7, 0.45)
    n_level = max(2, round(budget / 6))
    tau_hi = 1.0
    for f in levels:
        log_d = log_d1 + math.log(f)
        tau_hi, _ = bisect(
            lambda t, ld=log_d: probe(t, math.exp(ld)), tau_hi, tau_min, tau_hi, n_level
        )
    tau_b, d_b = best_point()
    if d_b <= 0:
        return
    tau_c = next_tau(tau_b) if next_tau is not None else tau_b
    n_up = (left[0] + 1) // 2
    bisect(lambda x: probe(tau_c, math.exp(x)), math.log(d_b), log_bad1, 0.0, n_up)
    tau_b, d_b = best_point()
    bisect(lambda t: probe(t, d_b), tau_b, max(tau_min, tau_b - 0.1), tau_b, left[0])


@dataclass(frozen=True)
class CompressionOptions:
    """Knobs of :func:`compression_measure`: loss tolerance ``eps`` (eq. 7) and search ``budget``."""

    eps: float = 0.1
    budget: int = 24

    def __post_init__(self) -> None:
        if not (isinstance(self.eps, int | float) and self.eps > 0 and math.isfinite(self.eps)):
            raise InputError(f"eps: must be a positive finite loss tolerance, got {self.eps!r}")
        check_int("budget", self.budget, 2)


def compression_measure(eps: float = 0.1, budget: int = 24, shared: SharedWork | None = None):
    """Measure ``f(model, dataset)``: :func:`compression_measures` with these knobs, on
    ``shared``'s weight SVDs if given."""
    CompressionOptions(eps, budget)

    def measure(model, ds) -> dict[str, float]:
        svd = shared.svd(model) if shared is not None else None
        return compression_measures(model, ds, eps=eps, budget=budget, svd=svd)

    return measure


def compression_measures(
    model, ds, *, eps: float = 0.1, budget: int = 24, svd: SVD | None = None
) -> dict[str, float]:
    """Naive bz2 bytes and the coarse-grained size, ratio, ``tau`` and ``Delta`` (definitions §4.3)."""
    dev = next(model.parameters()).device
    r = coarse_grain(model, ds.train_x.to(dev), ds.train_y.to(dev), eps=eps, budget=budget, svd=svd)
    return {
        "bz2_naive_bytes": float(r.naive_bytes),
        "coarse_bytes": float(r.bytes),
        "coarse_ratio": r.ratio,
        "coarse_tau": r.tau,
        "coarse_delta": r.delta,
        "coarse_loss_gap": r.loss - r.base_loss,
        "coarse_n_lowrank": float(len(r.ranks)),
    }
