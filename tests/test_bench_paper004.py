"""benchmarks/bench_paper004.py on the CPU: its refusals, its plan, and the --tiny smoke run end to end.

The full setting needs a GPU; here the same code path runs on the smoke model (``--tiny``), and
what it writes is checked against the training loop's own record and an uninterrupted run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.base.runs import RUNNING_FILE
from transformer_check.data import make_dataset
from transformer_check.measures import ALL_MEASURES, build_measures
from transformer_check.memory import estimate_memory
from transformer_check.model import Transformer
from transformer_check.presets import preset
from transformer_check.train import train_seeds

H200_BYTES = 139 * 2**30  # the GPU the defaults are sized for


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_paper004")


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# ---------------------------------------------------------------------------------------------
# refusals: one line, exit code 2, nothing written


def test_refuses_without_cuda_and_leaves_nothing(bench, no_cuda, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default run folder would be under ./runs/
    for argv in ([], ["--out", str(tmp_path / "given")], ["--steps", "100", "--seeds", "1"]):
        assert bench.main(argv) == 2
        cap = capsys.readouterr()
        line = _one_line(cap.err)
        assert line.startswith("bench_paper004: needs a CUDA device")
        assert "torch.cuda.is_available() is False" in line and "GPU machine" in line
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


def test_refusal_rules(bench):
    def ns(**kw):
        return argparse.Namespace(**{"device": "cuda", "tiny": False, "save": False, **kw})

    assert bench.refusal(ns(), cuda_available=True) is None
    assert bench.refusal(ns(save=True), cuda_available=True) is None  # the real run may save
    assert bench.refusal(ns(tiny=True), cuda_available=True) is None  # GPU smoke run
    assert "--save" in bench.refusal(ns(tiny=True, save=True), cuda_available=True)
    assert "CUDA" in bench.refusal(ns(tiny=True), cuda_available=False)
    assert bench.refusal(ns(device="cpu", tiny=True), cuda_available=False) is None
    assert "--tiny" in bench.refusal(ns(device="cpu"), cuda_available=True)


def test_bad_flags_are_one_line(bench, capsys):
    for argv in (["--measures", "nope"], ["--steps", "0"], ["--time-budget", "-1"]):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------------------------
# the plan (pure functions)


def test_measure_steps_examples(bench):
    assert bench.measure_steps(1000) == (100, 1000)
    assert bench.measure_steps(100_000) == bench.PAPER_CHECKPOINTS
    assert bench.measure_steps(5000) == (100, 1000, 5000)
    assert bench.measure_steps(50) == (50,)
    assert bench.measure_steps(20, (10, 5, 10, 40)) == (5, 10, 20)
    with pytest.raises(InputError, match="steps"):
        bench.measure_steps(0)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(1, 200_000),
    checkpoints=st.lists(st.integers(1, 300_000), max_size=6),
)
def test_measure_steps_invariants(bench, steps, checkpoints):
    got = bench.measure_steps(steps, checkpoints)
    assert list(got) == sorted(set(got))  # increasing, each once
    assert got[-1] == steps and all(0 < s <= steps for s in got)
    assert set(got) == {c for c in checkpoints if c <= steps} | {steps}


def test_resolve_measures(bench):
    chosen, skipped = bench.resolve_measures(None)
    assert "compression" not in chosen and set(skipped) == {"compression"}
    assert set(chosen) | set(skipped) == set(ALL_MEASURES)  # ring too, when registered
    assert bench.resolve_measures(["all"]) == (tuple(ALL_MEASURES), {})
    chosen, skipped = bench.resolve_measures(["llc", "spectral"])
    assert chosen == ("spectral", "llc")  # registry order
    assert "compression" in skipped and skipped["fourier"].startswith("not requested")
    with pytest.raises(InputError, match="--measures: unknown nope"):
        bench.resolve_measures(["nope"])
    # a measure registered later (the ring one) is picked up without an edit here
    chosen, _ = bench.resolve_measures(None, (*ALL_MEASURES, "later"))
    assert chosen[-1] == "later"


def test_default_is_the_paper004_preset(bench):
    cfg = bench.paper_config("cuda", bench.DEFAULT_STEPS)
    ref = preset("paper004")
    assert cfg.model == ref.model and cfg.task == ref.task
    assert (cfg.lr, cfg.warmup, cfg.amp, cfg.weight_decay, cfg.betas) == (
        1e-4,
        1000,
        True,
        ref.weight_decay,
        ref.betas,
    )
    assert (cfg.model.n_layers, cfg.model.d_model, cfg.model.n_heads, cfg.model.d_head) == (
        48,
        512,
        8,
        64,
    )
    assert (cfg.model.d_mlp, cfg.task.p, cfg.task.fmt) == (2048, 97, "a op b =")
    # only what the benchmark schedules itself differs from the preset
    same = dataclasses.replace(
        cfg,
        steps=ref.steps,
        device=ref.device,
        measures=ref.measures,
        eval_points=ref.eval_points,
        measure_points=ref.measure_points,
        checkpoint_every=ref.checkpoint_every,
        snapshots=ref.snapshots,
    )
    assert same == ref
    # the library's lower-bound estimate for the default 2 stacked seeds fits one H200
    est = estimate_memory(cfg, bench.DEFAULT_SEEDS)
    assert est.n_params == 151_319_552
    assert 4 * 4 * est.n_params * 2 <= est.total < H200_BYTES


def test_measure_model_records_a_failing_measure(bench):
    cfg = bench.paper_config("cpu", 1, tiny=True)
    ds = make_dataset(cfg.task)
    model = Transformer.from_seed(cfg.model_config(ds), 0)

    def boom(model, ds):
        raise ValueError("no\nsecond line")

    fns = {"boom": boom, **build_measures(("spectral",))}
    got = bench.measure_model(model, ds, fns, torch.device("cpu"))
    assert got.errors == {"boom": "ValueError: no"}
    assert set(got.seconds) == {"basic", "boom", "spectral"}
    assert all(s >= 0 for s in got.seconds.values())
    assert "train_loss" in got.values and any(k.startswith("H_svd") for k in got.values)


# ---------------------------------------------------------------------------------------------
# the smoke run, end to end on the CPU


def _numbers(values: dict) -> list[float]:
    return [v for v in values.values() if not isinstance(v, str)]


def test_tiny_smoke_run_end_to_end(bench, no_cuda, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--tiny", "--device", "cpu", "--steps", "10", "--checkpoints", "5", "--seeds", "2"]
    argv += ["--measures", "all", "--out", str(out)]
    for opt in ("llc.n_steps=4", "llc.n_burnin=0", "compression.budget=4"):  # fast smoke
        argv += ["--measure-option", opt]
    assert bench.main(argv) == 0
    summary = _one_line(capsys.readouterr().out)
    assert summary.startswith("finished: 10 of 10 steps on cpu")
    rep = json.loads((out / bench.RESULT).read_text())
    assert rep["status"] == "finished" and rep["smoke"] is True and rep["stopped"] is None
    assert rep["steps_done"] == 10 and rep["measured_steps"] == [5, 10]
    assert rep["measure_steps"] == [5, 10] and rep["seeds"] == [0, 1]
    assert rep["measures"] == list(ALL_MEASURES) and rep["skipped_measures"] == {}
    assert ("ring" in rep["measures"]) == ("ring" in ALL_MEASURES)
    assert rep["device"]["name"] == "cpu" and rep["device"]["torch"] == torch.__version__
    assert rep["device"]["bf16_autocast"] is False  # autocast is CUDA-only
    assert rep["peak_cuda_memory_bytes"] == {"training": None, "measures": None}
    assert rep["measure_errors"] == [] and rep["train_config"]["model"]["n_layers"] == 3
    for key in ("git_hash", "git_dirty", "versions", "timestamp_utc", "command_line"):
        assert key in rep["metadata"]

    # every measure at every checkpoint for every seed, each timed, all values finite
    for rec in rep["checkpoints"]:
        assert set(rec["seeds"]) == {"0", "1"}
        for seed, values in rec["seeds"].items():
            assert set(rec["seconds"][seed]) == {"basic", *ALL_MEASURES}
            assert all(math.isfinite(v) for v in _numbers(values)), values
            assert {"train_loss", "test_acc", "bdm_bits", "llc"} <= set(values)
    per = rep["timing"]["per_measure_s"]
    assert set(per) == {"basic", *ALL_MEASURES}
    assert all(p["calls"] == 2 * 2 and 0 <= p["mean_s"] <= p["max_s"] for p in per.values())

    # the clocks nest: updates within the training calls, training and measures within the run
    t = rep["timing"]
    assert 0 < t["train_update_s"] <= t["train_segments_wall_s"]
    assert t["train_segments_wall_s"] + t["measure_wall_s"] <= t["total_wall_s"]
    assert t["train_steps_per_s"] >= t["steps_per_s_with_setup_and_io"] >= t["steps_per_s_overall"]
    assert t["train_seed_steps_per_s"] == pytest.approx(2 * t["train_steps_per_s"], rel=1e-12)
    assert [(s["start"], s["stop"]) for s in rep["segments"]] == [(0, 5), (5, 10)]

    # the step-10 values are those of the model the training loop itself logged at step 10
    for seed in ("0", "1"):
        final = json.loads((out / "train" / f"seed_{seed}" / "summary.json").read_text())["final"]
        assert final["step"] == 10
        for k in ("train_loss", "test_loss", "train_acc", "test_acc", "l2_norm"):
            assert rep["checkpoints"][-1]["seeds"][seed][k] == pytest.approx(final[k], rel=1e-12)
    # ... and training in two segments (resumed at step 5) is training straight through
    cfg = bench.paper_config("cpu", 10, tiny=True)
    straight = train_seeds(cfg, [0, 1], tmp_path / "straight", progress=False, batched=True)
    for seed, res in zip(("0", "1"), straight, strict=True):
        got = rep["checkpoints"][-1]["seeds"][seed]["train_loss"]
        # same vmapped float32 computation resumed bit-for-bit (tests/test_transformer_resume.py)
        assert got == pytest.approx(res.rows[-1]["train_loss"], rel=1e-6)

    assert not (out / RUNNING_FILE).exists()
    assert not any((out / "train").glob("seed_*/checkpoints"))  # deleted by default


def test_time_budget_stops_at_the_first_checkpoint(bench, no_cuda, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--tiny", "--device", "cpu", "--steps", "10", "--checkpoints", "5", "--seeds", "1"]
    argv += ["--measures", "spectral,fourier", "--time-budget", "1e-6", "--keep-checkpoints"]
    assert bench.main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("stopped_by_time_budget: 5 of 10 steps")
    rep = json.loads((out / bench.RESULT).read_text())
    assert rep["status"] == "stopped_by_time_budget" and rep["steps_done"] == 5
    assert rep["measured_steps"] == [5] and rep["measure_steps"] == [5, 10]
    assert rep["stopped"]["next_step"] == 10 and rep["stopped"]["elapsed_s"] >= 1e-6
    assert rep["measures"] == ["spectral", "fourier"]
    assert "compression" in rep["skipped_measures"]
    assert (out / "train" / "seed_0" / "checkpoints" / "last.safetensors").exists()
