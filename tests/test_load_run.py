"""``theory.base.load_run`` on a real output folder of every subcommand (tiny settings), on the
``latest`` pointer, nested and multi-seed runs, a killed run, the shipped example run, and the
refusals: a missing, foreign or damaged folder is one InputError naming the file."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from theory.base import InputError, RunRecord, load_run

torch = pytest.importorskip("torch")

from bdm.cli import main as bdm_main  # noqa: E402
from sfm.cli import main as sfm_main  # noqa: E402
from theory.cli import main as theory_main  # noqa: E402
from transformer_check.cli import main as tc_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# the smallest training run the CLI takes (tests/test_transformer_resume.py), with snapshots
TINY_TRAIN = ["train", "--p", "7", "--frac", "0.5", "--steps", "4", "--d-model", "8"]
TINY_TRAIN += ["--n-heads", "2", "--d-head", "4", "--d-mlp", "16", "--measures", "spectral"]
TINY_TRAIN += ["--measure-points", "2", "--eval-points", "2", "--quiet", "--threads", "1"]
# the tiny crosscheck, cut to one seed and fewer steps (its verdicts are not what is checked)
TINY_XC = ["crosscheck", "--preset", "tiny", "--seeds", "1", "--steps", "20"]
TINY_XC += ["--sfm-steps", "50", "--quiet"]


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _tables_match_the_csv_files(rec: RunRecord) -> None:
    """Every CSV of the run (outside nested runs, checkpoints, work/) is a table, column for
    column, with as many entries as the file has rows."""
    own = [
        f
        for f in rec.files
        if f.endswith(".csv")
        and not any(f.startswith(n + "/") for n in rec.runs)
        and not f.startswith(("work/", "checkpoints/"))
    ]
    assert sorted(t + ".csv" for t in rec.metrics) == sorted(own)
    for f in own:
        header, body = _csv(rec.path / f)
        cols = rec.metrics[f[: -len(".csv")]]
        assert list(cols) == header, f
        for j, name in enumerate(header):
            assert len(cols[name]) == len(body), (f, name)
            if cols[name].dtype.kind in "iu":
                assert cols[name].tolist() == [int(r[j]) for r in body]


def _check(rec: RunRecord, command: str) -> None:
    assert isinstance(rec, RunRecord)
    assert rec.command == command
    assert not rec.running and rec.finished
    assert rec.summary and "metadata" not in rec.summary
    assert rec.metadata["command"] == command
    assert ".occam-run.json" in rec.files or rec.identity is None
    _tables_match_the_csv_files(rec)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("load-run")


@pytest.fixture(scope="module")
def train_run(work) -> Path:
    out = work / "train"
    assert tc_main([*TINY_TRAIN, "--out", str(out)]) == 0
    return out


# -- theory ---------------------------------------------------------------------------------------


def test_theory_crossover_and_report(work):
    out = work / "crossover"
    assert theory_main(["crossover", "--p", "97", "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "theory crossover")
    assert rec.config["p"] == 97 and rec.metrics == {} and rec.verdicts is None
    written = json.loads((out / "crossover.json").read_text())
    assert rec.summary["crossover"] == written["crossover"]
    out = work / "report"
    assert theory_main(["report", "--p", "31", "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "theory report")
    assert rec.config["p"] == 31 and {"crossover_grid", "rrr_rlct"} <= set(rec.metrics)


def test_theory_diagram_has_one_table_per_prime(work):
    out = work / "diagram"
    assert theory_main(["diagram", "--p", "5", "7", "--num", "5", "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "theory diagram")
    assert rec.config["p"] == [5, 7]
    assert set(rec.metrics) == {"crossover_diagram_p5", "crossover_diagram_p7"}
    # a column in both tables needs the table named
    name = next(iter(rec.metrics["crossover_diagram_p5"]))
    with pytest.raises(InputError, match="2 tables have a column"):
        rec.column(name)
    assert rec.column(name, "crossover_diagram_p7") is rec.metrics["crossover_diagram_p7"][name]


def test_theory_check(work):
    out = work / "check"
    argv = ["check", "theory.rrr_rlct_invariants", "--examples", "5", "--quiet", "--out", str(out)]
    assert theory_main(argv) == 0
    rec = load_run(out)
    _check(rec, "theory check")
    assert rec.config["examples"] == 5 and rec.summary["results"][0]["n_cases"] == 5


# -- sfm ------------------------------------------------------------------------------------------


def test_sfm_run_curves(work):
    out = work / "sfm"
    assert sfm_main(["run", "--p", "13", "--steps", "50", "--quiet", "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "sfm run")
    assert rec.config["p"] == 13 and rec.summary["p"] == 13
    step, support = rec.column("step"), rec.column("support")
    assert step.dtype == np.int64 and step.tolist() == list(range(51))
    assert support[-1] == rec.summary["final"]["support"]


def test_sfm_sweep(work):
    out = work / "sfm-sweep"
    argv = ["sweep", "--p", "7", "--f", "0.3,0.5", "--strength", "0.1,0.3", "--seeds", "1"]
    argv += ["--steps", "30", "--workers", "1", "--quiet", "--out", str(out)]
    assert sfm_main(argv) == 0
    rec = load_run(out)
    _check(rec, "sfm sweep")
    assert (
        rec.config["p"] == [7] and len(rec.metrics["points"]["f"]) == rec.summary["n_points"] == 4
    )


# -- transformer_check and bdm on one tiny training run -------------------------------------------


def test_train_run(train_run):
    rec = load_run(train_run)
    _check(rec, "transformer_check train")
    assert rec.config["task"]["p"] == 7 and rec.config["steps"] == 4
    assert rec.identity["argv"][0] == "train" and "finished_utc" in rec.identity
    assert rec.column("step").tolist()[-1] == 4 == rec.summary["final"]["step"]
    assert "checkpoints/last.json" in rec.checkpoints
    assert all(c.startswith("checkpoints/") and c.endswith(".json") for c in rec.checkpoints)
    assert "RunRecord(path=" in repr(rec) and "metrics" not in repr(rec)  # short repr


def test_train_with_several_seeds_gathers_the_seed_folders(work):
    out = work / "seeds"
    assert tc_main([*TINY_TRAIN, "--no-snapshots", "--seeds", "0", "1", "--out", str(out)]) == 0
    rec = load_run(out)
    assert rec.command == "transformer_check train" and rec.runs == ("seed_0", "seed_1")
    assert set(rec.metrics) == {"seed_0/metrics", "seed_1/metrics"}
    assert set(rec.summary) == {"seed_0", "seed_1"}
    assert rec.config["seed"] == [0, 1] and rec.config["task"]["p"] == 7  # shared vs differing
    one = rec.sub("seed_1")
    _check(one, "transformer_check train")
    assert one.config["seed"] == 1 and one.identity is None
    assert one.metrics["metrics"]["test_acc"].tolist() == (
        rec.metrics["seed_1/metrics"]["test_acc"].tolist()
    )
    with pytest.raises(InputError, match="no nested run 'seed_7'; nested runs: seed_0, seed_1"):
        rec.sub("seed_7")


def test_measure_export_import_and_bdm(train_run, work):
    ckpt = train_run / "checkpoints" / "last.json"
    m = work / "measure"
    assert tc_main(["measure", str(ckpt), "--measures", "spectral", "--out", str(m)]) == 0
    rec = load_run(m)
    _check(rec, "transformer_check measure")
    assert rec.config["train_config"]["task"]["p"] == 7 and rec.summary["step"] == 4
    assert len(rec.metrics["measures"]["step"]) == 1

    exported = work / "export" / "model.safetensors"
    assert tc_main(["export", str(ckpt), "--out", str(exported)]) == 0
    rec = load_run(exported)  # export writes one file, not a folder
    assert rec.command == "transformer_check export" and rec.config["task"]["p"] == 7
    assert rec.summary["step"] == "4" and "blocks.0.mlp.W_in" in rec.summary["tensors"]
    assert rec.files == ("model.safetensors",) and rec.metrics == {}

    imported = work / "import"
    from safetensors.torch import save_file

    from transformer_check.interop.tl import tl_from_occam
    from transformer_check.train import load_model

    model = load_model(ckpt)[0]
    sd, tl_cfg = tl_from_occam(model)
    tl_file = work / "tl.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, tl_file, {"config": json.dumps(tl_cfg)})
    argv = ["import", str(tl_file), "--format", "tl", "--out", str(imported)]
    assert tc_main(argv) == 0
    rec = load_run(imported)
    _check(rec, "transformer_check import")
    assert rec.config["format"] == "tl" and rec.summary["max_abs_logit_diff"] == 0.0

    for sub, extra in (("measure", []), ("blocks", ["--tensor", "blocks.0.mlp.W_in"])):
        out = work / f"bdm-{sub}"
        assert bdm_main([sub, str(exported), *extra, "--out", str(out)]) == 0
        rec = load_run(out)
        _check(rec, f"bdm {sub}")
        assert rec.config["file"] == str(exported)
    assert load_run(work / "bdm-measure").metrics["bdm_measure"]["tensor"].dtype.kind == "U"


def test_bdm_ablation(train_run, work):
    out = work / "ablation"
    assert tc_main(["bdm-ablation", str(train_run), "--quiet", "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "transformer_check bdm-ablation")
    assert rec.config["runs"] == [str(train_run)] and {"ablation", "summary"} <= set(rec.metrics)


def test_llc_calibrate(train_run, work):
    out = work / "llc-calibrate"
    argv = ["llc-calibrate", str(train_run), "--eps", "1e-4,1e-3", "--nbeta", "5,10"]
    argv += ["--chains", "2", "--steps", "6", "--burnin", "2", "--threads", "1"]
    assert tc_main([*argv, "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "transformer_check llc-calibrate")
    assert rec.config["eps"] == [1e-4, 1e-3] and rec.config["sgld"]["n_chains"] == 2
    assert len(rec.metrics["calibration"]["eps"]) == 4 and len(rec.summary["points"]) == 4
    assert {"calibration.png", "calibration.svg"} <= set(rec.files)
    assert rec.summary["recommended_rule"] in ("plateau", "fallback", "none")


def test_llc_calibrate_takes_the_newest_snapshot_without_last(tmp_path):
    """A run that kept only snapshots (like examples/runs/quick-seed0): no --step needed."""
    from transformer_check.llc_cli import _checkpoint

    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for s in (55, 3000, 107):
        (ck / f"step_{s:07d}.safetensors").write_bytes(b"")
    assert _checkpoint(tmp_path / "run", None) == ck / "step_0003000"
    (ck / "last.safetensors").write_bytes(b"")
    assert _checkpoint(tmp_path / "run", None) == tmp_path / "run"
    assert _checkpoint(tmp_path / "run", 107) == ck / "step_0000107"


def test_transformer_sweep_lists_its_runs(work):
    out = work / "tc-sweep"
    argv = ["sweep", "--p", "7", "--steps", "4", "--measures", "spectral", "--seeds", "0"]
    argv += ["--wd", "0.3,1", "--scheduler", "synchronous", "--quiet", "--out", str(out)]
    assert tc_main(argv) == 0
    rec = load_run(out)
    _check(rec, "transformer_check sweep")
    assert rec.config["weight_decay"] == [0.3, 1.0] and len(rec.metrics["points"]["seed"]) == 2
    assert len(rec.runs) == 2 and all(r.startswith("runs/") for r in rec.runs)
    point = rec.sub(rec.runs[0])
    assert point.command == "transformer_check train" and point.config["task"]["p"] == 7


def test_crosscheck_and_decide_verdicts(work):
    out = work / "crosscheck"
    assert tc_main([*TINY_XC, "--out", str(out)]) == 0
    rec = load_run(out)
    _check(rec, "transformer_check crosscheck")
    written = json.loads((out / "crosscheck.json").read_text())
    assert rec.verdicts == written["summary"] and rec.config["crosscheck"]["p"] == 11
    table = rec.metrics["verdicts"]
    assert table["key"].dtype.kind == "U" and set(table["seed"]) == {"0", "pooled"}
    pooled = {
        k: lab
        for k, s, lab in zip(table["key"], table["seed"], table["label"], strict=True)
        if s == "pooled"
    }
    assert pooled == {k: v["label"] for k, v in rec.verdicts.items()}
    assert {"sfm_curves", "sweeps", "verdicts"} <= set(rec.metrics)
    main_run = next(r for r in rec.runs if r.startswith("runs/main"))
    assert rec.sub(main_run).config["task"]["p"] == 11

    d = work / "decide"
    assert tc_main(["decide", str(out), "--gap-max", "0.1", "--out", str(d)]) == 0
    dec = load_run(d)
    _check(dec, "transformer_check decide")
    assert dec.config["thresholds"]["gap_max"] == 0.1
    assert set(dec.verdicts) == set(rec.verdicts) and dec.summary["seeds"] == [0]


# -- pointers, killed runs, the shipped run -------------------------------------------------------


def test_latest_symlink_text_file_and_root(work, monkeypatch):
    cwd = work / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert theory_main(["crossover", "--p", "5"]) == 0
    root = cwd / "runs" / "theory-crossover"
    target = Path(os.readlink(root / "latest"))
    for given in (root / "latest", root):
        rec = load_run(given)
        assert rec.path == root / target and rec.config["p"] == 5
    # where symlinks are impossible, latest is a one-line text file naming the folder
    (root / "latest").unlink()
    (root / "latest").write_text(f"{target}\n")
    assert load_run(root / "latest").path == root / target


def test_a_killed_run_reads_as_running(train_run, work):
    out = work / "killed"
    shutil.copytree(train_run, out)
    (out / "RUNNING").write_text("started ... by pid 1\n")
    rec = load_run(out)
    assert rec.running and not rec.finished and rec.command == "transformer_check train"
    # a folder killed before it wrote a result: the identity file alone says what it was
    for f in ("summary.json", "metrics.csv"):
        (out / f).unlink()
    rec = load_run(out)
    assert rec.running and rec.command == "transformer_check train" and rec.summary == {}
    # a nested run is running while the run around it is
    xc = work / "crosscheck"
    nested = load_run(xc).runs[0]
    (xc / "RUNNING").write_text("x\n")
    try:
        assert load_run(xc / nested).running
    finally:
        (xc / "RUNNING").unlink()
    assert not load_run(xc / nested).running


def test_the_shipped_run():
    rec = load_run(ROOT / "examples" / "runs" / "quick-seed0")
    _check(rec, "transformer_check train")
    assert rec.config["preset"] == "quick" and rec.config["task"]["p"] == 47
    assert rec.config["steps"] == 3000 and rec.config["seed"] == 0
    step, acc = rec.column("step"), rec.column("test_acc")
    assert step[-1] == 3000 and len(step) == 157
    # its t_gen is the first logged step with test accuracy >= 0.99 (definitions §4.3)
    assert rec.summary["t_gen"] == int(step[np.argmax(acc >= 0.99)]) == 1097
    assert rec.checkpoints == ("checkpoints/step_0000055.json", "checkpoints/step_0003000.json")
    assert all((rec.path / f).stat().st_size < 2**20 for f in rec.files)


# -- refusals -------------------------------------------------------------------------------------


def test_refusals_name_the_file(train_run, tmp_path):
    with pytest.raises(InputError, match=r"nope: no such folder"):
        load_run(tmp_path / "nope")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match=r"foreign: not an occam run folder \(no .occam-run.json"):
        load_run(foreign)
    with pytest.raises(InputError, match=r"notes.txt: a file, not a run folder"):
        load_run(foreign / "notes.txt")
    (foreign / "w.safetensors").write_bytes(b"\x01")
    with pytest.raises(InputError, match=r"w.safetensors: not a safetensors file an occam export"):
        load_run(foreign / "w.safetensors")

    bad = tmp_path / "bad"
    shutil.copytree(train_run, bad)
    text = (bad / "summary.json").read_text()
    (bad / "summary.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"bad/summary.json: damaged JSON .*restore the file"):
        load_run(bad)
    (bad / "summary.json").write_text(text)
    (bad / ".occam-run.json").write_text("[1, 2]")
    with pytest.raises(InputError, match=r"bad/.occam-run.json: not a JSON object"):
        load_run(bad)
    shutil.copy(train_run / ".occam-run.json", bad / ".occam-run.json")
    with open(bad / "metrics.csv", "a") as fh:
        fh.write("1,2\n")
    with pytest.raises(InputError, match=r"bad/metrics.csv: line \d+ has 2 fields"):
        load_run(bad)
    (bad / "metrics.csv").unlink()
    rec = load_run(bad)
    with pytest.raises(InputError, match="no table has a column 'test_acc'; tables: none"):
        rec.column("test_acc")
