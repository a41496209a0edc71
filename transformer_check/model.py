"""A small decoder-only transformer for modular arithmetic, written out in plain torch (definitions §4.2).

Default (definitions §4.2): 1 layer, d_model 128, 4 heads x 32, d_mlp 512, ReLU, no LayerNorm, every
weight initialised ``randn / sqrt(d_model)``, biases zero. Attention is causal; the logits are read
at the last position only.

Weights are kept in the "interpretability" layout (``W_Q[h]: d_model -> d_head`` etc.) so that
per-head quantities are plain slices. :meth:`Transformer.named_weight_matrices` exposes every 2-D
weight as an (out x in) matrix; per-head Q/K/V/O are concatenated over heads (see its docstring).

``ModelConfig(biases=True)`` adds the biases imported models carry (docs/interop.md): flat
head-major ``b_Q``/``b_K``/``b_V`` ``[H*d_head]`` and ``b_O`` per attention, ``b_U``; off by default.
Flat, because every parameter of >= 2 dims is a weight matrix (docs/model_protocol.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from theory.base.errors import InputError
from transformer_check.embed_tables import embedding_attention, use_tables
from transformer_check.model_names import (
    ACT_KINDS,
    FINAL_RESID,
    WEIGHT_PARTS,
    act_name,
    parse_act_name,
    parse_weight_name,
    weight_name,
)
from transformer_check.model_sizes import n_params, param_shapes

__all__ = [
    "ACT_KINDS",
    "FINAL_RESID",
    "WEIGHT_PARTS",
    "act_name",
    "parse_act_name",
    "weight_name",
    "parse_weight_name",
    "ArchConfig",
    "ModelConfig",
    "Attention",
    "MLP",
    "Block",
    "Transformer",
    "param_shapes",
    "n_params",
]

ACTS = ("relu", "gelu")
LAYERNORMS = (None, "pre", "post")


@dataclass(frozen=True)
class ArchConfig:
    """Model shape without the task-dependent sizes (definitions §4.2 default)."""

    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    n_layers: int = 1
    act: str = "relu"
    layernorm: str | None = None
    # std of every weight; None -> 1/sqrt(d_model) (definitions §4.2)
    init_scale: float | None = None

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "d_head", "d_mlp", "n_layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name}: must be a positive integer, got {v!r}")
        if self.act not in ACTS:
            raise InputError(f"act: must be one of {ACTS}, got {self.act!r}")
        if self.layernorm not in LAYERNORMS:
            raise InputError(f"layernorm: must be one of {LAYERNORMS}, got {self.layernorm!r}")
        s = self.init_scale
        if s is not None and (
            isinstance(s, bool) or not isinstance(s, int | float) or not 0 < s < math.inf
        ):
            raise InputError(f"init_scale: must be a finite number > 0 or None, got {s!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig(ArchConfig):
    """Architecture (definitions §4.2) plus the task's sizes.

    Parameters
    ----------
    vocab_size, seq_len : int
        From the dataset (:class:`~transformer_check.data.ModularDataset`).
    d_vocab_out : int, optional
        Output classes; ``None`` means ``vocab_size - 1`` (``a b =``).
    biases : bool, default False
        The attention and unembedding biases of imported models (module docstring); never set
        by a training config.
    d_model, n_heads, d_head, d_mlp, n_layers, act, layernorm, init_scale
        As :class:`ArchConfig`: defaults 128, 4, 32, 512, 1, ``"relu"``, ``None`` and ``None``
        (weights ``randn / sqrt(d_model)``), the definitions §4.2 model.

    Examples
    --------
    >>> from transformer_check import ModelConfig
    >>> ModelConfig(vocab_size=8, seq_len=3).d_vocab_out
    7
    """

    vocab_size: int
    seq_len: int
    d_vocab_out: int | None = None
    biases: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("vocab_size", "seq_len"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"{name}: must be a positive integer, got {v!r}")
        if self.d_vocab_out is None:
            object.__setattr__(self, "d_vocab_out", self.vocab_size - 1)
        if self.d_vocab_out < 1:
            raise InputError(f"d_vocab_out: must be >= 1, got {self.d_vocab_out!r}")
        if not isinstance(self.biases, bool):
            raise InputError(f"biases: must be true or false, got {self.biases!r}")

    @property
    def std(self) -> float:
        return self.init_scale if self.init_scale is not None else 1.0 / math.sqrt(self.d_model)


def _randn(gen: torch.Generator | None, std: float, *shape: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=gen) * std)


def _zeros(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(*shape))


class Attention(nn.Module):
    """Causal multi-head attention, scores scaled by ``1/sqrt(d_head)``; biases only with
    ``cfg.biases`` (``b_Q``/``b_K``/``b_V`` flat ``[H*e]``, ``b_O`` ``[d]``, zero at init)."""

    def __init__(self, cfg: ModelConfig, gen: torch.Generator | None = None) -> None:
        super().__init__()
        H, d, e, s = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.std
        self.W_Q = _randn(gen, s, H, d, e)
        self.W_K = _randn(gen, s, H, d, e)
        self.W_V = _randn(gen, s, H, d, e)
        self.W_O = _randn(gen, s, H, e, d)
        self.biases = cfg.biases
        if cfg.biases:
            self.b_Q, self.b_K, self.b_V = _zeros(H * e), _zeros(H * e), _zeros(H * e)
            self.b_O = _zeros(d)
        self.register_buffer("mask", torch.tril(torch.ones(cfg.seq_len, cfg.seq_len, dtype=bool)))

    def _proj(self, x: Tensor, w: Tensor, b: str) -> Tensor:
        """``x W[h] (+ b[h])`` for every head: ``[B, H, T, e]``."""
        out = torch.einsum("btd,hde->bhte", x, w)
        if self.biases:
            out = out + getattr(self, b).view(w.shape[0], 1, w.shape[2])
        return out

    def pattern(self, x: Tensor, last_only: bool = False) -> tuple[Tensor, Tensor]:
        """Attention probabilities ``[B, H, Tq, T]`` and values ``[B, H, T, e]``."""
        T = x.shape[1]
        xq = x[:, -1:] if last_only else x
        q = self._proj(xq, self.W_Q, "b_Q")
        k = self._proj(x, self.W_K, "b_K")
        v = self._proj(x, self.W_V, "b_V")
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.W_Q.shape[-1])
        mask = self.mask[T - 1 : T, :T] if last_only else self.mask[:T, :T]
        scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(dim=-1), v

    def head_outputs(self, x: Tensor, last_only: bool = False) -> Tensor:
        """Each head's contribution to the residual after ``W_O``: ``[B, Tq, H, d_model]``."""
        attn, v = self.pattern(x, last_only)
        z = attn @ v  # [B, H, Tq, e]
        return torch.einsum("bhte,hed->bthd", z, self.W_O)

    def combine(self, heads: Tensor) -> Tensor:
        """The attention output from the head outputs ``[B, Tq, H, d]``: their sum (+ ``b_O``)."""
        out = heads.sum(dim=2)
        return out + self.b_O if self.biases else out

    def forward(self, x: Tensor, last_only: bool = False) -> Tensor:
        """Sum of the head outputs (+ ``b_O``), with one matmul over the concatenated heads."""
        attn, v = self.pattern(x, last_only)
        z = (attn @ v).transpose(1, 2)  # [B, Tq, H, e]
        B, Tq, H, e = z.shape
        out = z.reshape(B, Tq, H * e) @ self.W_O.reshape(H * e, -1)
        return out + self.b_O if self.biases else out


