"""Named training presets (SPEC §4.2); docs/transformer_check.md gives the reasons for each value.

- ``quick``: p 47, f 0.4, default model, lr 3e-3, wd 1, 3000 steps: on the default seed it
  memorises at logged step 44 and groks (test accuracy >= 99%) at logged step 1097 (measured;
  about 3 minutes with every measure on one busy CPU core).
- ``nanda``: Nanda et al. (2023) setting: p 113, f 0.3, default model, lr 1e-3, wd 1.
- ``demoss``: DeMoss et al. (paper 001, Table A.1): p 113, ``<x><op><y><=>``, post-LN GELU; + and
  * use f 0.2 and 1 layer with noise 1e-2; - and / use f 0.3 and 2 layers with noise 1e-3; spectral
  entropy beta 0.1; AdamW lr 1e-3, wd 1.
- ``paper004``: GPT-2 style (pre-LN, GELU), 48 layers, d_model 512, 8 heads x 64, d_mlp 2048,
  p 97, ``a op b =``, 100k steps; for a GPU.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from theory.base.errors import InputError
from transformer_check.data import TaskConfig
from transformer_check.train import ArchConfig, TrainConfig

__all__ = ["PRESETS", "preset"]

PRESETS = ("quick", "nanda", "demoss", "paper004")


def preset(name: str, op: str = "+", **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of preset ``name`` for operation ``op``, then ``overrides``.

    ``overrides`` may name any :class:`TrainConfig` field, or the task fields ``p``, ``frac``,
    ``task_seed`` and ``fmt``.
    """
    if name == "quick":
        task = TaskConfig(p=47, op=op, frac=0.4)
        cfg = TrainConfig(task=task, steps=3000, lr=3e-3, measure_points=25, checkpoint_every=500)
    elif name == "nanda":
        task = TaskConfig(p=113, op=op, frac=0.3)
        cfg = TrainConfig(task=task, steps=25_000, measure_points=30, checkpoint_every=2000)
    elif name == "demoss":
        easy = op in ("+", "*")
        task = TaskConfig(p=113, op=op, frac=0.2 if easy else 0.3, fmt="a op b =")
        arch = ArchConfig(n_layers=1 if easy else 2, act="gelu", layernorm="post")
        cfg = TrainConfig(
            task=task,
            model=arch,
            steps=50_000,
            weight_noise=1e-2 if easy else 1e-3,
            spectral_reg=0.1,
            measure_points=30,
            checkpoint_every=2000,
        )
    elif name == "paper004":
        task = TaskConfig(p=97, op=op, frac=0.3, fmt="a op b =")
        arch = ArchConfig(
            d_model=512, n_heads=8, d_head=64, d_mlp=2048, n_layers=48, act="gelu", layernorm="pre"
        )
        cfg = TrainConfig(
            task=task,
            model=arch,
            steps=100_000,
            lr=1e-4,
            warmup=1000,
            device="auto",
            amp=True,
            measure_points=30,
            checkpoint_every=5000,
        )
    else:
        raise InputError(f"preset: must be one of {', '.join(PRESETS)}, got {name!r}")
    cfg = dataclasses.replace(cfg, preset=name)
    return apply_overrides(cfg, **overrides)


def apply_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """Replace fields (``None`` values are ignored); task fields go into ``cfg.task``."""
    ov = {k: v for k, v in overrides.items() if v is not None}
    task_kw = {}
    for key, field_name in (("p", "p"), ("frac", "frac"), ("task_seed", "seed"), ("fmt", "fmt")):
        if key in ov:
            task_kw[field_name] = ov.pop(key)
    if "op" in ov:
        task_kw["op"] = ov.pop("op")
    arch_kw = {
        k: ov.pop(k) for k in list(ov) if k in {f.name for f in dataclasses.fields(ArchConfig)}
    }
    if task_kw:
        ov["task"] = dataclasses.replace(cfg.task, **task_kw)
    if arch_kw:
        ov["model"] = dataclasses.replace(cfg.model, **arch_kw)
    return dataclasses.replace(cfg, **ov)
