"""benchmarks/bench_sfm_floor.py: the --quick smoke run end to end, its refusals, Rader and the fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.fft as sfft


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_sfm_floor")


def test_quick_run_writes_every_field(bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    result = json.loads((out / "sfm_floor.json").read_text())
    assert {"sfm_floor.png", "sfm_floor.svg"} <= {f.name for f in out.iterdir()}
    meta = result["metadata"]
    assert {"numpy", "scipy"} <= set(meta["versions"])
    assert meta["config"]["repetitions"] == 2 and meta["config"]["quick"] is True
    per_p = result["per_p"]
    assert sorted(int(p) for p in per_p) == [31, 97]
    for p, r in per_p.items():
        for key in (
            "step_seconds",
            "prime_pair_seconds",
            "floor_pair_seconds",
            "rader_pair_seconds",
        ):
            assert r[key] > 0, (p, key)
        assert r["step_over_prime_pair"] == pytest.approx(
            r["step_seconds"] / r["prime_pair_seconds"]
        )
        assert r["step_over_floor_pair"] == pytest.approx(
            r["step_seconds"] / r["floor_pair_seconds"]
        )
        assert all(len(v) == 2 for v in r["samples_seconds"].values())
        assert r["min_seconds"]["step"] == min(r["samples_seconds"]["step"])
        assert r["min_step_over_floor_pair"] == pytest.approx(
            r["min_seconds"]["step"] / r["min_seconds"]["b"]
        )
        assert r["rader_max_abs_error"] < 1e-12
    # One prime >= 97 is no fit: the exponents say so instead of inventing a slope.
    assert result["exponents"]["fit_primes"] == [97]
    assert result["exponents"]["step_seconds"] is None
    assert "step/(a)" in capsys.readouterr().out


def test_quick_save_is_refused_before_running(bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench.main(["--quick", "--save", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--quick" in err[0]
    assert not (out / "sfm_floor.json").exists()


@pytest.mark.parametrize("p", [3, 5, 7, 31, 97])
def test_rader_matches_scipy(bench, p):
    rng = np.random.default_rng(p)
    rd = bench.Rader(p)
    R = rng.normal(size=(3, p, p))
    V = sfft.rfft2(R, axes=(-2, -1), norm="ortho")
    np.testing.assert_allclose(rd.rfft2(R), V, atol=1e-12)
    np.testing.assert_allclose(rd.irfft2(V), R, atol=1e-12)
    # Elements of a batch stay apart: each equals its own transform.
    np.testing.assert_allclose(rd.rfft2(R[1:2]), V[1:2], atol=1e-12)


def test_exponent_fit_recovers_a_power_law(bench):
    table = {
        p: {k: 3e-9 * p**2.3 for k in ("step_seconds", "prime_pair_seconds")}
        | {k: 1e-9 * p**2.0 for k in ("floor_pair_seconds", "rader_pair_seconds")}
        for p in (31, 97, 211, 401)
    }
    table[31]["step_seconds"] = 1.0  # below FIT_FROM: must not enter the fit
    ex = bench.exponents(table)
    assert ex["fit_primes"] == [97, 211, 401]
    assert ex["step_seconds"] == pytest.approx(2.3)
    assert ex["floor_pair_seconds"] == pytest.approx(2.0)
