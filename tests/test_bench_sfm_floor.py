"""benchmarks/bench_sfm_floor.py: the --quick smoke run end to end, its refusals, the fit, the target."""

from __future__ import annotations

import json

import pytest


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
    assert [per_p[p]["rader"] for p in ("31", "97")] == [False, True]
    for p, r in per_p.items():
        for key in (
            "step_seconds",
            "step_pocketfft_seconds",
            "prime_pair_seconds",
            "floor_pair_seconds",
        ):
            assert r[key] > 0, (p, key)
        assert r["step_over_prime_pair"] == pytest.approx(
            r["step_seconds"] / r["prime_pair_seconds"]
        )
        assert r["step_over_floor_pair"] == pytest.approx(
            r["step_seconds"] / r["floor_pair_seconds"]
        )
        assert r["speedup"] == pytest.approx(r["step_pocketfft_seconds"] / r["step_seconds"])
        assert all(len(v) == 2 for v in r["samples_seconds"].values())
        assert r["min_seconds"]["step"] == min(r["samples_seconds"]["step"])
        assert r["min_step_over_floor_pair"] == pytest.approx(
            r["min_seconds"]["step"] / r["min_seconds"]["b"]
        )
    # One prime >= 97 is no fit: the exponents say so instead of inventing a slope.
    assert result["exponents"]["fit_primes"] == [97]
    assert result["exponents"]["step_seconds"] is None
    tg = result["targets"]
    assert tg["worst_step_over_floor_pair"] == per_p["97"]["step_over_floor_pair"]
    assert tg["met"] == (tg["worst_step_over_floor_pair"] <= 2.0)
    sd = result["seeds"]
    assert (sd["p"], sd["seeds"]) == (97, 4)
    med = sd["median_seconds"]
    assert sd["two_processes_over_loop"] == pytest.approx(med["loop"] / med["procs2"])
    assert sd["best_two_core_over_loop"] == max(
        sd["two_workers_over_loop"], sd["two_processes_over_loop"]
    )
    assert len(sd["loadavg_1_5_15"]) == 3  # before, and after each of the 2 repetitions
    printed = capsys.readouterr().out
    assert "step/(b)" in printed and "2 processes" in printed


def test_quick_save_is_refused_before_running(bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench.main(["--quick", "--save", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--quick" in err[0]
    assert not (out / "sfm_floor.json").exists()


def test_exponent_fit_recovers_a_power_law(bench):
    table = {
        p: {k: 3e-9 * p**2.3 for k in ("step_seconds", "prime_pair_seconds")}
        | {k: 1e-9 * p**2.0 for k in ("floor_pair_seconds", "step_pocketfft_seconds")}
        for p in (31, 97, 211, 401)
    }
    table[31]["step_seconds"] = 1.0  # below FIT_FROM: must not enter the fit
    ex = bench.exponents(table)
    assert ex["fit_primes"] == [97, 211, 401]
    assert ex["step_seconds"] == pytest.approx(2.3)
    assert ex["floor_pair_seconds"] == pytest.approx(2.0)


def test_target_is_the_worst_ratio_from_p_97(bench):
    table = {31: {"step_over_floor_pair": 9.0}, 97: {"step_over_floor_pair": 1.9}}
    table[211] = {"step_over_floor_pair": 2.1}
    tg = bench.targets(table)
    assert tg["primes"] == [97, 211] and tg["worst_step_over_floor_pair"] == 2.1
    assert tg["met"] is False
    table[211]["step_over_floor_pair"] = 1.5
    assert bench.targets(table)["met"] is True
