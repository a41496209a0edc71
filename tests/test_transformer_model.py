"""The plain-torch transformer (definitions §4.2) against a naive per-head reference implementation."""

from __future__ import annotations

import math

import pytest
import torch

from transformer_check.model import (
    ACT_KINDS,
    FINAL_RESID,
    ModelConfig,
    Transformer,
    act_name,
    parse_act_name,
    parse_weight_name,
    weight_name,
)


def _cfg(**kw) -> ModelConfig:
    base = dict(vocab_size=12, seq_len=3, d_model=16, n_heads=2, d_head=8, d_mlp=24, n_layers=2)
    base.update(kw)
    return ModelConfig(**base)


def _naive_forward(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """Straightforward loops over batch, heads and positions (an independent reference)."""
    cfg = model.cfg
    out = []
    for seq in tokens.tolist():
        T = len(seq)
        x = [model.W_E[t] + model.W_pos[i] for i, t in enumerate(seq)]
        for blk in model.blocks:
            ln = cfg.layernorm
            a_in = [blk.ln1(v) if ln == "pre" else v for v in x]
            new = []
            for i in range(T):
                upd = torch.zeros(cfg.d_model)
                for h in range(cfg.n_heads):
                    q = a_in[i] @ blk.attn.W_Q[h]
                    s = torch.stack(
                        [
                            q @ (a_in[j] @ blk.attn.W_K[h]) / math.sqrt(cfg.d_head)
                            for j in range(i + 1)
                        ]
                    )
                    w = torch.softmax(s, 0)
                    z = sum(w[j] * (a_in[j] @ blk.attn.W_V[h]) for j in range(i + 1))
                    upd = upd + z @ blk.attn.W_O[h]
                r = x[i] + upd
                if ln == "post":
                    r = blk.ln1(r)
                m_in = blk.ln2(r) if ln == "pre" else r
                pre = m_in @ blk.mlp.W_in + blk.mlp.b_in
                hid = torch.relu(pre) if cfg.act == "relu" else torch.nn.functional.gelu(pre)
                r = r + hid @ blk.mlp.W_out + blk.mlp.b_out
                if ln == "post":
                    r = blk.ln2(r)
                new.append(r)
            x = new
        last = x[-1]
        if cfg.layernorm == "pre":
            last = model.ln_final(last)
        out.append(last @ model.W_U)
    return torch.stack(out)


@pytest.mark.parametrize("layernorm", [None, "pre", "post"])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_forward_matches_naive_reference(layernorm, act):
    model = Transformer.from_seed(_cfg(layernorm=layernorm, act=act), 0).double()
    if layernorm is not None:  # non-trivial LayerNorm affine parameters
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 1:
                    p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    tokens = torch.randint(0, 12, (5, 3), generator=torch.Generator().manual_seed(2))
    fast = model(tokens)
    with torch.no_grad():
        ref = _naive_forward(model, tokens)
    assert fast.shape == (5, 11)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)


def test_init_scale_and_seed():
    cfg = ModelConfig(vocab_size=114, seq_len=3, d_vocab_out=113)
    m = Transformer.from_seed(cfg, 0)
    w = m.blocks[0].mlp.W_in  # 65536 draws: std error of the sample std ~ 0.3%
    assert abs(w.std().item() * math.sqrt(128) - 1) < 0.02
    assert torch.all(m.blocks[0].mlp.b_in == 0)
    m2 = Transformer.from_seed(cfg, 0)
    m3 = Transformer.from_seed(cfg, 1)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters(), strict=True))
    assert not torch.equal(m.W_E, m3.W_E)


def test_default_config_is_spec_default():
    cfg = ModelConfig(vocab_size=114, seq_len=3)
    assert (cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.n_layers) == (128, 4, 32, 512, 1)
    assert cfg.act == "relu" and cfg.layernorm is None and cfg.d_vocab_out == 113


@pytest.mark.parametrize("layernorm", [None, "post"])
def test_cache_shapes_and_last_only_path(layernorm):
    model = Transformer.from_seed(_cfg(layernorm=layernorm), 3).double()
    tokens = torch.randint(0, 12, (4, 3), generator=torch.Generator().manual_seed(0))
    cache: dict = {}
    with_cache = model(tokens, cache=cache)
    torch.testing.assert_close(with_cache, model(tokens), rtol=1e-12, atol=1e-12)
    for lay in range(2):
        assert cache[f"resid_pre.{lay}"].shape == (4, 3, 16)
        assert cache[f"resid_post.{lay}"].shape == (4, 3, 16)
        assert cache[f"attn_head_out.{lay}"].shape == (4, 3, 2, 16)
        assert cache[f"mlp_hidden.{lay}"].shape == (4, 3, 24)
    assert cache["final_resid"].shape == (4, 16)
    torch.testing.assert_close(model.unembed(cache["final_resid"]), with_cache)


