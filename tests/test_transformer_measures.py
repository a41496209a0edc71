"""Complexity measures (definitions §4.3) on cases with a known answer; the measure registry and the
``measure`` subcommand."""

from __future__ import annotations

import bz2
import dataclasses
import inspect
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.cli import OccamArgumentParser, run_cli
from theory.base.errors import InputError
from transformer_check import measure_cli
from transformer_check.data import TaskConfig, make_dataset
from transformer_check.measures import (
    ALL_MEASURES,
    BUILTIN_MEASURES,
    MEASURES,
    PROGRESS_MEASURES,
    build_measure,
    build_measures,
    get_measure,
    parse_measure_option,
)
from transformer_check.measures.basic import basic_metrics, l2_norm, loss_accuracy
from transformer_check.measures.compression import (
    CoarseGrainer,
    coarse_grain,
    compression_measures,
    k_tau,
    naive_bz2_bytes,
)
from transformer_check.measures.fourier import (
    fourier_measures,
    frequency_energy,
    gini,
    ipr,
    key_frequencies,
)
from transformer_check.measures.spectral import (
    effective_rank,
    spectral_entropy,
    spectral_entropy_penalty,
    spectral_measures,
)
from transformer_check.model import ModelConfig, Transformer


def _tiny(p: int = 11, seed: int = 0, **kw) -> Transformer:
    cfg = dict(vocab_size=p + 1, seq_len=3, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    cfg.update(kw)
    return Transformer.from_seed(ModelConfig(**cfg), seed)


# -- spectral ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_identity_has_entropy_ln_n(n):
    assert float(spectral_entropy(torch.eye(n, dtype=torch.float64))) == pytest.approx(math.log(n))
    assert float(effective_rank(3.0 * torch.eye(n))) == pytest.approx(n, rel=1e-5)


def test_rank_one_has_zero_entropy_and_zero_matrix_convention():
    u, v = torch.randn(9, 1, dtype=torch.float64), torch.randn(1, 5, dtype=torch.float64)
    assert float(spectral_entropy(u @ v)) == pytest.approx(0.0, abs=1e-12)
    assert float(spectral_entropy(torch.zeros(4, 3))) == 0.0


@settings(max_examples=25, deadline=None)
@given(s=st.lists(st.floats(0.01, 10.0), min_size=1, max_size=8), seed=st.integers(0, 1000))
def test_entropy_equals_entropy_of_given_singular_values(s, seed):
    """Build M = U diag(s) V^T with random orthogonal U, V: H depends on s only (eq. 15)."""
    g = torch.Generator().manual_seed(seed)
    n = len(s)
    q1, _ = torch.linalg.qr(torch.randn(n + 2, n, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    sv = torch.tensor(s, dtype=torch.float64)
    M = q1 @ torch.diag(sv) @ q2.T
    pbar = sv / sv.sum()
    expected = float(-(pbar * pbar.log()).sum())
    assert float(spectral_entropy(M)) == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= float(spectral_entropy(M)) <= math.log(n) + 1e-9


def test_penalty_is_mean_and_differentiable():
    m = _tiny()
    mats = m.named_weight_matrices()
    pen = spectral_entropy_penalty(mats)
    ref = sum(float(spectral_entropy(v.detach())) for v in mats.values()) / len(mats)
    assert float(pen.detach()) == pytest.approx(ref, rel=1e-5)
    pen.backward()
    assert m.W_E.grad is not None and torch.isfinite(m.W_E.grad).all()
    assert float(m.W_E.grad.abs().sum()) > 0


def test_spectral_measures_keys():
    m = _tiny()
    out = spectral_measures(m)
    assert out["rank_eff.embed.W_E"] == pytest.approx(math.exp(out["H_svd.embed.W_E"]))
    assert out["rank_eff_total"] == pytest.approx(
        sum(v for k, v in out.items() if k.startswith("rank_eff."))
    )


# -- basic ----------------------------------------------------------------------------------------
def test_basic_metrics_against_manual():
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny()
    out = basic_metrics(m, ds)
    with torch.no_grad():
        logits = m(ds.test_x)
    ref_loss = float(torch.nn.functional.cross_entropy(logits.double(), ds.test_y))
    assert out["test_loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert out["test_acc"] == pytest.approx(float((logits.argmax(-1) == ds.test_y).double().mean()))
    ref_norm = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in m.parameters()))
    assert l2_norm(m) == pytest.approx(ref_norm, rel=1e-12)
    # chunking does not change the result
    assert loss_accuracy(m, ds.train_x, ds.train_y, chunk=7)[0] == pytest.approx(
        out["train_loss"], rel=1e-6
    )


# -- compression ----------------------------------------------------------------------------------
def test_naive_bz2_is_bz2_of_raw_float32():
    m = _tiny()
    raw = b"".join(p.detach().numpy().astype(np.float32).tobytes() for p in m.parameters())
    assert naive_bz2_bytes(m) == len(bz2.compress(raw, 9))


@pytest.mark.parametrize(
    "s,tau,k",
    [([1, 1, 1, 1], 0.5, 2), ([1, 1, 1, 1], 0.51, 3), ([1, 1, 1, 1], 1.0, 4), ([8, 1, 1], 0.8, 1)],
)
def test_k_tau_definition(s, tau, k):
    assert k_tau(torch.tensor(s, dtype=torch.float64), tau) == k


def test_coarse_grain_zero_model_is_accepted_at_once():
    """An all-zero model: the all-zero description is exact, found with one evaluation."""
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    r = coarse_grain(m, ds.train_x, ds.train_y, eps=1e-6, budget=10)
    assert r.evaluations == 1 and r.trace[0][2]  # the first probe is accepted
    assert r.base_loss == pytest.approx(math.log(11), rel=1e-6)
    # bz2 of all-zero floats is already tiny; the coded form adds a 50-byte header at most
    assert r.bytes <= r.naive_bytes and r.trace[0][3] <= r.naive_bytes + 50


def test_coarse_grain_finds_planted_low_rank():
    """Rank-1 matrices: a low-rank description is accepted and chosen (DeMoss et al. (2024) eq. 14)."""
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny(d_model=32, d_mlp=64, n_heads=4, d_head=8)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mats = {
            k: torch.randn(v.shape[0], 1, generator=g) @ torch.randn(1, v.shape[1], generator=g)
            for k, v in m.named_weight_matrices().items()
        }
        m.set_weight_matrices({k: v / v.norm() * 3 for k, v in mats.items()})
    cg = CoarseGrainer(m, ds.train_x, ds.train_y)
    assert all(k == 1 for k in cg.ranks(0.99).values()) and len(cg.ranks(0.99)) == len(mats)
    r = coarse_grain(m, ds.train_x, ds.train_y, eps=0.01, budget=30)
    assert r.tau < 1.0 and len(r.ranks) > 0
    assert abs(r.loss - r.base_loss) < 0.01


def test_coarse_grain_result_is_reproducible_and_honest():
    """The reported (tau, Delta) re-evaluates to the reported loss and size."""
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny(seed=3)
    r = coarse_grain(m, ds.train_x, ds.train_y, eps=0.05, budget=16)
    assert r.evaluations <= 16
    assert abs(r.loss - r.base_loss) < 0.05
    loss, size = CoarseGrainer(m, ds.train_x, ds.train_y).evaluate(r.tau, r.delta)
    assert size == r.bytes and loss == pytest.approx(r.loss, abs=1e-6)
    for tau, delta, ok, sz in r.trace:
        assert not (ok and sz < r.bytes), (tau, delta)


def test_bisect_search_at_least_as_small_as_random_search():
    """Same budget: the deterministic search beats the median of random searches (Alg. 1)."""
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny(seed=5)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=1.0)
    for _ in range(100):  # a partly trained model, so the tolerance actually binds
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(ds.train_x), ds.train_y).backward()
        opt.step()
    det = coarse_grain(m, ds.train_x, ds.train_y, eps=0.05, budget=16)
    rnd = [
        coarse_grain(m, ds.train_x, ds.train_y, eps=0.05, budget=16, search="random", seed=s).bytes
        for s in range(3)
    ]
    assert det.bytes <= float(np.median(rnd))


