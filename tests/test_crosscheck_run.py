"""Cross-check end to end on the tiny preset over two seeds (synchronous, in this process): the
files, the verdicts recomputed from them, ``decide`` from the folder with the run's and with
other thresholds, ``--resume`` without training again, ``--config`` of a run's JSON, the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
from test_crosscheck_verdicts import condensation_series

from theory.base.io import read_json
from theory.base.sweeps import ClusterSpec
from theory.base.trajectory import Trajectory
from transformer_check.crosscheck import Sweep, Sweeps, decide_all, make_config, run_crosscheck
from transformer_check.crosscheck.config import measure_options
from transformer_check.crosscheck.pooled import pool_verdicts, rules_for
from transformer_check.crosscheck.run import data_from_json, data_to_json, transformer_points
from transformer_check.crosscheck.verdicts import CrosscheckData, Thresholds

KEYS = [
    "complexity_rise_fall",
    "fourier_collapse",
    "event_timing",
    "regularisation_earlier",
    "llc_falls",
    "ring",
    "bdm_drop",
    "bypass",
]
JSON_KEYS = ["metadata", "seeds", "summary", "pooled", "per_seed", "events", "theory", "data"]
JSON_KEYS += ["paths"]
TINY2 = ["crosscheck", "--preset", "tiny", "--seeds", "2", "--quiet"]


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _blank_training_figure(*args, **kwargs):
    """Each transformer run draws its training figure (PNG + SVG), most of a tiny run's time;
    the crosscheck reads none of it. An empty figure keeps the path tested and the run fast."""
    from matplotlib.figure import Figure

    return Figure(figsize=(1, 1))


@pytest.fixture(scope="module")
def fast_figures():
    torch = pytest.importorskip("torch")
    mp = pytest.MonkeyPatch()
    mp.setattr("transformer_check.plots.plot_run", _blank_training_figure)
    threads = torch.get_num_threads()  # synchronous points set this process's thread count
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fast_figures):
    out = tmp_path_factory.mktemp("crosscheck-tiny") / "run"
    cfg = dataclasses.replace(make_config("tiny"), seeds=2)
    rep = run_crosscheck(cfg, out, progress=False, cluster=ClusterSpec("synchronous"))
    return cfg, out, rep


def _without_wall_times(data):
    """The data block without the rows' wall-clock seconds (a continued run's differ)."""
    out = json.loads(json.dumps(data))
    for seed in out["per_seed"]:
        for system in ("transformer", "sfm"):
            for row in seed[system]["rows"]:
                row.pop("wall_s", None)
    return out


def _snapshot(folder):
    """Every file under ``folder`` with its content (to show that nothing was rewritten)."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- the report -----------------------------------------------------------------------------------


def test_json_keys_and_written_config(tiny_run):
    cfg, out, rep = tiny_run
    js = read_json(out / "crosscheck.json")
    assert list(js) == JSON_KEYS
    assert js["seeds"] == [0, 1] == js["data"]["seeds"]
    written = js["metadata"]["config"]["crosscheck"]
    assert (written["p"], written["seeds"], written["seed"]) == (cfg.p, 2, 0) == (11, 2, 0)
    assert js["metadata"]["scheduler"] == "synchronous"
    assert js["theory"]["support_gen"] == cfg.p
    assert list(js["summary"]) == KEYS == list(js["pooled"])
    assert [s["seed"] for s in js["per_seed"]] == [0, 1]
    assert all(list(s["verdicts"]) == KEYS for s in js["per_seed"])
    assert [e["seed"] for e in js["events"]] == [0, 1]
    for key, s in js["summary"].items():
        pv = js["pooled"][key]
        assert s["label"] == pv["label"] and s["n_seeds"] == pv["n_seeds"] == 2
        assert pv["single_seed"] is False  # two seeds are pooled, never one seed's verdict
        assert [pv["seed_holds"][i] for i in range(2)] == [
            js["per_seed"][i]["verdicts"][key]["holds"] for i in range(2)
        ]
    assert set(js["paths"]) == {"runs", "points", "figure"}
    # the returned report is the file plus the objects
    assert {k: v for k, v in rep.items() if k in JSON_KEYS}.keys() == set(JSON_KEYS)
    assert len(rep["datas"]) == len(rep["verdict_objects"]) == 2
    assert [pv.key for pv in rep["pooled_objects"]] == KEYS


