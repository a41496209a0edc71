"""Hypothesis strategies for SFM settings (docs/claims.md): valid configs only, shrinking small.

Every case is an :class:`sfm.SFMConfig` built through its own ``__post_init__`` validation (the
same checks as ``python -m sfm run``), so a generated config is one the CLI accepts. Choices are
``sampled_from`` with the simplest first (small p, ``+``, ``flat``, the schedule's default
strength), so Hypothesis shrinks a counterexample toward the simplest setting that shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from theory.base.errors import InputError
from theory.strategies import odd_primes

from .dynamics import SFMConfig
from .schedules import SCHEDULE_DEFAULTS, SCHEDULES, STRENGTH

__all__ = [
    "ORDERED_SCHEDULES",
    "STRENGTH_FACTORS",
    "settings",
    "strength_pairs",
    "with_strength",
]

#: Multiples of a schedule's default strength, simplest (the default) first.
STRENGTH_FACTORS = (1.0, 0.5, 2.0, 0.25, 4.0)
#: Schedules with a strength parameter (``STRENGTH``), the default first.
ORDERED_SCHEDULES = tuple(s for s in SCHEDULES if STRENGTH[s] is not None)
_FRACTIONS = (0.5, 0.3, 0.7, 0.8, 0.4, 0.6, 0.9)


def _as_strategy(x, default: SearchStrategy) -> SearchStrategy:
    if x is None:
        return default
    if isinstance(x, SearchStrategy):
        return x
    if isinstance(x, str | int | float):
        return st.just(x)
    return st.sampled_from(list(x))


def with_strength(cfg: SFMConfig, value: float) -> SFMConfig:
    """``cfg`` with its schedule's strength parameter (``STRENGTH``) set to ``value`` (validated)."""
    key = STRENGTH[cfg.schedule]
    if key is None:
        raise InputError(f"schedule: {cfg.schedule!r} has no strength parameter")
    return replace(cfg, **{key: float(value)})


@st.composite
def _configs(draw, p, f, ops, targets, schedules, factors, steps, seeds, eta, stop_after_gen):
    schedule = draw(schedules)
    kw = {}
    key = STRENGTH.get(schedule)
    if key is not None:
        kw[key] = SCHEDULE_DEFAULTS[schedule][key] * draw(factors)
    try:
        return SFMConfig(
            p=draw(p),
            f=draw(f),
            op=draw(ops),
            target=draw(targets),
            schedule=schedule,
            eta=draw(eta),
            steps=draw(steps),
            seed=draw(seeds),
            stop_after_gen=stop_after_gen,
            **kw,
        )
    except InputError:
        assume(False)  # only valid configs: the config's own validation decides
        raise  # unreachable


def settings(
    p: SearchStrategy[int] | Sequence[int] | int | None = None,
    f: SearchStrategy[float] | Sequence[float] | float | None = None,
    ops: Sequence[str] | str | None = None,
    targets: Sequence[str] | str | None = None,
    schedules: Sequence[str] | str | None = None,
    factors: Sequence[float] | None = None,
    steps: SearchStrategy[int] | Sequence[int] | int = 2000,
    seeds: SearchStrategy[int] | Sequence[int] | int | None = None,
    eta: SearchStrategy[float] | Sequence[float] | float = 1.0,
    stop_after_gen: int | None = 0,
) -> SearchStrategy[SFMConfig]:
    """Valid :class:`SFMConfig` cases.

    Defaults: ``p`` odd primes in [7, 23]; ``f`` from a grid in [0.3, 0.9]; every operation and
    named target; every schedule (``SCHEDULES``, the default first); the strength (``STRENGTH``)
    a factor in :data:`STRENGTH_FACTORS` of the schedule's default; ``steps = 2000``; seeds 0-3;
    ``eta = 1``; ``stop_after_gen = 0`` (a run stops at its ``t_gen``: cheap). Each argument takes
    a strategy, a list of choices (simplest first) or one value.
    """
    return _configs(
        _as_strategy(p, odd_primes(7, 23)),
        _as_strategy(f, st.sampled_from(_FRACTIONS)),
        _as_strategy(ops, st.sampled_from(("+", "-", "*", "/"))),
        _as_strategy(targets, st.sampled_from(("flat", "random-phase"))),
        _as_strategy(schedules, st.sampled_from(SCHEDULES)),
        _as_strategy(factors, st.sampled_from(STRENGTH_FACTORS)),
        _as_strategy(steps, st.just(2000)),
        _as_strategy(seeds, st.integers(0, 3)),
        _as_strategy(eta, st.just(1.0)),
        stop_after_gen,
    )


def strength_pairs(
    schedule: str | Sequence[str] | None = None, **kwargs
) -> SearchStrategy[tuple[SFMConfig, SFMConfig]]:
    """``(weaker, stronger)``: two valid configs equal except that the second's strength is larger.

    ``schedule``: one name, several, or None for every schedule with a strength
    (:data:`ORDERED_SCHEDULES`). ``kwargs`` go to :func:`settings`. The stronger strength is the
    weaker times 2 or 4.
    """
    names = ORDERED_SCHEDULES if schedule is None else schedule
    base = settings(schedules=names, **kwargs)

    @st.composite
    def pair(draw):
        weak = draw(base)
        key = STRENGTH[weak.schedule]
        try:
            strong = with_strength(
                weak, getattr(weak.params(), key) * draw(st.sampled_from((2, 4)))
            )
        except InputError:
            assume(False)
            raise
        return weak, strong

    return pair()
