"""Facts of modular arithmetic that every leg uses, written once (definitions §1.1-§1.3, §1.7).

The four operations, primality of the modulus, the smallest primitive root (the generator behind
the discrete-log basis of ``*`` and ``/``) and the two conventions of the Occam-gate threshold.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["OPS", "GATE_CONVENTIONS", "is_prime", "primitive_root", "op_table"]

#: The binary operations of the task ``a op b mod p`` (definitions §1.2, §4.1).
OPS: tuple[str, ...] = ("+", "-", "*", "/")

#: Gate-threshold conventions (definitions §1.7): ``prox`` is the l0 proximal map under the
#: ``eta / p^2`` drift; ``paper`` is Zhang et al. (2026)'s ``sqrt(2 beta ln n / n)`` under its ``1/n`` drift.
GATE_CONVENTIONS: tuple[str, ...] = ("prox", "paper")


def is_prime(n: int) -> bool:
    """Whether ``n`` is prime, by deterministic trial division (inputs here are small moduli).

    Parameters
    ----------
    n : int

    Returns
    -------
    bool

    Examples
    --------
    >>> from theory.base import is_prime
    >>> [q for q in range(90, 110) if is_prime(q)]
    [97, 101, 103, 107, 109]
    """
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    r = math.isqrt(n)
    return all(n % d for d in range(3, r + 1, 2))


def primitive_root(p: int) -> int:
    """Smallest primitive root of the odd prime ``p`` (generator of ``Z_p^*``, definitions §1.3).

    Parameters
    ----------
    p : int
        Odd prime.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``p`` has no primitive root.

    References
    ----------
    Ireland & Rosen (1990), A Classical Introduction to Modern Number Theory, §4.1; definitions §1.3.

    Examples
    --------
    >>> from theory.base import primitive_root
    >>> primitive_root(97), primitive_root(113)
    (5, 3)
    """
    order = p - 1
    factors = []
    m, d = order, 2
    while d * d <= m:
        if m % d == 0:
            factors.append(d)
            while m % d == 0:
                m //= d
        d += 1
    if m > 1:
        factors.append(m)
    for r in range(2, p):
        if all(pow(r, order // q, p) != 1 for q in factors):
            return r
    raise ValueError(f"p={p} has no primitive root; p must be an odd prime")


def op_table(op: str, p: int) -> np.ndarray:
    """The table ``T[a, b] = a op b mod p`` (definitions §1.2, §4.1), int64 of shape ``(p, p)``.

    ``/`` multiplies by the Fermat inverse ``b^(p-2)``; its column ``b = 0`` lies outside the
    domain and holds -1.

    Parameters
    ----------
    op : {"+", "-", "*", "/"}
        The operation.
    p : int
        Odd prime modulus.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        If ``op`` is not one of :data:`OPS`.

    Examples
    --------
    >>> from theory.base import op_table
    >>> op_table("/", 5).tolist()
    [[-1, 0, 0, 0, 0], [-1, 1, 3, 2, 4], [-1, 2, 1, 4, 3], [-1, 3, 4, 1, 2], [-1, 4, 2, 3, 1]]
    """
    if op not in OPS:
        raise ValueError(f"op: must be one of {' '.join(OPS)}, got {op!r}")
    a = np.arange(p, dtype=np.int64)[:, None]
    b = np.arange(p, dtype=np.int64)[None, :]
    if op == "+":
        return (a + b) % p
    if op == "-":
        return (a - b) % p
    if op == "*":
        return (a * b) % p
    inv = np.array([0] + [pow(x, p - 2, p) for x in range(1, p)], dtype=np.int64)
    out = (a * inv[None, :]) % p
    out[:, 0] = -1
    return out
