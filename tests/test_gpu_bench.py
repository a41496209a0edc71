"""benchmarks/gpu_bench.py on the CPU: its refusals, and the --device cpu --tiny smoke run end to end.

The benchmark is for a GPU; here the same code path runs on the smoke model, and what it writes is
checked field by field (no test needs CUDA).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from transformer_check.crosscheck.config import CrosscheckConfig, train_config

SMOKE = ["--device", "cpu", "--tiny", "--steps", "6", "--vmap-seeds", "3", "--grok-every", "4"]
SMOKE += ["--measure-repeats", "1"]
for _opt in ("llc.n_steps=4", "llc.n_burnin=0", "compression.budget=4"):  # fast smoke
    SMOKE += ["--measure-option", _opt]


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("gpu_bench")


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_refuses_without_cuda_and_leaves_nothing(bench, no_cuda, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default run folder would be under ./runs/
    for argv in ([], ["--out", str(tmp_path / "given")], ["--steps", "10", "--tiny"]):
        assert bench.main(argv) == 2
        cap = capsys.readouterr()
        line = _one_line(cap.err)
        assert line.startswith("gpu_bench: needs a CUDA device")
        assert "torch.cuda.is_available() is False" in line and "--device cpu --tiny" in line
        assert cap.out == ""
        assert list(tmp_path.iterdir()) == []


def test_cpu_needs_tiny_and_save_refuses_smoke(bench, no_cuda, tmp_path, capsys):
    results = {p.name: p.stat().st_mtime_ns for p in bench.RESULTS.iterdir()}
    cases = {
        ("--device", "cpu"): "add --tiny",
        ("--tiny", "--device", "cpu", "--save"): "--save: a --tiny run is a smoke test",
    }
    for argv, msg in cases.items():
        assert bench.main([*argv, "--out", str(tmp_path / "x")]) == 2
        assert msg in _one_line(capsys.readouterr().err)
        assert not (tmp_path / "x").exists()
    assert {p.name: p.stat().st_mtime_ns for p in bench.RESULTS.iterdir()} == results


def test_bad_flags_are_one_line(bench, capsys):
    for argv in (["--steps", "0"], ["--vmap-seeds", "1"], ["--grok-wall-cap", "-1"]):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        _one_line(capsys.readouterr().err)


def test_config_and_measures_are_the_nanda_preset_and_the_crosscheck(bench):
    cfg = bench.nanda_config("cuda", 100, amp=True)
    assert (cfg.task.p, cfg.task.frac, cfg.lr, cfg.weight_decay) == (113, 0.3, 1e-3, 1.0)
    assert cfg.amp and cfg.measures == () and cfg.eval_points == 0 and not cfg.snapshots
    names, options = bench.crosscheck_measures(cfg)
    ref = train_config(CrosscheckConfig(), cfg.weight_decay, with_measures=True)
    assert names == ref.measures and "llc" in names and "compression" in names
    assert options == ref.measure_option_map()


def test_speedups(bench):
    cases = [
        {"seeds": 1, "amp": False, "seed_steps_per_s": 100.0},
        {"seeds": 1, "amp": True, "seed_steps_per_s": 150.0},
        {"seeds": 8, "amp": False, "seed_steps_per_s": 400.0},
        {"seeds": 8, "amp": True, "seed_steps_per_s": None},
    ]
    got = bench.speedups(cases)
    assert got["bf16_over_fp32_1_seeds"] == pytest.approx(1.5)
    assert got["bf16_over_fp32_8_seeds"] is None  # a missing rate gives no ratio, not 0
    assert got["vmap_8_over_1_seed_fp32"] == pytest.approx(4.0)
    assert got["vmap_8_over_1_seed_bf16"] is None


def test_grok_run_stops_at_t_gen_or_the_wall_cap(bench, tmp_path, monkeypatch):
    cfg = bench.nanda_config("cpu", 12, tiny=True)
    rec, model, ds = bench.time_to_grok(cfg, tmp_path / "cap", every=4, wall_cap=1e-9)
    assert rec["status"] == "wall_cap" and rec["steps_done"] == 4 and len(rec["checks"]) == 1
    assert rec["t_gen_upper"] is None and rec["update_s"] > 0
    monkeypatch.setattr(bench, "GEN_TEST_ACC", 0.0)  # any model "generalises": stop at once
    rec, _, _ = bench.time_to_grok(cfg, tmp_path / "gen", every=4, wall_cap=None)
    assert rec["status"] == "grokked" and (rec["t_gen_lower"], rec["t_gen_upper"]) == (0, 4)
    monkeypatch.setattr(bench, "GEN_TEST_ACC", 2.0)  # none does: the step cap ends it
    rec, _, _ = bench.time_to_grok(cfg, tmp_path / "steps", every=5, wall_cap=None)
    assert rec["status"] == "step_cap" and [c["step"] for c in rec["checks"]] == [5, 10, 12]


def test_tiny_smoke_run_end_to_end(bench, no_cuda, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench.main([*SMOKE, "--grok-steps", "8", "--out", str(out)]) == 0
    assert _one_line(capsys.readouterr().out).startswith("finished on cpu: 1xfp32 ")
    rep = json.loads((out / bench.RESULT).read_text())
    assert rep["status"] == "finished" and rep["smoke"] is True
    dev = rep["device"]
    assert dev["name"] == "cpu" and dev["torch"] == torch.__version__
    assert dev["cuda"] is None and dev["bf16_autocast"] is False and dev["cudnn"] is None
    assert rep["peak_cuda_memory_bytes"] is None
    assert rep["train_config"]["task"]["p"] == 23 and rep["train_config"]["preset"] == "nanda"

    cases = rep["throughput"]
    assert [(c["seeds"], c["amp"]) for c in cases] == [(1, False), (1, True), (3, False), (3, True)]
    for c in cases:
        assert c["steps"] == 6 and c["vmapped"] == (c["seeds"] > 1)
        assert c["bf16_autocast"] is False  # autocast is CUDA-only
        assert 0 < c["update_s"] <= c["wall_s"]
        assert c["steps_per_s"] == pytest.approx(6 / c["update_s"])
        assert c["seed_steps_per_s"] == pytest.approx(c["seeds"] * c["steps_per_s"])
        assert c["steps_per_s"] >= c["steps_per_s_with_setup_and_io"]
    assert set(rep["speedups"]) == {
        "bf16_over_fp32_1_seeds",
        "bf16_over_fp32_3_seeds",
        "vmap_3_over_1_seed_fp32",
        "vmap_3_over_1_seed_bf16",
    }
    assert all(v > 0 for v in rep["speedups"].values())

    grok = rep["grok"]
    assert grok["step_cap"] == 8 and grok["check_every"] == 4
    assert [c["step"] for c in grok["checks"]] == [4, 8][: len(grok["checks"])]
    assert grok["status"] in ("grokked", "step_cap", "wall_cap")
    for c in grok["checks"]:
        assert 0 <= c["test_acc"] <= 1 and math.isfinite(c["train_loss"])

    meas = rep["measures"]
    names, _ = bench.crosscheck_measures(bench.nanda_config("cpu", 6, tiny=True))
    assert meas["names"] == list(names) and meas["errors"] == [] and meas["repeats"] == 1
    assert set(meas["per_measure"]) == {"basic", *names}
    assert all(len(p["calls_s"]) == 1 and p["best_s"] >= 0 for p in meas["per_measure"].values())
    assert meas["options"]["llc"]["n_steps"] == 4  # --measure-option after the crosscheck's
    assert meas["total_best_s"] == pytest.approx(
        sum(p["best_s"] for p in meas["per_measure"].values())
    )
    for key in ("git_hash", "versions", "timestamp_utc", "command_line"):
        assert key in rep["metadata"]
    assert not any((out / "train").glob("seeds*"))  # throughput scratch folders are removed
