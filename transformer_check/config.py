"""What determines a training run (:class:`TrainConfig`, SPEC §4.2 defaults) and what it returns.

A :class:`TrainConfig` is plain data: it is written into every run's JSON (``metadata.config``,
a checkpoint's ``config``) and read back with :meth:`TrainConfig.from_dict`, so ``--config
RUN.json`` reruns exactly that run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theory.base.configs import config_from_dict, config_to_dict
from theory.base.errors import InputError
from theory.base.trajectory import Trajectory
from transformer_check.data import ModularDataset, TaskConfig
from transformer_check.measures import ALL_MEASURES, BUILTIN_MEASURES
from transformer_check.model import ArchConfig, ModelConfig, Transformer

__all__ = ["ArchConfig", "TaskConfig", "TrainConfig", "TrainResult"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (SPEC §4.2 defaults)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ArchConfig = field(default_factory=ArchConfig)
    steps: int = 10_000
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: int = 10  # linear warm-up steps
    seed: int = 0  # model init and weight noise (the split has task.seed)
    spectral_reg: float = 0.0  # beta of paper 001 eq. 16
    weight_noise: float = 0.0  # delta of paper 001 eq. 10
    device: str = "auto"
    amp: bool = False  # bfloat16 autocast on CUDA
    eval_points: int = 200
    measure_points: int = 30
    measures: tuple[str, ...] = BUILTIN_MEASURES
    coarse_eps: float = 0.1
    coarse_budget: int = 24
    # (measure, option, value) triples, applied after coarse_eps/coarse_budget; later ones win
    measure_options: tuple[tuple[str, str, Any], ...] = ()
    checkpoint_every: int = 1000
    snapshots: bool = True  # weights-only checkpoint at every measure step
    preset: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"steps: must be a positive integer, got {self.steps!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr: must be > 0, got {self.lr!r}")
        for name in ("weight_decay", "spectral_reg", "weight_noise", "coarse_eps"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise InputError(f"{name}: must be >= 0 and finite, got {v!r}")
        if not all(0 <= b < 1 for b in self.betas) or len(self.betas) != 2:
            raise InputError(f"betas: must be two numbers in [0, 1), got {self.betas!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"device: must be auto, cpu or cuda, got {self.device!r}")
        for name in ("eval_points", "measure_points", "checkpoint_every", "warmup"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise InputError(f"{name}: must be an integer >= 0, got {v!r}")
        bad = [m for m in self.measures if m not in ALL_MEASURES]
        if bad:
            raise InputError(f"measures: unknown {bad}; choose from {', '.join(ALL_MEASURES)}")
        for opt in self.measure_options:
            if not (isinstance(opt, tuple) and len(opt) == 3 and opt[0] in ALL_MEASURES):
                raise InputError(
                    f"measure_options: each must be (measure, option, value) with a measure "
                    f"from {', '.join(ALL_MEASURES)}, got {opt!r}"
                )

    def model_config(self, ds: ModularDataset) -> ModelConfig:
        """The full :class:`ModelConfig` for this task's vocabulary and sequence length."""
        return ModelConfig(
            vocab_size=ds.vocab_size,
            seq_len=ds.seq_len,
            d_vocab_out=ds.p,
            **dataclasses.asdict(self.model),
        )

    def measure_option_map(self) -> dict[str, dict[str, Any]]:
        """Options per measure: compression's ``eps``/``budget``, then :attr:`measure_options`."""
        opts: dict[str, dict[str, Any]] = {
            "compression": {"eps": self.coarse_eps, "budget": self.coarse_budget}
        }
        for name, key, value in self.measure_options:
            opts.setdefault(name, {})[key] = value
        return opts

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        return config_from_dict(cls, d)


@dataclass
class TrainResult:
    """Metrics rows, events (``None`` when they did not occur) and output paths."""

    rows: list[dict[str, Any]]
    t_mem: int | None
    t_gen: int | None
    paths: dict[str, Path]
    config: TrainConfig
    model: Transformer | None = None
    dataset: ModularDataset | None = None

    @property
    def trajectory(self) -> Trajectory:
        """The rows as a typed :class:`~theory.base.trajectory.Trajectory` with both events."""
        return Trajectory.from_rows(self.rows, {"t_mem": self.t_mem, "t_gen": self.t_gen})
