"""SFM core against independent computations (definitions §1.1-§1.8)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfm import kernels
from sfm.basis import FourierBasis, LogBasis, discrete_log_tables, make_basis, primitive_root
from sfm.dynamics import SFMConfig, simulate, simulate_one
from sfm.reference import (
    basis_matrix,
    dense_drift,
    dense_hard_gate,
    dense_predict,
    dense_step,
    design_matrix,
)
from sfm.task import (
    domain_mask,
    exact_interpolant,
    flat_target,
    interpolant_support,
    make_task,
    random_phase_target,
    spectrum,
    target_table,
)
from theory.base.errors import InputError

EPS = np.finfo(float).eps
SMALL_PRIMES = [3, 5, 7, 11, 13, 31]
OPS = ["+", "-", "*", "/"]


def random_hermitian(basis, rng):
    """A random coefficient array with V[-a, -b] = conj(V[a, b]) in the basis' stored layout."""
    p = basis.p
    Z = rng.normal(size=(p, p)) + 1j * rng.normal(size=(p, p))
    mir = basis.mirror
    return basis.from_full(0.5 * (Z + np.conj(Z[mir][:, mir])))


def all_pairs(p):
    u, v = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return u.ravel(), v.ravel()


def fft_tolerance(p, Vfull, E):
    """Rounding bound: p^2 products of size <= max|E| max|V|, summed; 16x slack for both paths."""
    return 16 * p * p * EPS * np.max(np.abs(E)) * np.sum(np.abs(Vfull)) + 1e-300


@settings(max_examples=40, deadline=None)
@given(p=st.sampled_from(SMALL_PRIMES), op=st.sampled_from(OPS), seed=st.integers(0, 2**32 - 1))
def test_fft_prediction_equals_dense(p, op, seed):
    """yhat = p S(V) by FFT equals the dense design matrix E vec(V) on all p^2 pairs (definitions §1.1)."""
    rng = np.random.default_rng(seed)
    basis = make_basis(op, p)
    V = random_hermitian(basis, rng)
    full = basis.to_full(V)
    u, v = all_pairs(p)
    E = design_matrix(op, p, u, v)
    y_dense = (E @ full.ravel()).reshape(p, p)
    # Hermitian V gives a real model (definitions §1.4): the imaginary part is rounding only.
    tol = fft_tolerance(p, full, E)
    assert np.max(np.abs(y_dense.imag)) <= tol
    y_fft = basis.synthesis(V[None])[0]
    assert np.max(np.abs(y_fft - y_dense.real)) <= tol


@settings(max_examples=40, deadline=None)
@given(
    p=st.sampled_from(SMALL_PRIMES),
    op=st.sampled_from(OPS),
    seed=st.integers(0, 2**32 - 1),
    eta=st.floats(0.05, 1.95),
)
def test_fft_drift_equals_dense(p, op, seed, eta):
    """(eta/p) A(M .* r) equals the dense (eta/p^2) E^H r on the training rows (definitions §1.6)."""
    rng = np.random.default_rng(seed)
    basis = make_basis(op, p)
    task = make_task(p, op, 0.5, "random-phase", rng)
    R = np.where(task.train, rng.normal(size=(p, p)), 0.0)
    u, v = np.nonzero(task.train)
    E = design_matrix(op, p, u, v)
    ref = dense_drift(E, R[u, v], eta, p)
    got = basis.to_full((eta / p) * basis.analysis(R[None])[0])
    tol = 16 * p * p * EPS * np.max(np.abs(E)) * np.sum(np.abs(R)) * eta / p**2 + 1e-300
    assert np.max(np.abs(got - ref)) <= tol


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("p", [3, 5, 7, 31, 97])
@pytest.mark.parametrize("target", ["flat", "random-phase", "gaussian"])
def test_exact_interpolant_fits_every_pair(op, p, target):
    """The definitions §1.3 interpolant reproduces y(u, v) on all pairs of the domain."""
    rng = np.random.default_rng(p)
    g = rng.normal(size=p) if target == "gaussian" else make_task(p, op, 1.0, target, rng).g
    basis = make_basis(op, p)
    V = exact_interpolant(op, g, basis)
    yhat = basis.synthesis(V[None])[0]
    Y = target_table(op, g)
    dom = domain_mask(op, p)
    assert np.max(np.abs(yhat - Y)[dom]) <= 64 * p * EPS * np.sum(np.abs(g))


