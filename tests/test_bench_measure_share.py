"""benchmarks/bench_measure_share.py: the --quick smoke run (the crosscheck's quick main run, 20
steps) and its refusal."""

from __future__ import annotations

import csv
import json

import pytest


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_measure_share")


@pytest.fixture(scope="module")
def quick_result(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("measure_share") / "run"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "measure_share.json").read_text(encoding="utf-8"))


def test_quick_times_every_crosscheck_measure(bench, quick_result):
    """Every measure of the crosscheck's main run is timed at every measure step."""
    from transformer_check.crosscheck.config import make_config, measure_options

    out, res = quick_result
    assert (out / "measure_share.png").is_file() and (out / "measure_share.svg").is_file()
    cc = make_config("quick")
    expected = [*cc.train.measures, *measure_options(cc)]
    assert res["config"]["measures"] == expected
    per = res["with_measures"]["per_measure"]
    assert list(per) == expected
    rows = list(csv.DictReader((out / "run-with-measures" / "metrics.csv").open()))
    measured = [r for r in rows if r.get("H_svd_mean")]
    assert len(measured) == 3  # steps 0, 1 and 20 of log_schedule(20, 2)
    for name, v in per.items():
        assert v["calls"] == len(measured), name
        assert 0 < v["per_call_median_s"] <= v["per_call_max_s"] <= v["total_s"]
        assert v["share_of_wall"] == pytest.approx(v["total_s"] / res["with_measures"]["wall_s"])


def test_quick_share_is_measure_time_over_wall_time(quick_result):
    _, res = quick_result
    w, r = res["with_measures"], res["ratios"]
    assert w["measures_s"] == pytest.approx(sum(v["total_s"] for v in w["per_measure"].values()))
    assert r["share"] == pytest.approx(w["measures_s"] / w["wall_s"])
    assert 0 < r["share"] < 1 and 0 <= r["llc_share"] <= r["share"]
    assert r["share_without_llc"] == pytest.approx(r["share"] - r["llc_share"])
    assert w["wall_s"] == pytest.approx(w["train_steps_s"] + w["measures_s"] + w["other_s"])
    assert res["target_met"] == (r["share"] <= 0.25)
    assert r["wall_with_over_without"] == pytest.approx(
        w["wall_s"] / res["without_measures"]["wall_s"]
    )
    assert res["metadata"]["occam_version"] and res["metadata"]["versions"]


def test_measures_leave_training_untouched(quick_result):
    """The run with every measure trains exactly as the run without (same losses at every step
    both logged): the measures only read the model."""
    out, _ = quick_result

    def losses(folder):
        rows = csv.DictReader((out / folder / "metrics.csv").open())
        return {r["step"]: (r["train_loss"], r["test_loss"]) for r in rows}

    a, b = losses("run-with-measures"), losses("run-without-measures")
    common = set(a) & set(b)
    assert {"0", "20"} <= common
    assert all(a[s] == b[s] for s in common)


def test_quick_save_is_refused(bench, tmp_path, capsys):
    assert bench.main(["--quick", "--save", "--out", str(tmp_path / "a")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
