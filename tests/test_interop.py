"""Models from elsewhere (docs/interop.md): the optional biases, the TransformerLens and Nanda et al.
converters against forwards written here from those libraries' maths, the weights-only reader, the
``import``/``measure --format`` CLIs, the model protocol, and (where transformer-lens 3.x is
installed: the ``interop`` extra) the real ``HookedTransformer``.

Tolerances: logits of O(1) computed by two float32 programs that sum in another order differ by a
few ulps times the number of terms summed (d_model, d_mlp <= 512): ``atol = 1e-5`` is ~100 ulps
of the largest logit, far below any difference a wrong layout makes (O(0.1)).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from theory.base.errors import InputError
from transformer_check.cli import main
from transformer_check.interop import (
    bias_free,
    load_external,
    nanda_from_occam,
    nanda_split,
    occam_from_nanda,
    occam_from_tl,
    read_weights_file,
    tl_from_occam,
)
from transformer_check.interop.tl import tl_config
from transformer_check.measure_checkpoint import all_measures
from transformer_check.measures import ALL_MEASURES
from transformer_check.model import (
    ModelConfig,
    Transformer,
    act_name,
    n_params,
    param_shapes,
)
from transformer_check.model_sizes import n_param_tensors
from transformer_check.train import load_model

ATOL = 1e-5
NANDA = dict(d_model=128, n_heads=4, d_head=32, d_mlp=512, n_layers=1)  # their configuration
SMALL = dict(d_model=16, n_heads=2, d_head=8, d_mlp=32, n_layers=1)  # for the measure CLIs
# every measure, with the LLC's chains shortened (its value is not what these tests check)
FAST = [
    "--measure-option",
    "llc.n_steps=10",
    "--measure-option",
    "llc.n_burnin=2",
    "--threads",
    "1",
]


def all_inputs(p: int, fmt: str = "a b =") -> torch.Tensor:
    """Every ``a b =`` (or ``a op b =``) input in all_pairs order."""
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    eq = torch.full_like(a, p)
    if fmt == "a b =":
        return torch.stack([a, b, eq], 1)
    return torch.stack([a, torch.full_like(a, p + 1), b, eq], 1)


def randomise(model: torch.nn.Module, seed: int, scale: float = 0.3) -> torch.nn.Module:
    """Every parameter (biases and LayerNorms too) drawn at random, so no term can hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


# -- forwards written from the other libraries' maths -------------------------------------------