def test_files_and_transformer_runs(tiny_run):
    cfg, out, _ = tiny_run
    for ext in ("png", "svg"):
        assert (out / f"crosscheck.{ext}").stat().st_size > 1000
    pts = transformer_points(cfg)
    # per seed: the main run and the sweep's other weight decay (tiny: multiples 1 and 3)
    assert [(pt["labels"]["role"], pt["labels"]["seed"]) for _, pt in pts] == [
        ("main", 0), ("sweep", 0), ("main", 1), ("sweep", 1)
    ]  # fmt: skip
    assert sorted(p.stem for p in (out / "points").glob("*.json")) == sorted(k for k, _ in pts)
    for key, pt in pts:
        assert (out / "runs" / key / "metrics.csv").is_file()
        rec = read_json(out / "points" / f"{key}.json")
        assert ("rows" in rec) == (pt["labels"]["role"] == "main")
    assert list((out / "work").iterdir()) == []
    verdicts = _read_csv(out / "verdicts.csv")
    assert [(r["key"], r["seed"]) for r in verdicts] == [
        *((k, s) for s in ("0", "1") for k in KEYS),
        *((k, "pooled") for k in KEYS),
    ]
    assert {r["seed"] for r in _read_csv(out / "sfm_curves.csv")} == {"0", "1"}
    sweeps = _read_csv(out / "sweeps.csv")
    assert {(r["seed"], r["system"]) for r in sweeps} == {
        (s, sys) for s in ("0", "1") for sys in ("transformer", "sfm")
    }


def test_verdicts_recomputed_from_the_files_agree(tiny_run):
    """Per seed: the main run's metrics.csv and summary.json, sfm_curves.csv and sweeps.csv alone
    give the same verdicts, and pooling those gives the same pooled verdicts."""
    cfg, out, _ = tiny_run
    js = read_json(out / "crosscheck.json")
    mains = {
        pt["labels"]["seed"]: k
        for k, pt in transformer_points(cfg)
        if pt["labels"]["role"] == "main"
    }
    sfm_rows = _read_csv(out / "sfm_curves.csv")
    sw = _read_csv(out / "sweeps.csv")

    def tg(r):
        return None if r["t_gen"] in ("", "None") else float(r["t_gen"])

    per_seed = []
    for i, seed in enumerate(js["seeds"]):
        rows = _read_csv(out / "runs" / mains[seed] / "metrics.csv")
        summary = read_json(out / "runs" / mains[seed] / "summary.json")

        def col(k, rows=rows):
            return np.array([float(r[k]) if r.get(k) not in (None, "", "nan") else np.nan
                             for r in rows])  # fmt: skip

        keys = [k for k in rows[0] if k not in ("fourier_key_freqs", "step")]
        events = {"t_mem": summary["t_mem"], "t_gen": summary["t_gen"]}
        assert events == js["events"][i]["transformer"]
        transformer = Trajectory(col("step"), {k: col(k) for k in keys}, events)
        mine = [r for r in sfm_rows if r["seed"] == str(seed)]
        sfm = Trajectory(
            [float(r["step"]) for r in mine],
            {"support": [float(r["support"]) for r in mine]},
            js["events"][i]["sfm"],
        )
        sweeps = Sweeps(
            *(
                Sweep(
                    [
                        float(r["strength"])
                        for r in sw
                        if (r["system"], r["seed"]) == (s, str(seed))
                    ],
                    [tg(r) for r in sw if (r["system"], r["seed"]) == (s, str(seed))],
                )
                for s in ("transformer", "sfm")
            )
        )
        again = decide_all(transformer, sfm, sweeps, cfg.p, cfg.thresholds)
        per_seed.append(again)
        for v in again:
            want = js["per_seed"][i]["verdicts"][v.key]
            assert v.label == want["label"], v.key
            if want["value"] is not None:
                assert v.value == pytest.approx(want["value"], rel=1e-6)
    pooled = pool_verdicts(per_seed, rules_for(cfg.thresholds), js["seeds"])
    for pv in pooled:
        assert pv.label == js["pooled"][pv.key]["label"]
        assert pv.n_holds == js["pooled"][pv.key]["n_holds"]