class MLP(nn.Module):
    """``act(x W_in + b_in) W_out + b_out``."""

    def __init__(self, cfg: ModelConfig, gen: torch.Generator | None = None) -> None:
        super().__init__()
        self.W_in = _randn(gen, cfg.std, cfg.d_model, cfg.d_mlp)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = _randn(gen, cfg.std, cfg.d_mlp, cfg.d_model)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = F.relu if cfg.act == "relu" else F.gelu

    def hidden(self, x: Tensor) -> Tensor:
        """``act(x W_in + b_in)``, the bias added inside the matrix product (one pass fewer)."""
        h = torch.addmm(self.b_in, x.reshape(-1, x.shape[-1]), self.W_in)
        return self.act(h).view(*x.shape[:-1], h.shape[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.hidden(x) @ self.W_out + self.b_out


class Block(nn.Module):
    """Attention then MLP, each added to the residual stream; LayerNorm pre, post or none."""

    def __init__(self, cfg: ModelConfig, gen: torch.Generator | None = None) -> None:
        super().__init__()
        self.layernorm = cfg.layernorm
        self.attn = Attention(cfg, gen)
        self.mlp = MLP(cfg, gen)
        if cfg.layernorm is not None:
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.ln2 = nn.LayerNorm(cfg.d_model)

    def forward(
        self,
        x: Tensor,
        *,
        layer: int = 0,
        last_only: bool = False,
        head_patch: Mapping[tuple[int, int], Tensor] | None = None,
        cache: dict | None = None,
    ) -> Tensor:
        """One residual block; with ``last_only`` only the last position is updated and returned."""
        pre = self.layernorm == "pre"
        a_in = self.ln1(x) if pre else x
        patches = {h: t for (lay, h), t in (head_patch or {}).items() if lay == layer}
        if patches or cache is not None:
            heads = self.attn.head_outputs(a_in, last_only)
            if patches:
                heads = heads.clone()
                for h, t in patches.items():
                    heads[:, :, h] = t[:, -heads.shape[1] :]
            if cache is not None:
                cache[act_name("attn_head_out", layer)] = heads
            attn_out = self.attn.combine(heads)
        else:
            attn_out = self.attn(a_in, last_only)
        return self.after_attention(x[:, -1:] if last_only else x, attn_out, layer, cache)

    def after_attention(
        self, x: Tensor, attn_out: Tensor, layer: int = 0, cache: dict | None = None
    ) -> Tensor:
        """The block from its input residual ``x`` (the positions kept) and attention output."""
        x = x + attn_out
        if self.layernorm == "post":
            x = self.ln1(x)
        if cache is not None:
            cache[act_name("resid_mid", layer)] = x
        return self.mlp_part(x, layer=layer, cache=cache)

    def mlp_part(self, x: Tensor, *, layer: int = 0, cache: dict | None = None) -> Tensor:
        """The rest of the block from its post-attention residual ``resid_mid``: the MLP added
        to the residual (LayerNorm pre or post as configured)."""
        pre = self.layernorm == "pre"
        m_in = self.ln2(x) if pre else x
        hidden = self.mlp.hidden(m_in)
        if cache is not None:
            cache[act_name("mlp_hidden", layer)] = hidden
        out = torch.addmm(self.mlp.b_out, hidden.reshape(-1, hidden.shape[-1]), self.mlp.W_out)
        x = x + out.view(x.shape)
        if self.layernorm == "post":
            x = self.ln2(x)
        return x


class Transformer(nn.Module):
    """Token + positional embedding, ``n_layers`` blocks, unembedding at the last position.

    Parameters
    ----------
    cfg : ModelConfig
    generator : torch.Generator, optional
        Source of the initial weights, ``randn * cfg.std`` (definitions §4.2).

    Examples
    --------
    >>> import torch
    >>> from transformer_check import ModelConfig, Transformer
    >>> cfg = ModelConfig(vocab_size=8, seq_len=3, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    >>> Transformer.from_seed(cfg, 0)(torch.zeros(5, 3, dtype=torch.long)).shape
    torch.Size([5, 7])
    """

    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        s = cfg.std
        self.W_E = _randn(generator, s, cfg.vocab_size, cfg.d_model)
        self.W_pos = _randn(generator, s, cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, generator) for _ in range(cfg.n_layers))
        if cfg.layernorm == "pre":
            self.ln_final = nn.LayerNorm(cfg.d_model)
        self.W_U = _randn(generator, s, cfg.d_model, cfg.d_vocab_out)
        if cfg.biases:
            self.b_U = _zeros(cfg.d_vocab_out)

    @classmethod
    def from_seed(cls, cfg: ModelConfig, seed: int) -> Transformer:
        """Initialise from a dedicated ``torch.Generator`` (definitions §5: explicit seeds)."""
        return cls(cfg, torch.Generator().manual_seed(int(seed)))

    def embed(self, tokens: Tensor) -> Tensor:
        """Token + positional embedding ``[B, T, d_model]``."""
        return self.W_E[tokens] + self.W_pos[: tokens.shape[1]]

    def unembed(self, resid: Tensor) -> Tensor:
        """Logits ``[..., d_vocab_out]`` (after the final LayerNorm for pre-LN models)."""
        if self.cfg.layernorm == "pre":
            resid = self.ln_final(resid)
        logits = resid @ self.W_U
        return logits + self.b_U if self.cfg.biases else logits

    def logits_from_mid(self, mid: Tensor) -> Tensor:
        """Logits from the last block's post-attention residual at the last position
        (``cache["resid_mid.{L-1}"][:, -1]``, ``[B, d_model]``): its MLP, then :meth:`unembed`."""
        return self.unembed(self.blocks[-1].mlp_part(mid))

    def forward(
        self,
        tokens: Tensor,
        *,
        skip_layers: Sequence[int] | None = None,
        head_patch: Mapping[tuple[int, int], Tensor] | None = None,
        cache: dict | None = None,
    ) -> Tensor:
        """Logits at the last position ``[B, d_vocab_out]``.

        ``skip_layers``: blocks bypassed entirely; ``head_patch[(l, h)]``: ``[B, T, d_model]`` that
        replaces head ``h`` of layer ``l``'s output; ``cache``: filled with the activations, keyed
        by :func:`act_name`:

        - ``resid_pre.{l}``, ``resid_post.{l}``: residual stream ``[B, T, d_model]`` into and out of
          block ``l`` (equal for a skipped block);
        - ``attn_head_out.{l}``: each head's output after ``W_O``, ``[B, T, n_heads, d_model]``
          (without ``b_O``);
        - ``resid_mid.{l}``: the residual after attention, before the MLP ``[B, T, d_model]``
          (after ``ln1`` for a post-LN model);
        - ``mlp_hidden.{l}``: post-activation MLP units ``[B, T, d_mlp]``;
        - ``final_resid`` (:data:`FINAL_RESID`): the last position's residual ``[B, d_model]``.

        A skipped block has no ``attn_head_out``, ``resid_mid`` or ``mlp_hidden`` entry.
        """
        if tokens.dim() != 2 or tokens.shape[1] > self.cfg.seq_len:
            raise InputError(
                f"tokens: expected [B, T<= {self.cfg.seq_len}] ids, got shape {tuple(tokens.shape)}"
            )
        skip = set(skip_layers or ())
        active = [lay for lay in range(len(self.blocks)) if lay not in skip]
        # Only the last position feeds the logits, so the last active block needs only that query
        # row and that MLP row (a ~T-fold saving there); a cache wants every position. If that
        # block is block 0, its attention reads tables over (position, token) (embed_tables).
        last = active[-1] if (active and cache is None) else None
        tables = last == 0 and not any(lay == 0 for lay, _ in head_patch or {})
        tables = tables and use_tables(self, tokens)
        x = None if tables else self.embed(tokens)  # block 0 then starts from the tables
        for lay, block in enumerate(self.blocks):
            if cache is not None:
                cache[act_name("resid_pre", lay)] = x
            if lay == 0 and tables:
                x = block.after_attention(*embedding_attention(self, tokens))
            elif lay not in skip:
                x = block(x, layer=lay, last_only=lay == last, head_patch=head_patch, cache=cache)
            if cache is not None:
                cache[act_name("resid_post", lay)] = x
        final = x[:, -1]
        if cache is not None:
            cache[FINAL_RESID] = final
        return self.unembed(final)

    def named_weight_matrices(self) -> dict[str, Tensor]:
        """Every 2-D weight as an (out x in) matrix (differentiable views/copies of the parameters).

        ``embed.W_E``: ``[d_model, vocab]``; ``embed.W_pos``: ``[d_model, seq_len]``;
        ``blocks.{l}.attn.W_{Q,K,V}``: ``[n_heads*d_head, d_model]`` with row ``h*d_head + j`` =
        head ``h``'s output ``j``; ``blocks.{l}.attn.W_O``: ``[d_model, n_heads*d_head]``
        (columns in the same head-major order); ``blocks.{l}.mlp.W_in``: ``[d_mlp, d_model]``;
        ``blocks.{l}.mlp.W_out``: ``[d_model, d_mlp]``; ``unembed.W_U``: ``[d_vocab_out, d_model]``.
        """
        out = {"embed.W_E": self.W_E.T, "embed.W_pos": self.W_pos.T}
        for lay, blk in enumerate(self.blocks):
            a = blk.attn
            for name in ("W_Q", "W_K", "W_V"):
                w = getattr(a, name)  # [H, d, e]
                out[weight_name(lay, "attn", name)] = w.permute(0, 2, 1).reshape(-1, w.shape[1])
            out[weight_name(lay, "attn", "W_O")] = a.W_O.reshape(-1, a.W_O.shape[-1]).T
            out[weight_name(lay, "mlp", "W_in")] = blk.mlp.W_in.T
            out[weight_name(lay, "mlp", "W_out")] = blk.mlp.W_out.T
        out["unembed.W_U"] = self.W_U.T
        return out

    @torch.no_grad()
    def set_weight_matrices(self, mats: Mapping[str, Tensor]) -> None:
        """Inverse of :meth:`named_weight_matrices`: copy (out x in) matrices into parameters."""
        H, e, d = self.cfg.n_heads, self.cfg.d_head, self.cfg.d_model
        for name, m in mats.items():
            if name == "embed.W_E":
                self.W_E.copy_(m.T)
            elif name == "embed.W_pos":
                self.W_pos.copy_(m.T)
            elif name == "unembed.W_U":
                self.W_U.copy_(m.T)
            else:
                lay, part, wname = parse_weight_name(name)
                blk = self.blocks[lay]
                if wname == "W_O":
                    blk.attn.W_O.copy_(m.T.reshape(H, e, d))
                elif part == "attn":
                    getattr(blk.attn, wname).copy_(m.reshape(H, e, d).permute(0, 2, 1))
                else:
                    getattr(blk.mlp, wname).copy_(m.T)
