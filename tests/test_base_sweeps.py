"""The shared grid machinery (theory.base.sweeps): records in grid order, resume point by point,
damaged records run again with one warning, run folders moved from work/ to runs/, progress files,
keys, grids, ClusterSpec refusals, and a real two-process LocalCluster giving the synchronous
records. The run function is a toy at module level (picklable: Dask workers import this module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.base.io import read_json, write_json
from theory.base.sweeps import (
    ClusterSpec,
    check_axis,
    execute_point,
    load_point,
    point_key,
    product_grid,
    run_points,
)

SYNC = ClusterSpec("synchronous")


# -- the toy run function -------------------------------------------------------------------------


def toy_run(pt, work_dir, report):
    """``value = a * 10 + len(b)``; one file under ``<out>/calls/`` per call (counted by the
    tests, across processes); with ``pt["folder"]`` a work folder with one file; reports
    progress and says whether the progress file existed while it ran."""
    work = Path(work_dir)
    out = work.parent.parent
    calls = out / "calls"
    calls.mkdir(exist_ok=True)
    (calls / f"{work.name}.{uuid.uuid4().hex}").write_text(str(os.getpid()))
    report(1, 2, "half")
    progress = out / "work" / f"{work.name}.progress"
    saw = progress.exists() and read_json(progress) == {"done": 1, "total": 2, "what": "half"}
    if pt.get("folder"):
        work.mkdir(parents=True, exist_ok=True)
        (work / "result.txt").write_text(f"{pt['a']}")
    return {"value": pt["a"] * 10 + len(pt["b"]), "saw_progress": saw}


def toy_nan(pt, work_dir, report):
    """A result holding a non-finite float (a diverged loss, an undefined statistic)."""
    return {"value": float("nan"), "big": float("inf")}


def toy_reserved(pt, work_dir, report):
    return {"key": "mine"}


def needs_value(data, pt):
    """A ``validate``: a record is whole only with an integer ``value``."""
    return None if isinstance(data.get("value"), int) else "lacks its value"


def _points(a=(3, 1, 2), b=("x", "yy"), **fixed):
    return [(point_key("toy", pt), pt) for pt in product_grid({"a": a, "b": b}, **fixed)]


def _calls(out: Path) -> dict[str, int]:
    """How often each point's run function was called (from the call files)."""
    counts: dict[str, int] = {}
    for f in (out / "calls").glob("*"):
        key = f.name.rsplit(".", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def _run(out, pts=None, **kw):
    kw.setdefault("progress", False)
    return run_points(pts if pts is not None else _points(), toy_run, out, SYNC, **kw)


def _expected(pt):
    return pt["a"] * 10 + len(pt["b"])


# -- grids and keys -------------------------------------------------------------------------------


def test_product_grid_first_axis_slowest_with_fixed_settings():
    grid = product_grid({"a": [3, 1], "b": ["x", "y", "z"]}, c=0.5)
    assert [(g["a"], g["b"]) for g in grid] == [
        (3, "x"), (3, "y"), (3, "z"), (1, "x"), (1, "y"), (1, "z")
    ]  # fmt: skip
    assert all(g["c"] == 0.5 and set(g) == {"a", "b", "c"} for g in grid)
    assert product_grid({}) == [{}]


@pytest.mark.parametrize(
    ("values", "match"),
    [((), "empty grid"), ((1, 2, 1), "1 given more than once"), ((0.3, 0.3), "0.3 given more")],
)
def test_check_axis_refuses_empty_and_repeated_axes(values, match):
    with pytest.raises(InputError, match=match) as exc:
        check_axis("--wd", values)
    assert str(exc.value).startswith("--wd: ") and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="--wd"):
        product_grid({"--wd": values})


def test_check_axis_returns_a_tuple():
    assert check_axis("x", [1, 2]) == (1, 2)


