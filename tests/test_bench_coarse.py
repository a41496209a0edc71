"""benchmarks/bench_coarse.py: the --quick smoke run on examples/runs/quick-seed0 and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("bayes_opt")


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_coarse")


@pytest.fixture(scope="module")
def quick_result(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("coarse") / "run"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "coarse.json").read_text(encoding="utf-8"))


def test_quick_writes_every_field(quick_result):
    out, res = quick_result
    assert (out / "coarse.png").is_file() and (out / "coarse.svg").is_file()
    assert res["config"]["grid"] == 4 and res["config"]["eps"] == [0.1, 1.0]
    assert res["metadata"]["bayes_opt_version"] and res["metadata"]["versions"]
    assert [r["eps"] for r in res["rows"]] == [0.1, 1.0]
    for r in res["rows"]:
        assert r["step"] == 3000
        assert r["bo"]["evaluations"] == 2 + 2 + 3  # two probes, init points, iterations
        assert r["grid"]["evaluations"] == 16
        assert r["occam"]["evaluations"] <= 24
        # the benchmark's own probe loop is coarse_grain's search, size for size
        assert r["occam"]["matches_coarse_grain"] is True
        assert r["occam"]["repeats_agree"] and r["bo"]["repeats_agree"]
        assert 0 < r["ratios"]["occam_over_best_known_bytes"] <= 1 + 1e-12
        assert r["ratios"]["occam_over_best_known_bytes"] >= r["ratios"]["occam_over_grid_bytes"]
        for key in ("occam", "bo", "grid"):
            assert 0 < min(r[key]["bytes"], r["naive_bytes"]) <= r["naive_bytes"]
            assert r[key].get("seconds", r[key].get("seconds_all_eps", 0)) > 0
        rat = r["ratios"]
        naive = r["naive_bytes"]
        assert rat["occam_over_grid_bytes"] == pytest.approx(
            min(r["occam"]["bytes"], naive) / min(r["grid"]["bytes"], naive)
        )
        assert rat["occam_over_bo_seconds"] == pytest.approx(
            r["occam"]["seconds"] / r["bo"]["seconds_median_over_seeds"]
        )
        assert r["targets"]["size_within_5pct_of_grid"] == (rat["occam_over_grid_bytes"] <= 1.05)
        assert set(r["targets"]) == set(res["all_targets_met"])


def test_a_larger_eps_never_needs_more_bytes_on_the_grid(quick_result):
    _, res = quick_result
    small, large = res["rows"]
    assert large["grid"]["bytes"] <= small["grid"]["bytes"]
    assert large["grid"]["accepted"] >= small["grid"]["accepted"]


def test_one_sided_rule(bench):
    assert bench.accepts(5.0, 1.0, 0.1, one_sided=False) is False
    assert bench.accepts(0.5, 1.0, 0.1, one_sided=False) is False
    assert bench.accepts(0.5, 1.0, 0.1, one_sided=True) is True  # a lower loss always passes
    assert bench.accepts(1.05, 1.0, 0.1, one_sided=True) is True


def test_refusals_are_one_line(bench, tmp_path, capsys):
    assert bench.main(["--quick", "--save", "--out", str(tmp_path / "a")]) == 2
    assert (
        bench.main(
            [
                "--eps",
                "0",
                "--run",
                str(ROOT / "examples/runs/quick-seed0"),
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert bench.main(["--run", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3, err
    assert not (tmp_path / "a").exists()
