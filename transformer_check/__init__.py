"""transformer_check: train transformers on modular arithmetic and track their complexity (definitions §4).

Training: :mod:`.data`, :mod:`.model`, :mod:`.config` (:class:`TrainConfig`), :mod:`.presets`,
:mod:`.run_state` and :mod:`.train` (the loop), :mod:`.checkpoint`, :mod:`.measures` and
:mod:`.plots`; :mod:`.crosscheck` compares the runs with the theory and the SFM.
"""

from transformer_check.data import ModularDataset, TaskConfig, make_dataset
from transformer_check.model import ModelConfig, Transformer

__all__ = ["TaskConfig", "ModularDataset", "make_dataset", "ModelConfig", "Transformer"]
