"""Memory a run or a sweep will need, checked against this machine before anything is allocated.

The costs are measured peaks (``/usr/bin/time -f %M``, docs/sfm.md "Limits"), rounded up: a
``sfm run`` holds about 300 bytes per pair ``(u, v)`` (targets, masks, predictions, residuals,
the three ``p x p`` snapshots and the heatmap figures) plus about 2 kB per logged step (curves, the
CSV rows); a sweep point holds about 64 bytes per pair for its tables plus 64 per pair per seed,
and every worker holds one point at a time.
"""

from __future__ import annotations

import math
import os

from theory.base.errors import InputError
from theory.base.modular import is_prime

__all__ = [
    "RUN_BYTES_PER_PAIR",
    "RUN_BYTES_PER_LOGGED_STEP",
    "POINT_BYTES_PER_PAIR",
    "POINT_BYTES_PER_PAIR_SEED",
    "available_memory",
    "run_bytes",
    "point_bytes",
    "check_fits",
]

RUN_BYTES_PER_PAIR = 320
RUN_BYTES_PER_LOGGED_STEP = 2_000
POINT_BYTES_PER_PAIR = 64
POINT_BYTES_PER_PAIR_SEED = 64
_BASE_BYTES = 300 * 2**20  # the interpreter, numpy, numba, matplotlib


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable`` of ``/proc/meminfo``, else the
    physical memory (``sysconf``); ``None`` where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def run_bytes(p: int, steps: int, log_every: int) -> int:
    """Estimated peak of ``sfm run`` at modulus ``p``."""
    logged = steps // log_every + 2
    return _BASE_BYTES + RUN_BYTES_PER_PAIR * p * p + RUN_BYTES_PER_LOGGED_STEP * logged


def point_bytes(p: int, seeds: int) -> int:
    """Estimated peak of one sweep point (all its seeds as one batch) at modulus ``p``."""
    return _BASE_BYTES + (POINT_BYTES_PER_PAIR + POINT_BYTES_PER_PAIR_SEED * seeds) * p * p


def _gb(x: float) -> str:
    return f"{x / 1e9:.3g} GB"


def _largest_prime_fitting(per_pair: float, budget: float) -> int | None:
    q = int(math.isqrt(max(int(budget / per_pair), 0)))
    while q > 2 and not (q % 2 and is_prime(q)):
        q -= 1
    return q if q > 2 else None


def check_fits(what: str, need: int, p: int, per_pair: float, remedy: str) -> None:
    """Raise :class:`InputError` (naming ``--p``) when ``need`` bytes exceed available memory."""
    have = available_memory()
    if have is None or need <= have:
        return
    q = _largest_prime_fitting(per_pair, have - _BASE_BYTES)
    hint = f"use --p {q} or less, " if q else ""
    raise InputError(
        f"--p: {what} at p = {p} needs about {_gb(need)} of memory ({per_pair:g} bytes per pair, "
        f"p^2 = {p * p:.3g} pairs) but this machine has {_gb(have)} available; {hint}{remedy}"
    )