def tl_reference(sd: dict, cfg: dict, tokens: torch.Tensor) -> torch.Tensor:
    """HookedTransformer's forward (components/*.py of transformer-lens 3.9.0) on a legacy state
    dict: logits at every position ``[B, T, d_vocab_out]``."""
    e = cfg["d_head"]
    T = tokens.shape[1]
    x = sd["embed.W_E"][tokens] + sd["pos_embed.W_pos"][:T]
    act = F.relu if cfg["act_fn"] == "relu" else F.gelu

    def ln(v, name):
        if cfg["normalization_type"] is None:
            return v
        v = v - v.mean(-1, keepdim=True)
        v = v / (v.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
        return v * sd.get(f"{name}.w", 1.0) + sd.get(f"{name}.b", 0.0)

    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for lay in range(cfg["n_layers"]):
        b = f"blocks.{lay}"
        h_in = ln(x, f"{b}.ln1")
        q, k, v = (
            torch.einsum("bpd,hde->bphe", h_in, sd[f"{b}.attn.W_{n}"]) + sd[f"{b}.attn.b_{n}"]
            for n in "QKV"
        )
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(e)
        pattern = scores.masked_fill(~causal, -torch.inf).softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        x = x + torch.einsum("bqhe,hed->bqd", z, sd[f"{b}.attn.W_O"]) + sd[f"{b}.attn.b_O"]
        m_in = ln(x, f"{b}.ln2")
        hidden = act(m_in @ sd[f"{b}.mlp.W_in"] + sd[f"{b}.mlp.b_in"])
        x = x + hidden @ sd[f"{b}.mlp.W_out"] + sd[f"{b}.mlp.b_out"]
    return ln(x, "ln_final") @ sd["unembed.W_U"] + sd["unembed.b_U"]


def nanda_state_dict(p: int, seed: int, d=32, H=4, e=8, m=64, T=3) -> dict[str, torch.Tensor]:
    """Random tensors with the names and shapes of Nanda et al.'s ``Transformer.state_dict()``."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) / math.sqrt(shape[-1])

    V = p + 1
    return {
        "embed.W_E": r(d, V),
        "pos_embed.W_pos": r(T, d),
        "blocks.0.attn.W_K": r(H, e, d),
        "blocks.0.attn.W_Q": r(H, e, d),
        "blocks.0.attn.W_V": r(H, e, d),
        "blocks.0.attn.W_O": r(d, H * e),
        "blocks.0.attn.mask": torch.tril(torch.ones(T, T)),
        "blocks.0.mlp.W_in": r(m, d),
        "blocks.0.mlp.b_in": r(m) * 0.1,
        "blocks.0.mlp.W_out": r(d, m),
        "blocks.0.mlp.b_out": r(d) * 0.1,
        "unembed.W_U": r(d, V),
    }


def nanda_reference(sd: dict, x: torch.Tensor, act: str = "ReLU") -> torch.Tensor:
    """Their forward, einsum for einsum (progress-measures-paper ``transformers.py``):
    logits ``[B, T, d_vocab]`` including the ``=`` column."""
    h = torch.einsum("dbp -> bpd", sd["embed.W_E"][:, x])
    h = h + sd["pos_embed.W_pos"][: h.shape[-2]]
    W_K, W_Q, W_V = (sd[f"blocks.0.attn.W_{n}"] for n in "KQV")
    k = torch.einsum("ihd,bpd->biph", W_K, h)
    q = torch.einsum("ihd,bpd->biph", W_Q, h)
    v = torch.einsum("ihd,bpd->biph", W_V, h)
    pre = torch.einsum("biph,biqh->biqp", k, q)
    mask = sd["blocks.0.attn.mask"][: h.shape[-2], : h.shape[-2]]
    masked = torch.tril(pre) - 1e10 * (1 - mask)
    attn = F.softmax(masked / np.sqrt(W_Q.shape[1]), dim=-1)
    z = torch.einsum("biph,biqp->biqh", v, attn)
    b, i, qq, hh = z.shape
    z_flat = z.permute(0, 2, 1, 3).reshape(b, qq, i * hh)  # 'b i q h -> b q (i h)'
    h = h + torch.einsum("df,bqf->bqd", sd["blocks.0.attn.W_O"], z_flat)
    mid = torch.einsum("md,bpd->bpm", sd["blocks.0.mlp.W_in"], h) + sd["blocks.0.mlp.b_in"]
    mid = F.relu(mid) if act == "ReLU" else F.gelu(mid)
    h = h + torch.einsum("dm,bpm->bpd", sd["blocks.0.mlp.W_out"], mid) + sd["blocks.0.mlp.b_out"]
    return h @ sd["unembed.W_U"]


# -- the model: optional biases, a default model unchanged --------------------------------------


def test_default_model_is_unchanged():
    cfg = ModelConfig(vocab_size=12, seq_len=3, **SMALL)
    assert cfg.biases is False
    names = [n for n, _ in Transformer(cfg).named_parameters()]
    assert names == ["W_E", "W_pos", "W_U"] + [
        f"blocks.0.{w}"
        for w in ("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O")
        + ("mlp.W_in", "mlp.b_in", "mlp.W_out", "mlp.b_out")
    ]


@settings(max_examples=25, deadline=None)
@given(
    layers=st.integers(1, 3),
    ln=st.sampled_from([None, "pre", "post"]),
    biases=st.booleans(),
    vocab=st.integers(4, 9),
)
def test_param_shapes_and_counts_match_the_model(layers, ln, biases, vocab):
    cfg = ModelConfig(
        vocab_size=vocab, seq_len=3, d_model=8, n_heads=2, d_head=4, d_mlp=12,
        n_layers=layers, layernorm=ln, biases=biases,
    )  # fmt: skip
    m = Transformer(cfg)
    got = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert list(got.items()) == list(param_shapes(cfg).items())
    assert n_params(cfg) == sum(p.numel() for p in m.parameters())
    assert n_param_tensors(cfg) == len(got)
    # every parameter of >= 2 dims is a weight matrix (docs/model_protocol.md): biases are flat
    assert sum(p.dim() >= 2 for p in m.parameters()) == len(m.named_weight_matrices())


@pytest.mark.parametrize("ln", [None, "pre", "post"])
def test_biased_model_against_the_reference_and_its_cache_path(ln):
    """With random biases the forward is TransformerLens's maths (post-LN: checked only against
    the cache/patch path, which computes it another way)."""
    cfg = ModelConfig(
        vocab_size=12, seq_len=3, layernorm=ln, biases=True, **{**SMALL, "n_layers": 2}
    )
    m = randomise(Transformer(cfg), 1)
    x = torch.randint(0, 12, (20, 3))
    with torch.no_grad():
        plain = m(x)
        cache: dict = {}
        cached = m(x, cache=cache)
        torch.testing.assert_close(cached, plain, atol=ATOL, rtol=0)
        # head outputs exclude b_O; their sum plus b_O is the attention output
        resid_mid = cache[act_name("resid_mid", 1)]
        heads = cache[act_name("attn_head_out", 1)]
        if ln is None:
            torch.testing.assert_close(
                resid_mid, cache[act_name("resid_pre", 1)] + heads.sum(2) + m.blocks[1].attn.b_O
            )
        torch.testing.assert_close(m.logits_from_mid(resid_mid[:, -1]), plain, atol=ATOL, rtol=0)
        if ln != "post":
            sd, tcfg = tl_from_occam(m)
            ref = tl_reference(sd, tcfg, x)[:, -1]
            torch.testing.assert_close(plain, ref, atol=ATOL, rtol=0)


# -- TransformerLens state dicts, without TransformerLens -------------------------------------


@pytest.mark.parametrize(
    "ln, act, biases, fmt",
    [
        (None, "relu", False, "a b ="),
        (None, "relu", True, "a b ="),
        ("pre", "gelu", True, "a op b ="),
    ],
)
def test_tl_state_dict_round_trip(ln, act, biases, fmt):
    p = 7
    T = 3 if fmt == "a b =" else 4
    cfg = ModelConfig(vocab_size=p + T - 2, seq_len=T, d_vocab_out=p, layernorm=ln, act=act,
                      biases=biases, **{**SMALL, "n_layers": 2})  # fmt: skip
    m = randomise(Transformer(cfg), 2)
    sd, tcfg = tl_from_occam(m)
    x = all_inputs(p, fmt)
    with torch.no_grad():
        torch.testing.assert_close(tl_reference(sd, tcfg, x)[:, -1], m(x), atol=ATOL, rtol=0)
        back = occam_from_tl(sd, tcfg)
        assert back.cfg == cfg
        for (n, a), (n2, b) in zip(m.named_parameters(), back.named_parameters(), strict=True):
            assert n == n2 and torch.equal(a, b), n
    # without a config the shapes say everything but the activation and LNPre
    if act == "relu":
        assert occam_from_tl(sd).cfg == cfg


def test_tl_zero_biases_give_a_default_model_and_b_k_is_dropped_exactly():
    cfg = ModelConfig(vocab_size=8, seq_len=3, d_vocab_out=7, **SMALL)
    m = randomise(Transformer(cfg), 3)
    sd, tcfg = tl_from_occam(m)  # zero biases
    assert occam_from_tl(sd, tcfg).cfg.biases is False
    sd["blocks.0.attn.b_K"] = torch.randn(2, 8)
    kept = occam_from_tl(sd, tcfg)
    assert kept.cfg.biases is True
    plain = bias_free(kept)
    assert plain is not None and plain.cfg == cfg
    x = all_inputs(7)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), kept(x), atol=ATOL, rtol=0)
    sd["blocks.0.attn.b_Q"] = torch.randn(2, 8)
    assert bias_free(occam_from_tl(sd, tcfg)) is None
    with pytest.raises(InputError, match="b_Q"):
        occam_from_tl(sd, tcfg, biases=False)


def test_tl_config_refuses_what_occam_cannot_compute():
    m = Transformer(ModelConfig(vocab_size=8, seq_len=3, **SMALL))
    sd, tcfg = tl_from_occam(m)
    for bad in (
        {"positional_embedding_type": "rotary"},
        {"act_fn": "gelu_new"},
        {"normalization_type": "RMS"},
        {"attn_scale": 3.0},
        {"parallel_attn_mlp": True},
        {"d_mlp": 99},
    ):
        with pytest.raises(InputError):
            tl_config(sd, {**tcfg, **bad})
    # soft caps <= 0 and a numpy attn_scale equal to sqrt(d_head) are fine
    tl_config(sd, {**tcfg, "attn_scores_soft_cap": 0.0, "attn_scale": np.float64(math.sqrt(8))})
    with pytest.raises(InputError, match="post-LayerNorm"):
        tl_from_occam(Transformer(ModelConfig(vocab_size=8, seq_len=3, layernorm="post", **SMALL)))


# -- Nanda et al.'s state dicts ------------------------------------------------------------------


@pytest.mark.parametrize("act", ["ReLU", "GeLU"])
def test_nanda_state_dict_gives_their_logits(act):
    p = 23
    sd = nanda_state_dict(p, seed=4, d=NANDA["d_model"], H=4, e=32, m=512)
    x = all_inputs(p)
    with torch.no_grad():
        ref = nanda_reference(sd, x, act)[:, -1]
        full = occam_from_nanda(sd, act=act, drop_eq=False)
        torch.testing.assert_close(full(x), ref, atol=ATOL, rtol=0)
        task = occam_from_nanda(sd, act=act)  # the '=' column dropped: the p answer logits
        assert task.cfg.d_vocab_out == p
        torch.testing.assert_close(task(x), ref[:, :p], atol=ATOL, rtol=0)
        back = nanda_from_occam(full)
        assert back.keys() == sd.keys()
        for k in sd:
            assert torch.equal(back[k], sd[k]), k
        padded = nanda_from_occam(task)  # a zero '=' column is appended
        assert torch.equal(padded["unembed.W_U"][:, :p], sd["unembed.W_U"][:, :p])
        assert not padded["unembed.W_U"][:, p].any()


def test_nanda_split_is_their_gen_train_test():
    p, frac, seed = 13, 0.3, 5
    pairs = [(i, j, p) for i in range(p) for j in range(p)]  # their code, verbatim in effect
    random.seed(seed)
    random.shuffle(pairs)
    theirs = [i * p + j for i, j, _ in pairs[: int(frac * len(pairs))]]
    assert list(nanda_split(p, frac, seed)) == theirs


# -- files ------------------------------------------------------------------------------------


def _fake_tl_config_class(monkeypatch) -> type:
    """A class pickled under TransformerLens's config name, without TransformerLens."""

    @dataclasses.dataclass
    class HookedTransformerConfig:
        fields: dict

        def __reduce_ex__(self, protocol):  # pickled like a dataclass: __newobj__ + state
            import copyreg

            return (copyreg.__newobj__, (type(self),), dict(self.fields))

    name = "transformer_lens.config.hooked_transformer_config"
    HookedTransformerConfig.__module__, HookedTransformerConfig.__qualname__ = (
        name,
        "HookedTransformerConfig",
    )
    for mod in ("transformer_lens", "transformer_lens.config", name):
        fake = types.ModuleType(mod)
        monkeypatch.setitem(sys.modules, mod, fake)
    sys.modules[name].HookedTransformerConfig = HookedTransformerConfig
    return HookedTransformerConfig


