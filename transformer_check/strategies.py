"""Hypothesis strategies for transformer task settings (docs/claims.md): valid ``TaskConfig`` only.

Built through ``TaskConfig.__post_init__`` (the CLI's validation); shrinks toward small p, ``+``,
the default split fraction and format.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from theory.base.modular import is_prime

from .data import FORMATS, OPS, TaskConfig

__all__ = ["task_settings"]


def task_settings(
    p_range: tuple[int, int] = (5, 113),
    ops: Sequence[str] = OPS,
    fracs: Sequence[float] = (0.3, 0.5, 0.2, 0.4, 0.6, 0.8),
    seeds: SearchStrategy[int] | None = None,
    formats: Sequence[str] = FORMATS,
) -> SearchStrategy[TaskConfig]:
    """Valid :class:`TaskConfig`: odd primes in ``p_range``, each choice list simplest first."""
    primes = [p for p in range(max(3, p_range[0]), p_range[1] + 1) if p % 2 and is_prime(p)]
    if not primes:
        raise ValueError(f"p_range: no odd prime in {p_range}")
    return st.builds(
        TaskConfig,
        p=st.sampled_from(primes),
        op=st.sampled_from(list(ops)),
        frac=st.sampled_from(list(fracs)),
        seed=seeds if seeds is not None else st.integers(0, 3),
        fmt=st.sampled_from(list(formats)),
    )