def test_sfm_sweep_direction_reaches_the_verdict(tiny_run):
    """Reversing one seed's SFM sweep reverses the SFM rho recorded in the verdict's details."""
    _, _, rep = tiny_run
    data = rep["datas"][0]
    flipped = Sweep(data.sweeps.sfm.strength, tuple(reversed(data.sweeps.sfm.t_gen)))
    d2 = dataclasses.replace(data, sweeps=dataclasses.replace(data.sweeps, sfm=flipped))
    r_old = {v.key: v for v in data.decide()}["regularisation_earlier"].details["sfm"]["rho"]
    r_new = {v.key: v for v in d2.decide()}["regularisation_earlier"].details["sfm"]["rho"]
    assert r_old is not None and r_old != 0  # the tiny SFM leg always has its events
    assert r_new == pytest.approx(-r_old)


def test_data_block_round_trips_and_decides_alike(tiny_run):
    cfg, out, rep = tiny_run
    js = read_json(out / "crosscheck.json")
    datas = data_from_json(js["data"])
    assert len(datas) == 2 and all(d.p == cfg.p for d in datas)
    for d, orig in zip(datas, rep["datas"], strict=True):
        assert d.decide(cfg.thresholds) == orig.decide(cfg.thresholds)
        for name in orig.transformer:
            np.testing.assert_array_equal(d.transformer[name], orig.transformer[name])
        assert d.sweeps == orig.sweeps
    assert data_to_json(datas, js["seeds"]) == json.loads(json.dumps(js["data"]))


# -- synthetic series that decide every prediction (shapes of test_crosscheck_verdicts) -------------

STEPS = np.concatenate([[0.0], np.unique(np.round(np.geomspace(1, 3000, 40)))])


def _bump(steps, t_peak, t_fall, lo=1.0, hi=3.0, end=1.2):
    """Rises from lo to hi by t_peak and falls to end around t_fall (log-time sigmoids)."""
    ls = np.log1p(steps)
    rise = 1 / (1 + np.exp(-(ls - math.log1p(t_peak) + 1) * 4))
    fall = 1 / (1 + np.exp(-(ls - math.log1p(t_fall)) * 4))
    return lo + (hi - lo) * rise - (hi - end) * fall


def _clean_seed(shift: float, llc_end: float, p: int = 31) -> CrosscheckData:
    """A clean grokking story (every prediction holds), moved by ``shift`` in log time."""
    s = STEPS
    test_loss = 4.0 - 3.9 / (1 + np.exp(-(np.log1p(s) - math.log1p(600 * shift)) * 4))
    ipr = 0.01 + 0.2 / (1 + np.exp(-(np.log1p(s) - math.log1p(400 * shift)) * 4))
    series = {
        "test_loss": test_loss,
        "coarse_bytes": _bump(s, 40 * shift, 450 * shift),
        "lmn": _bump(s, 30 * shift, 500 * shift, lo=5, hi=20, end=6),
        "fourier_ipr": ipr,
        "llc": _bump(s, 40 * shift, 450 * shift, lo=5, hi=100, end=llc_end),
        **condensation_series(s / shift),
    }
    series["llc"][5] = np.nan  # a step the LLC was not logged at: stored as null, read as NaN
    transformer = Trajectory(s, series, {"t_mem": 50.0 * shift, "t_gen": 1000.0 * shift})
    sfm_steps = np.arange(0, 400, dtype=float)
    support = np.where(
        sfm_steps < 1, 0.0, p * p - (p * p - p) / (1 + np.exp(-(sfm_steps - 60) / 6))
    )
    sfm = Trajectory(sfm_steps, {"support": support}, {"t_mem": 1, "t_gen": 90})
    sweeps = Sweeps(
        Sweep((0.3, 1.0, 3.0), (3000, int(1000 * shift), 300)),
        Sweep((0.01, 0.02, 0.04), (1200, 225, 69)),
    )
    return CrosscheckData(p, transformer, sfm, sweeps)


