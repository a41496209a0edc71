"""TransformerLens ``HookedTransformer`` state dicts <-> occam, without importing TransformerLens.

The legacy (TransformerLens <= 3.x) names and shapes, read from ``HookedTransformer.py`` and
``components/`` of transformer-lens 3.9.0 (docs/interop.md §TransformerLens):

==============================  ==========================  =================================
TransformerLens                 shape                       occam
==============================  ==========================  =================================
``embed.W_E``                   ``[d_vocab, d_model]``      ``W_E`` (same)
``pos_embed.W_pos``             ``[n_ctx, d_model]``        ``W_pos`` (first ``seq_len`` rows)
``blocks.L.attn.W_Q/W_K/W_V``   ``[n_heads, d_model, e]``   same
``blocks.L.attn.W_O``           ``[n_heads, e, d_model]``   same
``blocks.L.attn.b_Q/b_K/b_V``   ``[n_heads, e]``            flat ``[n_heads * e]``
``blocks.L.attn.b_O``           ``[d_model]``               same
``blocks.L.mlp.W_in/b_in``      ``[d_model, d_mlp]``        same
``blocks.L.mlp.W_out/b_out``    ``[d_mlp, d_model]``        same
``blocks.L.ln1.w/b``, ``ln2``   ``[d_model]``               ``blocks.L.ln1.weight/bias``
``ln_final.w/b``                ``[d_model]``               ``ln_final.weight/bias``
``unembed.W_U``, ``b_U``        ``[d_model, d_vocab_out]``  same (first ``d_vocab_out`` columns)
==============================  ==========================  =================================

Buffers (``attn.mask``, ``attn.IGNORE``) are ignored on reading and not written. The forward
passes agree term by term: ``x W + b`` projections, scores ``q k^T / attn_scale`` with
``attn_scale = sqrt(d_head)``, causal softmax, ``act(x W_in + b_in) W_out + b_out`` with ``relu`` or
``gelu`` (both ``torch.nn.functional``), LayerNorm ``(x - mean) / sqrt(var + eps) w + b`` before
attention, MLP and unembedding (occam's ``"pre"``). A configuration TransformerLens can express
and occam cannot (rotary, RMSNorm, parallel attention, ...) is refused in one line.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from theory.base.errors import InputError
from transformer_check.model import ModelConfig, Transformer, param_shapes

__all__ = [
    "TL_BUFFERS",
    "tl_config",
    "occam_config_from_tl",
    "occam_from_tl",
    "tl_from_occam",
    "bias_free",
    "model_from_tensors",
]

TL_BUFFERS = ("mask", "IGNORE")  # per-attention buffers of a HookedTransformer state dict
# HookedTransformerConfig fields that occam's architecture fixes, with the value it needs
_FIXED: dict[str, Any] = {
    "positional_embedding_type": "standard",
    "attention_dir": "causal",
    "attn_only": False,
    "gated_mlp": False,
    "parallel_attn_mlp": False,
    "n_key_value_heads": None,
    "final_rms": False,
    "uses_rms_norm": False,
    "use_local_attn": False,
    "post_embedding_ln": False,
    "num_experts": None,
    "use_qk_norm": False,
    "clip_qkv": None,
    "use_logn_attn": False,
    "use_attention_sinks": False,
    "use_normalization_before_and_after": False,
    "scale_attn_by_inverse_layer_idx": False,
    "use_attn_scale": True,
    "attn_scores_soft_cap": -1.0,
    "output_logits_soft_cap": -1.0,
    "load_in_4bit": False,
}
_ACTS = ("relu", "gelu")  # TransformerLens "gelu" is F.gelu (erf); "gelu_new" is not occam's
_NORMS = (None, "LN", "LNPre")
_EPS = 1e-5  # torch.nn.LayerNorm's default, which occam's LayerNorms use
_BLOCK = re.compile(r"blocks\.(\d+)\.")


def _plain(v: Any) -> Any:
    """A numpy scalar (TransformerLens stores ``attn_scale`` as ``np.float64``) as a Python one."""
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v


def _shape(sd: Mapping[str, Tensor], key: str, ndim: int) -> tuple[int, ...]:
    t = sd.get(key)
    if not torch.is_tensor(t):
        raise InputError(
            f"state dict: no tensor {key!r}; is this a TransformerLens HookedTransformer state "
            "dict? (pass --format nanda for Nanda et al.'s)"
        )
    if t.dim() != ndim:
        raise InputError(f"state dict: {key} has shape {list(t.shape)}, expected {ndim} dims")
    return tuple(t.shape)


def tl_config(sd: Mapping[str, Tensor], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The HookedTransformerConfig fields occam needs, from ``config`` where given (a dict of its
    fields) and from the tensor shapes otherwise, checked against each other and against what
    occam can compute exactly; :class:`InputError` for anything else.

    Without a config, ``act_fn`` is taken to be ``relu`` and ``normalization_type`` is ``LN`` if
    LayerNorm weights are present, else ``None`` (an ``LNPre`` model needs its config)."""
    cfg = {k: _plain(v) for k, v in (config or {}).items()}
    V, d = _shape(sd, "embed.W_E", 2)
    n_ctx = _shape(sd, "pos_embed.W_pos", 2)[0]
    d_out = _shape(sd, "unembed.W_U", 2)[1]
    H, _, e = _shape(sd, "blocks.0.attn.W_Q", 3)
    d_mlp = _shape(sd, "blocks.0.mlp.W_in", 2)[1]
    d_in = {
        "pos_embed.W_pos": _shape(sd, "pos_embed.W_pos", 2)[1],
        "blocks.0.attn.W_Q": _shape(sd, "blocks.0.attn.W_Q", 3)[1],
        "blocks.0.mlp.W_in": _shape(sd, "blocks.0.mlp.W_in", 2)[0],
        "unembed.W_U": _shape(sd, "unembed.W_U", 2)[0],
    }
    for key, v in d_in.items():
        if v != d:
            raise InputError(
                f"state dict: embed.W_E [{V}, {d}] and {key} {list(sd[key].shape)} do not fit one "
                "HookedTransformer (d_model); is it Nanda et al.'s? (pass --format nanda)"
            )
    layers = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    if layers != set(range(len(layers))):
        raise InputError(f"state dict: block numbers {sorted(layers)} are not 0..L-1")
    found = {
        "d_vocab": V,
        "d_model": d,
        "n_ctx": n_ctx,
        "d_vocab_out": d_out,
        "n_heads": H,
        "d_head": e,
        "d_mlp": d_mlp,
        "n_layers": len(layers),
    }
    if cfg.get("d_vocab_out", -1) == -1 and "d_vocab" in cfg:
        cfg["d_vocab_out"] = cfg["d_vocab"]
    for k, v in found.items():
        if k in cfg and cfg[k] is not None and int(cfg[k]) != v:
            raise InputError(
                f"config: {k} = {cfg[k]} but the tensors say {v}; the config belongs to another model"
            )
    for k, want in _FIXED.items():
        got = cfg.get(k, want)
        if got != want and not (isinstance(want, float) and got is not None and got <= 0):
            raise InputError(
                f"config: {k} = {got!r} is not supported (occam computes {k} = {want!r}); "
                "this architecture cannot be converted exactly"
            )
    act = cfg.get("act_fn") or "relu"
    if act not in _ACTS:
        raise InputError(f"config: act_fn {act!r} is not supported; occam has {', '.join(_ACTS)}")
    has_ln = "blocks.0.ln1.w" in sd
    norm = cfg.get("normalization_type", "LN" if has_ln else None)
    if norm not in _NORMS:
        raise InputError(
            f"config: normalization_type {norm!r} is not supported; occam has {_NORMS} "
            "(LayerNorm before attention, MLP and unembedding)"
        )
    if (norm == "LN") != has_ln:
        raise InputError(
            f"state dict: normalization_type is {norm!r} but LayerNorm weights are "
            f"{'present' if has_ln else 'absent'}"
        )
    if norm is not None and not math.isclose(float(cfg.get("eps", _EPS)), _EPS, rel_tol=1e-9):
        raise InputError(f"config: LayerNorm eps {cfg['eps']} is not occam's {_EPS}")
    scale = float(cfg.get("attn_scale", -1.0))
    if scale != -1.0 and not math.isclose(scale, math.sqrt(e), rel_tol=1e-12):
        raise InputError(f"config: attn_scale {scale} is not sqrt(d_head) = {math.sqrt(e):.6g}")
    return {**found, "act_fn": act, "normalization_type": norm}


