"""Names of the model's cached activations and weight matrices (definitions §4.2 model).

Kept apart from :mod:`transformer_check.model` (which re-exports every name here) so that the
model module holds the computation only.
"""

from __future__ import annotations

__all__ = [
    "ACT_KINDS",
    "FINAL_RESID",
    "WEIGHT_PARTS",
    "act_name",
    "parse_act_name",
    "weight_name",
    "parse_weight_name",
]

# Per-layer activations in the forward cache: the residual before and after block l, each head's
# output after W_O ``[B, T, H, d_model]``, the residual between attention and MLP (the MLP's input
# before a pre-LN) and the post-activation MLP units ``[B, T, d_mlp]``.
ACT_KINDS = ("resid_pre", "attn_head_out", "resid_mid", "mlp_hidden", "resid_post")
FINAL_RESID = "final_resid"  # the last position's residual after the last block, ``[B, d_model]``
WEIGHT_PARTS = {"attn": ("W_Q", "W_K", "W_V", "W_O"), "mlp": ("W_in", "W_out")}


def act_name(kind: str, layer: int) -> str:
    """Cache key of activation ``kind`` (one of :data:`ACT_KINDS`) of block ``layer``."""
    if kind not in ACT_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(ACT_KINDS)}, got {kind!r}")
    return f"{kind}.{int(layer)}"


def parse_act_name(name: str) -> tuple[str, int]:
    """``(kind, layer)`` of a per-layer cache key (inverse of :func:`act_name`)."""
    kind, sep, layer = name.partition(".")
    if not sep or kind not in ACT_KINDS or not layer.isdigit():
        raise ValueError(f"name: {name!r} is not a per-layer activation name like 'mlp_hidden.0'")
    return kind, int(layer)


def weight_name(layer: int, part: str, weight: str) -> str:
    """Name of a block's matrix in ``Transformer.named_weight_matrices``: ``blocks.l.attn.W_Q``."""
    if weight not in WEIGHT_PARTS.get(part, ()):
        raise ValueError(f"weight: {part}.{weight} is not a block weight of {WEIGHT_PARTS}")
    return f"blocks.{int(layer)}.{part}.{weight}"


def parse_weight_name(name: str) -> tuple[int, str, str]:
    """``(layer, part, weight)`` of a block matrix name (inverse of :func:`weight_name`)."""
    parts = name.split(".")
    if (
        len(parts) == 4
        and parts[0] == "blocks"
        and parts[1].isdigit()
        and parts[3] in WEIGHT_PARTS.get(parts[2], ())
    ):
        return int(parts[1]), parts[2], parts[3]
    raise KeyError(name)
