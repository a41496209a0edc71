"""A weights-only export of a checkpoint: the model's parameters under their plain names.

``export_weights(CKPT, OUT)`` writes one safetensors file holding exactly
``Transformer.named_parameters()`` (``W_E``, ``blocks.0.mlp.W_in``, ..., no ``param.`` prefix, no
optimizer or RNG state), as stored in the checkpoint (bit for bit), with the training config and
the step in the safetensors metadata header (``format``, ``config``, ``step``, ``source``,
``metadata``: JSON strings). Any tool that reads safetensors reads it (``python -m bdm measure``,
``python -m bdm blocks ... --tensor blocks.0.mlp.W_in``), and ``transformer_check measure``
accepts it as a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save as st_save

from theory.base.errors import InputError
from theory.base.io import atomic_write_bytes, to_jsonable
from theory.base.provenance import run_metadata
from transformer_check.checkpoint import EXPORT_FORMAT, load_checkpoint
from transformer_check.checkpoint_check import check_tensors, checked_config
from transformer_check.model import param_shapes

__all__ = ["export_weights", "check_export_target"]


def check_export_target(out: str | Path, overwrite: bool = False) -> Path:
    """The file ``out`` may be written: a ``.safetensors`` name, not a folder, not an existing
    file unless ``overwrite``; :class:`InputError` otherwise."""
    out = Path(out)
    if not str(out).strip() or out.name in ("", ".", ".."):
        raise InputError("--out: empty file name; give a file such as --out model.safetensors")
    if out.suffix != ".safetensors":
        raise InputError(
            f"--out: {out} does not end in .safetensors; give a file such as model.safetensors"
        )
    if out.is_dir():
        raise InputError(
            f"--out: {out} is a folder; give a file name such as {out}/model.safetensors"
        )
    if out.exists() and not overwrite:
        raise InputError(
            f"--out: {out} exists; pass --overwrite to replace it, or choose another file"
        )
    return out


def export_weights(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write the parameters of ``checkpoint`` (plain names, config in the header) to ``out``."""
    out = check_export_target(out, overwrite)
    tensors, state = load_checkpoint(checkpoint)
    cfg = checked_config(state, checkpoint)
    check_tensors(tensors, cfg, checkpoint)
    names = param_shapes(cfg.model_config())
    weights = {n: tensors[f"param.{n}"].contiguous() for n in names}
    step = state.get("step")
    header = {
        "format": EXPORT_FORMAT,
        "config": json.dumps(cfg.to_dict()),
        "step": str(step),
        "source": str(checkpoint),
        "metadata": json.dumps(
            to_jsonable(
                run_metadata(
                    "transformer_check export", {"checkpoint": str(checkpoint), "step": step}
                )
            )
        ),
    }
    blob = st_save(weights, metadata=header)
    try:
        return atomic_write_bytes(out, blob)
    except OSError as exc:
        raise InputError(
            f"--out: cannot write {out}: {exc.strerror or exc}; choose another file"
        ) from None
