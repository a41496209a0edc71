"""Training loop, events, checkpoints/resume, batched seeds and the CLI on tiny models."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from theory.base.errors import InputError
from transformer_check.checkpoint import load_checkpoint, save_checkpoint
from transformer_check.cli import main
from transformer_check.data import TaskConfig
from transformer_check.presets import PRESETS, preset
from transformer_check.train import (
    ArchConfig,
    TrainConfig,
    detect_events,
    load_model,
    log_schedule,
    lr_at,
    train,
    train_seeds,
)

TINY = ArchConfig(d_model=16, n_heads=2, d_head=8, d_mlp=32)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        task=TaskConfig(p=11, frac=0.5),
        model=TINY,
        steps=24,
        eval_points=8,
        measure_points=3,
        checkpoint_every=8,
        measures=("spectral", "fourier"),
        snapshots=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_log_schedule():
    s = log_schedule(1000, 10)
    assert s[0] == 0 and s[-1] == 1000 and s == sorted(set(s))
    assert 1 in s and len(s) <= 12
    assert log_schedule(5, 100) == [0, 1, 2, 3, 4, 5]


def test_lr_warmup():
    cfg = _cfg(lr=1e-2, warmup=4)
    assert [lr_at(cfg, u) for u in range(6)] == pytest.approx(
        [2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2]
    )
    assert lr_at(_cfg(warmup=0), 0) == pytest.approx(1e-3)


def test_detect_events_never_invents():
    rows = [
        {"step": 0, "train_acc": 0.1, "test_acc": 0.1},
        {"step": 10, "train_acc": 1.0, "test_acc": 0.2},
        {"step": 20, "train_acc": 1.0, "test_acc": 0.995},
    ]
    assert detect_events(rows) == (10, 20)
    assert detect_events(rows[:2]) == (10, None)
    assert detect_events([{"step": 5, "train_acc": 1.0, "test_acc": 1.0}]) == (None, 5)


def test_train_writes_run_directory(tmp_path):
    res = train(_cfg(), tmp_path, progress=False)
    steps = [r["step"] for r in res.rows]
    assert steps[0] == 0 and steps[-1] == 24 and steps == sorted(steps)
    assert "H_svd_mean" in res.rows[0] and "fourier_gini" in res.rows[-1]
    for name in ("metrics.csv", "summary.json", "training.png", "training.svg"):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metadata"]["config"]["steps"] == 24
    # the training loss actually falls on this easy problem
    assert res.rows[-1]["train_loss"] < res.rows[0]["train_loss"]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"weight_noise": 0.01, "spectral_reg": 0.1},
        {"model": dataclasses.replace(TINY, layernorm="post", act="gelu")},
    ],
)
def test_resume_reproduces_uninterrupted_run_exactly(tmp_path, kw):
    cfg = _cfg(**kw)
    full = train(cfg, tmp_path / "a", progress=False, plot=False)
    # "killed" after step 13: the last checkpoint is at step 8, steps 9..13 are lost and redone
    part = train(cfg, tmp_path / "b", progress=False, plot=False, stop_after=13)
    assert part.rows[-1]["step"] <= 13
    resumed = train(cfg, tmp_path / "b", progress=False, plot=False, resume=True)
    assert _strip(resumed.rows) == _strip(full.rows)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_refuses_other_config(tmp_path):
    train(_cfg(), tmp_path, progress=False, plot=False, stop_after=9)
    with pytest.raises(InputError):
        train(_cfg(lr=2e-3), tmp_path, progress=False, plot=False, resume=True)


def test_checkpoint_roundtrip_and_hash_check(tmp_path):
    t = {"a": torch.arange(6.0).reshape(2, 3), "rng": torch.tensor([1, 2, 255], dtype=torch.uint8)}
    save_checkpoint(tmp_path / "c", t, {"step": 3})
    back, meta = load_checkpoint(tmp_path / "c.json")
    assert meta["step"] == 3 and torch.equal(back["a"], t["a"]) and back["rng"].dtype == torch.uint8
    (tmp_path / "c.safetensors").write_bytes((tmp_path / "c.safetensors").read_bytes()[:-1] + b"0")
    with pytest.raises(InputError):
        load_checkpoint(tmp_path / "c")


def test_load_model_matches_trained(tmp_path):
    res = train(_cfg(snapshots=True), tmp_path, progress=False, plot=False)
    model, cfg, ds, meta = load_model(tmp_path / "checkpoints" / "last")
    assert cfg == res.config and meta["step"] == 24
    torch.testing.assert_close(model(ds.test_x), res.model(ds.test_x))
    snaps = sorted((tmp_path / "checkpoints").glob("step_*.json"))
    assert len(snaps) == 4  # measure steps 0, 1, 5, 24
    _, _, _, m0 = load_model(snaps[0])
    assert m0["kind"] == "weights" and m0["step"] == 0


def test_extra_measure_hook(tmp_path):
    calls = []

    def n_test(model, ds):
        calls.append(1)
        return {"n_test": float(ds.n_test)}

    res = train(_cfg(), tmp_path, measures={"n": n_test}, progress=False, plot=False)
    logged = [r for r in res.rows if "n_test" in r]
    assert len(logged) == len(calls) == 4 and logged[0]["n_test"] == 61.0


@pytest.mark.parametrize("kw", [{}, {"spectral_reg": 0.1}])
def test_batched_seeds_equal_separate_runs(tmp_path, kw):
    cfg = _cfg(**kw)
    batched = train_seeds(cfg, [0, 3], tmp_path / "b", progress=False, plot=False, batched=True)
    for s, rb in zip([0, 3], batched, strict=True):
        single = train(
            dataclasses.replace(cfg, seed=s), tmp_path / f"s{s}", progress=False, plot=False
        )
        for a, b in zip(rb.rows, single.rows, strict=True):
            assert a.keys() == b.keys()
            for k in a:
                if k != "wall_s" and not isinstance(a[k], str):
                    assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (s, k)
    # every seed folder can be resumed alone as a single run
    _, meta = load_checkpoint(tmp_path / "b" / "seed_3" / "checkpoints" / "last")
    assert meta["step"] == 24 and meta["config"]["seed"] == 3


def test_batched_resume(tmp_path):
    cfg = _cfg()
    kw = dict(progress=False, plot=False, batched=True)
    full = train_seeds(cfg, [1, 2], tmp_path / "a", **kw)
    train_seeds(cfg, [1, 2], tmp_path / "b", stop_after=19, **kw)
    again = train_seeds(cfg, [1, 2], tmp_path / "b", resume=True, **kw)
    for a, b in zip(full, again, strict=True):
        assert _strip(a.rows) == _strip(b.rows)


def test_presets_exist_and_override():
    for name in PRESETS:
        cfg = preset(name, op="-")
        assert cfg.preset == name and cfg.task.op == "-"
    d = preset("demoss", op="/")
    assert d.model.n_layers == 2 and d.task.frac == 0.3 and d.model.layernorm == "post"
    assert preset("demoss", op="*").weight_noise == 1e-2
    q = preset("quick", p=23, steps=5, d_model=32)
    assert q.task.p == 23 and q.steps == 5 and q.model.d_model == 32
    with pytest.raises(InputError):
        preset("nope")


def test_cli_train_and_measure(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--p", "11", "--frac", "0.5", "--steps", "12", "--d-model", "16"]
    argv += ["--measures", "spectral", "fourier"]
    argv += ["--measure-points", "2", "--eval-points", "4", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "metrics.csv").exists() and (out / "training.png").exists()
    mout = tmp_path / "m"
    rc = main(
        ["measure", str(out / "checkpoints" / "last.json"), "--out", str(mout)]
        + ["--measures", "compression", "fourier", "--coarse-budget", "4"]
    )
    assert rc == 0
    res = json.loads((mout / "measures.json").read_text())
    assert (
        res["step"] == 12 and res["measures"]["coarse_bytes"] <= res["measures"]["bz2_naive_bytes"]
    )
    assert (mout / "spectra.png").exists() and (mout / "measures.csv").exists()
    assert "metadata" in res


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--frac", "1.5", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert main(["train", "--p", "9", "--steps", "1", "--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err[-1]) > 0 and "odd prime" in err[-1]
    assert main(["measure", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_quick_preset_groks_and_complexity_rises_then_falls(tmp_path):
    """The real ``quick`` run: memorise, then grok; coarse-grained size peaks in between."""
    torch.set_num_threads(1)
    cfg = preset("quick", measures=("compression", "spectral"), snapshots=False)
    res = train(cfg, tmp_path, progress=False, plot=False)
    assert res.t_mem is not None and res.t_gen is not None and res.t_mem < res.t_gen
    assert res.rows[-1]["test_acc"] > 0.99
    cg = [(r["step"], r["coarse_bytes"]) for r in res.rows if "coarse_bytes" in r]
    peak_step, peak = max(cg, key=lambda t: t[1])
    assert res.t_mem / 4 <= peak_step < res.t_gen
    assert cg[0][1] < peak / 10 and cg[-1][1] < peak / 3  # rise from init, fall after grokking
    h = [r["H_svd_mean"] for r in res.rows if "H_svd_mean" in r]
    assert h[-1] < h[0] - 0.5  # effective dimension collapses at generalisation


def test_demoss_preset_trains_small(tmp_path):
    """The demoss recipe (2 post-LN GELU layers, op token, noise, spectral reg) on a small p."""
    cfg = preset(
        "demoss",
        op="/",
        p=11,
        steps=6,
        d_model=16,
        d_mlp=32,
        n_heads=2,
        d_head=8,
        eval_points=3,
        measure_points=2,
        measures=("spectral",),
        snapshots=False,
    )
    res = train(cfg, tmp_path, progress=False, plot=False)
    assert res.dataset.seq_len == 4 and res.dataset.vocab_size == 13
    assert len(res.model.blocks) == 2 and res.rows[-1]["step"] == 6
    assert all(torch.isfinite(p).all() for p in res.model.parameters())


def test_measure_computes_every_measure_by_default(tmp_path):
    """`measure` with no --measures runs the cheap group, the papers' progress measures and the LLC."""
    from transformer_check.measures import ALL_MEASURES

    out = tmp_path / "run"
    argv = ["train", "--p", "7", "--frac", "0.6", "--steps", "6", "--d-model", "16"]
    argv += ["--measures", "sparsity", "llc", "--measure-points", "2", "--eval-points", "3"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "act_sparsity" in header and "llc" in header
    mout = tmp_path / "m"
    assert main(["measure", str(out / "checkpoints" / "last.json"), "--out", str(mout)]) == 0
    res = json.loads((mout / "measures.json").read_text())["measures"]
    for key in ("act_sparsity", "weight_entropy", "circuit_complexity", "lmn", "cms_max", "llc"):
        assert isinstance(res[key], float) and np.isfinite(res[key]), key
    assert 0.0 <= res["act_sparsity"] <= 1.0 and res["lmn"] >= 1.0 - 1e-6
    assert len(ALL_MEASURES) == 12


def test_train_result_trajectory(tmp_path):
    res = train(_cfg(), tmp_path, progress=False, plot=False)
    tr = res.trajectory
    assert tr.t_mem == res.t_mem and tr.t_gen == res.t_gen
    assert list(tr.steps) == [r["step"] for r in res.rows]
    assert list(tr["test_acc"]) == [r["test_acc"] for r in res.rows]


def test_config_json_roundtrip_with_measure_options():
    cfg = _cfg(measure_options=(("llc", "n_chains", 4), ("compression", "eps", 0.2)))
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    opts = cfg.measure_option_map()
    assert opts["compression"] == {"eps": 0.2, "budget": 24} and opts["llc"] == {"n_chains": 4}
    with pytest.raises(InputError):
        _cfg(measure_options=(("nope", "x", 1),))
    with pytest.raises(InputError):
        TrainConfig.from_dict({"stpes": 3})


def test_presets_are_data():
    assert all(isinstance(c, TrainConfig) and c.preset == n for n, c in PRESETS.items())
    assert preset("quick") == PRESETS["quick"]
    assert preset("nanda", op="-", **{"task.seed": 4}).task.seed == 4
    with pytest.raises(InputError):
        preset("quick", stpes=3)


def _tiny_argv(out):
    argv = ["train", "--p", "11", "--frac", "0.5", "--steps", "10", "--d-model", "16"]
    argv += ["--n-heads", "2", "--d-head", "8", "--d-mlp", "32", "--measures", "spectral"]
    argv += ["--measure-points", "2", "--eval-points", "3", "--no-snapshots", "--quiet"]
    return [*argv, "--out", str(out)]


def test_cli_every_field_is_a_flag_and_config_reruns_a_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    extra = ["--act", "gelu", "--layernorm", "pre", "--betas", "0.8", "0.95", "--warmup", "3"]
    assert main([*_tiny_argv(a), *extra]) == 0
    cfg_a = json.loads((a / "summary.json").read_text())["metadata"]["config"]
    assert cfg_a["model"] == {
        "d_model": 16,
        "n_heads": 2,
        "d_head": 8,
        "d_mlp": 32,
        "n_layers": 1,
        "act": "gelu",
        "layernorm": "pre",
        "init_scale": None,
    }
    assert cfg_a["betas"] == [0.8, 0.95] and cfg_a["snapshots"] is False
    assert main(["train", "--config", str(a / "summary.json"), "--quiet", "--out", str(b)]) == 0
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sb["metadata"]["config"] == cfg_a
    assert (sa["t_mem"], sa["t_gen"]) == (sb["t_mem"], sb["t_gen"])
    rows = [[r.split(",") for r in (d / "metrics.csv").read_text().splitlines()] for d in (a, b)]
    wall = rows[0][0].index("wall_s")
    assert [r[:wall] + r[wall + 1 :] for r in rows[0]] == [
        r[:wall] + r[wall + 1 :] for r in rows[1]
    ]
    # flags override the file; a checkpoint's JSON works as well
    c = tmp_path / "c"
    argv = ["train", "--config", str(a / "checkpoints" / "last.json"), "--steps", "4"]
    assert main([*argv, "--quiet", "--out", str(c)]) == 0
    cfg_c = json.loads((c / "summary.json").read_text())["metadata"]["config"]
    assert cfg_c == {**cfg_a, "steps": 4}


def test_cli_bad_config_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    for text in ("{not json", json.dumps({"config": {"stpes": 3}})):
        bad.write_text(text)
        assert main(["train", "--config", str(bad), "--quiet", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--config" in err[0]
    assert main(["train", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["train", "--measure-option", "nope", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_cli_measure_option_reaches_the_measure(tmp_path):
    out = tmp_path / "r"
    argv = _tiny_argv(out)
    argv[argv.index("spectral")] = "compression"
    argv += ["--measure-option", "compression.budget=4", "--coarse-eps", "0.2"]
    assert main(argv) == 0
    cfg = json.loads((out / "summary.json").read_text())["metadata"]["config"]
    assert cfg["measure_options"] == [["compression", "budget", 4]] and cfg["coarse_eps"] == 0.2
    assert "coarse_bytes" in (out / "metrics.csv").read_text().splitlines()[0]