# -- fourier --------------------------------------------------------------------------------------
def test_gini_and_ipr_known_values():
    assert gini(np.ones(10)) == pytest.approx(0.0)
    one_hot = np.zeros(10)
    one_hot[3] = 2.0
    assert gini(one_hot) == pytest.approx(0.9)  # (n-1)/n
    assert ipr(one_hot) == pytest.approx(1.0)
    assert ipr(np.ones(10)) == pytest.approx(0.1)
    # brute-force Gini: mean absolute difference / (2 mean)
    x = np.random.default_rng(0).random(17)
    brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
    assert gini(x) == pytest.approx(brute)


def test_key_frequencies_of_planted_fourier_embedding():
    p, d = 31, 24
    a = np.arange(p)[:, None]
    rng = np.random.default_rng(0)
    W = np.concatenate(
        [
            np.cos(2 * np.pi * 4 * a / p + rng.random((1, 8))),
            np.sin(2 * np.pi * 11 * a / p) * np.ones((1, 8)),
        ],
        axis=1,
    )
    W = np.concatenate([W, 0.01 * rng.standard_normal((p, d - 16))], axis=1)
    assert key_frequencies(W) == [4, 11]
    e = frequency_energy(W)
    assert e.sum() == pytest.approx(((W - W.mean(0)) ** 2).sum() * p)  # Parseval, DC removed
    assert key_frequencies(rng.standard_normal((p, 128))) == []


