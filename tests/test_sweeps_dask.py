"""Real multi-process Dask: a ``dask scheduler`` and two ``dask worker`` processes on localhost run
a small transformer sweep and a small SFM sweep through ``--scheduler``; one worker is killed
with SIGKILL while a point runs, and every point still completes exactly once, with the numbers
of a LocalCluster run (theory.base.sweeps; README "Running a sweep on a cluster")."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("torch")

pytestmark = pytest.mark.slow

PY = sys.executable
TC_SWEEP = ["sweep", "--seeds", "0", "1", "--wd", "0.3,1", "--p", "11", "--steps", "60"]
TC_SWEEP += ["--measures", "fourier", "--quiet"]
SFM_SWEEP = ["sweep", "--p", "7", "--f", "0.3,0.5,0.7", "--strength", "0.1,0.3", "--seeds", "2"]
SFM_SWEEP += ["--steps", "400", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str, log: Path) -> subprocess.Popen:
    """A ``dask`` CLI process in its own process group, its output in ``log``."""
    dask = Path(PY).with_name("dask")  # the CLI a user runs, installed beside this Python
    if not dask.exists():
        pytest.skip(f"no dask command beside {PY}")
    return subprocess.Popen(
        [str(dask), *args], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two no-nanny workers (a killed worker stays dead: a lost machine)."""
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                   "--dashboard-address", ":0", log=tmp_path / "scheduler.log")]  # fmt: skip
    try:
        time.sleep(2)
        for i in range(2):
            procs.append(
                _dask(
                    "worker",
                    addr,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--name",
                    f"w{i}",
                    log=tmp_path / f"worker{i}.log",
                )  # fmt: skip
            )
        from distributed import Client

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
            names = {a: w["name"] for a, w in c.scheduler_info()["workers"].items()}
            pids = {names[a]: pid for a, pid in c.run(os.getpid).items()}
        yield addr, pids
    finally:  # also when the cluster never came up: no process outlives the test
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)


def _cli(module: str, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.Popen([PY, "-m", module, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _rows(path: Path, drop: tuple[str, ...] = ("wall_s",)) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _kill_a_worker_mid_point(out: Path, pids: dict[str, int], proc: subprocess.Popen) -> None:
    """Wait until a point reports progress, then SIGKILL one worker."""
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if list((out / "work").glob("*.progress")):
            os.kill(pids["w0"], signal.SIGKILL)
            return
        time.sleep(0.2)
    pytest.fail("no point reported progress before the sweep ended; nothing was killed")


def _point_records(out: Path) -> dict[str, dict]:
    recs = {}
    for f in (out / "points").glob("*.json"):
        data = json.loads(f.read_text())
        assert data["key"] not in recs
        recs[data["key"]] = data
    return recs


def test_transformer_and_sfm_sweeps_survive_a_killed_worker(cluster, tmp_path):
    addr, pids = cluster
    tc_out, sfm_out = tmp_path / "tc_remote", tmp_path / "sfm_remote"
    proc = _cli("transformer_check", [*TC_SWEEP, "--scheduler", addr, "--out", str(tc_out)])
    _kill_a_worker_mid_point(tc_out, pids, proc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    sfm = _cli("sfm", [*SFM_SWEEP, "--scheduler", addr, "--out", str(sfm_out)])
    _, err = sfm.communicate(timeout=600)
    assert sfm.returncode == 0, err

    # the same sweeps on a LocalCluster of two processes
    tc_local, sfm_local = tmp_path / "tc_local", tmp_path / "sfm_local"
    for module, argv, out in (
        ("transformer_check", TC_SWEEP, tc_local),
        ("sfm", SFM_SWEEP, sfm_local),
    ):
        p = _cli(module, [*argv, "--workers", "2", "--out", str(out)])
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err

    # every point exactly once, each with its run folder, nothing left in work/
    recs = _point_records(tc_out)
    assert len(recs) == 4
    assert sorted(p.name for p in (tc_out / "runs").iterdir()) == sorted(recs)
    assert not list((tc_out / "work").glob("*/"))
    assert len(_point_records(sfm_out)) == 6
    # the numbers of the LocalCluster run (wall times aside)
    assert _rows(tc_out / "points.csv") == _rows(tc_local / "points.csv")
    assert _rows(sfm_out / "points.csv") == _rows(sfm_local / "points.csv")