_settings = st.dictionaries(
    st.sampled_from(["a", "b", "seed", "wd", "frac"]),
    st.one_of(st.integers(-3, 3), st.floats(0, 4, allow_nan=False), st.text(max_size=3)),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(_settings, _settings)
def test_keys_differ_exactly_when_a_setting_differs(d1, d2):
    k1, k2 = point_key("s", d1), point_key("s", d2)
    if json.dumps(d1, sort_keys=True) == json.dumps(d2, sort_keys=True):
        assert k1 == k2
    else:
        assert k1 != k2
    stem, digest = k1.rsplit("_", 1)
    assert stem == "s" and len(digest) == 10 and int(digest, 16) >= 0


@given(_settings)
def test_key_ignores_the_order_of_the_settings(d):
    assert point_key("s", dict(reversed(list(d.items())))) == point_key("s", d)


# -- ClusterSpec ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "--workers: it sizes the local"),
        ({"scheduler": "localhost"}, "--scheduler: 'localhost' is not a scheduler address"),
        ({"scheduler": "tcp://host:port"}, "is not a scheduler address"),
        ({"scheduler": "sync"}, "or 'synchronous'"),
        ({"workers": 0}, "workers"),
        ({"threads_per_worker": 0}, "threads_per_worker"),
    ],
)
def test_cluster_spec_refusals(kw, match):
    with pytest.raises(InputError, match=match) as exc:
        ClusterSpec(**kw)
    assert "\n" not in str(exc.value)


def test_cluster_spec_accepts_and_describes():
    assert ClusterSpec("tcp://10.0.0.1:8786").describe()["scheduler"] == "tcp://10.0.0.1:8786"
    d = ClusterSpec(workers=3, threads_per_worker=2).describe()
    assert d == {"scheduler": "LocalCluster", "workers": 3, "threads_per_worker": 2}
    assert ClusterSpec().describe()["workers"] == os.cpu_count()
    assert ClusterSpec("synchronous").describe()["scheduler"] == "synchronous"


# -- run_points, synchronous ----------------------------------------------------------------------


def test_records_come_back_in_grid_order(tmp_path):
    pts = _points()
    recs, n_resumed = _run(tmp_path, pts, metadata={"who": "test"})
    assert n_resumed == 0
    assert [(r["key"], r["point"]) for r in recs] == pts
    assert [r["value"] for r in recs] == [_expected(pt) for _, pt in pts]
    for key, pt in pts:
        on_disk = read_json(tmp_path / "points" / f"{key}.json")
        assert on_disk["metadata"] == {"who": "test", "point": pt}
        assert {k: v for k, v in on_disk.items() if k != "metadata"} == recs[pts.index((key, pt))]
    assert _calls(tmp_path) == {k: 1 for k, _ in pts}


def test_resume_skips_every_finished_point(tmp_path):
    pts = _points()
    first, _ = _run(tmp_path, pts)
    seen = []
    again, n_resumed = _run(tmp_path, pts, on_result=seen.append)
    assert n_resumed == len(pts) and again == first and seen == []
    assert _calls(tmp_path) == {k: 1 for k, _ in pts}
    # one record lost (a kill before it was written): only that point runs again
    lost = pts[2][0]
    (tmp_path / "points" / f"{lost}.json").unlink()
    third, n_resumed = _run(tmp_path, pts, on_result=seen.append)
    assert n_resumed == len(pts) - 1 and third == first
    assert [r["key"] for r in seen] == [lost]
    assert _calls(tmp_path) == {k: 1 + (k == lost) for k, _ in pts}


def test_a_larger_grid_runs_only_its_new_points(tmp_path):
    _run(tmp_path, _points(a=(1, 2)))
    recs, n_resumed = _run(tmp_path, _points(a=(1, 2, 5)))
    assert n_resumed == 4 and [r["point"]["a"] for r in recs] == [1, 1, 2, 2, 5, 5]
    assert sorted(_calls(tmp_path).values()) == [1] * 6


def _bad_json(path, rec, pt):
    path.write_text('{"point": {"a": 1, ')


def _foreign(path, rec, pt):
    write_json(path, {**rec, "point": {**pt, "a": 99}})


