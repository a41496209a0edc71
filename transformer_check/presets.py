"""Named training presets (definitions §4.2) as data; docs/transformer_check.md gives the reasons.

- ``quick``: p 47, f 0.4, default model, lr 3e-3, wd 1, 3000 steps: on the default seed it
  memorises at logged step 44 and groks (test accuracy >= 99%) at logged step 1097 (measured;
  about 3 minutes with every measure on one busy CPU core).
- ``nanda``: Nanda et al. (2023) setting: p 113, f 0.3, default model, lr 1e-3, wd 1.
- ``demoss``: DeMoss et al. (2024), Table A.1: p 113, ``<x><op><y><=>``, post-LN GELU; + and
  * use f 0.2 and 1 layer with noise 1e-2; - and / use f 0.3 and 2 layers with noise 1e-3; spectral
  entropy beta 0.1; AdamW lr 1e-3, wd 1.
- ``deep``: Zhang et al. (2026)'s architecture scaled to a CPU: GPT-2 style (pre-LN, GELU), 6 layers (thirds
  of 2 for the skip-ablation), d_model 64, 4 heads x 16, d_mlp 256, on the quick task (p 47,
  f 0.4), lr 1e-3 with 100 warm-up steps, wd 1, 3000 steps (docs/transformer_check.md gives its
  measured cost and events).
- ``paper004``: GPT-2 style (pre-LN, GELU), 48 layers, d_model 512, 8 heads x 64, d_mlp 2048,
  p 97, ``a op b =``, 100k steps; for a GPU.

A new preset is one entry of :data:`PRESETS` (and, if it depends on the operation, one of
:data:`OP_OVERRIDES`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from theory.base.configs import apply_overrides
from theory.base.errors import InputError
from transformer_check.config import TrainConfig
from transformer_check.data import TaskConfig
from transformer_check.model import ArchConfig

__all__ = ["PRESETS", "OP_OVERRIDES", "preset", "override_path"]

PRESETS: dict[str, TrainConfig] = {
    "quick": TrainConfig(
        task=TaskConfig(p=47, frac=0.4),
        steps=3000,
        lr=3e-3,
        measure_points=25,
        checkpoint_every=500,
        preset="quick",
    ),
    "nanda": TrainConfig(
        task=TaskConfig(p=113, frac=0.3),
        steps=25_000,
        measure_points=30,
        checkpoint_every=2000,
        preset="nanda",
    ),
    "demoss": TrainConfig(  # the + and * row of DeMoss et al. (2024) Table A.1
        task=TaskConfig(p=113, frac=0.2, fmt="a op b ="),
        model=ArchConfig(n_layers=1, act="gelu", layernorm="post"),
        steps=50_000,
        weight_noise=1e-2,
        spectral_reg=0.1,
        measure_points=30,
        checkpoint_every=2000,
        preset="demoss",
    ),
    "deep": TrainConfig(
        task=TaskConfig(p=47, frac=0.4),
        model=ArchConfig(
            d_model=64, n_heads=4, d_head=16, d_mlp=256, n_layers=6, act="gelu", layernorm="pre"
        ),
        steps=3000,
        lr=1e-3,
        warmup=100,
        measure_points=25,
        checkpoint_every=500,
        preset="deep",
    ),
    "paper004": TrainConfig(
        task=TaskConfig(p=97, frac=0.3, fmt="a op b ="),
        model=ArchConfig(
            d_model=512, n_heads=8, d_head=64, d_mlp=2048, n_layers=48, act="gelu", layernorm="pre"
        ),
        steps=100_000,
        lr=1e-4,
        warmup=1000,
        device="auto",
        amp=True,
        measure_points=30,
        checkpoint_every=5000,
        preset="paper004",
    ),
}

_DEMOSS_HARD = {"task.frac": 0.3, "model.n_layers": 2, "weight_noise": 1e-3}  # - and / rows
OP_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "demoss": {"-": _DEMOSS_HARD, "/": _DEMOSS_HARD},
}

# short override names of preset(): task fields under their historical names
_ALIASES = {
    "p": "task.p",
    "op": "task.op",
    "frac": "task.frac",
    "task_seed": "task.seed",
    "fmt": "task.fmt",
}
_ARCH_FIELDS = {f.name for f in dataclasses.fields(ArchConfig)}


def override_path(name: str) -> str:
    """The dotted :class:`TrainConfig` path of an override name of :func:`preset`."""
    if name in _ALIASES:
        return _ALIASES[name]
    return f"model.{name}" if name in _ARCH_FIELDS else name


def preset(name: str, op: str = "+", **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of preset ``name`` for operation ``op``, then ``overrides``.

    ``overrides`` may name any :class:`TrainConfig` field, any architecture field (``d_model``,
    ``n_layers``, ...), or the task fields ``p``, ``frac``, ``task_seed`` and ``fmt``; ``None``
    values are ignored.
    """
    if name not in PRESETS:
        raise InputError(f"preset: must be one of {', '.join(PRESETS)}, got {name!r}")
    cfg = apply_overrides(PRESETS[name], {"task.op": op})
    cfg = apply_overrides(cfg, OP_OVERRIDES.get(name, {}).get(op, {}))
    return apply_overrides(cfg, {override_path(k): v for k, v in overrides.items()})