@pytest.mark.parametrize("p", [5, 7, 11, 31, 97, 211])
def test_interpolant_supports_match_spec(p):
    """|S| = p for + and - (flat g), (p-1)+3 for * and (p-1)+1 for / (generic g) (definitions §1.3)."""
    g = np.random.default_rng(1).normal(size=p)
    assert interpolant_support("+", flat_target(p)) == p
    assert interpolant_support("-", flat_target(p)) == p
    assert interpolant_support("*", g) == (p - 1) + 3
    assert interpolant_support("/", g) == (p - 1) + 1
    # The Legendre target is a character of Z_p^*: in the log basis only psi_0 and psi_(p-1)/2.
    assert interpolant_support("*", flat_target(p)) == 2 + 3
    assert interpolant_support("/", flat_target(p)) == 2 + 1


@pytest.mark.parametrize("p", [3, 5, 7, 97, 211])
def test_flat_targets_have_flat_spectrum(p):
    """|ghat_k| = p**-0.5 for every k and mean(g^2) = 1 (definitions §1.2)."""
    for g in (flat_target(p), random_phase_target(p, np.random.default_rng(3))):
        ghat = spectrum("+", g)
        np.testing.assert_allclose(np.abs(ghat), p**-0.5, rtol=0, atol=64 * EPS)
        assert abs(np.mean(g**2) - 1.0) <= 64 * p * EPS