def test_reader_takes_a_demo_like_file_with_a_pickled_config(tmp_path, monkeypatch):
    """The grokking demo saves model.cfg (a HookedTransformerConfig holding np.float64) beside
    the state dict: read with weights_only=True, its fields come back, no class code runs."""
    cls = _fake_tl_config_class(monkeypatch)
    m = randomise(Transformer(ModelConfig(vocab_size=8, seq_len=3, act="gelu", **SMALL)), 5)
    sd, tcfg = tl_from_occam(m)
    cfg_obj = cls({**tcfg, "attn_scale": np.float64(math.sqrt(8)), "dtype": torch.float32})
    g = torch.Generator().manual_seed(598)
    idx = torch.randperm(49, generator=g)
    f = tmp_path / "demo.pth"
    torch.save({"model": sd, "config": cfg_obj, "checkpoints": [sd, sd], "checkpoint_epochs": [9, 19],
                "train_indices": idx[:14], "test_indices": idx[14:]}, f)  # fmt: skip
    monkeypatch.undo()  # the reader must not need the class
    obj, _ = read_weights_file(f)
    assert obj["config"].fields["act_fn"] == "gelu"
    model, info = load_external(f, "tl", task_seed=598)
    assert model.cfg.act == "gelu" and info.split == "file" and info.task.frac == 0.3
    x = all_inputs(7)
    with torch.no_grad():
        torch.testing.assert_close(model(x), m(x)[:, :7], atol=0, rtol=0)
    ds = info.dataset()
    assert ds.n_train == 14 and torch.equal(ds.train_x, all_inputs(7)[idx[:14]])
    _, second = load_external(f, "tl", state_index=1)
    assert second.step == 19


