"""Grids of independent runs on Dask distributed, one atomic record per point, resumable point by
point: the one implementation behind ``sfm sweep``, ``transformer_check sweep`` and the
crosscheck's seeds (docs/architecture.md; running on a cluster: README).

A *point* is a plain dict of settings. Its key is a readable stem plus a hash of the settings, so
two points with different settings never share a file. A point is finished when
``points/<key>.json`` holds a whole record of exactly its settings; the record is written
atomically by the worker after the point's run folder (if it made one) has been moved from
``work/<key>/`` to ``runs/<key>/``. A killed sweep therefore loses at most the points in flight,
and a rerun skips every finished point. A point that had started keeps its ``work/<key>/`` folder,
so a run function that checkpoints can continue it (the transformer points do).

Live progress crosses processes and machines through the shared ``--out`` filesystem: a run
function may call ``report(done, total, what)``, which writes ``work/<key>.progress``; the
driver draws one bar per running point from those files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from theory.base.cluster import CONNECT_TIMEOUT, check_address, connect
from theory.base.errors import InputError, check_int
from theory.base.io import read_json, to_jsonable, write_json

__all__ = [
    "ClusterSpec",
    "Progress",
    "point_key",
    "product_grid",
    "check_axis",
    "load_point",
    "run_points",
]

#: ``report(done, total, what)``: what a run function calls to show its progress.
Progress = Callable[[int, int, str], None]
#: ``run(point, work_dir, report) -> result``: one point's work (a top-level, picklable function).
RunFn = Callable[[dict[str, Any], str, Progress], dict[str, Any]]
#: ``validate(record, point) -> None | why``: whether a parsed record is a finished result.
Validate = Callable[[Any, dict[str, Any]], str | None]

_RESERVED = ("metadata", "point", "key")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the points run: ``scheduler`` None = a LocalCluster of ``workers`` processes (default:
    one per core) with ``threads_per_worker`` threads each; an address = a running scheduler;
    ``"synchronous"`` = in this process, one point after another (debugging, tests)."""

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1
    connect_timeout: float = CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        if self.workers is not None:
            check_int("workers", self.workers, lo=1, hi=4096)
            if self.scheduler is not None:
                raise InputError(
                    f"--workers: it sizes the local cluster, but --scheduler {self.scheduler} is "
                    "given, so it would be ignored; drop one of them (a cluster's size is its "
                    "workers')"
                )
        check_int("threads_per_worker", self.threads_per_worker, lo=1, hi=1024)
        if self.scheduler not in (None, "synchronous"):
            check_address(self.scheduler)

    def describe(self) -> dict[str, Any]:
        """The provenance entry of a sweep's metadata."""
        return {
            "scheduler": self.scheduler or "LocalCluster",
            "workers": self.workers or (os.cpu_count() if self.scheduler is None else None),
            "threads_per_worker": self.threads_per_worker,
        }


def check_axis(name: str, values: Sequence[Any]) -> tuple[Any, ...]:
    """``values`` as a tuple, refusing an empty axis or a value given twice."""
    values = tuple(values)
    if not values:
        raise InputError(f"{name}: empty grid; give at least one value")
    dup = sorted({str(v) for v in values if values.count(v) > 1})
    if dup:
        raise InputError(f"{name}: {', '.join(dup)} given more than once; list each value once")
    return values


def product_grid(axes: Mapping[str, Sequence[Any]], **fixed: Any) -> list[dict[str, Any]]:
    """Every combination of the axes (the first axis varies slowest), each with ``fixed`` added."""
    names = list(axes)
    combos = itertools.product(*(check_axis(n, axes[n]) for n in names))
    return [{**fixed, **dict(zip(names, c, strict=True))} for c in combos]


def _canonical(pt: Mapping[str, Any]) -> str:
    return json.dumps(pt, sort_keys=True, default=str)


def point_key(stem: str, pt: Mapping[str, Any]) -> str:
    """``<stem>_<hash>``: the readable stem and 10 hex digits of SHA-1 over every setting."""
    return f"{stem}_{hashlib.sha1(_canonical(pt).encode()).hexdigest()[:10]}"


