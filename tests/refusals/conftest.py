"""Bad input, tried as a user would: every refusal is one line on stderr, exit code 2, no
traceback, and no partial file left behind.

Each test calls a package's ``main(argv)`` in-process (fast: no interpreter start per case) through
:func:`refused`, or :func:`refused_subprocess` where the case needs a fresh process (signals,
pipes, environment).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

Main = Callable[[Sequence[str]], int]


def _files(folder: Path | None) -> set[Path]:
    if folder is None or not folder.exists() or not folder.is_dir():
        return set()
    return {p for p in folder.rglob("*") if p.is_file()}


def _check(rc: int, err: str, match: str | Sequence[str]) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2, f"exit code {rc}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err[-2000:]}"
    for m in [match] if isinstance(match, str) else match:
        assert m in lines[0], f"{m!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def refused(capsys) -> Callable[..., str]:
    """``refused(main, argv, match, out=None)``: run ``main(argv)``; assert a one-line refusal
    containing ``match`` (a string or several), exit 2, and that ``out`` gained no file."""

    def check(main: Main, argv: Sequence[str], match, out: Path | None = None) -> str:
        before = _files(out)
        capsys.readouterr()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse errors
            rc = int(exc.code or 0)
        err = capsys.readouterr().err
        line = _check(rc, err, match)
        assert _files(out) == before, f"files left in {out}: {sorted(_files(out) - before)}"
        return line

    return check


def refused_subprocess(
    module: str, argv: Sequence[str], match, *, cwd: Path | None = None, timeout: float = 120
) -> str:
    """The same check for ``python -m module argv`` in a fresh process."""
    res = subprocess.run(
        [sys.executable, "-m", module, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return _check(res.returncode, res.stderr, match)
