"""Errors and validators shared by every occam package (docs/architecture.md, "base").

Bad input is reported as one line naming the argument, the allowed range and what to do; library
functions raise :class:`InputError` with that message and every CLI turns it into exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from theory.base.modular import is_prime

__all__ = [
    "InputError",
    "check_finite",
    "check_positive",
    "check_range",
    "check_int",
    "check_odd_prime",
    "check_choice",
]


class InputError(ValueError):
    """Invalid user input; the message says which argument, what range, and what to do.

    A :class:`ValueError`, so callers that catch that keep working; every CLI turns it into one
    line on stderr and exit code 2 (``theory.base.run_cli``).

    Examples
    --------
    >>> from theory.base import InputError, check_positive
    >>> try:
    ...     check_positive("beta", -1)
    ... except InputError as exc:
    ...     print(exc)
    beta: must be > 0, got -1
    """


def check_finite(name: str, x: Any) -> float:
    """``float(x)``, or an :class:`InputError` if ``x`` is not a finite real number.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : Any
        The value.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``x`` is not a real number, or is NaN or infinite.

    Examples
    --------
    >>> from theory.base import check_finite
    >>> check_finite("a", "2.5")
    2.5
    >>> check_finite("a", float("nan"))
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: a: must be finite, got nan
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a real number, got {x!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name}: must be finite, got {x!r}")
    return v


def check_positive(name: str, x: Any, allow_zero: bool = False) -> float:
    """``float(x)`` if it is finite and ``> 0`` (or ``>= 0`` with ``allow_zero``).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : Any
        The value.
    allow_zero : bool, default False
        Accept 0.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``x`` is not finite, negative, or zero without ``allow_zero``.

    Examples
    --------
    >>> from theory.base import check_positive
    >>> check_positive("eps_gen", 0, allow_zero=True)
    0.0
    >>> check_positive("eps_gen", 0)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: eps_gen: must be > 0, got 0
    """
    v = check_finite(name, x)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name}: must be {bound}, got {x!r}")
    return v


def check_range(
    name: str,
    x: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    hint: str = "",
) -> float:
    """``float(x)`` if it is finite and inside the interval given by ``lo`` and ``hi``.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : Any
        The value.
    lo, hi : float or None
        The ends (``None``: unbounded).
    lo_open, hi_open : bool, default False
        Exclude that end.
    hint : str, default ""
        What to do, appended to the message.

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``x`` is not finite or lies outside the interval.

    Examples
    --------
    >>> from theory.base import check_range
    >>> check_range("frac", 0.3, 0.0, 1.0, lo_open=True)
    0.3
    >>> check_range("eta", 2, 0.0, 2.0, hi_open=True, hint="the drift is stable for eta < 2")
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: eta: must lie in [0, 2), got 2; the drift is stable for eta < 2
    """
    v = check_finite(name, x)
    bad = (lo is not None and (v < lo or (lo_open and v == lo))) or (
        hi is not None and (v > hi or (hi_open and v == hi))
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        msg = f"{name}: must lie in {left}{lo_s}, {hi_s}{right}, got {x!r}"
        raise InputError(msg + (f"; {hint}" if hint else ""))
    return v


def check_int(name: str, x: Any, lo: int | None = None, hi: int | None = None) -> int:
    """``int(x)`` if ``x`` is an integer (no silent truncation of 2.5) inside ``[lo, hi]``.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : Any
        The value; ``True``/``False`` are refused.
    lo, hi : int or None
        Inclusive bounds (``None``: unbounded).

    Returns
    -------
    int

    Raises
    ------
    InputError
        If ``x`` is not an integer or lies outside ``[lo, hi]``.

    Examples
    --------
    >>> from theory.base import check_int
    >>> check_int("bits", 8.0, lo=1)
    8
    >>> check_int("bits", 2.5)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: bits: expected an integer, got 2.5
    """
    if isinstance(x, bool):
        raise InputError(f"{name}: expected an integer, got {x!r}")
    try:
        v = int(x)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected an integer, got {x!r}") from None
    try:
        exact = float(x) == v
    except (TypeError, ValueError):
        exact = False
    if not exact:
        raise InputError(f"{name}: expected an integer, got {x!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        lo_s = "-inf" if lo is None else str(lo)
        hi_s = "inf" if hi is None else str(hi)
        raise InputError(f"{name}: must be an integer in [{lo_s}, {hi_s}], got {x!r}")
    return v


def check_odd_prime(name: str, p: Any) -> int:
    """``int(p)`` if it is an odd prime modulus (definitions §1.1).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    p : Any
        The value.

    Returns
    -------
    int

    Raises
    ------
    InputError
        If ``p`` is not an integer or not an odd prime; the message suggests the prime below.

    Examples
    --------
    >>> from theory.base import check_odd_prime
    >>> check_odd_prime("p", 97)
    97
    >>> check_odd_prime("p", 100)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: p: must be an odd prime, got 100; try 97
    """
    v = check_int(name, p)
    if v < 3 or not is_prime(v):
        lower = next((q for q in range(v, 2, -1) if is_prime(q)), 3)
        raise InputError(f"{name}: must be an odd prime, got {p!r}; try {lower}")
    return v


def check_choice(name: str, x: Any, choices: Sequence[Any]) -> Any:
    """``x`` if it is one of ``choices``, else an :class:`InputError` listing them.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : Any
        The value.
    choices : Sequence
        The allowed values.

    Returns
    -------
    Any
        ``x``.

    Raises
    ------
    InputError
        If ``x`` is not in ``choices``.

    Examples
    --------
    >>> from theory.base import check_choice
    >>> check_choice("op", "+", ("+", "-", "*", "/"))
    '+'
    >>> check_choice("op", "^", ("+", "-"))
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: op: must be one of +, -, got '^'
    """
    if x not in choices:
        listed = ", ".join(str(c) for c in choices)
        raise InputError(f"{name}: must be one of {listed}, got {x!r}")
    return x
