"""The point lock of theory.base.sweeps: a point running elsewhere is never started beside itself;
a dead owner's lock is taken over at once, a live one's waited for."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

from theory.base import sweeps
from theory.base.sweeps import _PointLock, execute_point


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_dead_owner_is_taken_over_at_once(tmp_path):
    lock = tmp_path / "k.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}))
    t0 = time.perf_counter()
    with _PointLock(lock) as held:
        assert not held.waited
        assert json.loads(lock.read_text())["host"] == socket.gethostname()
    assert time.perf_counter() - t0 < 1.0
    assert not lock.exists()


def test_other_host_lock_is_stale_only_after_its_heartbeat_stops(tmp_path, monkeypatch):
    lock = tmp_path / "k.lock"
    lock.write_text(json.dumps({"host": "another-machine", "pid": 1}))
    assert not _PointLock(lock)._stale()  # fresh: its owner may be running it
    monkeypatch.setattr(sweeps, "STALE_LOCK_S", 0.0)
    time.sleep(0.01)
    assert _PointLock(lock)._stale()


def _toy(pt, work_dir, report):
    time.sleep(0.5)
    return {"value": pt["x"] * 2}


def test_a_second_executor_waits_and_returns_the_first_ones_record(tmp_path):
    """Two executions of one point at once (a killed driver's worker still running it, and the
    resumed sweep): the second waits for the lock and returns the first's record unchanged."""
    pt, key = {"x": 3}, sweeps.point_key("x3", {"x": 3})
    results = []

    def run() -> None:
        results.append(execute_point(_toy, pt, key, str(tmp_path), {"who": "first"}))

    first = threading.Thread(target=run)
    first.start()
    time.sleep(0.1)
    second = execute_point(_toy, pt, key, str(tmp_path), {"who": "second"})
    first.join()
    assert second == results[0] == {"point": pt, "key": key, "value": 6}
    stored = json.loads((tmp_path / "points" / f"{key}.json").read_text())
    assert stored["metadata"]["who"] == "first"  # written once, by the owner
    assert not (tmp_path / "work" / f"{key}.lock").exists()