def test_fourier_measures_concentration_rises():
    ds = make_dataset(TaskConfig(p=23, frac=0.5))
    m = Transformer.from_seed(
        ModelConfig(vocab_size=24, seq_len=3, d_model=32, d_head=8, d_mlp=16), 0
    )
    rand = fourier_measures(m, ds)
    a = torch.arange(23, dtype=torch.float64)[:, None]
    with torch.no_grad():
        m.W_E[:23] = torch.cos(2 * math.pi * 5 * a / 23 + torch.arange(32)[None, :]).float()
    planted = fourier_measures(m, ds)
    assert planted["fourier_key_freqs"] == "5" and planted["fourier_key_share"] > 0.99
    assert planted["fourier_gini"] > rand["fourier_gini"]
    assert planted["fourier_ipr"] > rand["fourier_ipr"]


# -- registry ------------------------------------------------------------------------------------
def test_registry_names_and_groups():
    assert BUILTIN_MEASURES == ("spectral", "compression", "fourier", "bdm")
    assert PROGRESS_MEASURES == (
        "sparsity", "weight_entropy", "circuit", "lmn", "mediation", "llc", "nanda", "ring"
    )  # fmt: skip
    assert ALL_MEASURES == BUILTIN_MEASURES + PROGRESS_MEASURES == tuple(MEASURES)
    for spec in MEASURES.values():
        assert dataclasses.is_dataclass(spec.options)
        assert isinstance(spec.default_options(), spec.options)


def test_option_defaults_are_the_factories_defaults():
    """An options dataclass and its keyword factory agree field by field (so defaults reproduce
    what ``x_measure()`` computed); ``shared``, the work :func:`build_measures` shares between
    measures, is no option."""
    from transformer_check.measures.llc import LLC_MEASURE_CONFIG
    from transformer_check.measures.registry import keywords

    for name in ("compression", "sparsity", "weight_entropy", "circuit", "lmn", "mediation"):
        spec = MEASURES[name]
        factory = spec.factory.__wrapped__
        params = {
            k: v.default
            for k, v in inspect.signature(factory).parameters.items()
            if v.default is not inspect.Parameter.empty and k != "shared"
        }
        assert params == dataclasses.asdict(spec.default_options()), name
        assert callable(keywords(factory)(spec.default_options()))
    assert MEASURES["llc"].default_options() == LLC_MEASURE_CONFIG
    assert set(MEASURES["circuit"].field_names()) >= {"seed"}
    assert MEASURES["lmn"].field_names() == ("n_samples", "seed")
    assert MEASURES["mediation"].field_names()[:2] == ("n_pairs", "seed")
    assert MEASURES["compression"].field_names() == ("eps", "budget")