def test_reader_formats_safetensors_and_state_lists(tmp_path):
    p = 7
    sd = nanda_state_dict(p, seed=6)
    bare, lst, st_file = tmp_path / "a.pt", tmp_path / "b.pth", tmp_path / "c.safetensors"
    torch.save(sd, bare)
    sd2 = {k: v * 2 for k, v in sd.items()}
    torch.save({"state_dicts": [sd, sd2], "epochs": [100, 200]}, lst)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st_file))
    x = all_inputs(p)
    ref = nanda_reference(sd, x)[:, -1, :p]
    for f in (bare, st_file):
        model, info = load_external(f, "nanda")
        assert info.split == "nanda" and info.task.p == p
        torch.testing.assert_close(model(x).detach(), ref, atol=ATOL, rtol=0)
    model, info = load_external(lst, "nanda")
    assert info.step == 200
    model, info = load_external(lst, "nanda", state_index=0)
    assert info.step == 100
    torch.testing.assert_close(model(x).detach(), ref, atol=ATOL, rtol=0)
    # a TransformerLens state dict as safetensors with its config in the metadata header
    m = randomise(Transformer(ModelConfig(vocab_size=8, seq_len=3, act="gelu", **SMALL)), 7)
    tsd, tcfg = tl_from_occam(m)
    f = tmp_path / "tl.safetensors"
    save_file(tsd, str(f), metadata={"config": json.dumps(tcfg)})
    model, info = load_external(f, "tl")
    assert model.cfg.act == "gelu" and not info.notes


