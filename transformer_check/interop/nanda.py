"""Nanda et al. (2023)'s progress-measures state dict <-> occam.

Their ``Transformer`` (``transformers.py`` of mechanistic-interpretability-grokking/
progress-measures-paper) stores its weights in its own names and transposed shapes
(docs/interop.md §Nanda et al.):

==========================  ============================  ====================================
Nanda et al.                shape                         occam
==========================  ============================  ====================================
``embed.W_E``               ``[d_model, d_vocab]``        ``W_E`` = transpose
``pos_embed.W_pos``         ``[n_ctx, d_model]``          ``W_pos`` (same)
``blocks.L.attn.W_Q/K/V``   ``[n_heads, d_head, d_model]``  ``W_Q/K/V`` = ``transpose(1, 2)``
``blocks.L.attn.W_O``       ``[d_model, n_heads*d_head]``   ``W_O`` = ``W_O.T.reshape(H, e, d)``
``blocks.L.attn.mask``      ``[n_ctx, n_ctx]`` (buffer)   ignored (occam's causal mask)
``blocks.L.mlp.W_in``       ``[d_mlp, d_model]``          ``W_in`` = transpose
``blocks.L.mlp.b_in``       ``[d_mlp]``                   same
``blocks.L.mlp.W_out``      ``[d_model, d_mlp]``          ``W_out`` = transpose
``blocks.L.mlp.b_out``      ``[d_model]``                 same
``unembed.W_U``             ``[d_model, d_vocab]``        ``W_U`` without the last column
==========================  ============================  ====================================

No attention or unembedding biases, no LayerNorm (``use_ln`` is off and its modules are commented
out), ReLU or GeLU. Their vocabulary is ``p + 1`` tokens in and out: the unembedding also scores
``=``, which is never an answer. Their training loss is the cross-entropy over those ``p + 1``
logits, their progress measures use ``logits[:, -1, :-1]`` (the ``=`` column dropped). occam's
model answers over the ``p`` residues only, so the import keeps the first ``p`` columns: the ``p``
answer logits are exactly theirs, the loss is the cross-entropy without the ``=`` class (smaller
by ``-log(1 - softmax_=)``, which a trained model makes tiny), and the argmax can differ only on
an input where ``=`` outscored every residue. ``drop_eq=False`` keeps the column (exact logits).

The attention masks with ``-1e10`` instead of ``-inf``: ``exp(-1e10 / sqrt(d_head))`` is 0 in
float32 and float64, so the softmax is the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor

from theory.base.errors import InputError
from transformer_check.interop.tl import model_from_tensors
from transformer_check.model import ModelConfig, Transformer

__all__ = ["NANDA_ACTS", "occam_from_nanda", "nanda_from_occam"]

NANDA_ACTS = {"ReLU": "relu", "GeLU": "gelu", "relu": "relu", "gelu": "gelu"}  # their act_type
_BLOCK = re.compile(r"blocks\.(\d+)\.")
_ATTN = ("W_Q", "W_K", "W_V", "W_O", "mask")
_MLP = ("W_in", "b_in", "W_out", "b_out")


def _t(sd: Mapping[str, Tensor], key: str, ndim: int) -> Tensor:
    t = sd.get(key)
    if not torch.is_tensor(t) or t.dim() != ndim:
        got = f"shape {list(t.shape)}" if torch.is_tensor(t) else "no such tensor"
        raise InputError(
            f"state dict: {key} ({got}) is not Nanda et al.'s {ndim}-D tensor; is this their "
            "Transformer's state dict? (pass --format tl for a HookedTransformer's)"
        )
    return t


def occam_from_nanda(
    sd: Mapping[str, Tensor], *, act: str = "relu", drop_eq: bool = True
) -> Transformer:
    """The occam model of Nanda et al.'s state dict ``sd``: equal answer logits (module docstring);
    ``act``: their ``act_type`` (``ReLU``/``GeLU``), which the state dict does not record."""
    if act not in NANDA_ACTS:
        raise InputError(f"act: must be one of {', '.join(NANDA_ACTS)}, got {act!r}")
    W_E = _t(sd, "embed.W_E", 2)
    d, V = W_E.shape
    W_pos = _t(sd, "pos_embed.W_pos", 2)
    layers = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    if not layers or layers != set(range(len(layers))):
        raise InputError(f"state dict: block numbers {sorted(layers)} are not 0..L-1")
    expected = {"embed.W_E", "pos_embed.W_pos", "unembed.W_U"}
    expected |= {f"blocks.{lay}.{part}.{w}" for lay in layers for part, ws in
                 (("attn", _ATTN), ("mlp", _MLP)) for w in ws}  # fmt: skip
    extra = sorted(set(sd) - expected)
    if extra:
        raise InputError(
            f"state dict: tensors {', '.join(extra[:4])} are not part of Nanda et al.'s "
            "Transformer; is it a HookedTransformer's? (pass --format tl)"
        )
    H, e, d_q = _t(sd, "blocks.0.attn.W_Q", 3).shape
    d_mlp, d_m = _t(sd, "blocks.0.mlp.W_in", 2).shape
    W_U = _t(sd, "unembed.W_U", 2)
    if {d_q, d_m, W_pos.shape[1], W_U.shape[0]} != {d}:
        raise InputError(
            f"state dict: embed.W_E {list(W_E.shape)} (d_model first) and the other tensors do "
            "not fit Nanda et al.'s Transformer; is it a HookedTransformer's? (pass --format tl)"
        )
    if V < 2 or W_U.shape[1] != V:
        raise InputError(f"state dict: unembed.W_U has {W_U.shape[1]} columns, W_E has {V} tokens")
    mcfg = ModelConfig(
        d_model=d,
        n_heads=H,
        d_head=e,
        d_mlp=d_mlp,
        n_layers=len(layers),
        act=NANDA_ACTS[act],
        vocab_size=V,
        seq_len=W_pos.shape[0],
        d_vocab_out=V - 1 if drop_eq else V,
    )
    tensors = {"W_E": W_E.T, "W_pos": W_pos, "W_U": W_U[:, : mcfg.d_vocab_out]}
    for lay in sorted(layers):
        b = f"blocks.{lay}"
        for w in ("W_Q", "W_K", "W_V"):
            tensors[f"{b}.attn.{w}"] = _t(sd, f"{b}.attn.{w}", 3).transpose(1, 2)
        W_O = _t(sd, f"{b}.attn.W_O", 2)
        if W_O.shape != (d, H * e):
            raise InputError(
                f"state dict: {b}.attn.W_O has shape {list(W_O.shape)}, not {[d, H * e]}"
            )
        tensors[f"{b}.attn.W_O"] = W_O.T.reshape(H, e, d)  # column h*e + j is head h's dim j
        tensors[f"{b}.mlp.W_in"] = _t(sd, f"{b}.mlp.W_in", 2).T
        tensors[f"{b}.mlp.b_in"] = _t(sd, f"{b}.mlp.b_in", 1)
        tensors[f"{b}.mlp.W_out"] = _t(sd, f"{b}.mlp.W_out", 2).T
        tensors[f"{b}.mlp.b_out"] = _t(sd, f"{b}.mlp.b_out", 1)
    return model_from_tensors(mcfg, tensors)


def nanda_from_occam(model: Transformer) -> dict[str, Tensor]:
    """Nanda et al.'s state dict of ``model`` (loads into their ``Transformer`` with
    ``strict=True``). Their unembedding scores ``=`` too: a model with ``p`` outputs gets a zero
    ``=`` column. Needs a model of their shape: no LayerNorm, no attention/unembedding biases,
    ``vocab_size = d_vocab_out + 1`` or ``= d_vocab_out``."""
    cfg = model.cfg
    if cfg.layernorm is not None or cfg.biases:
        raise InputError(
            "model: Nanda et al.'s Transformer has no LayerNorm and no attention or unembedding "
            "biases; this model has " + ("LayerNorm" if cfg.layernorm else "biases")
        )
    V = cfg.vocab_size
    if cfg.d_vocab_out not in (V - 1, V):
        raise InputError(
            f"model: {cfg.d_vocab_out} outputs for {V} tokens; Nanda et al.'s format needs "
            f"{V - 1} (the residues) or {V}"
        )
    H, e, d, T = cfg.n_heads, cfg.d_head, cfg.d_model, cfg.seq_len
    W_U = model.W_U.detach()
    if cfg.d_vocab_out == V - 1:
        W_U = torch.cat([W_U, torch.zeros(d, 1, dtype=W_U.dtype, device=W_U.device)], dim=1)
    sd = {"embed.W_E": model.W_E.T, "pos_embed.W_pos": model.W_pos}
    for lay, blk in enumerate(model.blocks):
        b, a = f"blocks.{lay}", blk.attn
        sd[f"{b}.attn.W_K"] = a.W_K.transpose(1, 2)
        sd[f"{b}.attn.W_Q"] = a.W_Q.transpose(1, 2)
        sd[f"{b}.attn.W_V"] = a.W_V.transpose(1, 2)
        sd[f"{b}.attn.W_O"] = a.W_O.reshape(H * e, d).T
        sd[f"{b}.attn.mask"] = torch.tril(torch.ones(T, T))
        sd[f"{b}.mlp.W_in"] = blk.mlp.W_in.T
        sd[f"{b}.mlp.b_in"] = blk.mlp.b_in
        sd[f"{b}.mlp.W_out"] = blk.mlp.W_out.T
        sd[f"{b}.mlp.b_out"] = blk.mlp.b_out
    sd["unembed.W_U"] = W_U
    return {k: v.detach().cpu().clone().contiguous() for k, v in sd.items()}
