"""Provenance: the block every JSON output carries (definitions §5).

Versions of the numerical stack, the configuration, the seed, the git commit and whether the tree
was dirty, the command line, the time (UTC), the device and the thread count, so a result file
says which run made it and how to reproduce it.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from theory.base.io import to_jsonable

__all__ = ["run_metadata", "git_hash", "git_dirty", "device_info", "thread_info", "utc_now"]


def _git(args: list[str], start: str | os.PathLike | None) -> str | None:
    """stdout of ``git ARGS`` in the checkout holding ``start`` (this package), ``None`` outside one."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def git_hash(start: str | os.PathLike | None = None) -> str | None:
    """The HEAD commit of the git checkout holding this package, or ``None`` outside one.

    Parameters
    ----------
    start : str or os.PathLike, optional
        A path inside the checkout (default: this package's folder).

    Returns
    -------
    str or None
        40 hex digits.

    Examples
    --------
    >>> import tempfile
    >>> from theory.base import git_hash
    >>> h = git_hash()
    >>> h is None or len(h) == 40
    True
    >>> git_hash(tempfile.gettempdir()) is None  # not inside a checkout
    True
    """
    out = _git(["rev-parse", "HEAD"], start)
    return (out.strip() or None) if out is not None else None


def git_dirty(start: str | os.PathLike | None = None) -> bool | None:
    """Whether the checkout holding this package has uncommitted changes; ``None`` outside one."""
    out = _git(["status", "--porcelain"], start)
    return bool(out.strip()) if out is not None else None


def utc_now() -> str:
    """The current time, UTC, ISO 8601 with seconds (``2026-01-31T12:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def device_info() -> dict[str, Any]:
    """CPU model; GPU name and CUDA version when the run has torch loaded and CUDA in use.

    torch is never imported here (the base layer must stay light): a run that did not import it
    has no GPU to report.
    """
    info: dict[str, Any] = {"cpu": _cpu_model(), "gpu": None, "cuda": None, "cuda_available": None}
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None:
        return info
    try:
        info["cuda_available"] = bool(cuda.is_available())
        # is_available() does not create a CUDA context; naming the device would, so only a
        # run that already uses CUDA reports its GPU.
        if info["cuda_available"] and cuda.is_initialized():
            info["gpu"] = cuda.get_device_name(cuda.current_device())
            info["cuda"] = getattr(torch.version, "cuda", None)
    except Exception:  # noqa: BLE001 - provenance must never stop a run
        pass
    return info


def thread_info() -> dict[str, Any]:
    """Threads the run computes with: torch's (when loaded) and the machine's CPU count."""
    torch = sys.modules.get("torch")
    threads = None
    if torch is not None and hasattr(torch, "get_num_threads"):
        try:
            threads = int(torch.get_num_threads())
        except Exception:  # noqa: BLE001
            threads = None
    return {"torch_threads": threads, "cpu_count": os.cpu_count()}


# occam and what it is built on, then the references its benchmarks compare with (each recorded
# only where installed), so that a benchmark's file names the versions of both sides
_OWN_STACK = ("occam-grokking", "numpy", "scipy", "sympy", "mpmath", "torch", "numba", "dask")
_REFERENCES = ("distributed", "bayesian-optimization", "transformer-lens", "devinterp", "pybdm")


def run_metadata(
    command: str, config: Any = None, seed: int | None = None, extra: Mapping | None = None
) -> dict[str, Any]:
    """Provenance block every JSON output carries (definitions §5).

    Versions, seed, config, git hash and ``git_dirty``, ``timestamp_utc``, ``command_line``
    (``sys.argv``), ``device`` (CPU model; GPU and CUDA version when in use) and ``threads``.

    Parameters
    ----------
    command : str
        The command that made the output.
    config : Any, optional
        Its configuration (a config dataclass or a dict), stored JSON-ready.
    seed : int, optional
        The random seed.
    extra : Mapping, optional
        More keys for the block.

    Returns
    -------
    dict

    Examples
    --------
    >>> from theory.base import run_metadata
    >>> meta = run_metadata("theory report", {"p": 97}, seed=0)
    >>> sorted(meta)
    ['command', 'command_line', 'config', 'device', 'git_dirty', 'git_hash', 'seed', 'threads', 'timestamp_utc', 'versions']
    >>> meta["config"], meta["timestamp_utc"].endswith("Z")
    ({'p': 97}, True)
    """
    from importlib import metadata

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in (*_OWN_STACK, *_REFERENCES):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    meta = {
        "command": command,
        "versions": versions,
        "git_hash": git_hash(),
        "seed": seed,
        "config": to_jsonable(config) if config is not None else None,
        "git_dirty": git_dirty(),
        "timestamp_utc": utc_now(),
        "command_line": list(sys.argv),
        "device": device_info(),
        "threads": thread_info(),
    }
    if extra:
        meta.update(to_jsonable(dict(extra)))
    return meta