def occam_config_from_tl(
    tl: Mapping[str, Any],
    *,
    seq_len: int | None = None,
    d_vocab_out: int | None = None,
    biases: bool = True,
) -> ModelConfig:
    """The occam :class:`ModelConfig` of a checked :func:`tl_config`; ``seq_len`` (<= ``n_ctx``)
    and ``d_vocab_out`` (<= TransformerLens's) keep the first positions and output columns."""
    for name, v, top in (
        ("seq_len", seq_len, tl["n_ctx"]),
        ("d_vocab_out", d_vocab_out, tl["d_vocab_out"]),
    ):
        if v is not None and not 1 <= v <= top:
            raise InputError(f"{name}: must be in [1, {top}] for this model, got {v}")
    return ModelConfig(
        d_model=tl["d_model"],
        n_heads=tl["n_heads"],
        d_head=tl["d_head"],
        d_mlp=tl["d_mlp"],
        n_layers=tl["n_layers"],
        act=tl["act_fn"],
        layernorm=None if tl["normalization_type"] is None else "pre",
        vocab_size=tl["d_vocab"],
        seq_len=seq_len or tl["n_ctx"],
        d_vocab_out=d_vocab_out or tl["d_vocab_out"],
        biases=biases,
    )


def _occam_tensors(sd: Mapping[str, Tensor], tl: Mapping[str, Any], mcfg: ModelConfig) -> dict:
    """occam parameter name -> tensor (a view or a slice of ``sd``'s tensors)."""
    T, V = mcfg.seq_len, mcfg.d_vocab_out
    out = {
        "W_E": sd["embed.W_E"],
        "W_pos": sd["pos_embed.W_pos"][:T],
        "W_U": sd["unembed.W_U"][:, :V],
    }
    d = tl["d_model"]
    out["b_U"] = sd.get("unembed.b_U", torch.zeros(tl["d_vocab_out"]))[:V]
    for lay in range(tl["n_layers"]):
        b = f"blocks.{lay}"
        for w in ("W_Q", "W_K", "W_V", "W_O"):
            out[f"{b}.attn.{w}"] = sd[f"{b}.attn.{w}"]
        for w in ("b_Q", "b_K", "b_V"):
            t = sd.get(f"{b}.attn.{w}", torch.zeros(tl["n_heads"], tl["d_head"]))
            out[f"{b}.attn.{w}"] = t.reshape(-1)
        out[f"{b}.attn.b_O"] = sd.get(f"{b}.attn.b_O", torch.zeros(d))
        for w in ("W_in", "b_in", "W_out", "b_out"):
            out[f"{b}.mlp.{w}"] = sd[f"{b}.mlp.{w}"]
        for ln in ("ln1", "ln2"):
            if tl["normalization_type"] is not None:  # LNPre: unit weight, zero bias
                out[f"{b}.{ln}.weight"] = sd.get(f"{b}.{ln}.w", torch.ones(d))
                out[f"{b}.{ln}.bias"] = sd.get(f"{b}.{ln}.b", torch.zeros(d))
    if tl["normalization_type"] is not None:
        out["ln_final.weight"] = sd.get("ln_final.w", torch.ones(d))
        out["ln_final.bias"] = sd.get("ln_final.b", torch.zeros(d))
    return out


