"""Models the field already has, in and out of occam (docs/interop.md, docs/model_protocol.md).

- :mod:`.tl`: TransformerLens ``HookedTransformer`` state dicts (legacy names, no TransformerLens
  import needed) <-> occam: :func:`occam_from_tl`, :func:`tl_from_occam`, :func:`bias_free`.
- :mod:`.nanda`: Nanda et al.'s progress-measures ``Transformer`` state dicts <-> occam:
  :func:`occam_from_nanda`, :func:`nanda_from_occam`.
- :mod:`.hooked`: a live ``HookedTransformer`` (transformer-lens 3.x, the optional ``interop``
  extra): :func:`to_hooked_transformer`, :func:`from_hooked_transformer`.
- :mod:`.external`: files (``.pth`` read only with ``torch.load(weights_only=True)``,
  ``.safetensors``) as a model and its task: :func:`load_external`, :func:`measure_external`.
"""

from __future__ import annotations

from transformer_check.interop.external import (
    ExternalTask,
    load_external,
    measure_external,
    nanda_split,
    read_weights_file,
)
from transformer_check.interop.hooked import from_hooked_transformer, to_hooked_transformer
from transformer_check.interop.nanda import nanda_from_occam, occam_from_nanda
from transformer_check.interop.tl import bias_free, occam_from_tl, tl_config, tl_from_occam

__all__ = [
    "ExternalTask",
    "load_external",
    "measure_external",
    "nanda_split",
    "read_weights_file",
    "to_hooked_transformer",
    "from_hooked_transformer",
    "occam_from_nanda",
    "nanda_from_occam",
    "occam_from_tl",
    "tl_from_occam",
    "tl_config",
    "bias_free",
]
