"""What determines a training run (:class:`TrainConfig`, definitions §4.2 defaults) and what it returns.

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
from transformer_check.data import ModularDataset, TaskConfig, task_sizes
from transformer_check.measures import ALL_MEASURES, BUILTIN_MEASURES
from transformer_check.model import ArchConfig, ModelConfig, Transformer

__all__ = ["ArchConfig", "TaskConfig", "TrainConfig", "TrainResult"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (definitions §4.2 defaults)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ArchConfig = field(default_factory=ArchConfig)
    steps: int = 10_000
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: int = 10  # linear warm-up steps
    seed: int = 0  # model init and weight noise (the split has task.seed)
    spectral_reg: float = 0.0  # beta of DeMoss et al. (2024) eq. 16
    weight_noise: float = 0.0  # delta of DeMoss et al. (2024) eq. 10
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
        # a config read from a file may hold any JSON value: check types before comparing
        for name, cls in (("task", TaskConfig), ("model", ArchConfig)):
            if not isinstance(getattr(self, name), cls):
                raise InputError(
                    f"{name}: must be a {cls.__name__} mapping, got {getattr(self, name)!r}"
                )
        for name in ("steps", "eval_points", "measure_points", "checkpoint_every", "warmup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "steps" else 0):
                bound = "a positive integer" if name == "steps" else "an integer >= 0"
                raise InputError(f"{name}: must be {bound}, got {v!r}")
        for name in ("lr", "weight_decay", "spectral_reg", "weight_noise", "coarse_eps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InputError(f"{name}: must be a finite number, got {v!r}")
            if v < 0 or (name == "lr" and v == 0):
                raise InputError(f"{name}: must be {'> 0' if name == 'lr' else '>= 0'}, got {v!r}")
        b = self.betas
        if not (
            isinstance(b, tuple)
            and len(b) == 2
            and all(
                isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x < 1 for x in b
            )
        ):
            raise InputError(f"betas: must be two numbers in [0, 1), got {b!r}")
        d = self.device
        if not isinstance(d, str) or (
            d not in ("auto", "cpu", "cuda") and not d.startswith("cuda:")
        ):
            raise InputError(f"device: must be auto, cpu or cuda, got {d!r}")
        for name in ("amp", "snapshots"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.coarse_budget, int) or self.coarse_budget < 2:
            raise InputError(f"coarse_budget: must be an integer >= 2, got {self.coarse_budget!r}")
        if self.preset is not None and not isinstance(self.preset, str):
            raise InputError(f"preset: must be a name or null, got {self.preset!r}")
        if not isinstance(self.measures, tuple) or not all(
            isinstance(m, str) for m in self.measures
        ):
            raise InputError(f"measures: must be a list of names, got {self.measures!r}")
        bad = [m for m in self.measures if m not in ALL_MEASURES]
        if bad:
            raise InputError(f"measures: unknown {bad}; choose from {', '.join(ALL_MEASURES)}")
        if not isinstance(self.measure_options, tuple):
            raise InputError(f"measure_options: must be a list, got {self.measure_options!r}")
        for opt in self.measure_options:
            if not (isinstance(opt, tuple) and len(opt) == 3 and opt[0] in ALL_MEASURES):
                raise InputError(
                    f"measure_options: each must be (measure, option, value) with a measure "
                    f"from {', '.join(ALL_MEASURES)}, got {opt!r}"
                )

    def model_config(self, ds: ModularDataset | None = None) -> ModelConfig:
        """The full :class:`ModelConfig` for this task's vocabulary and sequence length (from
        ``ds``, or computed from :attr:`task` without building the dataset)."""
        vocab, seq_len, _, _ = task_sizes(self.task)
        return ModelConfig(
            vocab_size=vocab if ds is None else ds.vocab_size,
            seq_len=seq_len if ds is None else ds.seq_len,
            d_vocab_out=self.task.p,
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
