"""A live occam model as a TransformerLens ``HookedTransformer`` and back (transformer-lens 3.x).

TransformerLens is an optional extra (``pip install "occam[interop]"``, transformer-lens 3.9.0):
nothing else in occam imports it, and this module imports it only when called. TransformerLens
4.0 removed ``HookedTransformer`` (docs/interop.md says what that means for occam), so 4.x is
refused with a message saying so. The conversions are :func:`~transformer_check.interop.tl.
tl_from_occam` and :func:`~transformer_check.interop.tl.occam_from_tl` on the state dict.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformer_check.interop.tl import TL_BUFFERS, occam_from_tl, tl_from_occam
from transformer_check.model import Transformer

__all__ = ["hooked_transformer_classes", "to_hooked_transformer", "from_hooked_transformer"]

_INSTALL = 'pip install "occam[interop]" (transformer-lens 3.9.0, the last with HookedTransformer)'


def hooked_transformer_classes() -> tuple[type, type]:
    """``(HookedTransformer, HookedTransformerConfig)`` of the installed transformer-lens 3.x;
    :class:`ImportError` with the remedy if it is absent or 4.x."""
    try:
        import transformer_lens
    except ImportError:
        raise ImportError(f"transformer-lens is not installed; {_INSTALL}") from None
    version = getattr(transformer_lens, "__version__", "?")
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except Exception:  # 4.x raises on import, pointing to TransformerBridge
        raise ImportError(
            f"transformer-lens {version} has no HookedTransformer (4.0 removed it); {_INSTALL}"
        ) from None
    return HookedTransformer, HookedTransformerConfig


def to_hooked_transformer(model: Transformer, device: str | None = None) -> Any:
    """The ``HookedTransformer`` computing what ``model`` computes (logits at every position;
    occam's at the last), in ``model``'s dtype, on ``device`` (default: ``model``'s)."""
    HookedTransformer, HookedTransformerConfig = hooked_transformer_classes()
    sd, config = tl_from_occam(model)
    dev = str(device or model.W_E.device)
    cfg = HookedTransformerConfig(**config, device=dev, dtype=model.W_E.dtype, init_weights=False)
    ht = HookedTransformer(cfg)
    missing, unexpected = ht.load_state_dict(sd, strict=False)
    left = [k for k in missing if k.rsplit(".", 1)[-1] not in TL_BUFFERS]
    if left or unexpected:  # a TransformerLens release with other names
        raise ImportError(
            f"this transformer-lens names its HookedTransformer tensors otherwise (missing "
            f"{left[:3]}, unexpected {list(unexpected)[:3]}); {_INSTALL}"
        )
    return ht.eval()


def from_hooked_transformer(ht: Any, **kwargs: Any) -> Transformer:
    """The occam model of a live ``HookedTransformer`` (``kwargs``: those of
    :func:`~transformer_check.interop.tl.occam_from_tl`: ``seq_len``, ``d_vocab_out``,
    ``biases``)."""
    cfg = ht.cfg
    fields = (
        {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
        if dataclasses.is_dataclass(cfg)
        else dict(vars(cfg))
    )
    sd = {k: v.detach().cpu() for k, v in ht.state_dict().items()}
    return occam_from_tl(sd, fields, **kwargs)
