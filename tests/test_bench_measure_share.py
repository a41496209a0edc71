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
    assert bench.main(["--quick", "--llc-batch", "8", "--out", str(out)]) == 0
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


def test_quick_llc_batch_variant(quick_result):
    """--llc-batch times the same main run with minibatch SGLD and reports its LLC verdict."""
    out, res = quick_result
    v = res["llc_batch_variants"]["llc_batch_8"]
    assert v["llc_options"]["batch_size"] == 8
    assert "batch_size" not in res["config"]["measure_options"]["llc"]  # the full-batch run
    assert (out / "run-llc-batch-8" / "metrics.csv").is_file()
    assert v["share"] == pytest.approx(v["measures_s"] / v["wall_s"])
    assert v["llc_call_speedup"] > 0 and v["target_met"] == (v["share"] <= 0.25)
    for run in (v, res["with_measures"]):
        lv = run["llc_verdict"]
        assert set(lv["llc"]) == {"0", "1", "20"}
        # 20 steps neither memorise nor generalise: no statistic, and the reason says why
        assert lv["statistic"] is None and lv["reason"]


def test_llc_verdict_reads_the_trajectory(bench):
    rows = [{"step": s, "llc": y} for s, y in [(0, 1.0), (10, 8.0), (50, 10.0), (200, 4.0)]]
    rows.insert(1, {"step": 5})  # a step without an LLC (an eval-only row)
    lv = bench.llc_verdict(rows, {"t_mem": 10, "t_gen": 100}, 47)
    assert lv["statistic"] == pytest.approx((10.0 - 4.0) / 10.0) and lv["holds"] is True
    assert lv["llc"] == {"0": 1.0, "10": 8.0, "50": 10.0, "200": 4.0}


def test_bad_llc_batch_is_refused(bench, tmp_path, capsys):
    assert bench.main(["--quick", "--llc-batch", "0", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--llc-batch" in err[0]