def test_built_measures_reproduce_the_direct_calls():
    from transformer_check.measures.circuit import circuit_measure
    from transformer_check.measures.lmn import lmn_measure
    from transformer_check.measures.sparsity import sparsity_measure
    from transformer_check.measures.weight_entropy import weight_entropy_measure

    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny()
    assert get_measure("compression", budget=4)(m, ds) == compression_measures(m, ds, budget=4)
    assert build_measure("sparsity")(m, ds) == sparsity_measure()(m, ds)
    assert build_measure("circuit", {"draws": 2})(m, ds) == circuit_measure(draws=2)(m, ds)
    assert build_measure("lmn", {"n_samples": 6})(m, ds) == lmn_measure(n_samples=6)(m, ds)
    full = get_measure("weight_entropy")(m, ds)
    assert full == weight_entropy_measure()(m, ds) and len(full) > 1
    pooled = build_measure("weight_entropy", {"per_matrix": False})(m, ds)
    assert pooled == {"weight_entropy": full["weight_entropy"]}
    opts = MEASURES["sparsity"].options(tau=0.0)
    assert build_measure("sparsity", opts)(m, ds) == sparsity_measure(tau=0.0)(m, ds)


def test_build_measures_options_and_errors():
    fns = build_measures(["spectral", "lmn"], {"lmn": {"n_samples": 4}, "llc": {"n_chains": 1}})
    assert list(fns) == ["spectral", "lmn"]
    with pytest.raises(InputError, match="unknown measure 'nope'.*spectral, compression"):
        build_measures(["nope"])
    with pytest.raises(InputError, match="unknown measure 'lcc'"):
        build_measures(["llc"], {"lcc": {}})
    with pytest.raises(InputError, match="lmn: unknown option.*n_chains; valid: n_samples, seed"):
        build_measures(["lmn"], {"lmn": {"n_chains": 4}})
    with pytest.raises(InputError, match="llc.n_chains"):
        build_measure("llc", {"n_chains": 0})
    with pytest.raises(InputError, match="compression.budget"):
        build_measure("compression", {"budget": 1})
    with pytest.raises(InputError, match="SparsityOptions"):
        build_measure("sparsity", MEASURES["lmn"].options())
    with pytest.raises(InputError, match="spectral: unknown option.*valid: \\(none\\)"):
        build_measure("spectral", {"x": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llc.n_chains=4", ("llc", "n_chains", 4)),
        ("llc.eps=1e-5", ("llc", "eps", 1e-5)),
        ("llc.beta=none", ("llc", "beta", None)),
        ("llc.batch_size=64", ("llc", "batch_size", 64)),
        ("compression.eps=0.2", ("compression", "eps", 0.2)),
        ("weight_entropy.per_matrix=false", ("weight_entropy", "per_matrix", False)),
        ("circuit.mode=zero", ("circuit", "mode", "zero")),
        ("mediation.ranges=[[0, 1]]", ("mediation", "ranges", ((0, 1),))),
    ],
)
def test_parse_measure_option(text, expected):
    assert parse_measure_option(text) == expected
    name, field, value = expected
    assert callable(build_measure(name, {field: value}))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("llc", "NAME.FIELD=VALUE"),
        ("llc.n_chains", "NAME.FIELD=VALUE"),
        ("=4", "NAME.FIELD=VALUE"),
        ("lcc.n_chains=4", "unknown measure 'lcc'"),
        ("llc.chains=4", "llc: unknown option 'chains'; valid: eps, gamma, n_chains"),
        ("llc.n_chains=2.5", "llc.n_chains: expected an integer"),
        ("llc.n_chains=0", "llc.n_chains: must be an integer in \\[1"),
        ("llc.eps=abc", "llc.eps: expected a real number"),
        ("circuit.mode=uniform", "circuit.mode: must be one of gaussian, zero"),
        ("weight_entropy.per_matrix=maybe", "expected true or false"),
        ("mediation.ranges=[[1, 0]]", "mediation.ranges"),
        ("mediation.ranges=[[0,", "expected a JSON value"),
    ],
)
def test_parse_measure_option_errors(text, match):
    with pytest.raises(InputError, match=match):
        parse_measure_option(text)


