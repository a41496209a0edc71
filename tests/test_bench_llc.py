"""benchmarks/bench_llc.py: the --quick smoke run on one RRR case and the checkpoint, its refusals."""

from __future__ import annotations

import json
import math

import pytest


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_llc")


@pytest.fixture(scope="module")
def quick_result(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("llc") / "run"
    assert bench.main(["--quick", "--cases", "1", "--out", str(out)]) == 0
    return out, json.loads((out / "bench_llc.json").read_text(encoding="utf-8"))


def test_quick_writes_every_field(bench, quick_result):
    out, res = quick_result
    assert (out / "bench_llc.png").is_file() and (out / "bench_llc.svg").is_file()
    (row,) = res["cases"]
    assert row["rlct"] == 4.0 and row["case"] == {"M": 3, "N": 3, "H": 3, "r": 1}
    assert math.isfinite(row["occam"]["llc"]) and row["occam"]["se"] > 0
    assert res["summary"]["torch_threads"] == 1
    ck = res["checkpoint"]
    assert ck["n"] == 883 and ck["checkpoint"].endswith("step_0003000")
    assert math.isfinite(ck["occam"]["llc"]) and ck["occam"]["se"] > 0
    # the training-time measure's stated budget: chains x (burn-in + draws) gradients
    mc = ck["measure_call"]
    assert mc["gradient_evaluations"] == 2 * (2 + 6) and mc["vectorised_steps"] == 8
    if bench.have_devinterp():
        assert "devinterp" in row and row["speed_ratio_devinterp_over_occam"] > 0
        assert isinstance(ck["agree_within_3_se"], bool)
        assert res["summary"]["devinterp_version"] == "1.3.2"


def test_partial_save_is_refused(bench, tmp_path):
    assert bench.main(["--cases", "1", "--save", "--out", str(tmp_path / "r")]) == 2
