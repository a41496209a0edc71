"""Free-energy crossover between an accurate phase A and a simple phase B (definitions §2.1).

``F_B - F_A = n dL - dlambda ln n`` vanishes where ``n = a ln n`` with ``a = dlambda / dL``; the real
solutions are ``n_k = -a W_k(-1/a)`` for the Lambert-W branches ``k in {0, -1}``, real iff ``a >= e``.
The same roots are computed three independent ways (sympy symbolic, scipy, mpmath at 50 digits).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import mpmath
import numpy as np
import scipy.optimize
import scipy.special
import sympy

from theory.base.errors import InputError, check_finite, check_odd_prime, check_positive
from theory.energy import free_energy_gap

__all__ = [
    "Crossover",
    "Paper004Crossover",
    "crossover_n",
    "paper004_crossover",
    "symbolic_roots",
    "lambert_roots_scipy",
    "lambert_roots_mpmath",
    "lambert_roots_sympy",
    "root_condition_number",
    "exact_number",
    "crossover_record",
    "DPS",
    "ACCURATE",
    "SIMPLE",
]

ACCURATE = "A (accurate: lower loss, larger RLCT)"
SIMPLE = "B (simple: smaller RLCT, larger loss)"
_U = np.finfo(float).eps  # unit round-off of float64 (2u)
#: Significant digits of the arbitrary-precision solve, and of every exact number it reports.
DPS = 50


@lru_cache(maxsize=1)
def symbolic_roots() -> dict[str, sympy.Expr]:
    """Solve ``n dL = dlambda ln n`` with sympy, extended to both real Lambert-W branches.

    ``n_k = -(dlambda/dL) LambertW(-dL/dlambda, k)`` for ``k in {0, -1}`` (definitions §2.1);
    sympy's ``solve`` returns the ``k = 0`` branch only, so the ``k = -1`` branch is substituted.
    The result is cached.

    Returns
    -------
    dict of str to sympy.Expr
        ``{"equation", "n_0", "n_-1", "a"}`` as sympy objects in the positive symbols
        ``n, Delta_lambda, Delta_L``; ``a = Delta_lambda / Delta_L``.

    References
    ----------
    Corless et al. (1996), On the Lambert W function; definitions §2.1.

    Examples
    --------
    >>> from theory import symbolic_roots
    >>> sol = symbolic_roots()
    >>> sol["equation"]
    Eq(Delta_L*n, Delta_lambda*log(n))
    >>> sol["n_-1"]
    -Delta_lambda*LambertW(-Delta_L/Delta_lambda, -1)/Delta_L
    """
    n, dlam, dloss = sympy.symbols("n Delta_lambda Delta_L", positive=True)
    eq = sympy.Eq(n * dloss, dlam * sympy.log(n))
    (principal,) = sympy.solve(eq, n)  # sympy returns the k = 0 branch only
    w = principal.atoms(sympy.LambertW).pop()
    lower = principal.subs(w, sympy.LambertW(w.args[0], -1))
    return {"equation": eq, "n_0": principal, "n_-1": lower, "a": dlam / dloss}


def _check_a(a: float) -> float:
    a = check_finite("a", a)
    if a < math.e:
        raise InputError(f"a: n = a ln n has real roots only for a >= e, got {a!r}")
    return a


def _check_a_exact(a: float | mpmath.mpf | str) -> mpmath.mpf:
    """``a`` as an mpf (a decimal string is read at full precision); unlike :func:`_check_a` it
    may lie beyond float64's range."""
    if isinstance(a, str):
        with mpmath.workdps(DPS + 10):
            a = mpmath.mpf(a)
    if not isinstance(a, mpmath.mpf):
        return mpmath.mpf(_check_a(a))
    if not mpmath.isfinite(a) or a < mpmath.e:
        raise InputError(f"a: n = a ln n has real roots only for finite a >= e, got {a}")
    return a


