"""Parameter names, shapes and counts of :class:`~transformer_check.model.Transformer`, computed
from its :class:`~transformer_check.model.ModelConfig` without building it (the memory check and
the checkpoint checks run before anything is allocated). Re-exported by :mod:`transformer_check.model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformer_check.model import ModelConfig

__all__ = ["param_shapes", "n_params", "n_param_tensors"]


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of :class:`Transformer`'s ``named_parameters()``, in the same order,
    computed without building the model (tested against it)."""
    d, H, e, f = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp
    # a module's own parameters come before its submodules' (torch's named_parameters order)
    out: dict[str, tuple[int, ...]] = {"W_E": (cfg.vocab_size, d), "W_pos": (cfg.seq_len, d)}
    out["W_U"] = (d, cfg.d_vocab_out)
    if cfg.biases:
        out["b_U"] = (cfg.d_vocab_out,)
    for lay in range(cfg.n_layers):
        b = f"blocks.{lay}"
        for w in ("W_Q", "W_K", "W_V"):
            out[f"{b}.attn.{w}"] = (H, d, e)
        out[f"{b}.attn.W_O"] = (H, e, d)
        if cfg.biases:
            out.update({f"{b}.attn.{w}": (H * e,) for w in ("b_Q", "b_K", "b_V")})
            out[f"{b}.attn.b_O"] = (d,)
        out.update({f"{b}.mlp.W_in": (d, f), f"{b}.mlp.b_in": (f,)})
        out.update({f"{b}.mlp.W_out": (f, d), f"{b}.mlp.b_out": (d,)})
        if cfg.layernorm is not None:
            for ln in ("ln1", "ln2"):
                out.update({f"{b}.{ln}.weight": (d,), f"{b}.{ln}.bias": (d,)})
    if cfg.layernorm == "pre":
        out.update({"ln_final.weight": (d,), "ln_final.bias": (d,)})
    return out


def n_params(cfg: ModelConfig) -> int:
    """The number of parameters of :class:`Transformer` ``(cfg)``, in O(1)."""
    d, H, e, f = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp
    block = 4 * H * d * e + 2 * d * f + f + d + (4 * d if cfg.layernorm is not None else 0)
    final = 2 * d if cfg.layernorm == "pre" else 0
    if cfg.biases:
        block += 3 * H * e + d
        final += cfg.d_vocab_out
    return (cfg.vocab_size + cfg.seq_len + cfg.d_vocab_out) * d + cfg.n_layers * block + final


def n_param_tensors(cfg: ModelConfig) -> int:
    """``len(param_shapes(cfg))`` in O(1): an edited config may claim a million layers."""
    per_block = 8 + (4 if cfg.layernorm is not None else 0) + (4 if cfg.biases else 0)
    final = (2 if cfg.layernorm == "pre" else 0) + (1 if cfg.biases else 0)
    return 3 + cfg.n_layers * per_block + final
