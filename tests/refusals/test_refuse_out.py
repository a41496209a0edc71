"""``--out`` that cannot be used, across the four CLIs: one line, exit 2, nothing written.

The run-folder policy (theory.base.runs) runs in ``run_cli`` before any command, so a cheap
command of each package stands for all of its subcommands.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bdm.cli import main as bdm_main
from sfm.cli import main as sfm_main
from theory.base.runs import IDENTITY_FILE
from theory.cli import main as theory_main
from transformer_check.cli import main as tc_main

from .conftest import refused_subprocess

# (main, the command's arguments before --out); none of them gets to run
CLIS = {
    "theory": (theory_main, ["crossover"]),
    "sfm": (sfm_main, ["run", "--p", "5", "--steps", "2", "--quiet"]),
    "bdm": (bdm_main, ["measure", "weights.npz"]),
    "transformer_check": (tc_main, ["train", "--preset", "quick", "--quiet"]),
}


@pytest.fixture(params=sorted(CLIS))
def cli(request):
    return CLIS[request.param]


def test_out_is_an_existing_file(cli, refused, tmp_path):
    main, argv = cli
    (tmp_path / "f.txt").write_text("x")
    refused(main, [*argv, "--out", str(tmp_path / "f.txt")], ["--out", "is a file"], tmp_path)
    assert (tmp_path / "f.txt").read_text() == "x"


def test_out_under_a_file(cli, refused, tmp_path):
    main, argv = cli
    (tmp_path / "f.txt").write_text("x")
    refused(
        main,
        [*argv, "--out", str(tmp_path / "f.txt" / "run")],
        ["--out", "is a file, so", "choose another --out"],
        tmp_path,
    )


def test_out_is_the_empty_string(cli, refused, tmp_path, monkeypatch):
    main, argv = cli
    monkeypatch.chdir(tmp_path)
    refused(main, [*argv, "--out", ""], ["--out", "empty folder name"], tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_out_in_an_unwritable_folder(cli, refused, tmp_path):
    main, argv = cli
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(main, [*argv, "--out", str(locked)], ["--out", "not writable"], tmp_path)
        refused(main, [*argv, "--out", str(locked / "sub")], ["--out", "not writable"], tmp_path)
    finally:
        locked.chmod(0o755)


def test_non_empty_out_without_resume_or_overwrite(cli, refused, tmp_path):
    main, argv = cli
    (tmp_path / "old.json").write_text("{}")
    line = refused(
        main, [*argv, "--out", str(tmp_path)], ["--out", "is not empty", "--overwrite"], tmp_path
    )
    assert "old.json" in line


def test_overwrite_of_a_folder_no_run_made(cli, refused, tmp_path):
    main, argv = cli
    (tmp_path / "notes.txt").write_text("mine")
    refused(
        main,
        [*argv, "--out", str(tmp_path), "--overwrite"],
        ["--overwrite", "not an occam run folder", "remove it yourself"],
        tmp_path,
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overwrite_without_out(cli, refused, tmp_path, monkeypatch):
    main, argv = cli
    monkeypatch.chdir(tmp_path)
    refused(main, [*argv, "--overwrite"], ["--overwrite", "needs --out DIR"], tmp_path)


def test_resume_and_overwrite_conflict(refused, tmp_path):
    (tmp_path / IDENTITY_FILE).write_text("{}")
    refused(
        tc_main,
        ["train", "--preset", "quick", "--out", str(tmp_path), "--resume", "--overwrite"],
        ["--overwrite", "conflicts with --resume"],
        tmp_path,
    )


def test_resume_without_a_run_to_continue(refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(
        tc_main,
        ["train", "--preset", "quick", "--resume"],
        ["--resume", "no run to continue", "--out DIR"],
        tmp_path,
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(
            st.characters(whitelist_categories=("L", "N"), whitelist_characters="._-"),
            min_size=1,
            max_size=12,
        ).filter(lambda s: s not in {".", ".."}),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    overwrite=st.booleans(),
)
def test_any_foreign_folder_is_left_alone(refused, names, overwrite):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for n in names:
            (out / n).write_text(n)
        flags = ["--overwrite"] if overwrite else []
        match = "not an occam run folder" if overwrite else "is not empty"
        refused(theory_main, ["crossover", "--out", tmp, *flags], match, out)
        assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_out_dot_in_a_fresh_process(tmp_path):
    (tmp_path / "README.md").write_text("a repository")
    refused_subprocess("theory", ["crossover", "--out", "."], "is not empty", cwd=tmp_path)
    refused_subprocess(
        "theory",
        ["crossover", "--out", ".", "--overwrite"],
        "not an occam run folder",
        cwd=tmp_path,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