def exact_number(x: float | mpmath.mpf | None, dps: int = DPS) -> dict[str, str | float] | None:
    """A number as the exact solve has it, readable however far beyond float64 (1.8e308) it lies.

    Parameters
    ----------
    x : float or mpmath.mpf or None
        The number (``None`` passes through).
    dps : int, default DPS
        Significant digits of the decimal string.

    Returns
    -------
    dict or None
        ``{"decimal": x to dps significant digits, "log10": log10 x}`` (``log10`` is ``None``
        for ``x <= 0``), or ``None`` for ``x = None``.

    Examples
    --------
    >>> from theory.crossover import exact_number
    >>> d = exact_number(2.5, dps=5)
    >>> d["decimal"], round(d["log10"], 6)
    ('2.5000', 0.39794)
    """
    if x is None:
        return None
    with mpmath.workdps(dps + 5):
        xm = mpmath.mpf(x)
        log10 = float(mpmath.log10(xm)) if xm > 0 else None
        return {"decimal": mpmath.nstr(xm, dps, strip_zeros=False), "log10": log10}


def _polish_log_root(log_a: float, y: float, upper: bool) -> float:
    """Newton on ``psi(y) = y - ln y - ln a`` (``y = ln n``), which is convex with its minimum at 1.

    From the convex side Newton converges monotonically, so it stays on the wanted branch even at
    the branch point where ``scipy.special.lambertw(x, -1)`` loses all but ~4 digits.
    """
    for _ in range(400):
        step = (y - math.log(y) - log_a) / (1.0 - 1.0 / y)
        y_new = y - step
        if not upper and y_new <= 0.0:
            y_new = 0.5 * y
        if abs(y_new - y) <= 2 * _U * abs(y):
            return y_new
        y = y_new
    return y


def lambert_roots_scipy(a: float) -> tuple[float, float]:
    """Both roots ``(n_0, n_-1) = -a W_{0,-1}(-1/a)`` of ``n = a ln n`` in float64 (scipy).

    Uses ``scipy.special.lambertw``. Near the branch point (``ln a - 1 < 1/2``) the roots are
    polished by monotone Newton in ``y = ln n``, started from the branch-point series
    ``y = 1 -/+ sqrt(2 (ln a - 1))``, where ``lambertw(x, -1)`` keeps only about 4 digits.

    Parameters
    ----------
    a : float
        ``dlambda / dloss``, finite and ``>= e`` (real roots exist only there).

    Returns
    -------
    tuple of float
        ``(n_0, n_-1)``; ``n_-1`` is ``inf`` where it exceeds float64 (the exact solve of
        :func:`lambert_roots_mpmath` has it).

    Raises
    ------
    InputError
        If ``a`` is not finite or ``a < e``.

    References
    ----------
    Corless et al. (1996), On the Lambert W function; definitions §2.1.

    Examples
    --------
    >>> from theory import lambert_roots_scipy
    >>> n0, n1 = lambert_roots_scipy(10.0)
    >>> round(n0, 10), round(n1, 10)
    (1.1183255916, 35.7715206396)
    >>> lambert_roots_scipy(2.0)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: a: n = a ln n has real roots only for a >= e, got 2.0
    """
    a = _check_a(a)
    log_a = math.log(a)
    gap = log_a - 1.0
    if gap <= 0.0:  # a rounds onto the branch point: the double root n = e
        return (math.e, math.e)
    if gap < 0.5:
        s = math.sqrt(2.0 * gap)
        # start the lower root left of it and the upper root right of it (the convex sides)
        y0 = _polish_log_root(log_a, max(1.0 - 1.5 * s, 1e-3), upper=False)
        y1 = _polish_log_root(log_a, 1.0 + 1.5 * s + 1e-300, upper=True)
        return (math.exp(y0), math.exp(y1))
    x = -1.0 / a
    with np.errstate(over="ignore"):  # n_-1 beyond float64 is inf; the exact solve has it
        n0 = -a * scipy.special.lambertw(x, 0).real
        n1 = -a * scipy.special.lambertw(x, -1).real
    return (float(n0), float(n1))


