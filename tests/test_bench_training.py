"""benchmarks/bench_training.py: the --quick smoke run, its multiply-add count and its refusals."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformer_lens")


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_training")


@pytest.fixture(scope="module")
def quick(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("training") / "run"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "bench_training.json").read_text(encoding="utf-8"))


def test_quick_writes_every_field(quick):
    out, res = quick
    assert (out / "bench_training.png").is_file() and (out / "bench_training.svg").is_file()
    assert res["metadata"]["transformer_lens_version"].startswith("3.")
    assert res["metadata"]["occam_version"] and res["metadata"]["torch_version"]
    (row,) = res["rows"]
    assert row["threads"] == 1 and row["n_train"] == int(0.3 * 23**2)
    # the converted HookedTransformer computes occam's loss to float32 round-off
    assert res["all_losses_agree"] and row["losses_agree"]
    assert row["first_step_loss"]["abs_diff"] <= row["loss_tolerance"] < 1e-2
    assert row["first_step_loss"]["occam"] == pytest.approx(3.18, abs=0.2)  # ~log(23) at init
    assert row["speedup_vs_tl"] == pytest.approx(row["occam_steps_per_s"] / row["tl_steps_per_s"])
    for k in ("model", "executed"):
        g = row["gflop_per_step"][k] * row["occam_steps_per_s"]
        assert row["occam_gflops"][k] == pytest.approx(g)
        assert row["fraction_of_peak"][k] == pytest.approx(g / row["matmul_peak_gflops"])
    assert row["targets"]["speedup_ge_3x_tl"] == (row["speedup_vs_tl"] >= 3.0)


def test_multiply_add_count_by_hand(bench):
    """The definitions §4.2 model on the nanda task, counted term by term independently."""
    from transformer_check.model import ModelConfig

    m = ModelConfig(vocab_size=114, seq_len=3)
    B = 3830
    full = bench.step_macs(m, B, tables=False)
    # per input: K and V at 3 positions (2*3*128*128), the last query (128*128), its scores and
    # mix (2*3*128), W_O (128*128), the MLP (2*128*512) and the unembedding (128*113)
    per_input = 2 * 3 * 128 * 128 + 128 * 128 + 2 * 3 * 128 + 128 * 128 + 2 * 128 * 512 + 128 * 113
    assert sum(full.values()) == B * per_input
    assert bench.step_gflop(full) == pytest.approx(6 * B * per_input / 1e9)
    assert bench.step_gflop(full) == pytest.approx(6.38, abs=0.01)  # the issue's ~28 GFLOP/s / 4.5
    tab = bench.step_macs(m, B, tables=True)
    drop = 2 * 3 * 128 * 128 + 128 * 128
    assert sum(full.values()) - sum(tab.values()) == B * drop - 3 * 114 * 128 * 384


def test_tolerance_scales_with_the_logits(bench):
    from transformer_check.model import ModelConfig

    m = ModelConfig(vocab_size=114, seq_len=3)
    t1 = bench.loss_tolerance(m, torch.ones(2, 2))
    t2 = bench.loss_tolerance(m, 2 * torch.ones(2, 2))
    n = 3 * 128 + 32 + 3 + 128 + 512
    assert t1 == pytest.approx(5 * n * 2.0**-24)
    assert t2 - t1 == pytest.approx(4 * n * 2.0**-24)


def test_refusals_are_one_line(bench, tmp_path, capsys, no_cuda):
    assert bench.main(["--quick", "--save", "--out", str(tmp_path / "a")]) == 2
    assert bench.main(["--device", "cuda", "--out", str(tmp_path / "b")]) == 2
    assert bench.main(["--steps", "0", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3, err
    assert "CUDA is not available" in err[1]
    assert not (tmp_path / "a").exists()