_BIAS = re.compile(r"(^|\.)b_(Q|K|V|O|U)$")


def _check_keys(sd: Mapping[str, Tensor], tl: Mapping[str, Any]) -> None:
    """Every tensor of ``sd`` is one occam reads or a known buffer; nothing is silently dropped."""
    expected = {"embed.W_E", "pos_embed.W_pos", "unembed.W_U", "unembed.b_U"}
    if tl["normalization_type"] == "LN":
        expected |= {"ln_final.w", "ln_final.b"}
    for lay in range(tl["n_layers"]):
        b = f"blocks.{lay}"
        expected |= {f"{b}.attn.{w}" for w in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")}
        expected |= {f"{b}.attn.b_O", *(f"{b}.attn.{buf}" for buf in TL_BUFFERS)}
        expected |= {f"{b}.mlp.{w}" for w in ("W_in", "b_in", "W_out", "b_out")}
        if tl["normalization_type"] == "LN":
            expected |= {f"{b}.{ln}.{w}" for ln in ("ln1", "ln2") for w in ("w", "b")}
    extra = sorted(set(sd) - expected)
    if extra:
        raise InputError(
            f"state dict: tensors {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''} are "
            "not part of a HookedTransformer occam can convert"
        )


def occam_from_tl(
    sd: Mapping[str, Tensor],
    config: Mapping[str, Any] | None = None,
    *,
    seq_len: int | None = None,
    d_vocab_out: int | None = None,
    biases: bool | None = None,
) -> Transformer:
    """The occam model computing what the HookedTransformer of ``sd`` (and ``config``) computes.

    ``biases=None`` keeps the attention and unembedding biases only if one of them is nonzero (a
    TransformerLens model initialises them to zero and the grokking demo never trains them), so a
    bias-free model comes back as a default occam model; ``True``/``False`` force it (``False``
    refuses nonzero ones). ``seq_len``/``d_vocab_out``: see :func:`occam_config_from_tl`.
    """
    tl = tl_config(sd, config)
    _check_keys(sd, tl)
    full = occam_config_from_tl(tl, seq_len=seq_len, d_vocab_out=d_vocab_out, biases=True)
    tensors = _occam_tensors(sd, tl, full)
    nonzero = sorted(k for k, t in tensors.items() if _BIAS.search(k) and bool(t.any()))
    if biases is False and nonzero:
        raise InputError(f"biases: {', '.join(nonzero[:3])} are nonzero; keep them (biases=True)")
    keep = bool(nonzero) if biases is None else biases
    mcfg = occam_config_from_tl(tl, seq_len=seq_len, d_vocab_out=d_vocab_out, biases=keep)
    return model_from_tensors(mcfg, tensors)


def model_from_tensors(mcfg: ModelConfig, tensors: Mapping[str, Tensor]) -> Transformer:
    """A :class:`Transformer` of ``mcfg`` with exactly ``tensors`` (names and shapes checked)."""
    model = Transformer(mcfg, torch.Generator().manual_seed(0))
    shapes = param_shapes(mcfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            t = tensors[name]
            if tuple(t.shape) != shapes[name]:
                raise InputError(
                    f"state dict: {name} has shape {list(t.shape)}, expected {list(shapes[name])}"
                )
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"state dict: {name} holds NaN or infinite values")
            p.copy_(t.detach().to(p.dtype))
    return model.eval()


def bias_free(model: Transformer) -> Transformer | None:
    """An equal model without attention/unembedding biases, or ``None`` if it needs them.

    ``b_K`` adds ``q . b_K`` to every score of a query row, which the softmax ignores, so it is
    dropped exactly (docs/interop.md); ``b_Q``, ``b_V``, ``b_O`` and ``b_U`` must be zero."""
    cfg = model.cfg
    if not cfg.biases:
        return model
    kept = {n: p for n, p in model.named_parameters() if _BIAS.search(n)}
    if any(bool(p.any()) for n, p in kept.items() if not n.endswith("b_K")):
        return None
    tensors = {n: p for n, p in model.named_parameters() if n not in kept}
    return model_from_tensors(dataclasses.replace(cfg, biases=False), tensors)


def tl_from_occam(model: Transformer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, config)`` of the HookedTransformer equal to ``model``: legacy names (no
    buffers: load it with ``strict=False``) and the ``HookedTransformerConfig`` keyword arguments.
    A model without biases gets zero ones; a post-LN model has no TransformerLens form."""
    cfg = model.cfg
    if cfg.layernorm == "post":
        raise InputError(
            "model: a post-LayerNorm model has no HookedTransformer form (TransformerLens "
            "normalises before attention, MLP and unembedding)"
        )
    H, e, d = cfg.n_heads, cfg.d_head, cfg.d_model
    sd: dict[str, Tensor] = {
        "embed.W_E": model.W_E,
        "pos_embed.W_pos": model.W_pos,
    }
    zeros = torch.zeros
    for lay, blk in enumerate(model.blocks):
        b, a = f"blocks.{lay}", blk.attn
        if cfg.layernorm == "pre":
            for ln in ("ln1", "ln2"):
                sd[f"{b}.{ln}.w"] = getattr(blk, ln).weight
                sd[f"{b}.{ln}.b"] = getattr(blk, ln).bias
        for w in ("W_Q", "W_K", "W_V", "W_O"):
            sd[f"{b}.attn.{w}"] = getattr(a, w)
        for w in ("b_Q", "b_K", "b_V"):
            sd[f"{b}.attn.{w}"] = getattr(a, w).view(H, e) if cfg.biases else zeros(H, e)
        sd[f"{b}.attn.b_O"] = a.b_O if cfg.biases else zeros(d)
        for w in ("W_in", "b_in", "W_out", "b_out"):
            sd[f"{b}.mlp.{w}"] = getattr(blk.mlp, w)
    if cfg.layernorm == "pre":
        sd["ln_final.w"], sd["ln_final.b"] = model.ln_final.weight, model.ln_final.bias
    sd["unembed.W_U"] = model.W_U
    sd["unembed.b_U"] = model.b_U if cfg.biases else zeros(cfg.d_vocab_out)
    dtype = model.W_E.dtype
    sd = {k: v.detach().to("cpu", dtype).clone().contiguous() for k, v in sd.items()}
    config = {
        "n_layers": cfg.n_layers,
        "d_model": d,
        "n_ctx": cfg.seq_len,
        "d_head": e,
        "n_heads": H,
        "d_mlp": cfg.d_mlp,
        "d_vocab": cfg.vocab_size,
        "d_vocab_out": cfg.d_vocab_out,
        "act_fn": cfg.act,
        "normalization_type": "LN" if cfg.layernorm == "pre" else None,
        "positional_embedding_type": "standard",
    }
    return sd, config
