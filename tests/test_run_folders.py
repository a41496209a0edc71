"""The run-folder policy (theory.base.runs via run_cli), file modes, provenance, benchmark --save."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from theory.base import InputError, OccamArgumentParser, run_cli, run_metadata, write_json
from theory.base.cli import add_out_argument
from theory.base.io import current_umask
from theory.base.runs import IDENTITY_FILE, LATEST, RUNNING_FILE, args_hash, read_latest
from theory.cli import main as theory_main

ROOT = Path(__file__).resolve().parents[1]


def _toy(behaviour: str = "ok", resumable: bool = False):
    """A one-command CLI whose command writes result.json (or fails as told)."""

    def cmd(args):
        write_json(args.out / "result.json", {"x": args.x})
        if behaviour == "interrupt":
            raise KeyboardInterrupt
        if behaviour == "refuse":
            raise InputError("x: refused after writing")
        return 0

    def build():
        p = OccamArgumentParser(prog="toy")
        p.add_argument("--x", type=int, default=1)
        add_out_argument(p, str(ROOT_HOLDER["root"]), resumable=resumable)
        p.set_defaults(func=cmd)
        return p

    return lambda argv: run_cli(build, argv)


ROOT_HOLDER: dict[str, Path] = {}


@pytest.fixture
def root(tmp_path):
    ROOT_HOLDER["root"] = tmp_path / "runs" / "toy"
    return ROOT_HOLDER["root"]


def test_two_runs_into_the_default_root_are_two_complete_folders(root):
    main = _toy()
    assert main([]) == 0
    assert main(["--x", "2"]) == 0
    runs = sorted(p for p in root.iterdir() if p.name != LATEST)
    assert len(runs) == 2
    for run in runs:
        assert {p.name for p in run.iterdir()} == {IDENTITY_FILE, "result.json"}
        ident = json.loads((run / IDENTITY_FILE).read_text())
        assert (
            ident["exit_code"] == 0
            and ident["pid"] == os.getpid()
            and ident["argv"]
            in (
                [],
                ["--x", "2"],
            )
        )
    assert json.loads((root / LATEST / "result.json").read_text())["x"] == 2
    # the same arguments in the same second: a suffixed folder, never a shared one
    assert main([]) == 0 and main([]) == 0
    assert len([p for p in root.iterdir() if p.name != LATEST]) == 4


def test_folder_name_is_timestamp_and_argument_hash(root):
    assert _toy()(["--x", "5"]) == 0
    name = read_latest(root).name
    stamp, digest = name[:15], name[16:24]
    time.strptime(stamp, "%Y%m%d-%H%M%S")
    assert len(digest) == 8 and int(digest, 16) >= 0
    import argparse

    assert digest == args_hash(argparse.Namespace(x=5, out=None, overwrite=False))


def test_non_empty_out_is_refused_and_overwrite_empties_it(root, tmp_path, capsys):
    main = _toy()
    out = tmp_path / "mine"
    assert main(["--out", str(out)]) == 0
    (out / "stale.txt").write_text("from an older run")
    capsys.readouterr()
    assert main(["--out", str(out), "--x", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not empty" in err[0] and "--overwrite" in err[0]
    assert "--resume" not in err[0]  # this command cannot resume
    assert main(["--out", str(out), "--x", "3", "--overwrite"]) == 0
    assert {p.name for p in out.iterdir()} == {IDENTITY_FILE, "result.json"}
    assert json.loads((out / "result.json").read_text())["x"] == 3


def test_overwrite_of_a_folder_no_run_made_is_refused(root, tmp_path, capsys):
    keep = tmp_path / "repo"
    keep.mkdir()
    (keep / "precious.py").write_text("x = 1\n")
    assert _toy()(["--out", str(keep), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "not an occam run folder" in err and "remove it yourself" in err
    assert (keep / "precious.py").read_text() == "x = 1\n"


def test_resume_without_out_continues_latest(root, capsys):
    main = _toy(resumable=True)
    assert main(["--resume"]) == 2
    assert "no run to continue" in capsys.readouterr().err
    assert main([]) == 0
    first = read_latest(root)
    assert main(["--resume", "--x", "9"]) == 0
    assert read_latest(root) == first
    ident = json.loads((first / IDENTITY_FILE).read_text())
    assert len(ident["attempts"]) == 2 and ident["argv"] == ["--resume", "--x", "9"]
    assert main(["--resume", "--overwrite", "--out", str(first)]) == 2
    assert "conflicts with --resume" in capsys.readouterr().err


def test_interrupted_run_leaves_running(root, capsys):
    assert _toy("interrupt", resumable=True)([]) == 130
    run = read_latest(root)
    assert (run / RUNNING_FILE).exists() and (run / "result.json").exists()
    assert "keeps RUNNING" in capsys.readouterr().err
    assert _toy(resumable=True)(["--resume"]) == 0
    assert not (run / RUNNING_FILE).exists()


def test_refusal_before_writing_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "new"
    assert theory_main(["crossover", "--dlambda", "1", "--out", str(out)]) == 2
    assert not out.exists()
    root = tmp_path / "runs"
    ROOT_HOLDER["root"] = root

    def build():
        p = OccamArgumentParser(prog="toy")
        add_out_argument(p, str(root))
        p.set_defaults(func=lambda a: (_ for _ in ()).throw(InputError("x: bad; fix it")))
        return p

    assert run_cli(build, []) == 2
    assert [p.name for p in root.iterdir()] == []  # no run folder, no latest pointer


def test_refusal_after_writing_keeps_running(root, capsys):
    assert _toy("refuse")([]) == 2
    run = read_latest(root)
    assert (run / RUNNING_FILE).exists() and (run / "result.json").exists()


def test_killed_subprocess_leaves_running(tmp_path):
    code = (
        "import time\n"
        "from theory.base import OccamArgumentParser, run_cli, write_json\n"
        "from theory.base.cli import add_out_argument\n"
        "def cmd(a):\n"
        "    write_json(a.out / 'part.json', {})\n"
        "    print('ready', flush=True); time.sleep(60)\n"
        "def build():\n"
        "    p = OccamArgumentParser(prog='k'); add_out_argument(p, 'runs/k', resumable=True)\n"
        "    p.set_defaults(func=cmd); return p\n"
        "raise SystemExit(run_cli(build, None))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    run = read_latest(tmp_path / "runs" / "k")
    assert (run / RUNNING_FILE).exists()
    assert str(proc.pid) in (run / RUNNING_FILE).read_text()
    assert json.loads((run / IDENTITY_FILE).read_text())["pid"] == proc.pid


def test_files_are_0644_under_umask_022(tmp_path):
    code = (
        "import os; os.umask(0o022)\n"
        "from theory.cli import main\n"
        f"raise SystemExit(main(['report', '--p', '5', '--out', {str(tmp_path / 'r')!r}]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert len(files) >= 3
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    for d in [tmp_path / "r", *(p for p in (tmp_path / "r").rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d


def test_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # unchanged by the read
    finally:
        os.umask(before)


def test_provenance_identifies_the_run():
    from importlib import metadata

    meta = run_metadata("x", {"a": 1}, seed=3)
    for key in ("command", "versions", "git_hash", "seed", "config"):  # the keys it had
        assert key in meta
    # occam's own version under its distribution's name, and a benchmark reference's when installed
    assert meta["versions"]["occam-grokking"] == metadata.version("occam-grokking")
    assert meta["versions"]["distributed"] == metadata.version("distributed")
    assert meta["timestamp_utc"].endswith("Z") and "T" in meta["timestamp_utc"]
    assert meta["command_line"] == list(sys.argv)
    assert set(meta["device"]) >= {"cpu", "gpu", "cuda"}
    assert meta["threads"]["cpu_count"] == os.cpu_count()
    assert meta["git_dirty"] in (True, False)  # tests run inside the checkout
    json.dumps(meta)
    code = (
        "import sys, json; from theory.base.provenance import run_metadata\n"
        "m = run_metadata('x'); assert 'torch' not in sys.modules\n"
        "print(json.dumps([m['threads'], m['git_dirty']]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True
    )
    threads, _ = json.loads(res.stdout)
    assert threads["torch_threads"] is None  # torch never imported by the base


def test_provenance_outside_a_checkout(tmp_path):
    from theory.base.provenance import git_dirty

    assert git_dirty(tmp_path) is None


def test_broken_pipe_is_quiet(tmp_path):
    res = subprocess.run(
        f"{sys.executable} -m theory crossover --out {tmp_path / 'c'} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr
    assert res.stdout.count("\n") == 1
    assert (tmp_path / "c" / "crossover.json").exists()
    assert not (tmp_path / "c" / RUNNING_FILE).exists()


# ------------------------------------------------------------------------------------------
# benchmarks: default folder under runs/, --save guarded


@pytest.fixture
def evidence(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _evidence

    return _evidence


def test_bench_save_refuses_to_drop_a_reference(evidence, tmp_path):
    import argparse

    results = tmp_path / "results"
    write_json(results / "bdm.json", {"pybdm": {"cases": {}}, "occam": {}})
    write_json(results / "none.json", {"pybdm": None})
    args = argparse.Namespace(save=True, quick=False)
    kw = dict(key="pybdm", reference="pybdm 0.1.0", how="install it", results=results)
    with pytest.raises(InputError, match=r"--save: pybdm 0.1.0 is not installed.*install it"):
        evidence.check_save(args, committed="bdm.json", have_reference=False, **kw)
    evidence.check_save(args, committed="bdm.json", have_reference=True, **kw)
    evidence.check_save(args, committed="none.json", have_reference=False, **kw)
    evidence.check_save(argparse.Namespace(save=False), committed="bdm.json", **kw)
    with pytest.raises(InputError, match="--quick run is a smoke test"):
        evidence.check_save(argparse.Namespace(save=True, quick=True), committed="bdm.json")
    assert evidence.committed_has(results / "bdm.json", "pybdm")
    assert not evidence.committed_has(results / "missing.json", "pybdm")


def test_bench_save_copies_the_run(evidence, tmp_path):
    out = tmp_path / "run"
    write_json(out / "a.json", {"v": 1})
    got = evidence.save_results(out, ["a.json"], results=tmp_path / "results")
    assert got[0].read_text() == (out / "a.json").read_text()
    with pytest.raises(InputError, match="lacks b.json"):
        evidence.save_results(out, ["b.json"], results=tmp_path / "results")


def test_bench_defaults_write_under_runs(tmp_path):
    """Refused --save (no pybdm) runs nothing and touches no committed file; --help builds."""
    before = {p.name: p.stat().st_mtime_ns for p in (ROOT / "benchmarks" / "results").iterdir()}
    for name in ("bdm", "llc", "sfm", "transformer", "paper004"):
        res = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / f"bench_{name}.py"), "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0 and "--save" in res.stdout and "--overwrite" in res.stdout
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_bdm.py"),
            "--save",
            "--pybdm-python",
            str(tmp_path / "no-python"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "pybdm 0.1.0 is not installed" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    after = {p.name: p.stat().st_mtime_ns for p in (ROOT / "benchmarks" / "results").iterdir()}
    assert after == before
    assert not (tmp_path / "runs" / "bench-bdm").exists() or not any(
        p.name != LATEST for p in (tmp_path / "runs" / "bench-bdm").iterdir()
    )
