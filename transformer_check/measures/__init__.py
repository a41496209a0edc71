"""Complexity measures logged during training (SPEC §4.3); each is ``f(model, dataset) -> dict``.

Part 1 provides :mod:`.basic`, :mod:`.spectral`, :mod:`.compression`, :mod:`.fourier` and
:mod:`.bdm_measure`; part 2 adds sparsity, weight entropy, circuit, LMN, mediation and LLC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["MeasureFn", "BUILTIN_MEASURES", "get_measure"]

MeasureFn = Callable[[Any, Any], dict[str, Any]]

BUILTIN_MEASURES = ("spectral", "compression", "fourier", "bdm")


def get_measure(name: str, **options: Any) -> MeasureFn:
    """The built-in measure ``name`` (imported lazily so a missing optional part fails late)."""
    from theory.cli_support import InputError

    if name == "spectral":
        from transformer_check.measures.spectral import spectral_measures

        return spectral_measures
    if name == "compression":
        from transformer_check.measures.compression import compression_measures

        return lambda m, ds: compression_measures(m, ds, **options)
    if name == "fourier":
        from transformer_check.measures.fourier import fourier_measures

        return fourier_measures
    if name == "bdm":
        from transformer_check.measures.bdm_measure import bdm_measures

        return bdm_measures
    raise InputError(
        f"measures: unknown measure {name!r}; choose from {', '.join(BUILTIN_MEASURES)}"
    )