# -- the measure subcommand ------------------------------------------------------------------------
def _measure_main(argv):
    def build():
        parser = OccamArgumentParser(prog="tc")
        measure_cli.add_subparser(parser.add_subparsers(dest="command"))
        return parser

    return run_cli(build, argv)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformer_check.train import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        task=TaskConfig(p=7, frac=0.6),
        model=dataclasses.replace(TrainConfig().model, d_model=16, n_heads=2, d_head=8, d_mlp=16),
        steps=4,
        eval_points=2,
        measure_points=0,
        measures=(),
        snapshots=False,
    )
    train(cfg, out, progress=False, plot=False)
    return out / "checkpoints" / "last.json"


def test_measure_cli_measure_option_reaches_the_measure(checkpoint, tmp_path, capsys):
    mout = tmp_path / "m"
    argv = ["measure", str(checkpoint), "--out", str(mout), "--measures", "compression", "llc"]
    argv += ["--coarse-budget", "4", "--measure-option", "llc.n_chains=2"]
    argv += ["--measure-option", "llc.n_steps=5", "--measure-option", "llc.n_burnin=1"]
    assert _measure_main(argv) == 0
    res = json.loads((mout / "measures.json").read_text())
    opts = res["metadata"]["config"]["measure_options"]
    assert opts["llc"] == {"n_chains": 2, "n_steps": 5, "n_burnin": 1}
    assert opts["compression"]["budget"] == 4
    assert np.isfinite(res["measures"]["llc"]) and "coarse_bytes" in res["measures"]
    for name in ("measures.csv", "spectra.png", "spectra.svg"):
        assert (mout / name).exists()


@pytest.mark.parametrize(
    "bad", ["llc.n_chains=zero", "llc.n_chains=0", "nope.x=1", "llc", "lmn.n_chains=2"]
)
def test_measure_cli_bad_measure_option_is_one_line_exit_2(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _measure_main(["measure", "ckpt.json", "--out", str(tmp_path), "--measure-option", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--measure-option" in err[0]


# -- shared work (issue 18) ---------------------------------------------------------------------
def _trained_tiny(steps: int = 60):
    ds = make_dataset(TaskConfig(p=11, frac=0.5))
    m = _tiny(seed=2)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=1.0)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(ds.train_x), ds.train_y).backward()
        opt.step()
    return m, ds, opt


def test_measures_built_together_give_the_numbers_of_each_built_alone():
    """One SVD and one forward per step, shared: every value equals the unshared one exactly."""
    m, ds, _ = _trained_tiny()
    names = ("spectral", "compression", "sparsity", "ring", "circuit", "fourier")
    together: dict = {}
    for fn in build_measures(names).values():
        together.update(fn(m, ds))
    alone: dict = {}
    for name in names:
        alone.update(build_measure(name)(m, ds))
    assert together.keys() == alone.keys()
    for k, v in alone.items():
        assert together[k] == v or (v != v and together[k] != together[k]), k


def test_shared_work_computes_once_per_step_and_releases(monkeypatch):
    """Two users of the SVDs: one computation per parameter state; an optimiser step (which bumps
    the parameters' _version) invalidates it; once both took it nothing is held."""
    from transformer_check.measures import shared as shared_mod

    m, ds, opt = _trained_tiny(steps=5)
    calls = []
    real = shared_mod.weight_svds
    monkeypatch.setattr(shared_mod, "weight_svds", lambda model: calls.append(1) or real(model))
    work = shared_mod.SharedWork(svd_users=2)
    a = work.svd(m)
    assert work._values  # held for the second user
    b = work.svd(m)
    assert a is b and len(calls) == 1 and not work._values
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(ds.train_x), ds.train_y).backward()
    opt.step()
    c = work.svd(m)
    assert len(calls) == 2 and c is not a
    s_new = real(m)["blocks.0.mlp.W_in"][1]
    assert torch.equal(c["blocks.0.mlp.W_in"][1], s_new)  # the new weights' spectrum
    assert not torch.equal(c["blocks.0.mlp.W_in"][1], a["blocks.0.mlp.W_in"][1])