def test_causal_mask():
    model = Transformer.from_seed(_cfg(), 0)
    t1 = torch.tensor([[1, 2, 3]])
    t2 = torch.tensor([[1, 2, 7]])
    c1, c2 = {}, {}
    model(t1, cache=c1)
    model(t2, cache=c2)
    torch.testing.assert_close(c1["resid_post.1"][:, :2], c2["resid_post.1"][:, :2])


def test_skip_layers_and_head_patch():
    model = Transformer.from_seed(_cfg(), 4).double()
    tokens = torch.randint(0, 12, (6, 3), generator=torch.Generator().manual_seed(1))
    skipped = model(tokens, skip_layers=[0, 1])
    torch.testing.assert_close(skipped, model.unembed(model.embed(tokens)[:, -1]))
    cache: dict = {}
    base = model(tokens, cache=cache)
    own = {(1, 0): cache["attn_head_out.1"][:, :, 0]}
    torch.testing.assert_close(model(tokens, head_patch=own), base)
    # Zeroing head 0 of the last layer removes exactly its contribution before the MLP.
    zero = {(1, 0): torch.zeros(6, 3, 16, dtype=torch.float64)}
    heads = cache["attn_head_out.1"][:, -1]
    r = cache["resid_pre.1"][:, -1] + heads.sum(1) - heads[:, 0]
    manual = model.unembed(r + model.blocks[1].mlp(r))
    torch.testing.assert_close(model(tokens, head_patch=zero), manual)


def test_named_weight_matrices_layout_and_round_trip():
    model = Transformer.from_seed(_cfg(), 0)
    mats = model.named_weight_matrices()
    assert mats["blocks.0.attn.W_Q"].shape == (16, 16)
    assert mats["blocks.0.attn.W_O"].shape == (16, 16)
    assert mats["blocks.0.mlp.W_in"].shape == (24, 16)
    assert mats["unembed.W_U"].shape == (11, 16)
    assert mats["embed.W_E"].shape == (16, 12)
    h, j, i = 1, 3, 5
    assert mats["blocks.1.attn.W_K"][h * 8 + j, i] == model.blocks[1].attn.W_K[h, i, j]
    assert mats["blocks.1.attn.W_O"][i, h * 8 + j] == model.blocks[1].attn.W_O[h, j, i]
    # (out x in): the matrix applied to an input column gives the layer's output.
    x = torch.randn(16)
    torch.testing.assert_close(mats["blocks.0.mlp.W_in"] @ x, x @ model.blocks[0].mlp.W_in)
    other = Transformer.from_seed(_cfg(), 9)
    other.set_weight_matrices({k: v.detach().clone() for k, v in mats.items()})
    for (n1, p1), (_, p2) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        if p1.dim() >= 2:
            assert torch.equal(p1, p2), n1


def test_activation_names_are_the_cache_keys_and_round_trip():
    """Every cache key is built by act_name (or is FINAL_RESID), and parse_act_name inverts it."""
    model = Transformer.from_seed(_cfg(), 0)
    cache: dict = {}
    model(torch.zeros(2, 3, dtype=torch.long), cache=cache)
    expected = {act_name(k, lay) for k in ACT_KINDS for lay in range(2)} | {FINAL_RESID}
    assert set(cache) == expected
    assert act_name("mlp_hidden", 1) == "mlp_hidden.1"  # the logged strings stay as they were
    for name in expected - {FINAL_RESID}:
        assert act_name(*parse_act_name(name)) == name
    for bad in ("final_resid", "mlp_hidden", "mlp_hidden.x", "nope.0"):
        with pytest.raises(ValueError):
            parse_act_name(bad)
    with pytest.raises(ValueError):
        act_name("nope", 0)


def test_weight_names_round_trip_and_unknown_names_are_rejected():
    model = Transformer.from_seed(_cfg(), 0)
    blocks = [n for n in model.named_weight_matrices() if n.startswith("blocks.")]
    assert len(blocks) == 2 * 6
    for name in blocks:
        assert weight_name(*parse_weight_name(name)) == name
    for bad in ("blocks.0.attn.W_in", "blocks.x.mlp.W_in", "blocks.0.mlp", "head.W_U"):
        with pytest.raises(KeyError):
            parse_weight_name(bad)
    with pytest.raises(KeyError):
        model.set_weight_matrices({"blocks.0.attn.W_in": torch.zeros(1)})
