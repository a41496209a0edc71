"""Targets, operations, training splits and exact interpolants (definitions §1.2, §1.3, §1.5)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from theory.base.errors import InputError, check_int, check_odd_prime, check_range
from theory.base.modular import OPS, op_table

from .basis import Basis, LogBasis, discrete_log_tables, make_basis

__all__ = [
    "TARGETS",
    "legendre",
    "flat_target",
    "random_phase_target",
    "resolve_target",
    "target_table",
    "domain_mask",
    "spectrum",
    "exact_interpolant",
    "interpolant_support",
    "training_mask",
    "Task",
    "make_task",
]

TARGETS = ("flat", "random-phase")


def legendre(p: int) -> np.ndarray:
    """Legendre symbol ``(m | p)`` for ``m = 0 .. p-1`` (Euler's criterion)."""
    m = np.arange(p)
    e = np.array([pow(int(x), (p - 1) // 2, p) for x in m])
    return np.where(m == 0, 0.0, np.where(e == 1, 1.0, -1.0))


def flat_target(p: int) -> np.ndarray:
    """Default ``g(m) = (m | p) + p**-0.5``: ``|ghat_k| = p**-0.5`` for all k (definitions §1.2)."""
    return legendre(p) + p**-0.5


def random_phase_target(p: int, rng: np.random.Generator) -> np.ndarray:
    """Real ``g`` with ``|ghat_k| = p**-0.5`` and random phases (``phi_-k = -phi_k``) (definitions §1.2)."""
    h = (p + 1) // 2
    phase = rng.uniform(0.0, 2.0 * np.pi, size=h)
    ghat = np.empty(p, dtype=np.complex128)
    ghat[0] = p**-0.5 * (1.0 if rng.random() < 0.5 else -1.0)  # real at k = 0
    ghat[1:h] = p**-0.5 * np.exp(1j * phase[1:])
    ghat[h:] = np.conj(ghat[1:h][::-1])
    return np.fft.ifft(ghat).real * p


def _check_op(op: str) -> str:
    if op not in OPS:
        raise InputError(f"op: must be one of {' '.join(OPS)}, got {op!r}; pick one of them")
    return op


def resolve_target(
    p: int, target: str | np.ndarray | list | tuple = "flat", rng: np.random.Generator | None = None
) -> np.ndarray:
    """``g`` as an array of length ``p`` from a name (``flat``, ``random-phase``) or user values."""
    if isinstance(target, str):
        if target == "flat":
            return flat_target(p)
        if target == "random-phase":
            if rng is None:
                raise InputError("target: random-phase needs a seeded generator; pass rng")
            return random_phase_target(p, rng)
        raise InputError(
            f"target: must be one of {', '.join(TARGETS)} or an array of length p, got {target!r}"
        )
    g = np.asarray(target)
    if g.ndim != 1 or g.shape[0] != p:
        raise InputError(
            f"target: must have length p = {p}, got shape {g.shape}; give one value per residue"
        )
    if not np.issubdtype(g.dtype, np.number) or np.iscomplexobj(g):
        raise InputError("target: must be real numbers; give a real array of length p")
    g = g.astype(np.float64)
    if not np.all(np.isfinite(g)):
        raise InputError("target: contains non-finite values; give finite real numbers")
    if not np.any(g != 0):
        raise InputError("target: is identically zero; relative errors would be undefined")
    return g


def domain_mask(op: str, p: int) -> np.ndarray:
    """Pairs ``(u, v)`` on which ``u o v`` is defined (``/``: ``v != 0``) (definitions §1.2)."""
    d = np.ones((p, p), dtype=bool)
    if op == "/":
        d[:, 0] = False
    return d


def target_table(op: str, g: np.ndarray) -> np.ndarray:
    """``Y[u, v] = g((u o v) mod p)``; 0 outside the domain (definitions §1.2)."""
    p = g.shape[-1]
    idx = op_table(op, p)
    Y = g[..., np.where(idx < 0, 0, idx)]
    return np.where(idx < 0, 0.0, Y)


def spectrum(op: str, g: np.ndarray) -> np.ndarray:
    """Coefficients of ``g`` in the operation's 1-D basis, scaled like the stored ``V``.

    ``+ -``: ``ghat_k = fft(g)[k] / p`` (definitions §1.2). ``* /``: ``c_j = fft(g(r^m))[j] / (p-1)``
    times ``(p-1)/p`` (the scaled-coordinate factor of the ``psi_j (x) psi_j`` entries).
    """
    p = g.shape[-1]
    if op in ("+", "-"):
        return np.fft.fft(g) / p
    _, power, _ = discrete_log_tables(p)
    return np.fft.fft(g[power]) / p


def exact_interpolant(op: str, g: np.ndarray, basis: Basis | None = None) -> np.ndarray:
    """Exact interpolant of ``g(u o v)`` in stored, scaled coordinates (definitions §1.3).

    - ``+``: ``W* = diag(ghat)``;
    - ``-``: ``W*[k, -k] = ghat_k``;
    - ``*``: ``c_j`` on the ``psi_j (x) psi_j`` diagonal plus ``g(0)`` on
      ``delta_0 (x) delta_0``, ``delta_0 (x) psi_0``, ``psi_0 (x) delta_0``;
    - ``/``: ``c_j`` on ``psi_j (x) psi_-j`` plus ``g(0)`` on ``delta_0 (x) psi_0``.

    Parameters
    ----------
    op : str
        One of ``+ - * /``.
    g : numpy.ndarray
        The target, one real value per residue (length ``p``).
    basis : Basis, optional
        The operation's basis; default :func:`~sfm.basis.make_basis` ``(op, p)``.

    Returns
    -------
    numpy.ndarray
        Complex coefficients in the basis' stored shape (``(p, (p+1)//2)`` for Fourier,
        ``(p, p)`` for the discrete-log basis).

    Raises
    ------
    InputError
        If ``op`` is not one of the four operations.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262; definitions §1.3.

    Examples
    --------
    >>> import numpy as np
    >>> from sfm import exact_interpolant, make_task
    >>> task = make_task(11, "+", f=0.5)
    >>> W = exact_interpolant("+", task.g)
    >>> W.shape, int(np.count_nonzero(np.abs(W) > 1e-12))
    ((11, 6), 6)
    """
    _check_op(op)
    p = g.shape[-1]
    basis = basis or make_basis(op, p)
    full = np.zeros((p, p), dtype=np.complex128)
    if op in ("+", "-"):
        ghat = np.fft.fft(g) / p
        k = np.arange(p)
        full[k, k if op == "+" else (-k) % p] = ghat
        return basis.from_full(full)
    _, power, _ = discrete_log_tables(p)
    c = np.fft.fft(g[power]) / (p - 1)  # coefficient of psi_j in g restricted to Z_p^*
    j = np.arange(p - 1)
    W = np.zeros((p, p), dtype=np.complex128)
    if op == "*":
        W[1 + j, 1 + j] = c
        W[0, 0] = W[0, 1] = W[1, 0] = g[0]
    else:
        W[1 + j, 1 + ((-j) % (p - 1))] = c
        W[0, 1] = g[0]
    assert isinstance(basis, LogBasis)
    return W * basis.scale()


def interpolant_support(op: str, g: np.ndarray, rtol: float = 1e-9) -> int:
    """Support size ``|S|`` of the exact interpolant (definitions §1.3).

    Counts the nonzero coefficients of the full ``p x p`` interpolant in the operation's basis.

    Parameters
    ----------
    op : str
        One of ``+ - * /``.
    g : numpy.ndarray
        The target, one real value per residue (length ``p``).
    rtol : float, default 1e-9
        A coefficient counts when its modulus exceeds ``rtol`` times the largest one.

    Returns
    -------
    int
        The number of nonzero coefficients: ``p`` for ``+`` and ``-`` with the flat target.

    References
    ----------
    Definitions §1.3.

    Examples
    --------
    >>> from sfm import interpolant_support, make_task
    >>> g = make_task(11, "+").g
    >>> interpolant_support("+", g), interpolant_support("*", g)
    (11, 5)
    """
    p = g.shape[-1]
    full = make_basis(op, p).to_full(exact_interpolant(op, g))
    scale = max(np.max(np.abs(full)), 1e-300)
    return int(np.count_nonzero(np.abs(full) > rtol * scale))


def training_mask(domain: np.ndarray, f: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``n = round(f |D|)`` distinct pairs of the domain, drawn by ``rng`` (definitions §1.5)."""
    cells = np.flatnonzero(domain.ravel())
    n = int(round(f * cells.size))
    if n < 1:
        raise InputError(
            f"f: training set would be empty (f * {cells.size} pairs rounds to 0); increase f"
        )
    chosen = rng.choice(cells, size=n, replace=False)
    mask = np.zeros(domain.size, dtype=bool)
    mask[chosen] = True
    return mask.reshape(domain.shape), n


@dataclass(frozen=True)
class Task:
    """One learning problem: modulus, operation, target, table and split (definitions §1.2, §1.5).

    Build one with :func:`make_task`, which validates the inputs.

    Parameters
    ----------
    p : int
        The odd prime modulus.
    op : str
        One of ``+ - * /``.
    f : float
        Training fraction of the domain's pairs.
    g : numpy.ndarray
        The target ``g``, shape ``(p,)``.
    Y : numpy.ndarray
        ``Y[u, v] = g((u o v) mod p)``, shape ``(p, p)``; 0 outside the domain.
    domain : numpy.ndarray
        Boolean ``(p, p)`` mask of the pairs where ``u o v`` is defined (``/``: ``v != 0``).
    train : numpy.ndarray
        Boolean ``(p, p)`` mask of the ``n`` training pairs.
    n : int
        Number of training pairs, ``round(f |D|)``.

    References
    ----------
    Definitions §1.2, §1.5.
    """

    p: int
    op: str
    f: float
    g: np.ndarray
    Y: np.ndarray
    domain: np.ndarray
    train: np.ndarray
    n: int

    @property
    def test(self) -> np.ndarray:
        """Boolean ``(p, p)`` mask of the test pairs: the domain outside the training set."""
        return self.domain & ~self.train


def make_task(
    p: int,
    op: str = "+",
    f: float = 0.3,
    target: str | np.ndarray = "flat",
    rng: np.random.Generator | None = None,
) -> Task:
    """Validate the inputs and build a :class:`Task` (definitions §1.2, §1.5).

    The target is drawn first, then the split, both from ``rng``.

    Parameters
    ----------
    p : int
        The modulus, an odd prime.
    op : str, default "+"
        One of ``+ - * /``.
    f : float, default 0.3
        Training fraction, ``0 < f <= 1``; ``n = round(f |D|)`` distinct pairs of the domain.
    target : str or numpy.ndarray, default "flat"
        ``"flat"`` (``g(m) = (m | p) + p**-0.5``), ``"random-phase"`` (needs ``rng``) or one
        real value per residue.
    rng : numpy.random.Generator, optional
        Source of the target's phases and of the split; default ``numpy.random.default_rng(0)``.

    Returns
    -------
    Task

    Raises
    ------
    InputError
        If ``p`` is not an odd prime, ``op`` unknown, ``f`` outside ``(0, 1]``, the target
        invalid, or the training set would be empty.

    References
    ----------
    Definitions §1.2 (targets), §1.5 (the split).

    Examples
    --------
    >>> from sfm import make_task
    >>> task = make_task(11, "+", f=0.5)
    >>> task.n, task.Y.shape, int(task.test.sum())
    (60, (11, 11), 61)
    """
    p = check_odd_prime("p", p)
    _check_op(op)
    f = check_range("f", f, 0.0, 1.0, lo_open=True, hint="the training fraction of all pairs")
    rng = rng if rng is not None else np.random.default_rng(0)
    g = resolve_target(p, target, rng)
    dom = domain_mask(op, p)
    train, n = training_mask(dom, f, rng)
    return Task(p=p, op=op, f=f, g=g, Y=target_table(op, g), domain=dom, train=train, n=n)


def warn_weak_frequencies(op: str, g: np.ndarray, tau_max: float) -> int:
    """Warn when interpolant coefficients lie below the largest gate threshold (definitions §1.2)."""
    p = g.shape[-1]
    full = np.abs(make_basis(op, p).to_full(exact_interpolant(op, g)))
    nz = full[full > 1e-12 * max(full.max(), 1e-300)]
    weak = int(np.count_nonzero(nz <= tau_max))
    if weak:
        warnings.warn(
            f"target: {weak} interpolant coefficient(s) have |coef| <= the largest gate threshold "
            f"{tau_max:.3g} (smallest {nz.min():.3g}); the gate would remove them and the run "
            "cannot generalise exactly",
            stacklevel=2,
        )
    return weak


def check_seed(seed: int) -> int:
    """Seeds are non-negative integers (numpy Generator seeds)."""
    return check_int("seed", seed, lo=0)