@pytest.mark.parametrize("p", [3, 5, 7, 11, 13, 97])
def test_discrete_log_basis_is_orthonormal_and_inverse(p):
    """The permutation + size p-1 FFT equals the dense {delta_0, psi_j} basis (definitions §1.3)."""
    r, power, ind = discrete_log_tables(p)
    assert sorted(power.tolist()) == list(range(1, p))
    assert all(
        pow(r, (p - 1) // q, p) != 1
        for q in range(2, p)
        if (p - 1) % q == 0 and all(q % d for d in range(2, q))
    )
    Phi = basis_matrix("*", p)
    np.testing.assert_allclose(Phi.conj().T @ Phi, np.eye(p), atol=64 * p * EPS)
    basis = LogBasis(p)
    R = np.random.default_rng(p).normal(size=(p, p))
    A = basis.analysis(R[None])[0]
    np.testing.assert_allclose(
        A, Phi.conj().T @ R @ Phi.conj(), atol=64 * p * EPS * np.abs(R).sum()
    )
    np.testing.assert_allclose(
        basis.synthesis(A[None])[0] / p, R, atol=64 * p * EPS * np.abs(R).sum()
    )
    assert primitive_root(p) == r


@settings(max_examples=200, deadline=None)
@given(
    re=st.floats(-10, 10),
    im=st.floats(-10, 10),
    c=st.floats(1e-4, 10),
    mu=st.floats(1e-4, 10),
)
def test_hard_gate_is_l0_prox(re, im, c, mu):
    """H_tau with tau = sqrt(2 c mu) minimises |x - z|^2 / (2 mu) + c 1(x != 0) (definitions §1.7)."""
    from theory.gates import l0_prox_threshold

    z = complex(re, im)
    tau = l0_prox_threshold(c, mu)
    V = np.array([[[z]]], dtype=np.complex128)
    kernels.hard_gate_step(V, np.zeros_like(V), np.zeros(1), np.zeros(1), np.array([tau]))
    x = V[0, 0, 0]

    def objective(w):
        return abs(w - z) ** 2 / (2 * mu) + c * (w != 0)

    # For x != 0 the best choice is x = z; the prox is the better of {0, z}.
    best = min(objective(0.0), objective(z))
    assert objective(x) <= best + 1e-12 * (1 + best)
    assert x in (0.0, z)


@settings(max_examples=100, deadline=None)
@given(re=st.floats(-3, 3), im=st.floats(-3, 3), theta=st.floats(0, 2))
def test_soft_threshold_is_l1_prox(re, im, theta):
    """ISTA's S_theta(z) = z max(0, 1 - theta/|z|), the prox of theta |x| (definitions §1.7 (c))."""
    z = complex(re, im)
    V = np.array([[[z]]], dtype=np.complex128)
    kernels.soft_gate_step(V, np.zeros_like(V), np.zeros(1), np.array([theta]))
    x = V[0, 0, 0]

    def objective(w):
        return 0.5 * abs(w - z) ** 2 + theta * abs(w)

    # The prox lies on the ray through z: check optimality against a fine radial grid.
    ts = np.linspace(0, 1, 2001)
    grid = min(objective(t * z) for t in ts)
    assert objective(x) <= grid + 1e-12


@pytest.mark.parametrize(
    "schedule", ["none", "fixed", "neff", "increasing", "ista", "l2_gate", "square"]
)
@pytest.mark.parametrize("op", OPS)
def test_every_step_keeps_hermitian_symmetry(schedule, op):
    """Drift and every gate keep W[-k, -l] = conj(W[k, l]) (definitions §1.4)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(
            [
                SFMConfig(
                    p=13, f=0.4, op=op, schedule=schedule, steps=40, seed=s, target="random-phase"
                )
                for s in range(3)
            ]
        )
    scale = max(1.0, float(np.max(np.abs(res.final_V))))
    assert np.nanmax(res.curves.hermitian_err) <= 1e-13 * scale
    yhat = res.basis.synthesis(res.final_V)
    assert np.all(np.isfinite(yhat))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("p", [5, 7, 11])
def test_eta_one_from_zero_is_min_norm_interpolant(op, p):
    """One eta = 1 drift step from W = 0 equals lstsq's minimum-norm interpolant (definitions §1.6)."""
    cfg = SFMConfig(p=p, f=0.45, op=op, schedule="none", steps=1, eta=1.0, seed=p)
    res = simulate([cfg])
    task = res.tasks[0]
    u, v = np.nonzero(task.train)
    E = design_matrix(op, p, u, v)
    y = task.Y[u, v]
    w_min, *_ = np.linalg.lstsq(E, y.astype(complex), rcond=None)
    got = res.basis.to_full(res.final_V[0])
    cond = np.linalg.cond(E)
    np.testing.assert_allclose(got.ravel(), w_min, atol=64 * cond * p * p * EPS * np.abs(y).sum())
    assert np.max(np.abs(dense_predict(E, got) - y)) <= 1e-10 * np.abs(y).max()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.filterwarnings("ignore:target")
def test_dense_reference_step_matches_fast_step(op):
    """A fixed-gate run's second state equals the naive dense step (definitions §1.6-§1.7)."""
    p = 11
    cfg = SFMConfig(p=p, f=0.5, op=op, schedule="fixed", beta=0.05, steps=2, seed=4)
    r1 = simulate([cfg.__class__(**{**cfg.__dict__, "steps": 1})])
    r2 = simulate([cfg])
    task = r1.tasks[0]
    u, v = np.nonzero(task.train)
    E = design_matrix(op, p, u, v)
    tau = float(r1.curves.tau[0, 0])
    V1 = r1.basis.to_full(r1.final_V[0])
    V2 = dense_step(E, task.Y[u, v], V1, 1.0, p, tau)
    got = r2.basis.to_full(r2.final_V[0])
    # Entries within rounding of the threshold could legitimately flip; there are none here.
    margin = np.min(
        np.abs(
            np.abs(
                dense_hard_gate(
                    V1 + dense_drift(E, task.Y[u, v] - dense_predict(E, V1), 1.0, p), 0.0
                )
            )
            - tau
        )
    )
    assert margin > 1e-9
    np.testing.assert_allclose(got, V2, atol=1e-12)


def test_batched_equals_looped():
    """A batch of seeds gives exactly the per-seed results (no cross-talk)."""
    cfgs = [SFMConfig(p=31, f=0.3, steps=200, seed=s, beta=0.05) for s in range(3)]
    batch = simulate(cfgs)
    for b, c in enumerate(cfgs):
        one = simulate([c])
        np.testing.assert_allclose(batch.final_V[b], one.final_V[0], atol=1e-14)
        assert batch.events[b].t_gen == one.events[0].t_gen
        assert batch.events[b].t_mem == one.events[0].t_mem


def test_batched_equals_looped_with_early_stop():
    """stop_after_gen freezes each element's record independently of the rest of the batch."""
    cfgs = [
        SFMConfig(p=31, f=f, steps=400, seed=1, beta=0.05, stop_after_gen=0, log_every=400)
        for f in (0.3, 0.5, 0.05)
    ]
    batch = simulate(cfgs)
    for b, c in enumerate(cfgs):
        one = simulate([c]).events[0]
        got = batch.events[b]
        assert (got.t_mem, got.t_gen, got.last_step) == (one.t_mem, one.t_gen, one.last_step)
        assert got.final_test_rel == pytest.approx(one.final_test_rel, rel=1e-9, abs=1e-300)
    assert batch.events[0].last_step == batch.events[0].t_gen


@pytest.mark.parametrize("op", ["+", "-"])
def test_after_grokking_support_is_interpolant_support(op):
    """The increasing gate memorises, then lands on the exact interpolant (definitions §1.3, §1.8)."""
    res = simulate_one(SFMConfig(p=31, f=0.4, op=op, beta=0.05, steps=1500, seed=2))
    ev = res.events[0]
    assert ev.t_mem is not None and ev.t_gen is not None and ev.t_mem < ev.t_gen
    g = res.tasks[0].g
    assert int(res.curves.support[-1, 0]) == interpolant_support(op, g) == 31
    np.testing.assert_allclose(res.final_V[0], exact_interpolant(op, g), atol=1e-10)
    assert res.curves.lambda_hat[-1, 0] == 31 / 2


@pytest.mark.parametrize("op", ["*", "/"])
def test_multiplicative_ops_grok_onto_log_basis_support(op):
    """For * and / the run generalises onto the psi-diagonal of the discrete-log basis (§1.3)."""
    p = 31
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # delta_0 (x) delta_0 is below the gate: one pair only
        res = simulate_one(
            SFMConfig(p=p, f=0.4, op=op, target="random-phase", beta=0.05, steps=1500, seed=1)
        )
    assert res.events[0].t_gen is not None
    g = res.tasks[0].g
    star = res.basis.to_full(exact_interpolant(op, g))
    got = res.basis.to_full(res.final_V[0])
    on = np.abs(got) > 0
    assert np.all(np.abs(star[on]) > 0)  # support inside the interpolant's support
    # Every psi-diagonal coefficient clearly above the final gate is kept; weaker ones may go.
    j = np.arange(p - 1)
    jj = j if op == "*" else (-j) % (p - 1)
    strong = np.abs(star[1 + j, 1 + jj]) > 2 * res.curves.tau[-1, 0]
    assert strong.sum() >= (p - 1) // 2
    assert np.all(on[1 + j, 1 + jj][strong])
    assert int(res.curves.support[-1, 0]) <= interpolant_support(op, g)


def test_default_run_memorises_then_generalises():
    """`python -m sfm run` defaults (p=97, f=0.3, +, increasing gate) reach both events."""
    res = simulate_one(SFMConfig())
    ev = res.events[0]
    assert ev.t_mem is not None and ev.t_gen is not None
    assert ev.t_gen > 10 * ev.t_mem
    c = res.curves
    i_mem = int(np.searchsorted(c.step, ev.t_mem))
    assert c.support[i_mem, 0] > 0.5 * 97**2  # memorisation uses (nearly) full support
    assert c.support[-1, 0] == 97
    assert c.K_bits[-1, 0] < c.K_bits[i_mem, 0]
    assert c.F_n[-1, 0] < c.F_n[i_mem, 0]
    assert {"init", "mem", "gen"} <= set(res.snapshots)


def test_no_event_is_invented():
    """Without a gate the run memorises and never generalises: t_gen stays None (definitions §1.8)."""
    res = simulate([SFMConfig(p=31, f=0.3, schedule="none", steps=50)])
    assert res.events[0].t_mem == 1 and res.events[0].t_gen is None
    full = simulate([SFMConfig(p=31, f=1.0, schedule="increasing", steps=50)])
    assert full.events[0].t_mem is None and full.events[0].t_gen is None  # no test set


def test_paper_convention_drift_diverges_without_gate():
    """Zhang et al. (2026)'s 1/n drift is eta = 1/f and diverges for f < 1/2 without a gate (definitions §1.6)."""
    with pytest.warns(UserWarning, match="diverges"):
        res = simulate([SFMConfig(p=13, f=0.3, schedule="none", convention="paper", steps=400)])
    ev = res.events[0]
    assert ev.diverged_at is not None and ev.t_gen is None


def test_paper_convention_threshold():
    """convention='paper' uses tau = sqrt(2 beta ln n / n) with its own 1/n drift (definitions §1.7)."""
    res = simulate(
        [SFMConfig(p=31, f=0.6, schedule="fixed", convention="paper", beta=0.2, steps=3)]
    )
    n = res.tasks[0].n
    assert math.isclose(res.curves.tau[0, 0], math.sqrt(2 * 0.2 * math.log(n) / n), rel_tol=1e-12)


def test_observables_follow_spec():
    """lambda_hat = |S|/2, F_n = n L_n + lambda ln n, K from theory (definitions §1.5, §1.8, §2.4)."""
    from theory.kolmogorov import enumerative_code_bits

    res = simulate([SFMConfig(p=13, f=0.5, steps=30, log_every=7, beta=0.05)])
    c, n = res.curves, res.tasks[0].n
    assert list(c.step) == [0, 7, 14, 21, 28, 30]
    np.testing.assert_array_equal(c.lambda_hat, c.support / 2)
    np.testing.assert_allclose(c.F_n, n * c.train_loss + c.lambda_hat * np.log(n), rtol=1e-12)
    for s, k in zip(c.support[:, 0], c.K_bits[:, 0], strict=True):
        assert k == enumerative_code_bits(13, int(s))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p": 9}, "p: must be an odd prime"),
        ({"p": 2}, "p: must be an odd prime"),
        ({"p": 98}, "p: must be an odd prime"),
        ({"f": 0.0}, "f: must lie in"),
        ({"f": 1.5}, "f: must lie in"),
        ({"f": 1e-6, "p": 31}, "f: training set would be empty"),
        ({"eta": 2.0}, "eta: must lie in"),
        ({"eta": -0.1}, "eta: must lie in"),
        ({"op": "%"}, "op: must be one of"),
        ({"schedule": "cosine"}, "schedule: must be one of"),
        ({"convention": "mine"}, "convention: must be prox or paper"),
        ({"steps": 0}, "steps: must be an integer"),
        ({"beta": -1.0}, "beta: must be >= 0"),
        ({"target": "noise"}, "target: must be one of"),
    ],
)
def test_bad_input_is_rejected(kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate([SFMConfig(**kwargs)])


def test_user_target_validation():
    with pytest.raises(InputError, match="target: must have length p = 7"):
        make_task(7, "+", 0.5, np.ones(5))
    with pytest.raises(InputError, match="non-finite"):
        make_task(7, "+", 0.5, np.array([1, 2, np.nan, 0, 0, 0, 0.0]))
    g = np.arange(7.0)
    t = make_task(7, "+", 0.5, g)
    np.testing.assert_array_equal(t.Y[2, 3], g[5])


def test_fourier_half_storage_roundtrip():
    basis = FourierBasis(11)
    V = random_hermitian(basis, np.random.default_rng(0))
    full = basis.to_full(V)
    np.testing.assert_array_equal(basis.from_full(full), V)
    assert np.max(basis.hermitian_error(V[None])) == 0.0
    np.testing.assert_array_equal(np.sum(basis.multiplicity), 121)


def test_run_result_trajectory_matches_curve_columns():
    """RunResult.trajectory(b) carries element b's curve columns and its events unchanged."""
    res = simulate(
        [SFMConfig(p=13, f=0.5, steps=40, log_every=7, beta=0.05, seed=s) for s in (0, 1)]
    )
    for b in range(2):
        tr = res.trajectory(b)
        col = res.curves.column(b)
        np.testing.assert_array_equal(tr.steps, col["step"])
        assert set(tr.series) == set(col) - {"step"}
        for name, values in tr.series.items():
            np.testing.assert_array_equal(values, col[name])
        ev = res.events[b]
        assert (tr.t_mem, tr.t_gen) == (ev.t_mem, ev.t_gen)
        assert tr.events["diverged_at"] == ev.diverged_at
        assert tr.events["last_step"] == ev.last_step
