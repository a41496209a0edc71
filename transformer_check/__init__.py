"""transformer_check: train transformers on modular arithmetic and track their complexity (definitions §4).

Training: :mod:`.data`, :mod:`.model`, :mod:`.config` (:class:`TrainConfig`), :mod:`.presets`,
:mod:`.run_state` and :mod:`.train` (the loop), :mod:`.checkpoint`, :mod:`.measures` and
:mod:`.plots`; :mod:`.crosscheck` compares the runs with the theory and the SFM.

``import transformer_check`` needs no torch (``__version__``, ``occam --help``): the exports below
load their torch modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from theory.base.version import __version__

_EXPORTS: dict[str, str] = {
    "TaskConfig": "data",
    "ModularDataset": "data",
    "make_dataset": "data",
    "ModelConfig": "model",
    "Transformer": "model",
    # the Python API of the crosscheck; training is ``transformer_check.train.train`` and measuring
    # ``transformer_check.measure_checkpoint.measure_checkpoint`` (a package attribute named like
    # its submodule would become the module once the submodule is imported)
    "TrainConfig": "config",
    "preset": "presets",
    "CrosscheckConfig": "crosscheck.config",
    "run_crosscheck": "crosscheck.run",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'transformer_check' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"transformer_check.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
