"""benchmarks/bench_sweep_scaling.py: its Amdahl fit and overhead arithmetic, its refusals, and the
--quick smoke run end to end (both sweeps on a LocalCluster of 1 and 2 workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(import_benchmark):
    return import_benchmark("bench_sweep_scaling")


def test_amdahl_examples(bench):
    a = bench.amdahl(10.0, 5.5, n_points=4, workers=(2, 16))
    assert a["serial_s"] == pytest.approx(1.0) and a["divisible_s"] == pytest.approx(9.0)
    assert a["serial_fraction"] == pytest.approx(0.1) and a["speedup_limit"] == pytest.approx(10)
    assert a["this_grid"]["2"]["wall_s"] == pytest.approx(5.5)  # the fit goes through T(2)
    # 16 workers on 4 points: only 4 are busy
    assert a["this_grid"]["16"]["wall_s"] == pytest.approx(1 + 9 / 4)
    big = a["grid_of_4_points_per_worker"]["16"]
    assert big["points"] == 64
    assert big["speedup"] == pytest.approx((1 + 9 * 16) / (1 + 9))
    # no speed-up at all: everything is serial
    flat = bench.amdahl(4.0, 4.0, n_points=8, workers=(64,))
    assert flat["divisible_s"] == 0 and flat["this_grid"]["64"]["speedup"] == pytest.approx(1)


@settings(max_examples=60, deadline=None)
@given(t1=st.floats(1.0, 1e4), ratio=st.floats(1.0, 2.0), m=st.integers(2, 100))
def test_amdahl_invariants(bench, t1, ratio, m):
    a = bench.amdahl(t1, t1 / ratio, m, (16, 64))
    assert a["serial_s"] >= 0 and a["serial_s"] + a["divisible_s"] == pytest.approx(t1)
    s16, s64 = (a["this_grid"][n]["speedup"] for n in ("16", "64"))
    assert 1 - 1e-9 <= s16 <= s64 + 1e-9 <= min(64, m) + 1e-6  # more workers never slower
    assert s64 <= a["speedup_limit"] + 1e-6


def test_scaling_overhead(bench):
    runs = {
        1: {"wall_s": 20.0, "n_points": 4},
        2: {"wall_s": 11.0, "n_points": 4},
    }
    got = bench.scaling(runs, {1: [4.0] * 4, 2: [4.5] * 4})
    assert got["speedup_2_over_1"] == pytest.approx(20 / 11) and got["meets_target"] is True
    assert got["runs"]["1"]["overhead_per_point_s"] == pytest.approx((20 - 16) / 4)
    assert got["runs"]["2"]["compute_sum_s"] == pytest.approx(18.0)
    assert got["runs"]["2"]["idle_worker_s_per_point"] == pytest.approx((22 - 18) / 4)
    slow = bench.scaling({1: runs[1], 2: {"wall_s": 15.0, "n_points": 4}}, {1: [4] * 4, 2: [4] * 4})
    assert slow["meets_target"] is False
    assert got["sweep_clock_speedup_2_over_1"] is None  # no sweep clock recorded
    clocked = {n: {**r, "command_wall_seconds": r["wall_s"] - 3.0} for n, r in runs.items()}
    got = bench.scaling(clocked, {1: [4.0] * 4, 2: [4.5] * 4})
    assert got["sweep_clock_speedup_2_over_1"] == pytest.approx(17 / 8)


def test_commands_choose_workers(bench, tmp_path):
    grid = bench.GRIDS["full"]
    argv = bench.sfm_argv(grid["sfm"], 2, tmp_path)
    assert argv[1:4] == ["-m", "sfm", "sweep"]
    assert argv[argv.index("--workers") + 1] == "2" and argv[-1] == str(tmp_path)
    argv = bench.transformer_argv(grid["transformer"], 1, tmp_path)
    assert argv[1:6] == ["-m", "transformer_check", "sweep", "--preset", "quick"]
    assert argv[argv.index("--workers") + 1] == "1"
    i = argv.index("--seeds")
    assert argv[i + 1 : i + 5] == ["0", "1", "2", "3"]  # 4 points


def test_quick_save_is_refused_before_running(bench, tmp_path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in (ROOT / "benchmarks" / "results").iterdir()}
    assert bench.main(["--quick", "--save", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--save: a --quick run is a smoke test" in err[0]
    assert not any((tmp_path / "x").glob("sfm_w*"))
    after = {p.name: p.stat().st_mtime_ns for p in (ROOT / "benchmarks" / "results").iterdir()}
    assert after == before


def test_quick_smoke_run_end_to_end(bench, tmp_path, capsys):
    # the benchmark times sfm points on one thread with threadpoolctl (the `bench` extra)
    pytest.importorskip("threadpoolctl")
    out = tmp_path / "run"
    assert bench.main(["--quick", "--note", "smoke", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["sfm", "transformer"]
    rep = json.loads((out / bench.RESULT).read_text())
    assert rep["quick"] is True and rep["note"] == "smoke" and rep["workers"] == [1, 2]
    assert rep["load_1min_at_start"] >= 0 and rep["cpu_count"] >= 1
    assert set(rep["sweeps"]) == {"sfm", "transformer"}
    for name, n_points in (("sfm", 2), ("transformer", 2)):
        sw = rep["sweeps"][name]
        assert set(sw["runs"]) == {"1", "2"}
        for n, r in sw["runs"].items():
            assert r["n_points"] == n_points and r["wall_s"] > 0
            assert r["argv"][r["argv"].index("--workers") + 1] == n
            assert r["load_1min_before"] >= 0 and r["load_1min_after"] >= 0
            # the points' compute fits inside the workers' time
            assert 0 < r["compute_sum_s"] <= int(n) * r["wall_s"]
            assert r["overhead_per_point_s"] == pytest.approx(
                (r["wall_s"] - r["compute_sum_s"]) / n_points
            )
            assert (out / f"{name}_w{n}" / "sweep.json").is_file()
        w1, w2 = sw["runs"]["1"]["wall_s"], sw["runs"]["2"]["wall_s"]
        assert sw["speedup_2_over_1"] == pytest.approx(w1 / w2)
        assert sw["meets_target"] == (w1 / w2 >= bench.TARGET_SPEEDUP)
        assert set(sw["amdahl"]["this_grid"]) == {"16", "64"}
    assert len(rep["sweeps"]["sfm"]["point_compute_s"]) == 2
    assert len(rep["sweeps"]["transformer"]["runs"]["1"]["point_wall_s"]) == 2
    assert (out / f"{bench.FIGURE}.png").is_file() and (out / f"{bench.FIGURE}.svg").is_file()
    assert "git_hash" in rep["metadata"]


def test_a_busy_core_shows_as_point_slowdown(bench):
    # the points take twice as long beside a second worker: one core was not free
    runs = {1: {"wall_s": 44.0, "n_points": 4}, 2: {"wall_s": 43.0, "n_points": 4}}
    got = bench.scaling(runs, {1: [10.0] * 4, 2: [20.0] * 4})
    assert got["point_slowdown_2_over_1"] == pytest.approx(2.0)
    assert got["meets_target"] is False
    one = got["amdahl_from_1_worker"]
    assert one["serial_s"] == pytest.approx(4.0) and one["divisible_s"] == pytest.approx(40.0)
    assert one["this_grid"]["2"]["speedup"] == pytest.approx(44 / 24)
    assert one["this_grid"]["16"]["wall_s"] == pytest.approx(4 + 40 / 4)
    same = [1.0] * 4  # one list for both counts: compute measured once, no slowdown to show
    assert bench.scaling(runs, {1: same, 2: same})["point_slowdown_2_over_1"] is None
