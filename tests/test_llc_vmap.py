"""Vectorised LLC chains (definitions §2.3): same law as one-at-a-time SGLD, parameter subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_transformer_llc import linear_regression

from theory.base.errors import InputError
from transformer_check.measures import parse_measure_option
from transformer_check.measures.llc import (
    SGLDConfig,
    estimate_llc,
    estimate_llc_at,
    llc_measure,
    quadratic_llc,
    rrr_problem,
)
from transformer_check.measures.llc_vmap import select_params
from transformer_check.model import ModelConfig, Transformer


def _sequential_reference(loss_of, W, n, cfg, seed):
    """Independent reference: the textbook one-chain-after-another SGLD loop (definitions §2.3)."""
    gen = torch.Generator().manual_seed(seed)
    nbeta = n / math.log(n)
    init = float(loss_of(W))
    out = []
    for _ in range(cfg.n_chains):
        w = W.clone().requires_grad_(True)
        draws = []
        for t in range(cfg.n_burnin + cfg.n_steps):
            loss = loss_of(w)
            (g,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                w -= 0.5 * cfg.eps * (nbeta * g + cfg.gamma * (w - W))
                w += math.sqrt(cfg.eps) * torch.randn(w.shape, generator=gen, dtype=w.dtype)
            if t >= cfg.n_burnin:
                draws.append(float(loss.detach()))
        out.append(nbeta * (np.mean(draws) - init))
    return np.array(out)


def test_vmapped_chains_have_the_sequential_law():
    """12 vmapped chains vs 12 chains of a plain loop: both means within 4 exact SEs of the
    AR(1) law (quadratic_llc) and of each other; the spreads agree with its exact sd."""
    n = 5000
    W, loss_of, eigs = linear_regression(M=3, N=2, n=n, seed=0)
    cfg = SGLDConfig(eps=2e-4, gamma=10.0, n_chains=12, n_steps=600, n_burnin=100, seed=5)
    mean, sd = quadratic_llc(np.repeat(eigs, 2), n, cfg)
    vec = estimate_llc_at(lambda p, idx: loss_of(p["W"]), {"W": W}, n, cfg).llc_per_chain
    seq = _sequential_reference(loss_of, W, n, cfg, seed=6)
    se = sd / math.sqrt(cfg.n_chains)
    assert abs(vec.mean() - mean) < 4 * se and abs(seq.mean() - mean) < 4 * se
    assert abs(vec.mean() - seq.mean()) < 4 * math.sqrt(2) * se
    for chains in (vec, seq):  # 12 chains: the sample sd is within a factor 2 of sd (chi^2_11)
        assert 0.5 * sd < chains.std(ddof=1) < 2.0 * sd


def test_subset_llc_is_the_subset_quadratic_llc():
    """Sampling one row W[1] of a regression (the others fixed) gives the quadratic law of that
    row's Hessian block, Sxx (M eigenvalues instead of M*N), through a module and a slice."""
    n = 5000
    W, loss_of, eigs = linear_regression(M=3, N=2, n=n, seed=1)
    model = torch.nn.Linear(3, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(W)

    def closure(idx):
        return loss_of(model.weight)  # a loss closure that reads the module's parameter

    cfg = SGLDConfig(
        eps=2e-4, gamma=10.0, n_chains=8, n_steps=1000, n_burnin=200, seed=2, params="weight[1]"
    )
    mean, sd = quadratic_llc(eigs, n, cfg)
    res = estimate_llc(model, closure, n, cfg)
    assert abs(res.llc - mean) < 4 * sd / math.sqrt(cfg.n_chains), (res.llc, mean)
    full, _ = quadratic_llc(np.repeat(eigs, 2), n, cfg)
    assert abs(res.llc - mean) < abs(res.llc - full)  # it is the row's LLC, not the model's
    assert torch.equal(model.weight.detach(), W)
    # both rows as two slices = the whole matrix: the full law
    both = estimate_llc(
        model, closure, n, SGLDConfig(**{**cfg.__dict__, "params": "weight[0],weight[1]"})
    )
    assert abs(both.llc - full) < 4 * quadratic_llc(np.repeat(eigs, 2), n, cfg)[1] / math.sqrt(8)


def _tiny_transformer():
    cfg = ModelConfig(
        d_model=8, n_heads=2, d_head=4, d_mlp=16, vocab_size=7, d_vocab_out=5, seq_len=3
    )
    return Transformer.from_seed(cfg, 0)


def test_selectors_on_a_transformer():
    model = _tiny_transformer()
    named = dict(model.named_parameters())
    sel = select_params(named, "blocks.0.attn")
    assert set(sel) == {f"blocks.0.attn.{w}" for w in ("W_Q", "W_K", "W_V", "W_O")}
    head = select_params(named, "blocks.0.attn.W_*[1]")
    assert head["blocks.0.attn.W_Q[1]"] == ("blocks.0.attn.W_Q", 1) and len(head) == 4
    # a whole parameter absorbs a slice of itself
    assert set(select_params(named, "W_U, W_U[0]")) == {"W_U"}
    with pytest.raises(InputError, match="matches no parameter"):
        select_params(named, "blocks.7")
    with pytest.raises(InputError, match="outside the first axis"):
        select_params(named, "blocks.0.attn.W_Q[2]")
    with pytest.raises(InputError, match="params"):
        SGLDConfig(params="blocks.0 attn")
    assert parse_measure_option("llc.params=blocks.0.attn.W_*[1]") == (
        "llc",
        "params",
        "blocks.0.attn.W_*[1]",
    )


def test_head_llc_on_a_transformer_keeps_the_rest_fixed():
    """The LLC of one head samples only its rows (full batch and minibatch); w* is untouched."""
    model = _tiny_transformer()
    gen = torch.Generator().manual_seed(0)

    class DS:
        train_x = torch.randint(7, (64, 3), generator=gen)
        train_y = torch.randint(5, (64,), generator=gen)

    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    base = dict(eps=1e-4, gamma=100.0, n_chains=2, n_steps=20, n_burnin=5, seed=0)
    for extra in ({}, {"batch_size": 16}):
        out = llc_measure(SGLDConfig(**base, **extra, params="blocks.0.attn.W_*[0]"))(model, DS())
        assert np.isfinite(out["llc"]) and np.isfinite(out["llc_se"])
        for k, p in model.named_parameters():
            assert torch.equal(p.detach(), before[k]), k


def test_batched_and_vmapped_subsets_agree_draw_for_draw():
    """A slice and a whole tensor of RRR, through the batched loss and through vmap: same draws."""
    P = rrr_problem(3, 3, 2, 1, n=1000, seed=0)
    cfg = SGLDConfig(eps=1e-4, gamma=10.0, n_chains=3, n_steps=30, n_burnin=5, params="B[1],A")
    a = estimate_llc_at(P.loss_of, P.w_star, P.n, cfg, batched=True)
    b = estimate_llc_at(P.loss_of, P.w_star, P.n, cfg)
    np.testing.assert_allclose(a.loss_trace, b.loss_trace, rtol=1e-9)
    whole = estimate_llc_at(
        P.loss_of, P.w_star, P.n, SGLDConfig(**{**cfg.__dict__, "params": None})
    )
    assert not np.allclose(whole.loss_trace, a.loss_trace)  # the subset is not everything
