"""transformer_check: train transformers on modular arithmetic and track their complexity (SPEC §4).

Part 1 (this package's training half): :mod:`.data`, :mod:`.model`, :mod:`.train`,
:mod:`.checkpoint`, :mod:`.presets`, :mod:`.measures` and :mod:`.plots`.
"""

from transformer_check.data import ModularDataset, TaskConfig, make_dataset
from transformer_check.model import ModelConfig, Transformer

__all__ = ["TaskConfig", "ModularDataset", "make_dataset", "ModelConfig", "Transformer"]
