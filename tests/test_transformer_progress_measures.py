"""Golechha (2024) (sparsity, weight entropy, circuit complexity), Liu et al. (2023) (LMN), Zhang et al. (2026) (CMA,
skip-ablation) measures on constructed cases with known answers (definitions §4.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from transformer_check.data import TaskConfig, make_dataset
from transformer_check.measures.circuit import circuit_measure, local_circuit_complexity
from transformer_check.measures.lmn import (
    N_INTERP,
    linear_connectivity,
    linear_mapping_number,
    lmn_from_connectivity,
    lmn_measure,
    transformer_mid_resid,
    transformer_tail,
)
from transformer_check.measures.mediation import (
    causal_mediation,
    layer_ranges,
    mediation_measure,
    sample_counterfactual_pairs,
    skip_ablation,
)
from transformer_check.measures.sparsity import activation_sparsity, sparsity_measure
from transformer_check.measures.weight_entropy import (
    absolute_weight_entropy,
    weight_entropy_measure,
)
from transformer_check.model import ModelConfig, Transformer

torch.set_default_dtype(torch.float32)


def tiny(p=7, n_layers=1, layernorm=None, seed=0, act="relu"):
    ds = make_dataset(TaskConfig(p=p, frac=0.5, seed=0))
    cfg = ModelConfig(
        vocab_size=ds.vocab_size,
        seq_len=ds.seq_len,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_mlp=32,
        n_layers=n_layers,
        layernorm=layernorm,
        act=act,
    )
    return Transformer.from_seed(cfg, seed), ds


# ---------------------------------------------------------------- activation sparsity


def test_sparsity_known_fraction():
    a = torch.zeros(1000)
    a[:300] = torch.linspace(1.0, 2.0, 300)
    assert activation_sparsity(a) == pytest.approx(0.7)
    # absolute threshold counts small non-zeros too
    a[300:400] = 1e-4
    assert activation_sparsity(a, tau=1e-3, relative=False) == pytest.approx(0.7)
    assert activation_sparsity(a, tau=1e-5, relative=False) == pytest.approx(0.6)
    assert activation_sparsity(torch.zeros(5)) == 1.0
    with pytest.raises(InputError, match="tau"):
        activation_sparsity(a, tau=-1)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_sparsity_relative_is_scale_invariant(scale, seed):
    a = torch.relu(torch.randn(200, generator=torch.Generator().manual_seed(seed)))
    assert activation_sparsity(a * scale) == activation_sparsity(a)


def test_sparsity_measure_matches_cache_count():
    model, ds = tiny()
    out = sparsity_measure(tau=0.0)(model, ds)
    cache: dict = {}
    model(torch.cat([ds.train_x, ds.test_x]), cache=cache)
    h = cache["mlp_hidden.0"][:, -1]
    assert out["act_sparsity"] == pytest.approx(float((h == 0).double().mean()))
    assert out["act_sparsity.0"] == out["act_sparsity"]


# ---------------------------------------------------------------- absolute weight entropy


def test_weight_entropy_known_values():
    D = 64
    assert absolute_weight_entropy(torch.ones(D)) == pytest.approx(math.log(D))
    w = torch.zeros(D)
    w[:5] = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    assert absolute_weight_entropy(w) == pytest.approx(math.log(5))
    w = torch.zeros(D)
    w[3] = -2.0
    assert absolute_weight_entropy(w) == 0.0
    # two magnitudes 1 and 3: q = (1/4, 3/4)
    assert absolute_weight_entropy(torch.tensor([1.0, -3.0])) == pytest.approx(
        -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    )
    with pytest.raises(InputError, match="all weights are zero"):
        absolute_weight_entropy(torch.zeros(3))


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_weight_entropy_invariances(scale, seed):
    w = torch.randn(8, 9, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    h = absolute_weight_entropy(w)
    perm = torch.randperm(72, generator=torch.Generator().manual_seed(seed + 1))
    assert absolute_weight_entropy(w * scale) == pytest.approx(h, rel=1e-12)
    assert absolute_weight_entropy(w.reshape(-1)[perm]) == pytest.approx(h, rel=1e-12)
    assert 0.0 <= absolute_weight_entropy(w, normalised=True) <= 1.0 + 1e-12
    assert h <= math.log(72) + 1e-12


def test_weight_entropy_measure_uses_named_matrices():
    model, ds = tiny()
    out = weight_entropy_measure()(model, ds)
    mats = model.named_weight_matrices()
    assert set(out) == {"weight_entropy"} | {f"weight_entropy.{k}" for k in mats}
    pooled = torch.cat([m.detach().reshape(-1) for m in mats.values()])
    assert out["weight_entropy"] == pytest.approx(absolute_weight_entropy(pooled))


# ---------------------------------------------------------------- local circuit complexity


def test_circuit_complexity_second_order_linear_softmax():
    """logits = W x, Gaussian delta W: KL ~ (1/2) s^2 ||x||^2 (1 - sum p^2), s = sigma rms(W)."""
    g = torch.Generator().manual_seed(0)
    d, K, B = 6, 5, 40
    lin = torch.nn.Linear(d, K, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(K, d, generator=g, dtype=torch.float64))
    x = torch.randn(B, d, generator=g, dtype=torch.float64)
    sigma = 0.01
    s = sigma * float(torch.sqrt((lin.weight.detach() ** 2).mean()))
    p = torch.softmax(lin(x), -1).detach()
    expected = float((0.5 * s**2 * (x * x).sum(1) * (1 - (p * p).sum(1))).mean())
    # 800 draws: each draw's KL is a Gaussian quadratic form (rel. sd <= sqrt(2)/sqrt(B K) per
    # input, pooled over 40 inputs), so 3 SE of the mean < 5 %; third-order terms are O(sigma).
    got = local_circuit_complexity(lin, x, sigma=sigma, draws=800, seed=1)
    assert got == pytest.approx(expected, rel=0.05)
    assert torch.equal(lin(x), lin(x))  # weights restored (deterministic forward)


def test_circuit_complexity_zero_mode_extremes():
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(4, 3, bias=False).double()
    x = torch.randn(10, 4, generator=g, dtype=torch.float64)
    w0 = lin.weight.detach().clone()
    assert local_circuit_complexity(lin, x, sigma=0.0, mode="zero") == 0.0
    # every weight zeroed: q uniform, KL(p || u) = ln K - H(p)
    p = torch.softmax(lin(x), -1).detach()
    expected = float((math.log(3) + (p * p.log()).sum(1)).mean())
    assert local_circuit_complexity(lin, x, sigma=1.0, mode="zero") == pytest.approx(expected)
    assert torch.equal(lin.weight, w0)
    with pytest.raises(InputError, match="mode"):
        local_circuit_complexity(lin, x, mode="bad")


def test_circuit_measure_on_transformer_is_positive_and_seeded():
    model, ds = tiny()
    m = circuit_measure(draws=2)
    a, b = m(model, ds), m(model, ds)
    assert a == b and a["circuit_complexity"] > 0


# ---------------------------------------------------------------- LMN (Liu et al. (2023))


def test_lmn_linear_map_is_one():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(7, 5, generator=g, dtype=torch.float64)
    b = torch.randn(7, dtype=torch.float64)
    x = torch.randn(20, 5, generator=g, dtype=torch.float64)
    L = linear_connectivity(lambda z: z @ A.T + b, x)
    assert np.allclose(L, 1.0, atol=1e-12)
    assert linear_mapping_number(lambda z: z @ A.T + b, x) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8])
def test_lmn_block_matrix_gives_c(c):
    size = 4
    L = np.kron(np.eye(c), np.ones((size, size)))
    lmn, S = lmn_from_connectivity(L)
    assert lmn == pytest.approx(c, rel=1e-9) and S == pytest.approx(math.log2(c), abs=1e-9)


def test_lmn_abs_function_two_clusters():
    """f(x) = |x| on points at -1 and +1: within a cluster the path is constant (r^2 = 1),
    across it is a symmetric V (r^2 = 0), so L is 2 all-ones blocks and LMN = 2."""
    x = torch.tensor([[-1.0]] * 5 + [[1.0]] * 5, dtype=torch.float64)
    L = linear_connectivity(torch.abs, x)
    assert np.allclose(L, np.kron(np.eye(2), np.ones((5, 5))), atol=1e-12)
    assert linear_mapping_number(torch.abs, x) == pytest.approx(2.0, rel=1e-9)


def test_r2_uses_21_points_and_parabola_is_zero():
    assert N_INTERP == 21
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    L = linear_connectivity(lambda z: (z - 0.5) ** 2, x)
    assert L[0, 1] == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_lmn_bounds_and_permutation_invariance(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    W = torch.randn(4, 3, generator=g, dtype=torch.float64)

    def f(z):
        return torch.tanh(3 * z @ W.T)

    lmn = linear_mapping_number(f, x)
    perm = torch.randperm(n, generator=g)
    assert 1.0 - 1e-9 <= lmn <= n + 1e-9
    assert linear_mapping_number(f, x[perm]) == pytest.approx(lmn, rel=1e-9)


@pytest.mark.parametrize("layernorm", [None, "pre", "post"])
def test_transformer_tail_reproduces_logits(layernorm):
    model, ds = tiny(n_layers=2, layernorm=layernorm)
    tokens = ds.test_x[:16]
    mid = transformer_mid_resid(model, tokens)
    with torch.no_grad():
        assert torch.allclose(transformer_tail(model)(mid), model(tokens), atol=1e-5)


def test_lmn_measure_on_transformer():
    model, ds = tiny()
    out = lmn_measure(n_samples=12)(model, ds)
    assert 1.0 <= out["lmn"] <= 12 and out["lmn_entropy_bits"] == pytest.approx(
        math.log2(out["lmn"])
    )


# ---------------------------------------------------------------- CMA and skip-ablation


def test_cms_zero_head_and_self_patch():
    model, ds = tiny()
    s1, y1, s2, y2 = sample_counterfactual_pairs(ds.test_x, ds.test_y, 32, seed=0)
    assert bool((y1 != y2).all())
    with torch.no_grad():
        model.blocks[0].attn.W_O[1].zero_()  # head 1 writes nothing: no mediation through it
    res = causal_mediation(model, s1, y1, s2, y2)
    assert res.cms[0, 1] == 0.0 and res.cms.shape == (1, 2)
    same = causal_mediation(model, s1, y1, s1, y2)  # counterfactual = clean: nothing changes
    assert np.allclose(same.cms, 0.0, atol=1e-5)


def test_cms_decomposes_total_effect_when_logits_are_linear():
    """With the MLP switched off the logits are linear in the residual: the head effects plus the
    direct embedding effect add up to the total effect exactly."""
    model, ds = tiny()
    with torch.no_grad():
        model.blocks[0].mlp.W_out.zero_()
    s1, y1, s2, y2 = sample_counterfactual_pairs(ds.test_x, ds.test_y, 32, seed=1)
    res = causal_mediation(model, s1, y1, s2, y2)
    rows = torch.arange(len(y1))
    with torch.no_grad():
        emb = model.unembed(model.embed(s2)[:, -1]) - model.unembed(model.embed(s1)[:, -1])
    direct = float((emb[rows, y2] - emb[rows, y1]).mean())
    assert res.cms.sum() + direct == pytest.approx(res.total_effect, abs=1e-4)
    assert np.allclose(res.cms_rel, res.cms / res.total_effect)


def test_skip_ablation_known_values():
    model, ds = tiny(n_layers=3)
    out = skip_ablation(model, ds.test_x, ds.test_y, [(0, 3), (1, 2)])
    with torch.no_grad():
        direct = model.unembed(model.embed(ds.test_x)[:, -1]).argmax(-1)
        full = model(ds.test_x).argmax(-1)
    assert out["skip_acc.0-3"] == pytest.approx(float((direct == ds.test_y).double().mean()))
    assert out["skip_acc.none"] == pytest.approx(float((full == ds.test_y).double().mean()))
    assert "skip_acc.1-2" in out
    with pytest.raises(InputError, match="ranges"):
        skip_ablation(model, ds.test_x, ds.test_y, [(2, 5)])
    assert layer_ranges(48) == [(a, a + 16) for a in (0, 16, 32)]
    assert layer_ranges(2) == [(0, 1), (1, 2)]


def test_mediation_measure_keys():
    model, ds = tiny(n_layers=2)
    out = mediation_measure(n_pairs=16)(model, ds)
    assert {"cms_max", "cms_mean", "cms_total", "skip_acc.none", "skip_acc.0-1"} <= set(out)
    assert out["cms_max"] >= out["cms_mean"] >= 0
