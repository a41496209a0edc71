"""``python -m transformer_check sweep`` and ``decide``: every bad input is one line, exit code 2,
no traceback and no file left behind (tests/refusals/conftest.py).

Classes: grid values (unknown preset or operation, a value given twice, out-of-range fractions,
rates and moduli), cluster flags (--workers beside --scheduler, a malformed or silent scheduler),
and for ``decide``: a missing folder, a folder or file that is not a finished crosscheck, a
damaged ``data`` block, threshold values out of range.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time

import pytest

from transformer_check.cli import main
from transformer_check.crosscheck.verdicts import Thresholds

# a grid that would be quick if it ran: every refusal must come before any training
SWEEP = ["sweep", "--p", "11", "--steps", "5", "--seeds", "0", "--measures", "fourier", "--quiet"]


def _sweep(tmp_path, *extra: str) -> list[str]:
    return [*SWEEP, *extra, "--out", str(tmp_path / "out")]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--preset", "fast"], ["--preset", "must be one of quick", "'fast'"]),
        (["--preset", "quick,quick"], ["quick given more than once"]),
        (["--op", "^"], ["--op", "'^'"]),
        (["--wd", "0.3,1,0.3"], ["0.3 given more than once", "list each value once"]),
        (["--wd", "1,1.0"], ["1.0 given more than once"]),
        (["--wd", "-1"], ["--wd", "-1"]),
        (["--frac", "1.5"], ["--frac", "(0, 1)", "1.5"]),
        (["--frac", "0"], ["--frac", "(0, 1)"]),
        (["--frac", "half"], ["--frac", "expected a real number", "'half'"]),
        (["--lr", "0"], ["--lr", "(0, inf]"]),
        (["--p", "15"], ["--p", "odd prime", "13"]),
        (["--seeds", "0", "0"], ["--seeds", "0 given more than once"]),
        (["--seeds", "-1"], ["--seeds"]),
        (["--measures", "nope"], ["measures", "'nope'", "fourier"]),
    ],
)
def test_sweep_refuses_bad_grids(refused, tmp_path, extra, match):
    refused(main, _sweep(tmp_path, *extra), match, out=tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_repeated_weight_decay_names_the_flag_the_user_typed(refused, tmp_path):
    refused(main, _sweep(tmp_path, "--wd", "1,1"), "--wd:", out=tmp_path)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            ["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
            ["--workers", "--scheduler tcp://127.0.0.1:8786", "drop one of them"],
        ),
        (["--scheduler", "localhost"], ["--scheduler", "'localhost' is not a scheduler address"]),
        (["--scheduler", "tcp://h:port"], ["--scheduler", "tcp://HOST:PORT", "dask scheduler"]),
        (["--workers", "0"], ["--workers"]),
        (["--threads-per-worker", "0"], ["--threads-per-worker"]),
        (["--connect-timeout", "0"], ["--connect-timeout"]),
    ],
)
def test_sweep_refuses_bad_cluster_flags(refused, tmp_path, extra, match):
    refused(main, _sweep(tmp_path, *extra), match, out=tmp_path)


def test_sweep_refuses_a_silent_scheduler_within_the_timeout(refused, tmp_path):
    with socket.socket() as s:  # a port nobody listens on (bound, then freed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    line = refused(
        main,
        _sweep(tmp_path, "--scheduler", addr, "--connect-timeout", "1"),
        ["--scheduler", f"no Dask scheduler answered at {addr} within 1 s", "dask worker"],
        out=tmp_path,
    )
    assert time.monotonic() - t0 < 15, "the refusal waited far longer than --connect-timeout"
    assert "Traceback" not in line
    assert not (tmp_path / "out").exists()


# -- decide ---------------------------------------------------------------------------------------


def _report(tmp_path, **over) -> str:
    """A crosscheck.json with its thresholds and an (empty) data block, changed by ``over``."""
    rep = {
        "metadata": {"config": {"crosscheck": {"thresholds": dataclasses.asdict(Thresholds())}}},
        "data": {"p": 11, "seeds": [0], "per_seed": []},
    }
    rep.update(over)
    run = tmp_path / "run"
    run.mkdir()
    (run / "crosscheck.json").write_text(json.dumps(rep))
    return str(run)


def _decide(tmp_path, run: str, *extra: str) -> list[str]:
    return ["decide", run, *extra, "--out", str(tmp_path / "decided")]


def test_decide_refuses_a_missing_folder(refused, tmp_path):
    missing = tmp_path / "nowhere"
    refused(main, _decide(tmp_path, str(missing)), ["RUN:", "does not exist"], out=tmp_path)


def test_decide_refuses_a_folder_without_crosscheck_json(refused, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "points.csv").write_text("key\n")
    refused(
        main,
        _decide(tmp_path, str(tmp_path / "run")),
        ["RUN:", "crosscheck.json does not exist", "crosscheck run folder"],
        out=tmp_path,
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"data": ', "is not readable JSON"),
        (json.dumps({"metadata": {}, "summary": {}}), "holds no per-seed series ('data')"),
        (json.dumps({"data": [1, 2]}), "holds no per-seed series ('data')"),
        (json.dumps([]), "holds no per-seed series ('data')"),
    ],
)
def test_decide_refuses_a_file_that_is_not_a_finished_crosscheck(refused, tmp_path, text, match):
    run = tmp_path / "run"
    run.mkdir()
    (run / "crosscheck.json").write_text(text)
    for arg in (run, run / "crosscheck.json"):  # the folder or the file itself
        refused(main, _decide(tmp_path, str(arg)), ["RUN:", match], out=tmp_path)


def test_decide_refuses_a_report_without_thresholds(refused, tmp_path):
    run = _report(tmp_path, metadata={"command": "transformer_check sweep"})
    refused(main, _decide(tmp_path, run), ["RUN:", "does not record its thresholds"], out=tmp_path)


@pytest.mark.parametrize(
    "data",
    [
        {"p": 11, "seeds": [0]},  # no per_seed
        {"p": 11, "seeds": [0], "per_seed": [{"transformer": {"rows": []}}]},
        {"p": "eleven", "seeds": [0], "per_seed": [{}]},
    ],
)
def test_decide_refuses_a_damaged_data_block(refused, tmp_path, data):
    run = _report(tmp_path, data=data)
    refused(main, _decide(tmp_path, run), ["RUN:", "'data' block is damaged"], out=tmp_path)


def test_decide_refuses_a_data_block_without_seeds(refused, tmp_path):
    refused(main, _decide(tmp_path, _report(tmp_path)), "no seeds to pool", out=tmp_path)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--gap-max", "-1"], ["gap_max", "[0, inf]", "-1"]),
        (["--gap-max", "abc"], ["--gap-max", "expected a real number", "'abc'"]),
        (["--conc-min", "0"], ["conc_min", "(0, inf]"]),
        (["--support-tol", "0.5"], ["support_tol", "[1, inf]"]),
        (["--rho-min", "2"], ["rho_min", "[-1, 1]"]),
        (["--llc-drop-min", "nan"], ["llc"]),
        (["--gap-max"], ["--gap-max", "expected one argument"]),
    ],
)
def test_decide_refuses_bad_threshold_values(refused, tmp_path, extra, match):
    run = _report(tmp_path)
    refused(main, _decide(tmp_path, run, *extra), match, out=tmp_path)