@pytest.fixture
def synthetic_run(tiny_run, tmp_path):
    """The tiny run's crosscheck.json (its metadata and thresholds) holding three clean seeds."""
    _, out, _ = tiny_run
    datas = [_clean_seed(1.0, 25.0), _clean_seed(1.1, 30.0), _clean_seed(0.9, 20.0)]
    seeds = [0, 1, 2]
    run = tmp_path / "synthetic"
    run.mkdir()
    js = read_json(out / "crosscheck.json")
    js["data"] = data_to_json(datas, seeds)
    (run / "crosscheck.json").write_text(json.dumps(js, allow_nan=False))
    return run, datas, seeds


def _decide(run, out, *flags):
    from transformer_check.cli import main

    assert main(["decide", str(run), *flags, "--out", str(out)]) == 0
    return read_json(out / "decide.json")


def test_decide_reproduces_the_run_and_leaves_it_untouched(tiny_run, tmp_path, capsys):
    _, out, _ = tiny_run
    before = _snapshot(out)
    got = _decide(out, tmp_path / "d")
    js = read_json(out / "crosscheck.json")
    assert got["seeds"] == js["seeds"]
    assert got["pooled"] == js["pooled"] and got["summary"] == js["summary"]
    assert got["per_seed"] == js["per_seed"]
    assert got["thresholds"] == js["metadata"]["config"]["crosscheck"]["thresholds"]
    assert _read_csv(tmp_path / "d" / "verdicts.csv") == _read_csv(out / "verdicts.csv")
    assert _snapshot(out) == before
    printed = capsys.readouterr().out
    assert all(k in printed for k in KEYS)


def test_decide_with_the_run_thresholds_pools_the_stored_series(synthetic_run, tmp_path):
    run, datas, seeds = synthetic_run
    got = _decide(run, tmp_path / "d")
    th = Thresholds()  # the tiny run's thresholds
    want = pool_verdicts([d.decide(th) for d in datas], rules_for(th), seeds)
    assert {pv.key: pv.label for pv in want} == {k: "holds" for k in KEYS}
    for pv in want:
        assert got["summary"][pv.key]["label"] == "holds"
        assert got["pooled"][pv.key]["n_holds"] == 3
        assert got["pooled"][pv.key]["mean"] == pytest.approx(pv.mean, rel=1e-12)
        assert got["pooled"][pv.key]["ci"] == pytest.approx(list(pv.ci), rel=1e-12)


def test_decide_with_another_threshold_changes_only_that_verdict(synthetic_run, tmp_path):
    run, _, _ = synthetic_run
    base = _decide(run, tmp_path / "base")
    strict = _decide(run, tmp_path / "strict", "--gap-max", "0")
    et, et0 = base["pooled"]["event_timing"], strict["pooled"]["event_timing"]
    assert et["label"] == "holds" and et0["label"] in ("fails", "undecided")
    assert et0["threshold"] == 0.0 and strict["thresholds"]["gap_max"] == 0.0
    assert et0["mean"] == pytest.approx(et["mean"]) and et0["mean"] > 0  # same gaps, new rule
    for key in KEYS:
        if key != "event_timing":
            assert strict["pooled"][key] == base["pooled"][key]
    high = _decide(run, tmp_path / "high", "--llc-drop-min", "0.99")
    # the LLC falls by (100 - 25) / 100 or so in every seed: never by 99%
    assert high["summary"]["llc_falls"]["label"] == "fails"
    assert high["summary"]["llc_falls"]["n_holds"] == 0


# -- resume and --config --------------------------------------------------------------------------


