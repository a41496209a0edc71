"""Validators the measures' options dataclasses share beyond :mod:`theory.base.errors`."""

from __future__ import annotations

from typing import Any

from theory.base.errors import InputError

__all__ = ["check_bool"]


def check_bool(name: str, x: Any) -> bool:
    """``x`` if it is a bool (``1`` or ``"yes"`` would hide a typo in a config file)."""
    if not isinstance(x, bool):
        raise InputError(f"{name}: expected true or false, got {x!r}")
    return x
