"""Complexity measures logged during training (definitions §4.3), each ``f(model, dataset) -> dict``.

One module per measure; :mod:`.registry` names them all (see its docstring to add one) and
builds them from their options. :mod:`.basic` (loss, accuracy, norm) is always logged.
"""

from __future__ import annotations

from transformer_check.measures.registry import (
    ALL_MEASURES,
    BUILTIN_MEASURES,
    MEASURES,
    PROGRESS_MEASURES,
    MeasureFn,
    MeasureSpec,
    build_measure,
    build_measures,
    get_measure,
    parse_measure_option,
)

__all__ = [
    "MeasureFn",
    "MeasureSpec",
    "MEASURES",
    "BUILTIN_MEASURES",
    "PROGRESS_MEASURES",
    "ALL_MEASURES",
    "build_measure",
    "build_measures",
    "parse_measure_option",
    "get_measure",
]
