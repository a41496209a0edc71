"""The first block's last-position attention read from tables over (position, token) pairs.

When the attention of block 0 reads the embedding itself (no LayerNorm before it, definitions
§4.2 default), its input at position ``t`` is ``W_E[x_t] + W_pos[t]``: one of only
``seq_len * vocab_size`` vectors. So the query, key and value projections of every input are rows
of one small table ``(W_E[v] + W_pos[t]) [W_Q | W_K | W_V] (+ b)``, computed once per forward and
gathered by ``(t, x_t)``, instead of ``B * seq_len`` projections. With the last-position trick of
:meth:`~transformer_check.model.Transformer.forward` (only the last query row feeds the logits),
the scores and values are then small elementwise products: the last query attends to every key
(the last row of the causal mask is all ones), so no mask is applied.

This is the same function of the weights (same formulas, definitions §4.2); the floating-point
results differ from the full path only by round-off (the scores are summed in another order).
It is used in gradient-taking forwards with ``vocab_size < B``, i.e. training (:func:`use_tables`):
forwards without gradients (the measures, which compare patched with unpatched logits) keep the
one full path, so that such differences stay exact.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["use_tables", "embedding_attention"]


def use_tables(model: nn.Module, tokens: Tensor) -> bool:
    """Whether gradients are on, block 0's attention reads the raw embedding and the table is
    smaller than the batch's ``B * T`` projections (``vocab_size < B``)."""
    cfg = model.cfg
    return torch.is_grad_enabled() and cfg.layernorm != "pre" and cfg.vocab_size < tokens.shape[0]


def embedding_attention(model: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """``(resid, attn_out)`` of block 0 at the last position, each ``[B, 1, d_model]``.

    ``resid`` is the embedding ``W_E[x_T] + W_pos[T]``; ``attn_out`` is the attention output
    ``sum_h softmax(q_h k_h^T / sqrt(d_head)) v_h W_O[h] (+ b_O)`` of that position
    (definitions §4.2), with ``q``, ``k``, ``v`` gathered from the projected table of every
    (position, token) pair.
    """
    a = model.blocks[0].attn
    B, T = tokens.shape
    H, d, e = a.W_Q.shape
    V = model.W_E.shape[0]
    resid = (model.W_pos[:T, None] + model.W_E[None]).reshape(T * V, d)  # row t*V + v
    w = torch.cat([a.W_Q, a.W_K, a.W_V], dim=0)  # [3H, d, e]
    table = resid @ w.permute(1, 0, 2).reshape(d, 3 * H * e)  # [T*V, 3*H*e], head-major
    if a.biases:
        table = table + torch.cat([a.b_Q, a.b_K, a.b_V])
    idx = tokens + V * torch.arange(T, device=tokens.device)  # [B, T] rows of the table
    last = idx[:, -1]
    He = H * e
    q = table[:, :He][last].view(B, 1, H, e)
    k = table[:, He : 2 * He][idx].view(B, T, H, e)
    v = table[:, 2 * He :][idx].view(B, T, H, e)
    attn = ((q * k).sum(-1) / math.sqrt(e)).softmax(dim=1)  # [B, T, H]
    z = (attn.unsqueeze(-1) * v).sum(dim=1)  # [B, H, e]
    out = z.reshape(B, He) @ a.W_O.reshape(He, d)
    if a.biases:
        out = out + a.b_O
    return resid[last].unsqueeze(1), out.unsqueeze(1)