def _wrong_key(path, rec, pt):
    write_json(path, {**rec, "key": "toy_0000000000"})


def _invalid(path, rec, pt):
    write_json(path, {k: v for k, v in rec.items() if k != "value"})


def _a_list(path, rec, pt):
    write_json(path, [rec])


def _no_point(path, rec, pt):
    write_json(path, {"value": rec["value"]})


def _binary(path, rec, pt):
    path.write_bytes(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_bad_json, "is not readable JSON"),
        (_binary, "is not readable JSON"),
        (_foreign, "belongs to other settings"),
        (_wrong_key, "belongs to other settings"),
        (_invalid, "lacks its value"),
        (_a_list, "holds a list"),
        (_no_point, "lacks point or key"),
    ],
)
def test_a_damaged_record_runs_again_with_one_warning(tmp_path, damage, why):
    pts = _points()
    first, _ = _run(tmp_path, pts, validate=needs_value)
    key, pt = pts[1]
    path = tmp_path / "points" / f"{key}.json"
    damage(path, first[1], pt)
    warned: list[str] = []
    again, n_resumed = _run(tmp_path, pts, validate=needs_value, warn=warned.append)
    assert len(warned) == 1 and "\n" not in warned[0]
    assert warned[0].startswith(f"{path}: {why}")
    assert warned[0].endswith("; running the point again")
    assert n_resumed == len(pts) - 1 and again == first
    assert _calls(tmp_path)[key] == 2
    assert load_point(tmp_path, key, pt, needs_value) == first[1]  # repaired on disk


def test_the_default_warning_is_a_python_warning(tmp_path):
    pts = _points(a=(1,), b=("x",))
    _run(tmp_path, pts)
    (tmp_path / "points" / f"{pts[0][0]}.json").write_text("null")
    with pytest.warns(UserWarning, match="holds null, not a point's result; running the point"):
        _, n_resumed = _run(tmp_path, pts)
    assert n_resumed == 0


def test_work_folder_moves_to_runs_and_progress_file_goes(tmp_path):
    pts = _points(a=(1, 2), b=("x",), folder=True) + _points(a=(7,), b=("z",))
    recs, _ = _run(tmp_path, pts)
    assert all(r["saw_progress"] for r in recs)  # the progress file existed while it ran
    with_folder = [k for k, pt in pts if pt.get("folder")]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(with_folder)
    for key, pt in pts:
        if pt.get("folder"):
            assert (tmp_path / "runs" / key / "result.txt").read_text() == str(pt["a"])
        assert not (tmp_path / "work" / key).exists()
        assert not (tmp_path / "work" / f"{key}.progress").exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_a_stale_runs_folder_is_replaced_by_the_new_run(tmp_path):
    """A kill between the move and the record leaves runs/<key> without a record: the record
    decides, so the point runs again and its new folder replaces the stale one."""
    (key, pt), = _points(a=(4,), b=("x",), folder=True)  # fmt: skip
    stale = tmp_path / "runs" / key
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("stale")
    _run(tmp_path, [(key, pt)])
    assert sorted(p.name for p in stale.iterdir()) == ["result.txt"]


def test_execute_point_refuses_reserved_result_keys(tmp_path):
    (key, pt), = _points(a=(1,), b=("x",))  # fmt: skip
    with pytest.raises(ValueError, match="reserved keys"):
        execute_point(toy_reserved, pt, key, str(tmp_path), None)
    assert not (tmp_path / "points" / f"{key}.json").exists()


def test_two_points_with_one_key_are_refused(tmp_path):
    pts = _points(a=(1,), b=("x",))
    with pytest.raises(InputError, match="same settings"):
        run_points(pts + pts, toy_run, tmp_path / "o", SYNC, progress=False)
    assert not (tmp_path / "o").exists()


def test_progress_bars_do_not_change_the_records(tmp_path, capsys):
    quiet, _ = _run(tmp_path / "q")
    shown, _ = _run(tmp_path / "s", progress=True, desc="toy points")
    assert shown == quiet
    assert "toy points" in capsys.readouterr().err


