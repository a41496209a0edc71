"""Nanda et al. 2023's Fourier progress measures (transformer_check/measures/nanda.py) on cases
whose answer is known by construction: an occam Transformer whose weights are set by hand to run
the Fourier-multiplication algorithm on chosen frequencies, a random one, and the pure pieces
against independent computations (docs/nanda_measures.md)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from transformer_check.data import TaskConfig, make_dataset
from transformer_check.measures import build_measure, parse_measure_option
from transformer_check.measures.nanda import (
    NandaOptions,
    assign_neurons,
    excluded_logits,
    fourier_2d,
    fourier_basis,
    fourier_basis_names,
    full_grid,
    logit_fourier_norms,
    nanda_measure,
    neuron_frequency_fractions,
    project_logits,
    restricted_logits,
    sum_directions,
)
from transformer_check.model import ModelConfig, Transformer

P, FREQS = 31, (3, 7)
LN_P = math.log(P)


def fourier_transformer(
    p: int = P, freqs=FREQS, *, fmt: str = "a b =", sign: int = 1, phases: int = 8, scale=8.0
) -> Transformer:
    """A one-layer occam Transformer computing ``a + sign*b mod p`` by Fourier multiplication.

    Residual slots: ``E`` (token embedding ``cos/sin(w_k x)``), ``P`` (one-hot position), ``A``
    and ``B`` (``cos/sin(w_k a)`` and ``cos/sin(w_k sign*b)``, copied there by two heads that
    attend by position from ``=`` to ``a`` and to ``b`` with score 100), ``O`` (the MLP's
    ``cos/sin(w_k(a+sb))``). For each frequency and phase ``phi_j = 2 pi j / J`` two neurons
    ``relu(cos(w_k a - phi) +- cos(w_k sb - phi))``: since ``relu(z) = (z + |z|)/2`` and
    ``cos u +- cos v`` factorises, ``sum_j +-cos(2 phi_j) relu(.)`` is
    ``(J/2)(4/3pi)(|cos d| + |sin d|) cos(w_k(a+sb))`` plus odd harmonics ``3k, 5k, ...`` (about
    12x smaller), ``d = w_k(a-sb)/2`` (the factor lies in [1, sqrt 2], never 0). ``W_U`` reads
    ``cos(w_k(a+sb-c)) = cos(w_k(a+sb))cos(w_k c) + sin(w_k(a+sb))sin(w_k c)``: every term peaks
    at the answer ``c``, so the argmax is exact.
    """
    m, T = len(freqs), 3 if fmt == "a b =" else 4
    pa, pb = 0, T - 2
    E, Pos = list(range(2 * m)), list(range(2 * m, 2 * m + T))
    A = [2 * m + T + i for i in range(2 * m)]
    B = [4 * m + T + i for i in range(2 * m)]
    O = [6 * m + T + i for i in range(2 * m)]
    vocab = p + T - 2
    cfg = ModelConfig(
        vocab_size=vocab, seq_len=T, d_model=8 * m + T, n_heads=2, d_head=2 * m,
        d_mlp=2 * phases * m, d_vocab_out=p,
    )  # fmt: skip
    model = Transformer.from_seed(cfg, 0)
    x = torch.arange(p, dtype=torch.float64)
    with torch.no_grad():
        for w in model.parameters():
            w.zero_()
        for i, k in enumerate(freqs):
            model.W_E[:p, E[2 * i]] = torch.cos(2 * math.pi * k * x / p).float()
            model.W_E[:p, E[2 * i + 1]] = torch.sin(2 * math.pi * k * x / p).float()
        model.W_pos[:, Pos] = torch.eye(T)
        att = model.blocks[0].attn
        q = math.sqrt(100.0 * math.sqrt(2 * m))  # q^2 / sqrt(d_head) = 100: exp(-100) leaks
        for h, (src, dst, s) in enumerate(((pa, A, 1), (pb, B, sign))):
            att.W_Q[h, Pos[T - 1], 0] = q
            att.W_K[h, Pos[src], 0] = q
            for j in range(2 * m):
                att.W_V[h, E[j], j] = 1.0
                att.W_O[h, j, dst[j]] = s if j % 2 else 1.0  # sin(-w b) = -sin(w b)
        mlp, n = model.blocks[0].mlp, 0
        for i in range(m):
            for fam in (1, -1):
                for j in range(phases):
                    phi = 2 * math.pi * j / phases
                    cs = torch.tensor([math.cos(phi), math.sin(phi)])
                    mlp.W_in[A[2 * i : 2 * i + 2], n] = cs  # cos(w a - phi)
                    mlp.W_in[B[2 * i : 2 * i + 2], n] = fam * cs  # +- cos(w sb - phi)
                    mlp.W_out[n, O[2 * i]] = fam * math.cos(2 * phi)
                    mlp.W_out[n, O[2 * i + 1]] = fam * math.sin(2 * phi)
                    n += 1
        for i, k in enumerate(freqs):
            model.W_U[O[2 * i]] = scale * torch.cos(2 * math.pi * k * x / p).float()
            model.W_U[O[2 * i + 1]] = scale * torch.sin(2 * math.pi * k * x / p).float()
    return model


def _grid_logits(model, ds):
    g = full_grid(ds)
    with torch.no_grad():
        return g, model(g.tokens).double()


@pytest.fixture(scope="module")
def ds():
    return make_dataset(TaskConfig(p=P, frac=0.4, seed=0))


@pytest.fixture(scope="module")
def built(ds):
    model = fourier_transformer()
    return model, nanda_measure()(model, ds)


# ------------------------------------------------------------------ the hand-built transformer


def test_hand_built_model_adds_exactly(ds):
    model = fourier_transformer()
    g, logits = _grid_logits(model, ds)
    assert torch.equal(logits.argmax(-1), g.labels)  # 100% of all p^2 inputs


def test_hand_built_model_reports_exactly_its_frequencies(built):
    _, r = built
    assert r["nanda_key_freqs"] == "3 7" and r["nanda_n_key_freqs"] == 2
    # Every neuron is ~ linear + quadratic in its own frequency: relu(z) = z/2 + |z|/2 puts
    # 0.25 + 0.07 of its 0.34 variance there (the rest: harmonics), i.e. ~0.96 > 0.85.
    assert r["nanda_neuron_assigned"] == 1.0
    assert 0.93 < r["nanda_neuron_fve"] < 0.99


def test_hand_built_restricted_loss_is_its_full_loss_cleaned(built, ds):
    model, r = built
    full, restricted = r["nanda_full_loss"], r["nanda_restricted_loss"]
    # The full logits are the restricted ones plus terms of zero mean at every shift c-(a+b)
    # (products with a-b, harmonics of other frequencies), so by Jensen restricted <= full; with
    # restricted >= 0 the gap is < full < 0.01 ln p.
    assert full < 0.01 * LN_P
    assert restricted <= full + 1e-12
    # Independent: Nanda's 3-D coefficients of cos(w_k(a+b-c)); the restricted logits are
    # sum_k lam_k cos(w_k d), d = c-(a+b), the same for every input, so the loss is one softmax.
    # Harmonics 23k alias onto the key frequencies (23*3 = 7 mod 31) at ~1e-3 relative size.
    g, L = _grid_logits(model, ds)
    a, b = g.tokens[:, 0, None].double(), g.tokens[:, 1, None].double()
    c, d = torch.arange(P).double(), torch.arange(P).double()
    z = torch.zeros(P, dtype=torch.float64)
    for k in FREQS:
        t = torch.cos(2 * math.pi * k * (a + b - c) / P)
        z += float((t * L).sum() / (t * t).sum()) * torch.cos(2 * math.pi * k * d / P)
    assert restricted == pytest.approx(float(torch.logsumexp(z, 0) - z[0]), rel=1e-3)


def test_hand_built_excluded_loss_is_large(built, ds):
    model, r = built
    # Jensen: CE >= ln p - mean(correct logit - mean logit). Without the key components that
    # margin is exactly 0 over all p^2 inputs (what is left has no a+b-c structure) and a
    # sample mean of it over the training inputs, so the loss is near ln p, far above ln p / 2.
    g, L = _grid_logits(model, ds)
    ex = excluded_logits(L, P, FREQS)
    margin = ex.gather(1, g.labels[:, None])[:, 0] - ex.mean(1)
    assert abs(float(margin.mean())) < 1e-5
    assert r["nanda_excluded_loss"] >= LN_P - float(margin[g.train].mean()) - 1e-9
    assert r["nanda_excluded_loss"] > LN_P / 2
    assert r["nanda_logit_key_fraction"] > 0.95  # harmonics carry the rest


@pytest.mark.parametrize(("fmt", "op", "sign"), [("a op b =", "+", 1), ("a b =", "-", -1)])
def test_hand_built_other_format_and_subtraction(fmt, op, sign):
    ds = make_dataset(TaskConfig(p=23, frac=0.5, op=op, fmt=fmt, seed=1))
    model = fourier_transformer(23, (2, 9), fmt=fmt, sign=sign)
    g, L = _grid_logits(model, ds)
    assert g.sign == sign and torch.equal(L.argmax(-1), g.labels)
    r = nanda_measure()(model, ds)
    assert r["nanda_key_freqs"] == "2 9"
    assert r["nanda_restricted_loss"] <= r["nanda_full_loss"] < 0.01 * math.log(23)
    assert r["nanda_excluded_loss"] > math.log(23) / 2


def test_random_model_has_no_key_frequencies(ds, built):
    cfg = built[0].cfg
    rnd = Transformer.from_seed(cfg, 1)
    r = nanda_measure()(rnd, ds)
    # A random neuron is relu(f(a) + g(b) + c) with f, g spread over all 15 frequencies: its best
    # frequency explains ~2/15 of it, far below 0.85.
    assert r["nanda_key_freqs"] == "" and r["nanda_n_key_freqs"] == 0
    assert r["nanda_neuron_fve"] < 0.5 and r["nanda_neuron_assigned"] == 0.0
    # No key frequency: the restricted logits are each output's mean mu, and with uniform labels
    # over the grid the loss is exactly logsumexp(mu) - mean(mu) >= ln p: chance.
    g, L = _grid_logits(rnd, ds)
    mu = L.mean(0)
    assert r["nanda_restricted_loss"] == pytest.approx(float(torch.logsumexp(mu, 0) - mu.mean()))
    assert r["nanda_restricted_loss"] >= LN_P
    assert r["nanda_excluded_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(
        L[g.train], g.labels[g.train])))  # fmt: skip
    # Forcing the hand-built model's frequencies: 4 of the p^2 - 1 directions of random logits
    # hold ~4/p^2 of their variance, so nothing moves: restricted stays at chance (not near the
    # hand-built 0.006) and excluded stays within 1% of ln p of the full loss (hand-built: +5).
    f = nanda_measure(key_freqs=FREQS)(rnd, ds)
    assert f["nanda_logit_key_fraction"] < 20 / P**2
    assert f["nanda_restricted_loss"] > 0.99 * LN_P > 100 * built[1]["nanda_restricted_loss"]
    assert abs(f["nanda_excluded_loss"] - r["nanda_excluded_loss"]) < 0.01 * LN_P


def test_measure_uses_only_the_protocol(built, ds):
    """A stand-in with only ``cfg.n_layers``, ``parameters()`` and ``__call__(tokens, cache=)``,
    and an extra ``=`` output column, is measured the same."""
    model, r = built

    class Protocol:
        cfg = SimpleNamespace(n_layers=1)

        def parameters(self):
            return model.parameters()

        def __call__(self, tokens, *, cache=None):
            out = model(tokens, cache=cache)
            return torch.cat([out, torch.full_like(out[:, :1], 50.0)], dim=1)

    assert nanda_measure()(Protocol(), ds) == r


def test_operations_without_the_a_plus_b_structure_give_nan():
    for op, neuron_defined in (("*", True), ("/", False)):
        ds = make_dataset(TaskConfig(p=11, frac=0.5, op=op))
        cfg = ModelConfig(vocab_size=ds.vocab_size, seq_len=3, d_model=16, d_mlp=32, n_heads=2)
        r = nanda_measure()(Transformer.from_seed(cfg, 0), ds)
        assert math.isnan(r["nanda_restricted_loss"]) and math.isnan(r["nanda_excluded_loss"])
        assert math.isfinite(r["nanda_neuron_fve"]) == neuron_defined


def test_registry_options_and_bad_input(ds, built):
    assert build_measure("nanda", {"key_freqs": [3, 7]})(built[0], ds)["nanda_key_freqs"] == "3 7"
    assert parse_measure_option("nanda.key_freqs=[3, 7]") == ("nanda", "key_freqs", (3, 7))
    assert parse_measure_option("nanda.key_freqs=none")[2] is None
    assert parse_measure_option("nanda.restricted_on=test")[2] == "test"
    bad = [
        {"threshold": 1.0}, {"threshold": -0.1}, {"min_share": 1.5}, {"restricted_on": "x"},
        {"key_freqs": (0,)}, {"key_freqs": (3, 3)}, {"key_freqs": (2.5,)},
    ]  # fmt: skip
    for kw in bad:
        with pytest.raises(InputError, match=next(iter(kw))):
            NandaOptions(**kw)
    with pytest.raises(InputError, match="key_freqs: frequencies must lie in 1..15"):
        nanda_measure(key_freqs=(16,))(built[0], ds)


def test_restricted_on_splits(built, ds):
    model, r = built
    g, L = _grid_logits(model, ds)
    R = restricted_logits(L, P, FREQS)
    for split, rows in (("train", g.train), ("test", ~g.train)):
        s = nanda_measure(restricted_on=split)(model, ds)
        want = torch.nn.functional.cross_entropy(R[rows], g.labels[rows])
        assert s["nanda_restricted_loss"] == pytest.approx(float(want))


def test_train_logs_the_measure(tmp_path):
    from transformer_check.config import TrainConfig
    from transformer_check.model import ArchConfig
    from transformer_check.train import train

    arch = ArchConfig(d_model=16, n_heads=2, d_head=8, d_mlp=32)
    cfg = TrainConfig(
        task=TaskConfig(p=7, frac=0.6), model=arch, steps=6, eval_points=3, measure_points=2,
        measures=("nanda",), snapshots=False,
    )  # fmt: skip
    res = train(cfg, tmp_path, progress=False, plot=False)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"nanda_key_freqs", "nanda_restricted_loss", "nanda_excluded_loss"} <= set(header)
    logged = [r for r in res.rows if "nanda_excluded_loss" in r]
    assert logged and all(math.isfinite(r["nanda_excluded_loss"]) for r in logged)


# ------------------------------------------------------------------------------ pure pieces


def _grid_fn(p, f):
    a = np.arange(p)[:, None]
    b = np.arange(p)[None, :]
    return f(a, b)


@settings(max_examples=25, deadline=None)
@given(p=st.sampled_from([5, 7, 11, 13]), n=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_fractions_are_shares_and_match_the_complex_dft(p, n, seed):
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(p, p, n)))
    frac, var = neuron_frequency_fractions(x)
    assert frac.shape == ((p - 1) // 2, n)
    assert bool((frac >= -1e-12).all()) and bool((frac.sum(0) <= 1 + 1e-9).all())
    # Independent: |DFT2|^2 / p^2 folded k ~ p-k; the block of k is (k,k), (0,k), (k,0).
    c = x.numpy() - x.numpy().mean(axis=(0, 1))
    q = np.abs(np.fft.fft2(c, axes=(0, 1))) ** 2 / p**2
    fold = np.minimum(np.arange(p), p - np.arange(p))
    for k in range(1, (p - 1) // 2 + 1):
        on = (fold == k)[:, None] & np.isin(fold, (0, k))[None, :]
        on |= (fold == 0)[:, None] & (fold == k)[None, :]
        want = q[on].sum(axis=0) / (c**2).sum(axis=(0, 1))
        np.testing.assert_allclose(frac[k - 1].numpy(), want, atol=1e-12)
    np.testing.assert_allclose(var.numpy(), (c**2).sum(axis=(0, 1)))


@settings(max_examples=25, deadline=None)
@given(p=st.sampled_from([7, 11, 31]), k=st.integers(1, 3), coef=st.lists(
    st.floats(-3, 3), min_size=8, max_size=8).filter(lambda v: sum(abs(t) for t in v) > 0.1))  # fmt: skip
def test_a_pure_single_frequency_neuron_is_explained_fully(p, k, coef):
    w = 2 * np.pi * k / p
    ca = _grid_fn(p, lambda a, b: np.cos(w * a) + 0 * b)
    sa = _grid_fn(p, lambda a, b: np.sin(w * a) + 0 * b)
    cb, sb = ca.T, sa.T
    terms = [ca, sa, cb, sb, ca * cb, ca * sb, sa * cb, sa * sb]
    x = 5.0 + sum(c * t for c, t in zip(coef, terms, strict=True))
    frac, _ = neuron_frequency_fractions(torch.from_numpy(x)[:, :, None])
    assert float(frac[k - 1, 0]) == pytest.approx(1.0, abs=1e-9)
    assert float(frac.sum()) == pytest.approx(1.0, abs=1e-9)


def test_constant_and_dead_neurons_are_not_assigned():
    x = torch.zeros(7, 7, 3, dtype=torch.float64)
    x[..., 1] = 2.5  # constant: centring leaves only round-off
    x[..., 2] = torch.from_numpy(_grid_fn(7, lambda a, b: np.cos(2 * np.pi * 2 * (a + b) / 7)))
    frac, var = neuron_frequency_fractions(x)
    assert var[0] == 0 and var[1] == 0 and float(frac[:, :2].abs().max()) == 0
    keys, best, share = assign_neurons(frac, var, 0.85, 0.0)
    assert keys == [2] and best.tolist() == [0, 0, 2]


def test_key_frequencies_need_min_share_of_the_neurons():
    frac = torch.zeros(5, 100, dtype=torch.float64)
    frac[0, :10] = 0.9  # 10 neurons on k=1
    frac[3, 10:12] = 0.95  # 2 neurons on k=4
    frac[2, 12:20] = 0.8  # below the threshold
    var = torch.ones(100, dtype=torch.float64)
    assert assign_neurons(frac, var, 0.85, 0.02)[0] == [1, 4]
    assert assign_neurons(frac, var, 0.85, 0.05)[0] == [1]
    assert assign_neurons(frac, var, 0.75, 0.05)[0] == [1, 3]
    assert assign_neurons(frac, var, 0.95, 0.0)[0] == []


@settings(max_examples=25, deadline=None)
@given(p=st.sampled_from([5, 7, 13]), seed=st.integers(0, 10**6), sign=st.sampled_from([1, -1]),
       data=st.data())  # fmt: skip
def test_projection_restriction_and_exclusion(p, seed, sign, data):
    h = (p - 1) // 2
    freqs = data.draw(st.lists(st.integers(1, h), unique=True, max_size=h))
    L = torch.from_numpy(np.random.default_rng(seed).normal(size=(p * p, p)))
    D = sum_directions(p, freqs, sign)
    assert torch.allclose(D.T @ D, torch.eye(len(freqs) * 2, dtype=D.dtype), atol=1e-12)
    assert torch.allclose(D.sum(0), torch.zeros(2 * len(freqs), dtype=D.dtype), atol=1e-10)
    PL = project_logits(L, D)
    assert torch.allclose(project_logits(PL, D), PL, atol=1e-10)  # idempotent
    assert torch.allclose(PL.T @ (L - PL), torch.zeros(p, p, dtype=L.dtype), atol=1e-9)
    R, X = restricted_logits(L, p, freqs, sign), excluded_logits(L, p, freqs, sign)
    assert torch.allclose(R + X, L + L.mean(0, keepdim=True), atol=1e-10)
    # Excluding every frequency from a function of a + s*b leaves each output's constant.
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    G = L[(a + sign * b) % p]
    Xall = excluded_logits(G, p, range(1, h + 1), sign)
    assert torch.allclose(Xall, G.mean(0, keepdim=True).expand_as(G), atol=1e-10)


def test_logit_fourier_norms():
    p, k = 11, 3
    B = fourier_basis(p)
    assert np.allclose(B @ B.T, np.eye(p)) and len(fourier_basis_names(p)) == p
    assert fourier_basis_names(p)[2 * k - 1 : 2 * k + 1] == ["cos 3", "sin 3"]
    a, b = np.arange(p).repeat(p), np.tile(np.arange(p), p)
    L = np.cos(2 * np.pi * k * (a[:, None] + b[:, None] - np.arange(p)[None, :]) / p)
    N = logit_fourier_norms(torch.from_numpy(L), p)
    assert N.shape == (p, p) and (N**2).sum() == pytest.approx((L**2).sum())  # Parseval
    cells = [(2 * k - 1, 2 * k - 1), (2 * k, 2 * k), (2 * k - 1, 2 * k), (2 * k, 2 * k - 1)]
    assert sum(N[i, j] ** 2 for i, j in cells) == pytest.approx((L**2).sum())
    # cos(x+y) = cos x cos y - sin x sin y: the (cos,cos) and (sin,sin) cells are equal.
    assert N[2 * k - 1, 2 * k - 1] == pytest.approx(N[2 * k, 2 * k])
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(p, p, 4)))
    y = torch.einsum("ia,jb,abc->ijc", torch.from_numpy(B), torch.from_numpy(B), x)
    assert torch.allclose(fourier_2d(x), y, atol=1e-12)
    with pytest.raises(InputError, match="logits"):
        logit_fourier_norms(np.zeros((5, 5)), p)


def test_options_defaults_are_the_factorys_defaults():
    import dataclasses
    import inspect

    from transformer_check.measures import MEASURES

    spec = MEASURES["nanda"]
    assert spec.progress and spec.options is NandaOptions
    params = inspect.signature(spec.factory.__wrapped__).parameters
    assert {k: v.default for k, v in params.items()} == dataclasses.asdict(NandaOptions())
