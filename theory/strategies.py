"""Hypothesis strategies for the theory's inputs (docs/claims.md): valid cases only, shrinking small.

Every strategy generates what the theory's functions (and the CLIs, through the same
``theory.base.errors`` validators) accept, and shrinks toward small p and simple settings, so a
counterexample comes back as the simplest case that shows it. Cases are plain dicts (readable in
a report, JSON-ready).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from theory.base.errors import check_int, check_odd_prime, check_positive
from theory.base.modular import is_prime

__all__ = [
    "odd_primes",
    "crossover_cases",
    "CROSSOVER_REGIMES",
    "rrr_cases",
    "hermitian_orbit_list",
    "hermitian_supports",
    "hermitian_weights",
]

#: Regimes of ``n = a ln n`` (definitions §2.1): no crossing, the double root, two roots, far from e,
#: and the noiseless case.
CROSSOVER_REGIMES = ("a<e", "a=e", "a>e", "a>>e", "dL=0")


def odd_primes(min_value: int = 3, max_value: int = 251) -> SearchStrategy[int]:
    """Odd primes in ``[min_value, max_value]``, shrinking toward the smallest."""
    lo = check_int("min_value", min_value, lo=2)
    hi = check_int("max_value", max_value, lo=lo)
    primes = [p for p in range(max(lo, 3), hi + 1) if p % 2 and is_prime(p)]
    if not primes:
        raise ValueError(f"odd_primes: no odd prime in [{lo}, {hi}]")
    return st.sampled_from(primes)  # sampled_from shrinks toward the first element


def _case(regime: str, a: float, dloss: float) -> dict:
    # dlambda = a dloss is rounded; the case carries the a the theory will see, dlambda / dloss.
    dlambda = check_positive("dlambda", a * dloss)
    return {"regime": regime, "dlambda": dlambda, "dloss": dloss}


def crossover_cases(regime: str | None = None) -> SearchStrategy[dict]:
    """``{"regime", "dlambda", "dloss"}`` valid for :func:`theory.crossover.crossover_n`.

    ``regime`` (one of :data:`CROSSOVER_REGIMES`, or None for any): ``a<e`` (no crossing), ``a=e``
    (the double root: ``dloss`` a power of two so that ``dlambda / dloss`` is exactly float e),
    ``a>e`` (two roots, ``a`` up to 1e3), ``a>>e`` (``a`` in [1e3, 1e12]), ``dL=0`` (noiseless).
    """
    if regime is None:
        return st.one_of(*(crossover_cases(r) for r in CROSSOVER_REGIMES))
    if regime not in CROSSOVER_REGIMES:
        raise ValueError(f"regime: one of {CROSSOVER_REGIMES}, got {regime!r}")
    dloss = st.floats(1e-3, 10.0)
    if regime == "a<e":
        a = st.floats(1e-3, math.e * (1 - 1e-9))
        return st.builds(lambda a, d: _case(regime, a, d), a, dloss).filter(
            lambda c: c["dlambda"] / c["dloss"] < math.e
        )
    if regime == "a=e":
        return st.integers(-10, 10).map(lambda k: _case(regime, math.e, 2.0**k))
    if regime == "a>e":
        # log10(a - e) in [-6, 3]: near the branch point and away from it; shrinks toward a = e + 1.
        a = st.floats(-6.0, 3.0).map(lambda t: math.e + 10.0**t)
        return st.builds(lambda a, d: _case(regime, a, d), a, dloss).filter(
            lambda c: c["dlambda"] / c["dloss"] > math.e
        )
    if regime == "a>>e":
        a = st.floats(3.0, 12.0).map(lambda t: 10.0**t)
        return st.builds(lambda a, d: _case(regime, a, d), a, dloss)
    return st.floats(1e-3, 1e6).map(lambda dl: {"regime": regime, "dlambda": dl, "dloss": 0.0})


def rrr_cases(max_dim: int = 12) -> SearchStrategy[dict]:
    """``{"M", "N", "H", "r"}`` valid for :func:`theory.rlct.rrr_rlct`: dimensions in
    ``[1, max_dim]`` and true rank ``0 <= r <= min(M, N, H)``; shrinks toward (1, 1, 1, 0)."""
    top = check_int("max_dim", max_dim, lo=1)
    dim = st.integers(1, top)

    @st.composite
    def draw(draw_: st.DrawFn) -> dict:
        M, N, H = draw_(dim), draw_(dim), draw_(dim)
        r = draw_(st.integers(0, min(M, N, H)))
        return {"M": M, "N": N, "H": H, "r": r}

    return draw()


def hermitian_orbit_list(p: int) -> list[tuple[tuple[int, int], ...]]:
    """The orbits of ``(k, l) -> (-k, -l)`` on ``Z_p^2``: the origin first, then the
    ``(p^2 - 1) / 2`` conjugate pairs (definitions §2.4; :func:`theory.kolmogorov.hermitian_orbits`)."""
    p = check_odd_prime("p", p)
    out: list[tuple[tuple[int, int], ...]] = [((0, 0),)]
    for k in range(p):
        for l in range(p):
            m = ((-k) % p, (-l) % p)
            if (k, l) < m:
                out.append(((k, l), m))
    return out


def _prime_strategy(p: int | SearchStrategy[int] | None) -> SearchStrategy[int]:
    if p is None:
        return odd_primes(3, 31)
    if isinstance(p, SearchStrategy):
        return p
    return st.just(check_odd_prime("p", p))


def hermitian_supports(p: int | SearchStrategy[int] | None = None) -> SearchStrategy[dict]:
    """``{"p", "support"}``: a support on ``Z_p^2`` closed under ``(k, l) -> (-k, -l)`` (a sorted
    tuple of index pairs), as a Hermitian W has; shrinks toward small p and the empty support."""

    @st.composite
    def draw(draw_: st.DrawFn) -> dict:
        q = draw_(_prime_strategy(p))
        orbits = hermitian_orbit_list(q)
        chosen = draw_(st.sets(st.integers(0, len(orbits) - 1)))
        support = tuple(sorted(ix for i in chosen for ix in orbits[i]))
        return {"p": q, "support": support}

    return draw()


def hermitian_weights(p: int | SearchStrategy[int] | None = None) -> SearchStrategy[dict]:
    """``{"p", "support", "w"}``: a complex ``p x p`` W with ``W[-k, -l] = conj(W[k, l])``, non-zero
    exactly on a Hermitian support (the origin real), entries of modulus in [1e-3, 1]."""
    value = st.floats(1e-3, 1.0)
    sign = st.sampled_from([1.0, -1.0])

    @st.composite
    def draw(draw_: st.DrawFn) -> dict:
        case = draw_(hermitian_supports(p))
        q = case["p"]
        w = np.zeros((q, q), dtype=complex)
        for k, l in case["support"]:
            m = ((-k) % q, (-l) % q)
            if (k, l) > m:
                continue  # set with its partner
            re = draw_(sign) * draw_(value)
            im = 0.0 if (k, l) == m else draw_(sign) * draw_(value)
            w[k, l] = complex(re, im)
            w[m] = complex(re, -im)
        return {"p": q, "support": case["support"], "w": w}

    return draw()