# -- the CLIs ------------------------------------------------------------------------------------


def _measures(out: Path) -> dict:
    return json.loads((out / "measures.json").read_text())["measures"]


def test_nanda_file_measured_and_imported(tmp_path):
    p = 11
    sd = nanda_state_dict(p, seed=8, d=16, H=2, e=8, m=32)
    f = tmp_path / "final.pth"
    torch.save({"model": sd, "train_loss": torch.tensor(0.1), "epoch": 42}, f)
    out = tmp_path / "m"
    assert main(["measure", str(f), "--format", "nanda", "--out", str(out), *FAST]) == 0
    vals = _measures(out)
    # train loss on their split, over the p residues, computed here from their forward
    tr = torch.zeros(p * p, dtype=torch.bool)
    tr[list(nanda_split(p, 0.3, 0))] = True
    x, y = all_inputs(p), (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)) % p
    logits = nanda_reference(sd, x)[:, -1, :p]
    assert vals["train_loss"] == pytest.approx(float(F.cross_entropy(logits[tr], y[tr])), abs=1e-5)
    assert {"llc", "lmn", "cms_max", "act_sparsity", "bdm_bits", "coarse_bytes"} <= vals.keys()
    meta = json.loads((out / "measures.json").read_text())
    assert meta["step"] == 42 and meta["metadata"]["config"]["source"]["split"] == "nanda"
    imp = tmp_path / "imp"
    assert main(["import", str(f), "--format", "nanda", "--out", str(imp)]) == 0
    res = json.loads((imp / "import.json").read_text())
    assert res["max_abs_logit_diff"] == 0.0
    assert any("Nanda et al.'s own split" in n for n in res["source"]["notes"])
    model, cfg, _, state = load_model(imp / "checkpoints" / "last.json")
    assert cfg.task.p == p and state["step"] == 42
    torch.testing.assert_close(model(x).detach(), logits, atol=ATOL, rtol=0)


