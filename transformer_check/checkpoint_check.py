"""Is a loaded checkpoint what it claims? Its configuration, tensor shapes and values, checked.

Every reader of a checkpoint (``--resume``, ``measure``, ``export``, :func:`load_model`) goes
through :func:`checked_config` and :func:`check_tensors`, so a damaged or edited file is refused in
one line naming the file and what is wrong, before a model or dataset is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from theory.base.errors import InputError
from transformer_check.config import TrainConfig
from transformer_check.model import n_params, param_shapes

__all__ = ["checked_config", "check_tensors"]

_REMEDY = "use another checkpoint (checkpoints/prev.safetensors, a step_* snapshot) or retrain"


def checked_config(state: Mapping[str, Any], where: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` in a checkpoint's state; :class:`InputError` naming ``where``."""
    cfg = state.get("config")
    if not isinstance(cfg, Mapping):
        raise InputError(f"checkpoint: {where} has no training config; {_REMEDY}")
    try:
        return TrainConfig.from_dict(cfg)
    except InputError as exc:
        raise InputError(
            f"checkpoint: {where} has a bad training config ({exc}); {_REMEDY}"
        ) from None


def check_tensors(
    tensors: Mapping[str, torch.Tensor], cfg: TrainConfig, where: str | Path, *, full: bool = False
) -> None:
    """The ``param.*`` tensors are exactly the model of ``cfg``, with its shapes, all finite; with
    ``full`` the optimizer and RNG tensors are there too and finite."""
    mcfg = cfg.model_config()
    params = {k[6:]: v for k, v in tensors.items() if k.startswith("param.")}
    # counted in O(1) first: an edited config may claim a million layers
    per_block = 8 + (4 if mcfg.layernorm is not None else 0)
    expected = 3 + mcfg.n_layers * per_block + (2 if mcfg.layernorm == "pre" else 0)
    if len(params) != expected:
        raise InputError(
            f"checkpoint: {where} holds {len(params)} parameter tensors but its config "
            f"describes a model of {expected} ({n_params(mcfg):,} parameters); {_REMEDY}"
        )
    for name, shape in param_shapes(mcfg).items():
        t = params.get(name)
        if t is None:
            raise InputError(f"checkpoint: {where} lacks parameter {name} of its config; {_REMEDY}")
        if tuple(t.shape) != shape:
            raise InputError(
                f"checkpoint: {where}: parameter {name} has shape {list(t.shape)} but its config "
                f"makes {list(shape)} (config and tensors do not belong together); {_REMEDY}"
            )
    if full and "rng.noise" not in tensors:
        raise InputError(f"checkpoint: {where} lacks the noise RNG state rng.noise; {_REMEDY}")
    for name, t in tensors.items():
        if (full or name.startswith("param.")) and t.is_floating_point():
            if not bool(torch.isfinite(t).all()):
                raise InputError(
                    f"checkpoint: {where}: {name} holds NaN or infinite values (a diverged run "
                    f"or a damaged file); {_REMEDY}"
                )
