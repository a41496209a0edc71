"""The theory's claims (``CLAIMS``), registered under the ``occam.claims`` entry point (docs/claims.md).

Identities follow from the formulas (a counterexample is a bug, and ``python -m theory check``
exits 1); laws are statements that could fail (then the counterexample is the result). Each claim
names its source. All are fast: the whole list runs in well under a minute.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.claims import IDENTITY, LAW, Budget, Claim, ClaimFailed
from theory.crossover import (
    ACCURATE,
    SIMPLE,
    crossover_n,
    lambert_roots_mpmath,
    root_tolerance,
)
from theory.energy import free_energy, free_energy_gap
from theory.kolmogorov import active_orbits, enumerative_code_bits, quantise
from theory.rlct import rrr_rlct
from theory.strategies import (
    crossover_cases,
    hermitian_orbit_list,
    hermitian_supports,
    hermitian_weights,
    odd_primes,
    rrr_cases,
)

__all__ = ["CLAIMS"]

_U = float(np.finfo(float).eps)


def _fail(message: str, **values: object) -> None:
    raise ClaimFailed(message, values)


def _replay_crossover(case: dict) -> str:
    return f"python -m theory crossover --dlambda {case['dlambda']!r} --dloss {case['dloss']!r}"


# --- crossover roots ---------------------------------------------------------------------------


def _check_roots(case: dict) -> dict:
    cross = crossover_n(case["dlambda"], case["dloss"])
    a = case["dlambda"] / case["dloss"]
    if not cross.has_crossing:
        _fail(f"a = {a!r} >= e but no crossing reported", a=a)
    exact = lambert_roots_mpmath(a)  # of the float a the solver saw
    out = {"a": a, "log10_a": math.log10(a)}
    for name, n, ref in (("n0", cross.n0, exact[0]), ("n_minus1", cross.n_minus1, exact[1])):
        ref = float(ref)
        tol = root_tolerance(a, ref)
        # Residual model of tests/test_theory_crossover.py: rounding n moves h(n) = n - a ln n by
        # |n - a| u, evaluating h costs (n + a ln n) u, a few ulps more for lambertw.
        resid = abs(n - a * math.log(n))
        resid_tol = 16 * _U * (n + a * math.log(n) + abs(n - a))
        out |= {f"{name}": n, f"{name}_error": abs(n - ref), f"{name}_tol": tol}
        if abs(n - ref) > tol:
            _fail(
                f"{name} = {n!r} is {abs(n - ref):.3g} from the 50-digit root (tol {tol:.3g})",
                **out,
            )
        if resid > resid_tol and abs(n - ref) > 4 * _U * ref:
            _fail(f"{name} = {n!r}: |n - a ln n| = {resid:.3g} > {resid_tol:.3g}", **out)
    if not 1.0 < cross.n0 <= a <= cross.n_minus1:
        _fail("the roots do not straddle a (h(n) = n - a ln n is minimal at n = a)", **out)
    return out


ROOTS = Claim(
    name="theory.crossover_roots_solve_n_eq_a_ln_n",
    statement=(
        "Both crossover roots n0 (W_0) and n_-1 (W_-1) of crossover_n satisfy n = a ln n: each lies "
        "within the condition-number tolerance root_tolerance(a, n) of the 50-digit mpmath root, "
        "and 1 < n0 <= a <= n_-1."
    ),
    domain="crossover cases with a >= e: the double root a = e, e < a <= 1e3, 1e3 <= a <= 1e12",
    kind=IDENTITY,
    strategy=st.one_of(crossover_cases("a=e"), crossover_cases("a>e"), crossover_cases("a>>e")),
    check=_check_roots,
    replay=_replay_crossover,
    budget=Budget(examples=60, seconds=20.0),
    source="definitions §2.1 (Lambert-W crossover); theory/crossover.py root_condition_number",
    axes=("log10_a", "n0"),
)


# --- which phase wins --------------------------------------------------------------------------


def _interior_points(lo: float, hi: float) -> list[float]:
    if math.isinf(hi):
        return [2.0 * lo, 10.0 * lo + 10.0]
    if lo <= 1.0:  # the first interval (1, hi): a point near 1 and the geometric middle
        return [1.0 + 1e-3 * (hi - 1.0), math.sqrt(hi)]
    return [math.sqrt(lo * hi)]


def _check_winners(case: dict) -> dict:
    dlambda, dloss = case["dlambda"], case["dloss"]
    cross = crossover_n(dlambda, dloss)
    ivs = cross.intervals
    if ivs[0][0] != 1.0 or not math.isinf(ivs[-1][1]):
        _fail("the intervals do not cover (1, inf)", intervals=ivs)
    checked = []
    for lo, hi, stated in ivs:
        for n in _interior_points(lo, hi):
            # A: loss 0, RLCT dlambda; B: loss dloss, RLCT 0 (only the differences matter).
            f_a = free_energy(n, 0.0, dlambda)
            f_b = free_energy(n, dloss, 0.0)
            lower = SIMPLE if f_b < f_a else ACCURATE
            checked.append({"n": n, "F_A": f_a, "F_B": f_b, "stated": stated[0]})
            # Rounding: F_A and F_B are each good to a few ulps; a tie within that says nothing.
            if lower != stated and abs(f_a - f_b) > 8 * _U * (abs(f_a) + abs(f_b)):
                _fail(
                    f"at n = {n!r} in ({lo:g}, {hi:g}) the stated winner is {stated[0]} but "
                    f"F_A = {f_a!r}, F_B = {f_b!r}",
                    n=n,
                    F_A=f_a,
                    F_B=f_b,
                )
    a = dlambda / dloss if dloss else math.inf
    return {
        "log10_a": math.log10(a) if math.isfinite(a) else None,  # dL = 0: a is infinite
        "intervals": len(ivs),
        "points": len(checked),
    }


WINNERS = Claim(
    name="theory.crossover_winner_has_lower_free_energy",
    statement=(
        "On each interval crossover_n reports, the stated winning phase has the lower free energy "
        "F = n L + lambda ln n (computed with free_energy, independent of the gap) at interior "
        "points, and the intervals cover (1, inf)."
    ),
    domain="crossover cases in every regime: a < e, a = e, e < a <= 1e3, a >> e, dL = 0",
    kind=IDENTITY,
    strategy=crossover_cases(None),
    check=_check_winners,
    replay=_replay_crossover,
    budget=Budget(examples=100, seconds=20.0),
    source="definitions §2.1; free energy definitions §1.5 (Watanabe 2009, Thm 6.7)",
    axes=("log10_a", "intervals"),
)


# --- free energy ordering ----------------------------------------------------------------------


_phase = st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 1e4))  # (L, lambda)


def _check_ordering(case: tuple) -> dict:
    n, (l1, lam1), (l2, lam2) = case
    (l1, l2), (lam1, lam2) = sorted((l1, l2)), sorted((lam1, lam2))
    f1, f2 = free_energy(n, l1, lam1), free_energy(n, l2, lam2)
    out = {"n": n, "F1": f1, "F2": f2}
    if f1 > f2 * (1 + 4 * _U):
        _fail(f"L1 <= L2 and lambda1 <= lambda2 but F1 = {f1!r} > F2 = {f2!r}", **out)
    gap = free_energy_gap(n, l2 - l1, lam1 - lam2) if lam1 > lam2 else None
    if gap is not None:
        out["gap"] = gap
    return out


ORDERING = Claim(
    name="theory.free_energy_ordering",
    statement=(
        "For n > 1, a phase with no larger loss and no larger RLCT has no larger free energy: "
        "L1 <= L2 and lambda1 <= lambda2 imply F_n(L1, lambda1) <= F_n(L2, lambda2)."
    ),
    domain="n in (1, 1e9], losses in [0, 10] nats, RLCTs in [0, 1e4]",
    kind=IDENTITY,
    strategy=st.tuples(st.floats(1.0, 1e9).filter(lambda n: n > 1.0), _phase, _phase),
    check=_check_ordering,
    budget=Budget(examples=200, seconds=10.0),
    source="definitions §1.5 (F_n = n L + lambda ln n, both terms increasing for n > 1)",
)


# --- RRR RLCT ----------------------------------------------------------------------------------


def _check_rrr(case: dict) -> dict:
    M, N, H, r = case["M"], case["N"], case["H"], case["r"]
    x = rrr_rlct(M, N, H, r)
    lam = x.lam
    out = {"lam": lam, "multiplicity": x.multiplicity, "case": x.case, "params": H * (M + N)}
    y = rrr_rlct(N, M, H, r)
    if (y.lam, y.multiplicity) != (lam, x.multiplicity):
        _fail(f"not symmetric in M, N: {lam} vs {y.lam} with M, N swapped", **out)
    if lam > H * (M + N) / 2:
        _fail(f"lambda = {lam} > d/2 = {H * (M + N) / 2} (half the parameter count)", **out)
    if lam > M * N / 2:
        _fail(f"lambda = {lam} > M N / 2 = {M * N / 2} (the regular model of all maps)", **out)
    if lam < r * (M + N - r) / 2:
        _fail(f"lambda = {lam} < r (M + N - r) / 2 (half the rank-r manifold's dimension)", **out)
    if H == r and lam != r * (M + N - r) / 2:
        _fail(f"H = r (a regular model) but lambda = {lam} != r (M + N - r) / 2", **out)
    if rrr_rlct(M, N, H + 1, r).lam < lam:
        _fail("lambda decreases when the inner dimension H grows", **out)
    if r < min(M, N, H) and rrr_rlct(M, N, H, r + 1).lam < lam:
        _fail("lambda decreases when the true rank r grows", **out)
    if x.multiplicity not in (1, 2) or (8 * lam) % 1:
        _fail("multiplicity not in {1, 2} or 8 lambda not an integer", **out)
    return out


RRR = Claim(
    name="theory.rrr_rlct_invariants",
    statement=(
        "The Aoyagi-Watanabe RRR RLCT is symmetric in (M, N) (lambda and multiplicity), satisfies "
        "r (M + N - r) / 2 <= lambda <= min(M N, H (M + N)) / 2, equals r (M + N - r) / 2 when "
        "H = r (regular), and does not decrease as H or r grow."
    ),
    domain="M, N, H in [1, 12], true rank 0 <= r <= min(M, N, H)",
    kind=IDENTITY,
    strategy=rrr_cases(12),
    check=_check_rrr,
    replay=lambda c: (
        f'python -c "from theory.rlct import rrr_rlct; '
        f'print(rrr_rlct({c["M"]}, {c["N"]}, {c["H"]}, {c["r"]}))"'
    ),
    budget=Budget(examples=300, seconds=10.0),
    source=(
        "Aoyagi & Watanabe (2005), Main Theorem (definitions §2.2); the balanced-case bound "
        "lambda <= M N / 2 is -(H + r - M - N)^2 <= 0 (and >= 1 when the parity is odd)"
    ),
    axes=("params", "lam"),
)


# --- Kolmogorov --------------------------------------------------------------------------------


def _k_ratio(p: int, bits: int) -> float:
    return enumerative_code_bits(p, p * p, bits) / enumerative_code_bits(p, p, bits)


def _check_k_ratio(case: dict) -> dict:
    p, q, b = case["p"], case["q"], case["bits"]
    rp, rq = _k_ratio(p, b), _k_ratio(q, b)
    out = {"p": p, "q": q, "ratio_p": rp, "ratio_q": rq}
    # K(p^2) = c + p^2 b and K(p) = c + log2 C(N, s) + p b with c >= 1, so K(p^2) <= p K(p).
    if rp > p or rq > q:
        _fail("the K ratio exceeds p (impossible: K(p^2 support) <= p K(p support))", **out)
    if not rq > rp:
        _fail(f"K ratio at q = {q} ({rq:.6g}) is not above that at p = {p} ({rp:.6g})", **out)
    return out


@st.composite
def _prime_pairs(draw: st.DrawFn) -> dict:
    p = draw(odd_primes(3, 997))
    q = draw(odd_primes(3, 997).filter(lambda q: q != p))
    p, q = sorted((p, q))
    return {"p": p, "q": q, "bits": draw(st.integers(1, 64))}


K_RATIO = Claim(
    name="theory.k_ratio_grows_with_p",
    statement=(
        "The enumerative code length ratio K(memorising, |S| = p^2) / K(generalising, |S| = p) "
        "increases with p and never exceeds p."
    ),
    domain="odd primes p < q up to 997, bits per real b in [1, 64]",
    kind=LAW,
    strategy=_prime_pairs(),
    check=_check_k_ratio,
    replay=lambda c: (
        f'python -c "from theory.kolmogorov import enumerative_code_bits as K; '
        f'print([K(x, x * x, {c["bits"]}) / K(x, x, {c["bits"]}) for x in ({c["p"]}, {c["q"]})])"'
    ),
    budget=Budget(examples=200, seconds=10.0),
    source="definitions §2.4 (enumerative K of a Hermitian W; Zhang et al. (2026)'s K ~ lambda (2 log2 p + 2 b))",
    axes=("q", "ratio_q"),
)


def _check_support(case: dict) -> dict:
    p, support = case["p"], case["support"]
    orbits = hermitian_orbit_list(p)
    touched = sum(1 for o in orbits if any(ix in support for ix in o[:1]))
    d = len(support)
    out = {"p": p, "support_size": d, "orbits": touched}
    if active_orbits(d) != touched:
        _fail(f"active_orbits({d}) = {active_orbits(d)} but the support touches {touched}", **out)
    if (d % 2 == 1) != ((0, 0) in support):
        _fail("|S| odd must mean the origin is in the support", **out)
    try:
        enumerative_code_bits(p, d)
    except InputError as exc:
        _fail(f"a valid Hermitian support refused: {exc}", **out)
    return out


SUPPORTS = Claim(
    name="theory.hermitian_support_orbit_count",
    statement=(
        "A Hermitian support of size |S| touches exactly active_orbits(|S|) = ceil(|S| / 2) orbits "
        "of (k, l) -> (-k, -l), and |S| is odd exactly when the origin is in it."
    ),
    domain="supports on Z_p^2 closed under negation, p an odd prime <= 31",
    kind=IDENTITY,
    strategy=hermitian_supports(),
    check=_check_support,
    budget=Budget(examples=150, seconds=10.0),
    source="definitions §2.4 (Hermitian orbits); theory/kolmogorov.py active_orbits",
)


def _check_quantised(case: dict) -> dict:
    p, w = case["p"], case["w"]
    q = quantise(w, 8)
    neg = (-np.arange(p)) % p
    re, im = q[0], q[1]
    ok_re = np.array_equal(re, re[np.ix_(neg, neg)])
    ok_im = np.array_equal(im, -im[np.ix_(neg, neg)])
    out = {"p": p, "support_size": len(case["support"]), "nonzero_codes": int(np.count_nonzero(q))}
    if not (ok_re and ok_im):
        _fail("the quantised W is no longer Hermitian-symmetric", **out)
    return out


QUANTISED = Claim(
    name="theory.quantised_hermitian_stays_hermitian",
    statement=(
        "Quantising a Hermitian W (W[-k, -l] = conj W[k, l]) keeps the symmetry: the real codes are "
        "even and the imaginary codes odd under (k, l) -> (-k, -l)."
    ),
    domain="Hermitian W on Z_p^2 with p an odd prime <= 13, entries of modulus in [1e-3, 1]",
    kind=IDENTITY,
    strategy=hermitian_weights(odd_primes(3, 13)),
    check=_check_quantised,
    budget=Budget(examples=60, seconds=10.0),
    source="definitions §2.4 (quantiser of the compressed-size bounds): rint is odd, the scale is shared",
)


CLAIMS: list[Claim] = [ROOTS, WINNERS, ORDERING, RRR, K_RATIO, SUPPORTS, QUANTISED]