def test_tl_file_import_then_measure_equals_measuring_the_file(tmp_path):
    """A demo-like file (split = occam's for its seed): measuring the file and measuring its
    import give the same numbers, every measure."""
    p = 11
    m = randomise(Transformer(ModelConfig(vocab_size=p + 1, seq_len=3, d_vocab_out=p, **SMALL)), 9)
    sd, tcfg = tl_from_occam(m)
    idx = torch.randperm(p * p, generator=torch.Generator().manual_seed(598))
    n_tr = int(0.3 * p * p)
    f = tmp_path / "demo.pth"
    torch.save(
        {"model": sd, "config": tcfg, "train_indices": idx[:n_tr], "test_indices": idx[n_tr:]}, f
    )
    a, b, imp = tmp_path / "a", tmp_path / "b", tmp_path / "imp"
    assert main(["measure", str(f), "--format", "tl", "--out", str(a), *FAST]) == 0
    assert main(["import", str(f), "--format", "tl", "--task-seed", "598", "--out", str(imp)]) == 0
    assert main(["measure", str(imp), "--out", str(b), *FAST]) == 0
    va, vb = _measures(a), _measures(b)
    assert va.keys() == vb.keys()
    for k in va:
        if isinstance(va[k], float):
            assert va[k] == pytest.approx(vb[k], rel=1e-6, abs=1e-9), k
        else:
            assert va[k] == vb[k], k


# -- the model protocol (docs/model_protocol.md) -------------------------------------------------


class ProtocolOnly(torch.nn.Module):
    """Exactly the published protocol around a Transformer: no ``blocks``, ``unembed`` ..."""

    def __init__(self, inner: Transformer) -> None:
        super().__init__()
        self._inner = inner
        self.cfg = inner.cfg

    @property
    def W_E(self):
        return self._inner.W_E

    def forward(self, tokens, *, skip_layers=None, head_patch=None, cache=None):
        return self._inner(tokens, skip_layers=skip_layers, head_patch=head_patch, cache=cache)

    def logits_from_mid(self, mid):
        return self._inner.logits_from_mid(mid)

    def named_weight_matrices(self):
        return self._inner.named_weight_matrices()

    def set_weight_matrices(self, mats):
        self._inner.set_weight_matrices(mats)