def lambert_roots_mpmath(
    a: float | mpmath.mpf | str, dps: int = DPS
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Both roots of ``n = a ln n`` with ``mpmath.lambertw`` at ``dps`` significant digits.

    ``a`` is taken exactly; an mpf ``a`` (or a decimal string) may exceed float64's range.

    Parameters
    ----------
    a : float or mpmath.mpf or str
        ``dlambda / dloss``, finite and ``>= e``; a string is read at full precision.
    dps : int, default DPS
        Working precision in significant digits (``DPS = 50``).

    Returns
    -------
    tuple of mpmath.mpf
        ``(n_0, n_-1)``.

    Raises
    ------
    InputError
        If ``a`` is not finite or ``a < e``.

    References
    ----------
    Corless et al. (1996); definitions §2.1.

    Examples
    --------
    >>> import mpmath
    >>> from theory import lambert_roots_mpmath
    >>> n0, n1 = lambert_roots_mpmath(10.0, dps=30)
    >>> mpmath.nstr(n0, 20), mpmath.nstr(n1, 20)
    ('1.1183255915896296483', '35.771520639572972184')
    >>> mpmath.nstr(lambert_roots_mpmath("1e400")[1], 8)
    '9.2786693e+402'
    """
    a = _check_a_exact(a)
    with mpmath.workdps(dps):
        am = mpmath.mpf(a)
        x = -1 / am
        roots = tuple(-am * mpmath.re(mpmath.lambertw(x, k)) for k in (0, -1))
    return roots


def lambert_roots_sympy(
    a: float | mpmath.mpf | str, dps: int = DPS
) -> tuple[sympy.Float, sympy.Float]:
    """The symbolic roots of :func:`symbolic_roots` evaluated at ``a`` to ``dps`` digits.

    The third, independent solver next to :func:`lambert_roots_scipy` and
    :func:`lambert_roots_mpmath` (definitions §2.1).

    Parameters
    ----------
    a : float or mpmath.mpf or str
        ``dlambda / dloss``, finite and ``>= e``.
    dps : int, default DPS
        Significant digits of the evaluation.

    Returns
    -------
    tuple of sympy.Float
        ``(n_0, n_-1)``.

    Raises
    ------
    InputError
        If ``a`` is not finite or ``a < e``.

    References
    ----------
    Corless et al. (1996); definitions §2.1.

    Examples
    --------
    >>> from theory import lambert_roots_sympy
    >>> n0, n1 = lambert_roots_sympy(10.0, dps=20)
    >>> str(n0), str(n1)
    ('1.1183255915896296483', '35.771520639572972184')
    """
    a = _check_a_exact(a)
    sol = symbolic_roots()
    dlam, dloss = sorted(sol["a"].free_symbols, key=str)[::-1]  # Delta_lambda, Delta_L
    subs = {dlam: sympy.Float(a, dps + 10), dloss: sympy.Integer(1)}
    return tuple(sympy.re(sol[k].subs(subs).evalf(dps)) for k in ("n_0", "n_-1"))


def root_condition_number(a: float, n: float) -> float:
    """Relative condition number ``|d ln n / d ln a| = n / |n - a|`` of a root of ``n = a ln n``.

    It bounds how float rounding of ``a`` propagates to the root; it diverges at the double root
    ``a = e`` where instead ``|dn| <= e sqrt(2 |da| / e)`` (square-root sensitivity).

    Parameters
    ----------
    a : float
        ``dlambda / dloss``.
    n : float
        A root of ``n = a ln n``.

    Returns
    -------
    float
        ``n / |n - a|``; ``inf`` where ``n == a``.

    References
    ----------
    Higham (2002), Accuracy and Stability of Numerical Algorithms, §1.6; definitions §2.1.

    Examples
    --------
    >>> from theory import lambert_roots_scipy, root_condition_number
    >>> n0, n1 = lambert_roots_scipy(10.0)
    >>> round(root_condition_number(10.0, n0), 6), round(root_condition_number(10.0, n1), 6)
    (0.125914, 1.388025)
    """
    return float("inf") if n == a else abs(n / (n - a))


def root_tolerance(a: float, n: float, ulps: float = 64.0) -> float:
    """Absolute accuracy to expect of a float64 root: ``ulps * u * n * (1 + cond)`` (rounding of n
    itself plus propagated rounding of a), capped by the square-root law near the double root."""
    cond = root_condition_number(a, n)
    linear = ulps * _U * n * (1.0 + cond)
    sqrt_law = (
        4.0 * n * math.sqrt(2 * ulps * _U)
    )  # binds only where cond > ~5e7, i.e. at the double root
    return min(linear, sqrt_law) if math.isfinite(linear) else sqrt_law


@dataclass(frozen=True)
class Crossover:
    """Where phases A (accurate) and B (simple) exchange free-energy dominance (definitions §2.1).

    The float fields overflow to ``inf`` beyond float64; ``exact`` holds the arbitrary-precision
    values (``{"decimal", "log10"}`` per name, see :func:`exact_number`) of ``dlambda``, ``a``,
    ``n0`` and ``n_minus1`` in the Lambert-W case, and :func:`crossover_record` writes those.
    Made by :func:`crossover_n`.

    Attributes
    ----------
    dlambda : float
        ``lambda_A - lambda_B``.
    dloss : float
        ``L_B - L_A``.
    dm : float
        ``m_A - m_B`` (0 without the ``ln ln n`` correction).
    a : float
        ``dlambda / dloss`` (``inf`` when ``dloss = 0``).
    has_crossing : bool
        Whether the free energies cross at some ``n > 1``.
    n0 : float or None
        The ``W_0`` root, where B starts to win.
    n_minus1 : float or None
        The ``W_-1`` root, beyond which A wins again.
    intervals : list of tuple
        ``(from, to, winner)`` covering ``[1, inf)``.
    message : str
        One sentence saying who wins where.
    exact : dict
        Exact values, see above.

    References
    ----------
    Watanabe (2009), Thm 6.7; Zhang et al. (2026), Sec. 5; definitions §2.1.

    Examples
    --------
    >>> from theory import crossover_n
    >>> c = crossover_n(4656.0, 0.01)
    >>> c.has_crossing, f"{c.n0:.10g}", f"{c.n_minus1:.10g}"
    (True, '1.000002148', '7361993.301')
    >>> c.winner(1e5)
    'B (simple: smaller RLCT, larger loss)'
    """

    dlambda: float
    dloss: float
    dm: float
    a: float  # dlambda / dloss (inf when dloss = 0)
    has_crossing: bool
    n0: float | None  # the W_0 root (B starts to win)
    n_minus1: float | None  # the W_-1 root (A wins again beyond it)
    intervals: list[tuple[float, float, str]] = field(default_factory=list)
    message: str = ""
    exact: dict[str, dict[str, str | float] | None] = field(default_factory=dict)

    def winner(self, n: float) -> str:
        """The phase with the lower free energy at sample size ``n`` (ties go to A).

        Parameters
        ----------
        n : float
            Number of samples, ``> 0``.

        Returns
        -------
        str
            :data:`ACCURATE` or :data:`SIMPLE`.

        Examples
        --------
        >>> from theory import crossover_n
        >>> crossover_n(4656.0, 0.01).winner(1e6)
        'B (simple: smaller RLCT, larger loss)'
        >>> crossover_n(4656.0, 0.01).winner(1e8)
        'A (accurate: lower loss, larger RLCT)'
        """
        gap = free_energy_gap(n, self.dloss, self.dlambda, self.dm)
        return SIMPLE if gap < 0 else ACCURATE


def _intervals(roots: list[float], gap_at_one_plus: float) -> list[tuple[float, float, str]]:
    edges = [1.0, *roots, math.inf]
    winner = SIMPLE if gap_at_one_plus < 0 else ACCURATE
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        out.append((lo, hi, winner))
        winner = ACCURATE if winner == SIMPLE else SIMPLE
    return out


def _numeric_roots(dlambda: float, dloss: float, dm: float) -> list[float]:
    """Sign changes of ``F_B - F_A`` on ``n > 1`` (used with the ln ln n correction)."""

    def gap(log_nm1: float) -> float:
        return free_energy_gap(1.0 + math.exp(log_nm1), dloss, dlambda, dm)

    a = dlambda / dloss if dloss > 0 else 1e6
    hi = math.log(max(100.0, 50.0 * a * (1 + math.log1p(a))))
    grid = np.linspace(-34.0, hi, 4001)  # 1 + e^-34 is still > 1 in float64
    vals = np.array([gap(t) for t in grid])
    roots = []
    for i in np.flatnonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0):
        t = scipy.optimize.brentq(gap, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
        roots.append(1.0 + math.exp(t))
    return roots


def _short(x: float, exact: dict | None, digits: int) -> str:
    """``x`` to ``digits`` significant digits, from the exact value where float64 overflowed."""
    if math.isfinite(x) or exact is None:
        return f"{x:.{digits}g}"
    with mpmath.workdps(DPS):
        return mpmath.nstr(mpmath.mpf(exact["decimal"]), digits)


def crossover_n(dlambda: float, dloss: float, dm: float = 0.0) -> Crossover:
    """Solve ``F_A(n) = F_B(n)`` for both real roots and say which phase wins where.

    ``F_B - F_A = n dL - dlambda ln n`` vanishes at ``n_k = -a W_k(-1/a)``, ``a = dlambda / dL``,
    real iff ``a >= e`` (definitions §2.1). ``dm`` switches on Watanabe's ``(m-1) ln ln n``
    correction, which has no closed form: the roots are then found numerically.

    Parameters
    ----------
    dlambda : float
        ``lambda_A - lambda_B > 0``.
    dloss : float
        ``L_B - L_A >= 0``; 0 (noiseless) means B wins at every ``n > 1``.
    dm : float, default 0.0
        ``m_A - m_B``.

    Returns
    -------
    Crossover
        The roots, the winning phase on each interval and a one-sentence message.

    Raises
    ------
    InputError
        If ``dlambda <= 0``, ``dloss < 0``, a value is not finite, or ``dm != 0`` with
        ``dlambda / dloss`` beyond float64.

    References
    ----------
    Watanabe (2009), Thm 6.7; Corless et al. (1996); definitions §2.1.

    Examples
    --------
    >>> from theory import crossover_n
    >>> c = crossover_n(4656.0, 0.01)
    >>> round(c.a, 6), round(c.n0, 10), round(c.n_minus1, 3)
    (465600.0, 1.0000021478, 7361993.301)
    >>> print(c.message)
    A wins on [1, 1.000002148), the simple phase B on (1.000002148, 7.36199e+06), and A again for n > 7.36199e+06
    >>> crossover_n(1.0, 1.0).has_crossing
    False
    >>> c = crossover_n(10.0, 1.0, dm=1.0)
    >>> round(c.n_minus1, 6), c.message
    (34.004675, 'with the ln ln n correction (dm = 1): 1 crossing(s) found numerically')
    """
    dlambda = check_positive("dlambda", dlambda)
    dloss = check_positive("dloss", dloss, allow_zero=True)
    dm = check_finite("dm", dm)
    return _crossover(mpmath.mpf(dlambda), dloss, dm)


def _crossover(dlambda_exact: mpmath.mpf, dloss: float, dm: float) -> Crossover:
    """:func:`crossover_n` with ``dlambda`` given exactly (it may exceed float64's range)."""
    dlambda = float(dlambda_exact)  # inf beyond float64; the exact value is kept
    if dloss == 0 and not dm:
        msg = (
            "dloss = 0 (noiseless): the simple phase B has the same loss and a smaller RLCT, "
            "so it wins for every n > 1; there is no crossing"
        )
        ex = {"dlambda": exact_number(dlambda_exact)}
        return Crossover(
            dlambda, 0.0, dm, math.inf, False, None, None, [(1.0, math.inf, SIMPLE)], msg, ex
        )
    with mpmath.workdps(DPS + 5):
        a_exact = dlambda_exact / mpmath.mpf(dloss) if dloss > 0 else mpmath.inf
    # Float arithmetic where it fits, so results within float64 are what they always were.
    a = dlambda / dloss if dloss > 0 and math.isfinite(dlambda) else float(a_exact)
    if dm:
        if not math.isfinite(dlambda) or not a < 1e300:
            raise InputError(
                f"dm: with the ln ln n correction the roots are found in float64, but dlambda/dloss "
                f"= {mpmath.nstr(a_exact, 6)} is beyond its range; drop --dm or use a smaller ratio"
            )
        roots = _numeric_roots(dlambda, dloss, dm)
        ivs = _intervals(roots, free_energy_gap(1.0 + 1e-12, dloss, dlambda, dm))
        msg = (
            f"with the ln ln n correction (dm = {dm:g}): {len(roots)} crossing(s) found numerically"
        )
        # n0: where B starts to win; n_-1: where A takes over again (as in the Lambert-W case).
        n0 = next((lo for lo, _, w in ivs[1:] if w == SIMPLE), None)
        n1 = next((lo for lo, _, w in ivs[1:][::-1] if w == ACCURATE), None)
        return Crossover(dlambda, dloss, dm, a, bool(roots), n0, n1, ivs, msg)
    exact = {"dlambda": exact_number(dlambda_exact), "a": exact_number(a_exact)}
    if a < math.e:
        msg = (
            f"a = dlambda/dloss = {a:.6g} < e: n - a ln n > 0 for all n, so the accurate phase A "
            "wins at every n; there is no crossing"
        )
        return Crossover(
            dlambda, dloss, 0.0, a, False, None, None, [(1.0, math.inf, ACCURATE)], msg, exact
        )
    # The exact roots are those of the exact a (the float a can be 1/2 ulp off); only at the
    # branch point, where a float e lies just below the true e, is the float a taken.
    m0, m1 = lambert_roots_mpmath(a_exact if a_exact >= mpmath.e else a, DPS)
    exact |= {"n0": exact_number(m0), "n_minus1": exact_number(m1)}
    if math.isfinite(a):
        n0, n1 = lambert_roots_scipy(a)
    else:
        n0, n1 = float(m0), math.inf
    if not math.isfinite(n1):
        n1 = math.inf  # beyond float64: ``exact`` has it
    if n0 == n1:
        msg = "a = e: double root n = e where the phases tie; A wins elsewhere"
        return Crossover(
            dlambda, dloss, 0.0, a, True, n0, n1, [(1.0, math.inf, ACCURATE)], msg, exact
        )
    s0, s1 = _short(n0, exact["n0"], 10), _short(n1, exact["n_minus1"], 6)
    msg = f"A wins on [1, {s0}), the simple phase B on ({s0}, {s1}), and A again for n > {s1}"
    ivs = _intervals([n0, n1], dloss)
    return Crossover(dlambda, dloss, 0.0, a, True, n0, n1, ivs, msg, exact)


def _big(x: float | None, exact: dict | None) -> float | str | None:
    """A float where it fits float64, else the exact decimal string (never ``inf``)."""
    if x is None or math.isfinite(x) or exact is None:
        return x
    return exact["decimal"]


def crossover_record(cross: Crossover) -> dict:
    """``cross`` as JSON-ready data.

    Values beyond float64 become exact decimal strings, with their ``log10`` in ``exact``; only
    the unbounded last interval ends at ``inf``.

    Parameters
    ----------
    cross : Crossover
        The result of :func:`crossover_n`.

    Returns
    -------
    dict
        The fields of ``cross``.

    Examples
    --------
    A crossover beyond float64 (``n* ~ 10^609``) keeps its digits:

    >>> from theory import paper004_crossover
    >>> from theory.crossover import crossover_record
    >>> rec = crossover_record(paper004_crossover(1e300, 97, 1e-300).crossover)
    >>> rec["n_minus1"][:12], rec["exact"]["n_minus1"]["log10"] > 308, rec["intervals"][-1][1]
    ('1.3017550837', True, inf)
    """
    ex = cross.exact
    out = asdict(cross)
    for name in ("dlambda", "a", "n0", "n_minus1"):
        out[name] = _big(getattr(cross, name), ex.get(name))
    roots = [ex.get("n0"), ex.get("n_minus1")]
    ivs = []
    for i, (lo, hi, w) in enumerate(cross.intervals):
        last = i == len(cross.intervals) - 1
        lo_ex = roots[i - 1] if 0 < i <= len(roots) else None
        hi_ex = roots[i] if i < len(roots) and not last else None
        ivs.append((_big(lo, lo_ex), hi if last else _big(hi, hi_ex), w))
    out["intervals"] = ivs
    return out


@dataclass(frozen=True)
class Paper004Crossover:
    """Zhang et al. (2026)'s crossover ``n* = -(beta (p^2-p) / eps) W_-1(-eps / (beta (p^2-p)))``.

    Definitions §2.1. ``n_star`` is ``inf`` where n* exceeds float64; ``n_star_exact`` always has
    it (``{"decimal": 50 digits, "log10": ...}``). Made by :func:`paper004_crossover`.

    Attributes
    ----------
    beta : float
        Strength of the l0 prior.
    p : int
        The odd prime modulus.
    eps_gen : float
        Excess loss of the generalising phase.
    n_star : float or None
        The ``W_-1`` root (``None`` without a crossing).
    crossover : Crossover
        The full solution.
    meaning : str
        What n* means, in one sentence.
    n_star_exact : dict or None
        n* to 50 digits with its ``log10``.

    References
    ----------
    Zhang et al. (2026), Sec. 5; definitions §2.1.

    Examples
    --------
    >>> from theory import paper004_crossover
    >>> r = paper004_crossover(0.5, 97, 0.01)
    >>> f"{r.n_star:.10g}", r.n_star_exact["decimal"][:20]
    ('7361993.301', '7361993.301378364401')
    """

    beta: float
    p: int
    eps_gen: float
    n_star: float | None
    crossover: Crossover
    meaning: str
    n_star_exact: dict[str, str | float] | None = None


def paper004_crossover(beta: float, p: int, eps_gen: float) -> Paper004Crossover:
    """Zhang et al. (2026) (Sec. 5) crossover with ``dlambda = beta (p^2 - p)``, ``dloss = eps_gen``.

    It is the ``W_-1`` root of :func:`crossover_n`: for ``n > n*`` the accurate (memorising,
    full-support) phase wins again; below it, down to ``n_0``, the generalising phase is
    preferred. ``dlambda`` and ``a`` are formed in arbitrary precision, so no product overflows.

    Parameters
    ----------
    beta : float
        Strength of the l0 prior, ``> 0``.
    p : int
        Odd prime modulus.
    eps_gen : float
        Excess loss of the generalising phase, ``>= 0``.

    Returns
    -------
    Paper004Crossover

    Raises
    ------
    InputError
        If ``beta <= 0``, ``p`` is not an odd prime or ``eps_gen < 0``.

    References
    ----------
    Zhang et al. (2026), Grokking From Abstraction to Intelligence, Sec. 5; definitions §2.1.

    Examples
    --------
    The paper's p = 97:

    >>> from theory import paper004_crossover
    >>> r = paper004_crossover(0.5, 97, 0.01)
    >>> round(r.n_star, 3)
    7361993.301
    >>> print(r.meaning)
    n* = 7.36199e+06 is the W_-1 root: the switch BACK to the accurate phase; the generalising phase wins on (1, 7.36199e+06)
    >>> r = paper004_crossover(1e300, 97, 1e-300)
    >>> r.n_star, r.n_star_exact["log10"] > 308
    (inf, True)
    """
    beta = check_positive("beta", beta)
    p = check_odd_prime("p", p)
    eps_gen = check_positive("eps_gen", eps_gen, allow_zero=True)
    with mpmath.workdps(DPS + 5):
        dlambda = mpmath.mpf(beta) * (p * p - p)
    cross = _crossover(dlambda, eps_gen, 0.0)
    n_star_exact = cross.exact.get("n_minus1")
    if cross.has_crossing:
        s0 = _short(cross.n0, cross.exact.get("n0"), 6)
        s1 = _short(cross.n_minus1, n_star_exact, 6)
        meaning = (
            f"n* = {s1} is the W_-1 root: the switch BACK to the accurate phase; "
            f"the generalising phase wins on ({s0}, {s1})"
        )
    else:
        meaning = "no crossing: " + cross.message
    return Paper004Crossover(beta, p, eps_gen, cross.n_minus1, cross, meaning, n_star_exact)