def test_shared_forward_is_the_model_on_all_inputs():
    from transformer_check.measures.shared import SharedWork, all_inputs_cache

    m, ds, _ = _trained_tiny(steps=5)
    work = SharedWork(forward_users=2)
    got = work.forward(m, ds)
    ref = all_inputs_cache(m, ds)
    assert got.keys() == ref.keys()
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    n = ds.train_x.shape[0] + ds.test_x.shape[0]
    assert next(iter(got.values())).shape[0] == n
    assert work.forward(m, ds) is got  # the second user gets the same pass


def test_circuit_measure_leaves_the_parameters_untouched():
    """The perturbed weights go in through functional_call: no in-place write (same _version)."""
    m, ds, _ = _trained_tiny(steps=5)
    before = [(p._version, p.detach().clone()) for p in m.parameters()]
    out = build_measure("circuit")(m, ds)
    assert out["circuit_complexity"] > 0
    for (v, w), p in zip(before, m.parameters(), strict=True):
        assert p._version == v and torch.equal(p, w)


def test_next_tau_is_the_next_rank_change():
    """k(tau) (eq. 13) is constant on [tau, next_tau(tau)) and changes at next_tau(tau)."""
    m, ds, _ = _trained_tiny(steps=20)
    cg = CoarseGrainer(m, ds.train_x, ds.train_y)
    for tau in (0.3, 0.5, 0.7, 0.9):
        nxt = cg.next_tau(tau)
        assert tau < nxt <= 1.0
        if nxt < 1.0:
            assert cg.ranks(nxt) != cg.ranks(tau)
        for t in np.linspace(tau, nxt, 12)[:-1]:
            assert cg.ranks(float(t)) == cg.ranks(tau)
    assert cg.next_tau(1.0) == 1.0


def test_bisect_search_moves_off_a_marginal_tau():
    """Acceptance ``E_t(tau) + (Delta / 0.1)^2 < 1`` with a truncation error that falls in rank
    steps of 0.01 in ``tau`` (``E_t = 0.3`` per missing step below 0.60, the real landscape's
    shape: one kept singular value buys a much coarser step) and size ``1000 tau - 100 ln Delta``:
    the optimum is the corner ``tau = 0.60, Delta -> 0.1``, ``600 + 100 ln 10 = 830.26``. Stages
    4-5 reach it within 0.5% in 24 probes (the former stage 4, bisecting ``Delta`` at the marginal
    ``tau`` up to an assumed ``1.6 Delta_b``, stopped at 849, 2.3% above)."""
    from transformer_check.measures.compression import _bisect_search

    best = [math.inf, 1.0, 0.0]
    n = [0]

    def probe(tau, delta):
        n[0] += 1
        e_t = max(0.0, (60 - math.floor(100 * tau + 1e-9)) * 0.3)
        ok = e_t + (delta / 0.1) ** 2 < 1
        size = 1000 * tau - 100 * math.log(delta)
        if ok and size < best[0]:
            best[:] = [size, tau, delta]
        return ok

    def next_tau(t):
        return (math.floor(100 * t + 1e-9) + 1) / 100

    _bisect_search(probe, lambda: (best[1], best[2]), 0.05, 1e-5, 2.0, 24, next_tau)
    optimum = 600 + 100 * math.log(10)
    assert n[0] == 24
    assert optimum <= best[0] <= 1.005 * optimum
