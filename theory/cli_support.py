"""The command-line convention shared by every ``python -m <package>`` (README, "CLI").

Bad input is reported as one line naming the argument, the allowed range and what to do, with
exit code 2; library functions raise :class:`InputError` with the same kind of message.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "InputError",
    "OccamArgumentParser",
    "add_out_argument",
    "run_cli",
    "is_prime",
    "check_finite",
    "check_positive",
    "check_range",
    "check_odd_prime",
    "check_int",
    "arg_type",
]


class InputError(ValueError):
    """Invalid user input; the message says which argument, what range, and what to do."""


def is_prime(n: int) -> bool:
    """Deterministic trial division (inputs here are small moduli)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    r = math.isqrt(n)
    return all(n % d for d in range(3, r + 1, 2))


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
    """An odd prime modulus (SPEC §1.1)."""
    v = check_int(name, p)
    if v < 3 or not is_prime(v):
        lower = next((q for q in range(v, 2, -1) if is_prime(q)), 3)
        raise InputError(f"{name}: must be an odd prime, got {p!r}; try {lower}")
    return v


def arg_type(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[str], Any]:
    """Turn a ``check_*(name, value, ...)`` validator into an argparse ``type=``."""

    def convert(text: str) -> Any:
        try:
            return check("value", text, *args, **kwargs)
        except InputError as exc:
            # argparse prefixes "argument --name:"; drop our generic "value:" prefix.
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    convert.__name__ = getattr(check, "__name__", "value").removeprefix("check_")
    return convert


class OccamArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (argument, range, remedy) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def add_out_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """Every subcommand takes ``--out DIR``: the run directory its files go into."""
    parser.add_argument(
        "--out", type=Path, default=Path(default), help=f"output directory (default: {default})"
    )


def run_cli(build_parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and call the chosen subcommand's ``func(args)``.

    :class:`InputError` raised by the library becomes one line on stderr and exit code 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        rc = func(args)
    except InputError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{parser.prog}: interrupted; finished results are kept\n")
        return 130
    return int(rc or 0)
