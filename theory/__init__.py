"""theory: closed-form and symbolic results of the Occam phase transition (definitions §2).

``from theory import free_energy, crossover_n`` gives the functions. Submodules are imported on
first use, so importing the base layer (:mod:`theory.base`) never loads sympy or mpmath.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # free energy and its Lambert-W crossover (definitions §1.5, §2.1)
    "free_energy": "energy",
    "free_energy_gap": "energy",
    "Crossover": "crossover",
    "Paper004Crossover": "crossover",
    "crossover_n": "crossover",
    "paper004_crossover": "crossover",
    "symbolic_roots": "crossover",
    "lambert_roots_scipy": "crossover",
    "lambert_roots_mpmath": "crossover",
    "lambert_roots_sympy": "crossover",
    "root_condition_number": "crossover",
    "CrossoverGrid": "diagram",
    "crossover_grid": "diagram",
    "plot_crossover_grid": "diagram",
    # RLCTs (definitions §1.4, §2.2)
    "sfm_rlct": "rlct",
    "lambda_mem": "rlct",
    "lambda_gen": "rlct",
    "RRRRLCT": "rlct",
    "rrr_rlct": "rlct",
    # Occam gate (definitions §1.7)
    "l0_prox_threshold": "gates",
    "occam_gate_threshold": "gates",
    # Kolmogorov proxies and the bound (definitions §2.4, §2.5)
    "hermitian_orbits": "kolmogorov",
    "active_orbits": "kolmogorov",
    "enumerative_code_bits": "kolmogorov",
    "paper004_code_bits": "kolmogorov",
    "compressed_sizes": "kolmogorov",
    "log2_binomial": "kolmogorov",
    "GeneralisationBound": "bound",
    "generalisation_bound": "bound",
    # one task's numbers, and the report
    "TaskPredictions": "predictions",
    "task_predictions": "predictions",
    "ReportConfig": "report",
    "write_report": "report",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # lazily too: theory.base.version loads the base layer
        from theory.base.version import __version__

        globals()[name] = __version__
        return __version__
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'theory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"theory.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