def test_every_measure_uses_only_the_protocol():
    from transformer_check.data import TaskConfig, make_dataset

    ds = make_dataset(TaskConfig(p=7, frac=0.5))
    inner = Transformer.from_seed(ModelConfig(vocab_size=8, seq_len=3, d_vocab_out=7, **SMALL), 0)
    opts = {"llc": {"n_steps": 5, "n_burnin": 1, "n_chains": 2}}
    wrapped = all_measures(ProtocolOnly(inner), ds, ALL_MEASURES, opts)
    got = {k.replace("_inner.", ""): v for k, v in wrapped.items()}  # bdm's per-tensor names
    want = all_measures(inner, ds, ALL_MEASURES, opts)
    assert got.keys() == want.keys()
    for k, v in want.items():
        if isinstance(v, float) and not math.isnan(v):
            assert got[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
        else:
            assert str(got[k]) == str(v), k


# -- the real library (transformer-lens 3.x: the interop extra) ---------------------------------


def _tl():
    return pytest.importorskip(
        "transformer_lens", reason="transformer-lens 3.x (the interop extra) is not installed"
    )


def test_hooked_transformer_absent_is_a_clear_import_error():
    try:
        import transformer_lens  # noqa: F401
    except ImportError:
        from transformer_check.interop import to_hooked_transformer

        with pytest.raises(ImportError, match="occam\\[interop\\]"):
            to_hooked_transformer(Transformer(ModelConfig(vocab_size=8, seq_len=3, **SMALL)))
    else:
        pytest.skip("transformer-lens is installed: the real-library tests cover it")


def _hooked(p: int, seed: int, **kw):
    tl = _tl()
    cfg = dict(act_fn="relu", normalization_type=None, d_vocab=p + 1, d_vocab_out=p, n_ctx=3)
    cfg.update(NANDA)
    cfg.update(kw)
    return tl.HookedTransformer(tl.HookedTransformerConfig(**cfg, device="cpu", seed=seed))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("random_biases", [False, True])
def test_real_hooked_transformer_to_occam_and_back(random_biases):
    from transformer_check.interop import from_hooked_transformer, to_hooked_transformer

    p = 23
    ht = _hooked(p, 999)
    if random_biases:
        with torch.no_grad():
            for n, prm in ht.named_parameters():
                if ".b_" in n:
                    prm.normal_(0.0, 0.1)
    x = all_inputs(p)
    with torch.no_grad():
        m = from_hooked_transformer(ht)
        assert m.cfg.biases is random_biases
        ref = ht(x)
        torch.testing.assert_close(m(x), ref[:, -1], atol=ATOL, rtol=0)
        back = to_hooked_transformer(m)
        torch.testing.assert_close(back(x), ref, atol=ATOL, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_hooked_transformer_layernorm_gelu_and_op_token():
    from transformer_check.interop import from_hooked_transformer, to_hooked_transformer

    p = 11
    ht = _hooked(p, 1, act_fn="gelu", normalization_type="LN", d_vocab=p + 2, n_ctx=4,
                 d_model=32, d_head=8, d_mlp=64, n_layers=2)  # fmt: skip
    randomise(ht, 3, 0.2)
    x = all_inputs(p, "a op b =")
    with torch.no_grad():
        m = from_hooked_transformer(ht)
        assert m.cfg.layernorm == "pre" and m.cfg.act == "gelu"
        torch.testing.assert_close(m(x), ht(x)[:, -1], atol=ATOL, rtol=0)
        torch.testing.assert_close(to_hooked_transformer(m)(x), ht(x), atol=ATOL, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_occam_trained_model_exported_to_transformer_lens(tmp_path):
    """An occam model trained a few steps: the same logits and test accuracy as a
    HookedTransformer, and back to the same parameters."""
    from transformer_check.config import TrainConfig
    from transformer_check.data import TaskConfig
    from transformer_check.interop import from_hooked_transformer, to_hooked_transformer
    from transformer_check.measures.basic import basic_metrics
    from transformer_check.train import train

    _tl()
    cfg = TrainConfig(task=TaskConfig(p=23, frac=0.4), steps=30, lr=3e-3, measures=(),
                      eval_points=2, measure_points=2, snapshots=False, device="cpu")  # fmt: skip
    res = train(cfg, tmp_path / "run", progress=False, plot=False)
    model, ds = res.model, res.dataset
    ht = to_hooked_transformer(model)
    with torch.no_grad():
        logits = ht(ds.test_x)[:, -1]
        torch.testing.assert_close(logits, model(ds.test_x), atol=ATOL, rtol=0)
        acc_tl = int((logits.argmax(-1) == ds.test_y).sum()) / ds.n_test
        assert acc_tl == basic_metrics(model, ds)["test_acc"]
        back = from_hooked_transformer(ht)
    assert back.cfg == model.cfg
    for (n, a), (_, b) in zip(model.named_parameters(), back.named_parameters(), strict=True):
        assert torch.equal(a, b), n


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_demo_file_read_imported_and_measured(tmp_path):
    """The grokking demo's save format, written by the real library (model.cfg pickled): read
    with weights_only=True, imported with its seed, measured with every measure via the CLI."""
    p = 11
    ht = _hooked(p, 999, d_model=32, d_head=8, d_mlp=64)
    idx = torch.randperm(p * p, generator=torch.Generator().manual_seed(598))
    cut = int(p * p * 0.3)
    f = tmp_path / "grokking_demo.pth"
    torch.save({"model": ht.state_dict(), "config": ht.cfg, "checkpoints": [ht.state_dict()],
                "checkpoint_epochs": [99], "test_losses": [1.0], "train_losses": [2.0],
                "train_indices": idx[:cut], "test_indices": idx[cut:]}, f)  # fmt: skip
    model, info = load_external(f, "tl")
    assert info.split == "file" and info.task.frac == 0.3 and not info.notes
    with torch.no_grad():
        torch.testing.assert_close(
            model(all_inputs(p)), ht(all_inputs(p))[:, -1], atol=ATOL, rtol=0
        )
    out, imp = tmp_path / "m", tmp_path / "imp"
    assert main(["measure", str(f), "--format", "tl", "--out", str(out), *FAST]) == 0
    assert {"llc", "lmn", "cms_max", "train_acc"} <= _measures(out).keys()
    assert main(["import", str(f), "--format", "tl", "--task-seed", "598", "--out", str(imp)]) == 0
    assert json.loads((imp / "import.json").read_text())["max_abs_logit_diff"] == 0.0