def test_resume_trains_nothing_again_and_gives_the_same_verdicts(tiny_run, tmp_path):
    from transformer_check.cli import main

    _, first, _ = tiny_run
    out = tmp_path / "resumed"
    shutil.copytree(first, out)
    records = {p.name: p.read_bytes() for p in (out / "points").iterdir()}
    runs = {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()}
    assert main([*TINY2, "--resume", "--out", str(out)]) == 0
    a, b = read_json(first / "crosscheck.json"), read_json(out / "crosscheck.json")
    assert b["metadata"]["runs_resumed"] == 4 and b["metadata"]["scheduler"] == "synchronous"
    assert {p.name: p.read_bytes() for p in (out / "points").iterdir()} == records
    assert {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()} == runs
    for key in ("seeds", "summary", "pooled", "per_seed", "events", "data"):
        assert b[key] == a[key], key
    assert b["metadata"]["config"] == a["metadata"]["config"]


def test_a_killed_crosscheck_continues_its_half_trained_run(tiny_run, tmp_path):
    """Seed 1's main run killed at step 33 (a checkpoint at 30 in work/, no record, no run
    folder): --resume trains only it, from the checkpoint, to the same series and verdicts."""
    import torch

    from transformer_check.config import TrainConfig
    from transformer_check.train import train

    cfg, first, _ = tiny_run
    out = tmp_path / "killed"
    shutil.copytree(first, out)
    key, pt = next(
        (k, pt) for k, pt in transformer_points(cfg) if pt["labels"] == {
            "role": "main", "weight_decay": 1.0, "seed": 1}
    )  # fmt: skip
    (out / "points" / f"{key}.json").unlink()
    shutil.rmtree(out / "runs" / key)
    (out / "crosscheck.json").unlink()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the crosscheck's points (--threads 1)
    try:
        tc = TrainConfig.from_dict(pt["config"])
        train(tc, out / "work" / key, progress=False, stop_after=33, plot=False)
    finally:
        torch.set_num_threads(threads)
    assert read_json(out / "work" / key / "checkpoints" / "last.json")["step"] == 30
    from transformer_check.cli import main

    assert main([*TINY2, "--resume", "--out", str(out)]) == 0
    a, b = read_json(first / "crosscheck.json"), read_json(out / "crosscheck.json")
    assert b["metadata"]["runs_resumed"] == 3
    assert read_json(out / "points" / f"{key}.json")["resumed"] is True
    for name in ("seeds", "summary", "pooled", "per_seed", "events"):
        assert b[name] == a[name], name
    assert _without_wall_times(b["data"]) == _without_wall_times(a["data"])
    drop = ("wall_s",)
    again = [{k: v for k, v in r.items() if k not in drop} for r in
             _read_csv(out / "runs" / key / "metrics.csv")]  # fmt: skip
    assert again == [{k: v for k, v in r.items() if k not in drop} for r in
                     _read_csv(first / "runs" / key / "metrics.csv")]  # fmt: skip
    assert list((out / "work").iterdir()) == []


def test_config_file_reruns_the_same_config(tiny_run, tmp_path):
    """``--config RUN/crosscheck.json`` gives the run's config: the same transformer runs (so
    ``--resume`` finds every one of them) and the same verdicts."""
    from transformer_check.cli import build_parser, main
    from transformer_check.crosscheck.cli import config_from_args

    cfg, first, _ = tiny_run
    js = first / "crosscheck.json"
    again = config_from_args(build_parser().parse_args(["crosscheck", "--config", str(js)]))
    assert again == cfg.resolved()
    assert [k for k, _ in transformer_points(again)] == [k for k, _ in transformer_points(cfg)]
    out = tmp_path / "from-config"
    shutil.copytree(first, out)
    assert main(["crosscheck", "--config", str(js), "--quiet", "--resume", "--out", str(out)]) == 0
    a, b = read_json(js), read_json(out / "crosscheck.json")
    assert b["metadata"]["runs_resumed"] == 4
    assert b["metadata"]["config"] == a["metadata"]["config"]
    assert b["pooled"] == a["pooled"] and b["per_seed"] == a["per_seed"]


