"""`python -m sfm run` and `python -m sfm sweep` end to end (files, metadata, resume, errors)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfm.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_run_writes_curves_summary_and_figures(tmp_path):
    out = tmp_path / "run"
    rc = main(
        [
            "run",
            "--p",
            "31",
            "--f",
            "0.4",
            "--beta",
            "0.05",
            "--steps",
            "600",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["metadata"]["command"] == "sfm run"
    assert s["metadata"]["config"]["p"] == 31
    ev = s["events"]
    assert ev["t_mem"] == 1 and ev["t_gen"] is not None and ev["t_gen"] > 1
    assert s["final"]["support"] == s["theory"]["interpolant_support"] == 31
    assert s["theory"]["lambda_mem"] == 31**2 / 2 and s["theory"]["lambda_gen"] == 31 / 2
    assert s["at_t_mem"]["support"] > 0.5 * 31**2
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert len(rows) == 601 and rows[0]["step"] == "0"
    assert float(rows[-1]["support"]) == 31
    for stem in ("dynamics", "weights"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.svg").stat().st_size > 1000


def test_run_reports_missing_events_honestly(tmp_path):
    out = tmp_path / "none"
    assert (
        main(
            ["run", "--p", "13", "--schedule", "none", "--steps", "5", "--quiet", "--out", str(out)]
        )
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["events"]["t_gen"] is None
    assert any("t_gen did not occur within 5 steps" in n for n in s["events"]["notes"])


def test_user_target_file(tmp_path):
    g = np.random.default_rng(0).normal(size=13)
    np.save(tmp_path / "g.npy", g)
    out = tmp_path / "user"
    assert (
        main(
            [
                "run",
                "--p",
                "13",
                "--f",
                "0.6",
                "--target",
                str(tmp_path / "g.npy"),
                "--steps",
                "50",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    np.save(tmp_path / "bad.npy", g[:5])
    assert (
        main(
            [
                "run",
                "--p",
                "13",
                "--target",
                str(tmp_path / "bad.npy"),
                "--quiet",
                "--overwrite",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    (tmp_path / "g.txt").write_text("\n".join(repr(float(v)) for v in g))
    assert (
        main(
            [
                "run",
                "--p",
                "13",
                "--target",
                str(tmp_path / "g.txt"),
                "--steps",
                "5",
                "--quiet",
                "--overwrite",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    (tmp_path / "words.txt").write_text("root:x:0:0\n")
    assert (
        main(
            [
                "run",
                "--p",
                "13",
                "--target",
                str(tmp_path / "words.txt"),
                "--quiet",
                "--overwrite",
                "--out",
                str(out),
            ]
        )
        == 2
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--p", "9"], "must be an odd prime"),
        (["run", "--f", "1.5"], "f: must lie in (0, 1]"),
        (["run", "--f", "0"], "f: must lie in (0, 1]"),
        (["run", "--eta", "2.5"], "eta: must lie in (0, 2)"),
        (["run", "--p", "31", "--f", "0.0001"], "training set would be empty"),
        (["run", "--schedule", "cosine"], "invalid choice"),
        (["sweep", "--p", "31,33"], "must be an odd prime"),
        (["sweep", "--schedule", "none"], "has no strength to sweep"),
    ],
)
def test_bad_input_one_line_exit_2(argv, needle, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sfm", *argv, "--out", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # rejected before any work


def test_sweep_end_to_end_with_resume(tmp_path):
    """A tiny sweep on a 2-process LocalCluster, then a resume after deleting one point."""
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--p",
        "11",
        "--f",
        "0.3,0.7",
        "--strength",
        "0.05,0.5",
        "--seeds",
        "2",
        "--steps",
        "300",
        "--workers",
        "2",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    first = json.loads((out / "sweep.json").read_text())
    assert first["n_points"] == 4 and first["n_run"] == 4 and first["n_skipped"] == 0
    files = sorted((out / "points").glob("*.json"))
    assert len(files) == 4
    for stem in ("phase_diagram", "power_laws"):
        assert (out / f"{stem}.png").exists() and (out / f"{stem}.svg").exists()
    rows = list(csv.DictReader((out / "points.csv").open()))
    assert len(rows) == 8
    victim = files[1]
    before = json.loads(victim.read_text())
    victim.unlink()
    assert main([*argv, "--resume"]) == 0  # a reused folder continues only when asked to
    second = json.loads((out / "sweep.json").read_text())
    assert second["n_run"] == 1 and second["n_skipped"] == 3
    after = json.loads(victim.read_text())
    assert after["seeds"] == before["seeds"]  # deterministic: same seeds, same events
    strip = [{k: v for k, v in p.items()} for p in first["points"]]
    assert strip == second["points"]


def test_plots_leave_the_users_backend_alone():
    """Importing sfm.plots and drawing a figure keep the backend a notebook user chose."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "from sfm import SFMConfig, simulate_one\n"
        "from sfm.plots import dynamics_figure, heatmap_figure\n"
        "res = simulate_one(SFMConfig(p=13, steps=20))\n"
        "figs = [dynamics_figure(res), heatmap_figure(res)]\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert all(type(f).__name__ == 'Figure' for f in figs)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