def test_a_resumed_record_equals_the_fresh_one_with_non_finite_values(tmp_path):
    pts = _points(a=(1,), b=("x",))
    (fresh,), _ = run_points(pts, toy_nan, tmp_path, SYNC, progress=False)
    (resumed,), n = run_points(pts, toy_nan, tmp_path, SYNC, progress=False)
    assert n == 1
    assert type(fresh["value"]) is type(resumed["value"])
    assert type(fresh["big"]) is type(resumed["big"])


# -- real Dask ------------------------------------------------------------------------------------


def test_local_cluster_of_two_processes_gives_the_synchronous_records(tmp_path):
    pytest.importorskip("distributed")
    pts = _points(a=(3, 1, 2), b=("x", "yy"), folder=True)
    sync, _ = _run(tmp_path / "sync", pts)
    local, n_resumed = run_points(
        pts, toy_run, tmp_path / "dask", ClusterSpec(workers=2), progress=False
    )
    assert n_resumed == 0 and local == sync
    calls = _calls(tmp_path / "dask")
    assert calls == {k: 1 for k, _ in pts}
    pids = {f.read_text() for f in (tmp_path / "dask" / "calls").iterdir()}
    assert str(os.getpid()) not in pids  # the points ran in worker processes
    assert sorted(p.name for p in (tmp_path / "dask" / "runs").iterdir()) == sorted(calls)


def worker_env(pt, work_dir, report):
    return {"env": {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}}


def test_local_cluster_workers_keep_mallocs_dynamic_mmap_threshold(tmp_path):
    """Dask's MALLOC_TRIM_THRESHOLD_ is unset on the local cluster's workers (WORKER_ENV: with it,
    every large array is a fresh mmap and Rader's SFM steps ran 2.6x slower); its other
    defaults (one BLAS thread per worker) stay."""
    pytest.importorskip("distributed")
    pts = [(point_key("env", {"a": 1}), {"a": 1})]
    (rec,), _ = run_points(pts, worker_env, tmp_path, ClusterSpec(workers=1), progress=False)
    assert rec["env"] == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}


_TWO_SWEEPS_SCRIPT = """
import pathlib, sys, time
from theory.base.sweeps import ClusterSpec, point_key, product_grid, run_points

def held(pt, work_dir, report):  # waits (at most 30 s) for the file pt["go"]
    deadline = time.monotonic() + 30
    while not pathlib.Path(pt["go"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"value": pt["a"]}

if __name__ == "__main__":
    addr, out, go = sys.argv[1:4]
    pts = [(point_key("held", pt), pt) for pt in product_grid({"a": [1, 2]}, go=go)]
    run_points(pts, held, out, ClusterSpec(addr), progress=False)
"""


def test_two_sweeps_of_one_grid_on_one_scheduler_each_get_their_records(tmp_path):
    """Two users (or a rerun into another --out) send the same grid to one shared scheduler at
    the same time, each from its own process (as users do): each gets its own records."""
    distributed = pytest.importorskip("distributed")
    go = tmp_path / "go"
    script = tmp_path / "two_sweeps.py"
    script.write_text(_TWO_SWEEPS_SCRIPT)
    pts = [(point_key("held", pt), pt) for pt in product_grid({"a": [1, 2]}, go=str(go))]
    with distributed.LocalCluster(
        n_workers=4, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as lc:
        procs = {
            name: subprocess.Popen(
                [sys.executable, str(script), lc.scheduler_address, str(tmp_path / name), str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for name in ("one", "two")
        }
        # the points wait for "go" until both sweeps have submitted (4 tasks; 2 if they clash)
        deadline = time.monotonic() + 60
        while len(lc.scheduler.tasks) < 2 * len(pts) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()
        errs = {name: p.communicate(timeout=120)[1] for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, errs[name]
        got = sorted(p.stem for p in (tmp_path / name / "points").glob("*.json"))
        assert got == sorted(k for k, _ in pts), f"{name}: records {got}"