def load_point(
    out_dir: Path,
    key: str,
    pt: dict[str, Any],
    validate: Validate | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The point's record (without its metadata) if ``points/<key>.json`` is whole and of these
    settings; a damaged or foreign file is reported through ``warn`` (default
    :func:`warnings.warn`) and the point runs again, never trusted."""
    path = out_dir / "points" / f"{key}.json"
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why: str | None = f"is not readable JSON ({type(exc).__name__})"
    else:
        why = _damage(data, key, pt, validate)
        if why is None:
            return {k: v for k, v in data.items() if k != "metadata"}
    (warn or (lambda m: warnings.warn(m, stacklevel=3)))(f"{path}: {why}; running the point again")
    return None


def _damage(data: Any, key: str, pt: dict[str, Any], validate: Validate | None) -> str | None:
    if not isinstance(data, dict):
        kind = {type(None): "null", list: "a list"}.get(type(data), type(data).__name__)
        return f"holds {kind}, not a point's result"
    if "point" not in data or "key" not in data:
        return "lacks point or key"
    why = validate(data, pt) if validate is not None else None
    if why is None and (data["point"] != json.loads(_canonical(pt)) or data["key"] != key):
        why = "belongs to other settings"
    return why


def _progress_path(out_dir: Path, key: str) -> Path:
    return out_dir / "work" / f"{key}.progress"


def _reporter(path: Path, every_s: float = 0.5) -> Progress:
    """``report`` for one point: the newest state, written atomically at most every ``every_s``."""
    last = [0.0]

    def report(done: int, total: int, what: str = "") -> None:
        now = time.monotonic()
        if now - last[0] >= every_s or done >= total:
            last[0] = now
            try:
                write_json(path, {"done": int(done), "total": int(total), "what": what})
            except OSError:  # progress is a courtesy: never fail a run over it
                pass

    return report


def execute_point(
    fn: RunFn,
    pt: dict[str, Any],
    key: str,
    out_dir: str,
    metadata: dict[str, Any] | None,
    setup: tuple[Callable[[int], None], int] | None = None,
) -> dict[str, Any]:
    """Run one point on a worker: ``setup = (f, threads)`` calls ``f(threads)`` first, then ``fn``
    runs in ``work/<key>/``, that folder is moved to ``runs/<key>/`` (when ``fn`` made it), and
    ``points/<key>.json`` is written atomically; returns the record."""
    if setup is not None:
        setup[0](setup[1])
    out = Path(out_dir)
    work = out / "work" / key
    work.parent.mkdir(parents=True, exist_ok=True)
    record_path = out / "points" / f"{key}.json"
    with _PointLock(out / "work" / f"{key}.lock") as lock:
        if lock.waited and record_path.exists():  # another process finished it meanwhile
            data = read_json(record_path)
            if _damage(data, key, pt, None) is None:
                return {k: v for k, v in data.items() if k != "metadata"}
        return _run_locked(fn, pt, key, out, work, metadata)


def _run_locked(fn, pt, key, out, work, metadata) -> dict[str, Any]:
    prog = _progress_path(out, key)
    result = fn(pt, str(work), _reporter(prog))
    clash = [k for k in _RESERVED if k in result]
    if clash:
        raise ValueError(f"run function returned reserved keys {clash}")
    if work.exists():
        final = out / "runs" / key
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # left by a kill between this move and the record: the record decides
            shutil.rmtree(final)
        os.replace(work, final)
    record = {"point": pt, "key": key, **result}
    write_json(
        out / "points" / f"{key}.json", {"metadata": {**(metadata or {}), "point": pt}, **record}
    )
    prog.unlink(missing_ok=True)
    return json.loads(json.dumps(to_jsonable(record)))  # exactly what a resume will read


#: Environment of the local cluster's workers, beside Dask's defaults. ``None`` unsets Dask's
#: ``MALLOC_TRIM_THRESHOLD_=65536``: any explicit glibc threshold turns off malloc's dynamic mmap
#: threshold, so every array above 128 kB is a fresh mmap with its page faults; an SFM point at
#: p = 97 (Rader's transforms, docs/sfm.md) then ran 2.6x slower in a worker than in a process
#: (6.3 s against 2.4 s, measured; docs/sfm.md "Running on a cluster"). Points hold little memory,
#: so giving it back to the OS at once buys nothing here.
WORKER_ENV: tuple[tuple[str, Any], ...] = (("MALLOC_TRIM_THRESHOLD_", None),)

#: A point's lock with no heartbeat for this long is taken over (its owner is gone).
STALE_LOCK_S = 120.0
_HEARTBEAT_S = 20.0


class _PointLock:
    """Exclusive ownership of one point across processes and machines sharing ``--out``.

    A run whose driver was killed may go on in a worker of a real cluster; a resumed sweep must
    not start the same point beside it in the same folder. The lock file names its owner (host,
    pid) and is touched every few seconds while the point runs; another process waits while it is
    fresh, takes it over at once when its owner is a dead process on this host, and after
    :data:`STALE_LOCK_S` seconds without a heartbeat otherwise.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.waited = path, False
        self._stop: Any = None

    def _stale(self) -> bool:
        try:
            owner = read_json(self.path)
            age = time.time() - self.path.stat().st_mtime
        except (OSError, ValueError, UnicodeDecodeError):
            return True  # vanished or half-written: nobody holds it
        if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
            try:
                os.kill(int(owner["pid"]), 0)
            except (ProcessLookupError, KeyError, TypeError, ValueError):
                return True
            except PermissionError:
                pass  # alive, another user's
        return age > STALE_LOCK_S

    def __enter__(self) -> _PointLock:
        import threading

        me = {"host": socket.gethostname(), "pid": os.getpid()}
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                self.waited = True
                time.sleep(1.0)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        self._stop = threading.Event()

        def beat() -> None:
            while not self._stop.wait(_HEARTBEAT_S):
                try:
                    os.utime(self.path)
                except OSError:
                    return

        threading.Thread(target=beat, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.path.unlink(missing_ok=True)


class _Bars:
    """An overall bar over points and one bar per running point, read from the progress files."""

    def __init__(self, out: Path, total: int, done: int, desc: str, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.tqdm, self.out, self.enabled = tqdm, out, enabled
        self.main = tqdm(total=total, initial=done, desc=desc, unit="pt", disable=not enabled)
        self.runs: dict[str, Any] = {}

    def poll(self, keys: Sequence[str]) -> None:
        if not self.enabled:
            return
        for key in keys:
            try:
                st = read_json(_progress_path(self.out, key))
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            bar = self.runs.get(key)
            if bar is None:
                label = key if len(key) <= 32 else key[:21] + "…" + key[-10:]
                bar = self.tqdm(total=st["total"], desc=label, leave=False, unit="step")
                self.runs[key] = bar
            bar.total = st["total"]
            bar.n = st["done"]
            bar.set_postfix_str(st.get("what", ""), refresh=False)
            bar.refresh()

    def finish(self, key: str) -> None:
        bar = self.runs.pop(key, None)
        if bar is not None:
            bar.close()
        self.main.update(1)

    def close(self) -> None:
        for bar in self.runs.values():
            bar.close()
        self.main.close()


def run_points(
    points: Sequence[tuple[str, dict[str, Any]]],
    fn: RunFn,
    out_dir: str | os.PathLike,
    cluster: ClusterSpec = ClusterSpec(),
    *,
    metadata: dict[str, Any] | None = None,
    validate: Validate | None = None,
    progress: bool = True,
    desc: str = "sweep points",
    on_result: Callable[[dict[str, Any]], None] | None = None,
    warn: Callable[[str], None] | None = None,
    worker_setup: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Run every unfinished ``(key, point)`` and return ``(records in the given order, number
    resumed)``. ``metadata`` goes into every record; ``validate`` says whether an existing record
    is whole (beyond its key and settings); ``worker_setup(threads_per_worker)`` runs once on every
    worker before its points (for example to set torch's thread count).
    """
    out = Path(out_dir)
    keys = [k for k, _ in points]
    if len(set(keys)) != len(keys):
        raise InputError("points: two grid points have the same settings; list each value once")
    client = None
    if cluster.scheduler not in (None, "synchronous"):
        client = connect(cluster.scheduler, cluster.connect_timeout)  # a refusal leaves no file
    (out / "points").mkdir(parents=True, exist_ok=True)
    found: dict[str, dict[str, Any]] = {}
    for key, pt in points:
        rec = load_point(out, key, pt, validate, warn)
        if rec is not None:
            found[key] = rec
    todo = [(k, pt) for k, pt in points if k not in found]
    n_resumed = len(found)
    bars = _Bars(out, len(points), n_resumed, desc, progress)
    setup = (worker_setup, cluster.threads_per_worker) if worker_setup else None
    abs_out = str(out.resolve())

    def take(rec: dict[str, Any]) -> None:
        found[rec["key"]] = rec
        if on_result:
            on_result(rec)
        bars.finish(rec["key"])

    try:
        if todo and cluster.scheduler == "synchronous":
            for key, pt in todo:
                take(execute_point(fn, pt, key, abs_out, metadata, setup))
        elif todo:
            _run_on_dask(todo, fn, abs_out, cluster, client, metadata, setup, bars, take)
            client = None  # closed there
    finally:
        bars.close()
        if client is not None:
            client.close()
    return [found[k] for k in keys], n_resumed


def _run_on_dask(todo, fn, abs_out, cluster, client, metadata, setup, bars, take) -> None:
    from distributed import Client, LocalCluster, wait

    local = None
    if client is None:
        import dask

        with (
            warnings.catch_warnings(),  # its HTTP server moving off a busy port 8787 is no news
            dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV}),
        ):
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            local = LocalCluster(
                n_workers=cluster.workers or os.cpu_count() or 1,
                threads_per_worker=1,  # one point per worker process; its own threads are fn's
                processes=True,
                dashboard_address=None,
            )
        client = Client(local)
    try:
        futs = {
            client.submit(execute_point, fn, pt, key, abs_out, metadata, setup, pure=False): key
            for key, pt in todo
        }
        pending = set(futs)
        while pending:
            try:
                done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished this second: refresh the bars
                done = set()
            for fut in done:
                take(fut.result())
            bars.poll([futs[f] for f in pending])
    finally:
        client.close()
        if local is not None:
            local.close()
