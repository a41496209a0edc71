"""Complexity measures logged during training (SPEC §4.3); each is ``f(model, dataset) -> dict``.

Part 1 provides :mod:`.basic`, :mod:`.spectral`, :mod:`.compression`, :mod:`.fourier` and
:mod:`.bdm_measure`; part 2 adds sparsity, weight entropy, circuit, LMN, mediation and LLC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["MeasureFn", "BUILTIN_MEASURES", "PROGRESS_MEASURES", "ALL_MEASURES", "get_measure"]

MeasureFn = Callable[[Any, Any], dict[str, Any]]

# Logged by default during training (cheap, SPEC §4.3 first group).
BUILTIN_MEASURES = ("spectral", "compression", "fourier", "bdm")
# The papers' progress measures (paper 003, 002, 004) and the LLC (SPEC §2.3): opt-in in training.
PROGRESS_MEASURES = ("sparsity", "weight_entropy", "circuit", "lmn", "mediation", "llc")
ALL_MEASURES = BUILTIN_MEASURES + PROGRESS_MEASURES


def get_measure(name: str, **options: Any) -> MeasureFn:
    """The built-in measure ``name`` (imported lazily so a missing optional part fails late)."""
    from theory.base.errors import InputError

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
    if name == "sparsity":
        from transformer_check.measures.sparsity import sparsity_measure

        return sparsity_measure(**options)
    if name == "weight_entropy":
        from transformer_check.measures.weight_entropy import weight_entropy_measure

        return weight_entropy_measure(**options)
    if name == "circuit":
        from transformer_check.measures.circuit import circuit_measure

        return circuit_measure(**options)
    if name == "lmn":
        from transformer_check.measures.lmn import lmn_measure

        return lmn_measure(**options)
    if name == "mediation":
        from transformer_check.measures.mediation import mediation_measure

        return mediation_measure(**options)
    if name == "llc":
        from transformer_check.measures.llc import llc_measure

        return llc_measure(**options)
    raise InputError(f"measures: unknown measure {name!r}; choose from {', '.join(ALL_MEASURES)}")
