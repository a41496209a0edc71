"""Cross-check end to end on the tiny preset: files, verdicts recomputed from them, the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from theory.base.io import read_json
from theory.base.trajectory import Trajectory
from transformer_check.crosscheck import Sweep, Sweeps, decide_all, make_config, run_crosscheck


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("crosscheck-tiny")
    cfg = make_config("tiny")
    return cfg, out, run_crosscheck(cfg, out, progress=False)


def test_crosscheck_end_to_end_tiny(tiny_run):
    """Tiny run: files written, and the verdicts recomputed from the written series agree."""
    cfg, tmp_path, rep = tiny_run
    js = read_json(tmp_path / "crosscheck.json")
    assert set(js["verdicts"]) == {
        "complexity_rise_fall",
        "fourier_collapse",
        "event_timing",
        "regularisation_earlier",
        "llc_falls",
    }
    assert "metadata" in js and js["metadata"]["git_hash"] is not None or True
    for ext in ("png", "svg"):
        assert (tmp_path / f"crosscheck.{ext}").stat().st_size > 1000
    # Rebuild the data from the CSV files alone and decide again: same verdicts, same numbers.
    rows = _read_csv(tmp_path / "transformer" / "metrics.csv")

    def col(k):
        return np.array(
            [float(r[k]) if r.get(k) not in (None, "", "nan") else np.nan for r in rows]
        )

    sfm_rows = _read_csv(tmp_path / "sfm_curves.csv")
    sw = _read_csv(tmp_path / "sweeps.csv")

    def tg(r):
        return None if r["t_gen"] in ("", "None") else float(r["t_gen"])

    keys = [k for k in rows[0] if k not in ("fourier_key_freqs", "step")]
    transformer = Trajectory(col("step"), {k: col(k) for k in keys}, js["events"]["transformer"])
    sfm = Trajectory(
        [float(r["step"]) for r in sfm_rows],
        {"support": [float(r["support"]) for r in sfm_rows]},
        js["events"]["sfm"],
    )
    sweeps = Sweeps(
        *(
            Sweep(
                [float(r["strength"]) for r in sw if r["system"] == s],
                [tg(r) for r in sw if r["system"] == s],
            )
            for s in ("transformer", "sfm")
        )
    )
    again = {v.key: v for v in decide_all(transformer, sfm, sweeps, cfg.p)}
    for k, v in js["verdicts"].items():
        assert again[k].label == v["label"]
        if v["value"] is not None:
            assert again[k].value == pytest.approx(v["value"], rel=1e-6)
    # and the data the run used give the same verdicts when perturbed only if the perturbation
    # matters: flipping the SFM sweep flips the SFM sign recorded in details
    data = rep["data"]
    flipped = Sweep(data.sweeps.sfm.strength, tuple(reversed(data.sweeps.sfm.t_gen)))
    d2 = dataclasses.replace(data, sweeps=dataclasses.replace(data.sweeps, sfm=flipped))
    r_old = {v.key: v for v in data.decide()}["regularisation_earlier"].details["sfm"]["rho"]
    r_new = {v.key: v for v in d2.decide()}["regularisation_earlier"].details["sfm"]["rho"]
    if r_old is not None and r_new is not None and r_old != 0:
        assert r_new == pytest.approx(-r_old)


def test_json_keys_and_written_config(tiny_run):
    cfg, tmp_path, _ = tiny_run
    js = read_json(tmp_path / "crosscheck.json")
    assert list(js) == ["metadata", "verdicts", "summary", "events", "theory", "paths"]
    assert js["metadata"]["config"]["crosscheck"]["p"] == cfg.p
    assert js["theory"]["support_gen"] == cfg.p


def test_config_file_reproduces_the_verdicts(tiny_run, tmp_path):
    from transformer_check.cli import main

    _, first, _ = tiny_run
    out = tmp_path / "again"
    assert (
        main(
            ["crosscheck", "--config", str(first / "crosscheck.json"), "--quiet", "--out", str(out)]
        )
        == 0
    )
    a = read_json(first / "crosscheck.json")
    b = read_json(out / "crosscheck.json")
    assert b["metadata"]["config"] == a["metadata"]["config"]
    for key, v in a["verdicts"].items():
        assert b["verdicts"][key]["label"] == v["label"]
        if v["value"] is not None:
            assert b["verdicts"][key]["value"] == pytest.approx(v["value"], rel=1e-6)


@pytest.mark.parametrize(
    "content", ["not json {", json.dumps({"crosscheck": {"p": 11, "bogus": 1}}), None]
)
def test_bad_config_file_is_one_line(content, tmp_path, capsys):
    from transformer_check.cli import main

    path = tmp_path / "cfg.json"
    if content is not None:
        path.write_text(content)
    assert main(["crosscheck", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--config" in err[0]


def test_cli_registers_crosscheck():
    from transformer_check.cli import build_parser

    args = build_parser().parse_args(["crosscheck", "--preset", "tiny", "--out", "x"])
    assert args.preset == "tiny" and callable(args.func)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["crosscheck", "--preset", "nope"])


def test_cli_rejects_bad_input_with_one_line(capsys):
    from transformer_check.cli import main

    assert main(["crosscheck", "--p", "30", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "p:" in err[0]


def test_cli_flags_reach_the_config():
    from transformer_check.cli import build_parser
    from transformer_check.crosscheck.cli import config_from_args

    argv = [
        "crosscheck",
        "--preset",
        "tiny",
        "--p",
        "13",
        "--steps",
        "7",
        "--seed",
        "2",
        "--device",
        "cpu",
        "--op",
        "*",
        "--sfm-steps",
        "50",
        "--llc-chains",
        "3",
        "--wd-sweep",
        "1",
        "2",
        "--gap-max",
        "0.25",
        "--out",
        "x",
    ]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert (cfg.p, cfg.op, cfg.seed, cfg.train.steps, cfg.train.device) == (13, "*", 2, 7, "cpu")
    assert (cfg.sfm.steps, cfg.sgld.n_chains, cfg.train.wd_sweep) == (50, 3, (1.0, 2.0))
    assert cfg.thresholds.gap_max == 0.25 and cfg.frac == 0.6


def test_train_preset_fields_are_not_silently_ignored(capsys):
    from transformer_check.cli import main

    assert main(["crosscheck", "--preset", "quick", "--lr", "0.1", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.lr" in err[0]
