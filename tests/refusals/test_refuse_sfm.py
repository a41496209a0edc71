"""``python -m sfm``: bad input refused in one line (exit 2, no partial file); damaged sweep
points re-run with a warning, never trusted."""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfm.cli import main
from sfm.schedules import SCHEDULE_DEFAULTS

TINY_SWEEP = ["sweep", "--p", "7", "--f", "0.3", "--strength", "0.1", "--seeds", "1"]
TINY_SWEEP += ["--steps", "20", "--quiet"]


def _sync(*extra: str) -> list[str]:
    return [*TINY_SWEEP, "--scheduler", "synchronous", *extra]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["run", "--p", "100003"], ["--p", "needs about", "available", "use --p"]),
        (["sweep", "--p", "100003"], ["--p", "needs about", "available", "use --p"]),
        (["run", "--schedule", "none", "--beta", "0.1"], ["--beta", "no parameters"]),
        (["run", "--alpha", "0.1"], ["--alpha", "does not use alpha", "ista"]),
        (["run", "--schedule", "ista", "--beta", "0.1"], ["--beta", "does not use beta"]),
        (["run", "--init-scale", "0.5"], ["--init-scale", "square"]),
        (["run", "--convention", "paper", "--eta", "0.3"], ["--eta", "--convention paper"]),
        (_sync("--convention", "paper", "--eta", "0.3"), ["--eta", "--convention paper"]),
        (_sync("--workers", "2"), ["--workers", "--scheduler synchronous"]),
        ([*TINY_SWEEP, "--f", "0.3,0.3"], ["f:", "0.3 given more than once"]),
        ([*TINY_SWEEP, "--strength", "0.1,0.2,0.1"], ["strength:", "0.1 given more"]),
        ([*TINY_SWEEP, "--p", "7,7"], ["p:", "7 given more than once"]),
        ([*TINY_SWEEP, "--p", ","], ["p:", "empty grid"]),
        ([*TINY_SWEEP, "--target", "g.npy"], ["target:", "flat or random-phase"]),
        ([*TINY_SWEEP, "--scheduler", "nonsense"], ["--scheduler", "dask scheduler"]),
        ([*TINY_SWEEP, "--scheduler", "tcp://127.0.0.1"], ["--scheduler", "not a scheduler"]),
        (["run", "--f", "0"], ["f:", "(0, 1]"]),
        (["run", "--beta", "nan"], ["--beta", "finite"]),
        (["run", "--steps", "0"], ["--steps"]),
        (["run", "--p", "9"], ["--p", "odd prime"]),
        (_sync("--connect-timeout", "0"), ["--connect-timeout"]),
    ],
)
def test_refused(refused, tmp_path, argv, match):
    out = tmp_path / "out"
    refused(main, [*argv, "--out", str(out)], match, out=tmp_path)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    "content, match",
    [
        ("1,2,3", "length p = 7"),
        ("1,nan,3,4,5,6,7", "non-finite"),
        ("", "holds no values"),
        ("root:x:0:0", "could not read"),
    ],
)
def test_target_file_refused(refused, tmp_path, content, match):
    target = tmp_path / "g.csv"
    target.write_text(content)
    argv = ["run", "--p", "7", "--target", str(target), "--quiet", "--out", str(tmp_path / "o")]
    refused(main, argv, ["target", match], out=tmp_path)


def test_unused_schedule_flags_refused_for_every_schedule(refused, tmp_path):
    for schedule, uses in SCHEDULE_DEFAULTS.items():
        for name in ("beta", "alpha", "wd", "c", "init_scale"):
            if name in uses:
                continue
            flag = "--" + name.replace("_", "-")
            argv = ["run", "--schedule", schedule, flag, "0.1", "--out", str(tmp_path / "o")]
            refused(main, argv, [flag, "ignored"], out=tmp_path)


def _next_prime(n: int) -> int:
    from theory.base.modular import is_prime

    n |= 1
    while not is_prime(n):
        n += 2
    return n


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(p=st.integers(min_value=30_011, max_value=10**7).map(_next_prime))
def test_huge_p_refused_before_allocating(refused, tmp_path, p):
    for cmd in ("run", "sweep"):
        refused(main, [cmd, "--p", str(p), "--out", str(tmp_path / "o")], "needs about")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with-block ends


def test_unreachable_scheduler_fails_fast(refused, tmp_path):
    import time

    addr = f"tcp://127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    argv = [
        *TINY_SWEEP,
        "--scheduler",
        addr,
        "--connect-timeout",
        "1",
        "--out",
        str(tmp_path / "o"),
    ]
    refused(main, argv, ["--scheduler", "within 1 s", "dask worker tcp://HOST:8786"], out=tmp_path)
    assert time.perf_counter() - t0 < 20


DAMAGES = [
    ("null", "holds null"),
    ('{"point": {"p": 7', "not readable JSON"),
    ("{}", "lacks point"),
    ('{"point": 1, "key": 2}', "lacks seeds"),
    (b"\xff\xfe", "not readable JSON"),
]


def test_damaged_points_rerun_with_warning_whole_ones_trusted(tmp_path, capsys):
    """One sweep of six points; five point files damaged five ways; the resume re-runs exactly
    those five, one warning line each, and trusts the sixth silently."""
    sweep = ["sweep", "--p", "7", "--f", "0.3,0.5,0.7", "--strength", "0.1,0.2", "--seeds", "2"]
    sweep += ["--steps", "20", "--quiet", "--scheduler", "synchronous"]
    out = tmp_path / "sweep"
    assert main([*sweep, "--out", str(out)]) == 0
    files = sorted((out / "points").glob("*.json"))
    good = {f: json.loads(f.read_text()) for f in files}
    for data in good.values():  # the provenance block travels with every point
        assert data["metadata"]["point"] == data["point"] and "versions" in data["metadata"]
    for f, (damage, _) in zip(files, DAMAGES, strict=False):
        (f.write_bytes if isinstance(damage, bytes) else f.write_text)(damage)
    capsys.readouterr()
    assert main([*sweep, "--resume", "--out", str(out)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == len(DAMAGES), err
    for f, (_, why), line in zip(files, DAMAGES, err, strict=False):
        assert "warning" in line and why in line and f.name in line, line
    for f in files:
        assert json.loads(f.read_text())["seeds"] == good[f]["seeds"]
    data = json.loads((out / "sweep.json").read_text())
    assert data["n_run"] == len(DAMAGES) and data["n_skipped"] == len(files) - len(DAMAGES)
