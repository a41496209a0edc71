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
    """Invalid user input; the message says which argument, what range, and what to do."""


def check_finite(name: str, x: Any) -> float:
    """Return ``float(x)`` or raise :class:`InputError` if it is not a finite real number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a real number, got {x!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name}: must be finite, got {x!r}")
    return v


def check_positive(name: str, x: Any, allow_zero: bool = False) -> float:
    """Finite and > 0 (or >= 0 with ``allow_zero``)."""
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
    """Finite and inside the interval given by ``lo``/``hi`` (open ends as flagged)."""
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
    """An integer (no silent truncation of 2.5) inside ``[lo, hi]``."""
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
    """An odd prime modulus (definitions §1.1)."""
    v = check_int(name, p)
    if v < 3 or not is_prime(v):
        lower = next((q for q in range(v, 2, -1) if is_prime(q)), 3)
        raise InputError(f"{name}: must be an odd prime, got {p!r}; try {lower}")
    return v


def check_choice(name: str, x: Any, choices: Sequence[Any]) -> Any:
    """``x`` if it is one of ``choices``, else an :class:`InputError` listing them."""
    if x not in choices:
        listed = ", ".join(str(c) for c in choices)
        raise InputError(f"{name}: must be one of {listed}, got {x!r}")
    return x
