"""Checkpoints: safetensors for every tensor plus a JSON state, written atomically (SPEC §5).

``<stem>.safetensors`` holds the model parameters (``param.<name>``), the AdamW moment tensors
(``opt.<i>.<key>``) and RNG states as uint8 tensors (``rng.<name>``); ``<stem>.json`` holds the
step, the configuration, the optimizer's scalar hyper-parameters, the metrics so far and the
SHA-256 of the tensor file. The tensor file is written first and the JSON last, so a JSON that
exists always describes a complete tensor file; the hash catches a mismatched pair. Loading uses
``safetensors.torch.load`` on bytes: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from theory.base.errors import InputError
from theory.base.io import atomic_write_bytes, read_json, write_json

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "optimizer_to_tensors",
    "optimizer_from_tensors",
    "checkpoint_stem",
]

FORMAT = "occam.transformer_check.checkpoint/1"


def checkpoint_stem(path: str | Path) -> Path:
    """Accept ``stem``, ``stem.json`` or ``stem.safetensors`` and return ``stem``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def save_checkpoint(stem: str | Path, tensors: Mapping[str, torch.Tensor], state: dict) -> Path:
    """Write ``<stem>.safetensors`` then ``<stem>.json`` atomically; return the JSON path."""
    stem = checkpoint_stem(stem)
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    blob = st_save(flat)
    atomic_write_bytes(stem.with_suffix(".safetensors"), blob)
    meta = dict(state)
    meta["format"] = FORMAT
    meta["tensors_sha256"] = hashlib.sha256(blob).hexdigest()
    return write_json(stem.with_suffix(".json"), meta)


def load_checkpoint(stem: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint pair (no unpickling); raise :class:`InputError` if it is incomplete."""
    stem = checkpoint_stem(stem)
    jpath, tpath = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not jpath.exists() or not tpath.exists():
        raise InputError(
            f"checkpoint: {stem}.json and {stem}.safetensors must both exist; "
            "pass a checkpoint written by `transformer_check train`"
        )
    meta = read_json(jpath)
    blob = tpath.read_bytes()
    if meta.get("format") != FORMAT:
        raise InputError(f"checkpoint: {jpath} is not a {FORMAT} file")
    if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
        raise InputError(f"checkpoint: {tpath} does not match {jpath} (interrupted write?)")
    return dict(st_load(blob)), meta


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer ``state_dict`` into tensors and JSON-safe scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"opt.{idx}.{key}"] = val
            else:
                scalars.setdefault(str(idx), {})[key] = val
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in sd["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_to_tensors`: load the state into ``opt`` in place."""
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if not name.startswith("opt."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})
