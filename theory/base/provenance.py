"""Provenance: the block every JSON output carries (definitions §5).

Versions of the numerical stack, the configuration, the seed and the git commit, so a result file
says how to reproduce itself.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from theory.base.io import to_jsonable

__all__ = ["run_metadata", "git_hash"]


def git_hash(start: str | os.PathLike | None = None) -> str | None:
    """The HEAD commit of the git checkout holding this package, or ``None`` outside one."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def run_metadata(
    command: str, config: Any = None, seed: int | None = None, extra: Mapping | None = None
) -> dict[str, Any]:
    """Provenance block every JSON output carries (SPEC §5): versions, seed, config, git hash."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("occam", "numpy", "scipy", "sympy", "mpmath", "torch", "numba"):
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
    }
    if extra:
        meta.update(to_jsonable(dict(extra)))
    return meta