@pytest.mark.slow
def test_config_file_reproduces_the_verdicts_from_scratch(tiny_run, tmp_path):
    from transformer_check.cli import main

    _, first, _ = tiny_run
    out = tmp_path / "again"
    argv = ["crosscheck", "--config", str(first / "crosscheck.json"), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    a = read_json(first / "crosscheck.json")
    b = read_json(out / "crosscheck.json")
    assert b["metadata"]["config"] == a["metadata"]["config"]
    assert b["metadata"]["runs_resumed"] == 0
    for key, v in a["summary"].items():
        assert b["summary"][key]["label"] == v["label"]
    for sa, sb in zip(a["per_seed"], b["per_seed"], strict=True):
        for key, v in sa["verdicts"].items():
            assert sb["verdicts"][key]["label"] == v["label"]
            if v["value"] is not None:
                assert sb["verdicts"][key]["value"] == pytest.approx(v["value"], rel=1e-6)


# -- the CLI --------------------------------------------------------------------------------------


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


def test_cli_registers_crosscheck_and_decide():
    from transformer_check.cli import build_parser

    args = build_parser().parse_args(["crosscheck", "--preset", "tiny", "--out", "x"])
    assert args.preset == "tiny" and callable(args.func)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["crosscheck", "--preset", "nope"])
    args = build_parser().parse_args(["decide", "somewhere", "--gap-max", "0.1", "--out", "y"])
    assert args.run == "somewhere" and callable(args.func)


def test_cli_rejects_bad_input_with_one_line(capsys):
    from transformer_check.cli import main

    for argv, match in (
        (["crosscheck", "--p", "30", "--out", "unused"], "p:"),
        (["crosscheck", "--seeds", "0", "--out", "unused"], "--seeds"),
        (["crosscheck", "--workers", "2", "--scheduler", "tcp://h:1", "--out", "u"], "--workers"),
        (["crosscheck", "--llc-batch", "0", "--out", "unused"], "batch_size"),
    ):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            rc = exc.code
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and match in err[0], err


def test_cli_flags_reach_the_config():
    from transformer_check.cli import build_parser
    from transformer_check.crosscheck.cli import config_from_args

    argv = ["crosscheck", "--preset", "tiny", "--p", "13", "--steps", "7", "--seed", "2"]
    argv += ["--seeds", "3", "--device", "cpu", "--op", "*", "--sfm-steps", "50"]
    argv += ["--llc-chains", "3", "--wd-sweep", "1", "2", "--gap-max", "0.25", "--out", "x"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert (cfg.p, cfg.op, cfg.seed, cfg.train.steps, cfg.train.device) == (13, "*", 2, 7, "cpu")
    assert (cfg.sfm.steps, cfg.sgld.n_chains, cfg.train.wd_sweep) == (50, 3, (1.0, 2.0))
    assert cfg.thresholds.gap_max == 0.25 and cfg.frac == 0.6 and cfg.seeds == 3
    assert cfg.sgld.batch_size is None and "batch_size" not in measure_options(cfg)["llc"]
    argv += ["--llc-batch", "64"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.sgld.batch_size == 64 and measure_options(cfg)["llc"]["batch_size"] == 64


def test_cli_cluster_flags_reach_the_cluster_spec():
    from theory.base.cli import cluster_from_args
    from transformer_check.cli import build_parser

    base = ["crosscheck", "--preset", "tiny", "--out", "x"]
    spec = cluster_from_args(build_parser().parse_args([*base, "--workers", "3", "--threads", "2"]))
    assert spec == ClusterSpec(workers=3, threads_per_worker=2)
    args = build_parser().parse_args([*base, "--scheduler", "tcp://10.0.0.1:8786"])
    assert cluster_from_args(args).scheduler == "tcp://10.0.0.1:8786"
    assert build_parser().parse_args([*base, "--resume"]).resume is True


def test_train_preset_fields_are_not_silently_ignored(capsys):
    from transformer_check.cli import main

    assert main(["crosscheck", "--preset", "quick", "--lr", "0.1", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.lr" in err[0]
