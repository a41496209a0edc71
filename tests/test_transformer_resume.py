"""Checkpoints that survive any kill, resume that compares only what changes results, training
that stops when it diverges, the memory estimate, and the weights-only export (CPU, tiny models)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from theory.base.errors import InputError
from transformer_check.checkpoint import load_checkpoint, read_state
from transformer_check.cli import main
from transformer_check.data import TaskConfig, make_dataset, task_sizes
from transformer_check.divergence import TrainingDiverged
from transformer_check.export import export_weights
from transformer_check.memory import estimate_memory
from transformer_check.model import ModelConfig, Transformer, n_params, param_shapes
from transformer_check.train import ArchConfig, TrainConfig, log_schedule, train, train_seeds

TINY = ArchConfig(d_model=8, n_heads=2, d_head=4, d_mlp=16)


@pytest.fixture(autouse=True)
def _one_thread():
    # dozens of tiny runs: one thread is ~4x faster than two spinning ones on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        task=TaskConfig(p=7, frac=0.5),
        model=TINY,
        steps=10,
        eval_points=5,
        measure_points=2,
        checkpoint_every=3,
        measures=("spectral",),
        snapshots=False,
        weight_noise=0.01,  # the noise RNG state must come back too
    )
    base.update(kw)
    return TrainConfig(**base)


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


class Killed(BaseException):
    """A kill -9 at one file operation: nothing after it runs, no cleanup handler sees it."""


def _count_replaces(monkeypatch, fn) -> int:
    calls = []
    real = os.replace

    def counting(a, b):
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(os, "replace", counting)
    fn()
    monkeypatch.setattr(os, "replace", real)
    return len(calls)


def _kill_at(monkeypatch, k: int, fn) -> bool:
    """Run ``fn`` with the ``k``-th ``os.replace`` raising :class:`Killed`; True if it hit."""
    real, n = os.replace, [0]

    def dying(a, b):
        n[0] += 1
        if n[0] == k:
            raise Killed
        return real(a, b)

    monkeypatch.setattr(os, "replace", dying)
    try:
        fn()
    except Killed:
        return True
    finally:
        monkeypatch.setattr(os, "replace", real)
    return False


def _same_run(a, b):
    assert _strip(a.rows) == _strip(b.rows)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("snapshots", [False, True])
def test_a_kill_at_every_file_operation_resumes_bit_identically(tmp_path, monkeypatch, snapshots):
    cfg = _cfg(snapshots=snapshots)
    kw = dict(progress=False, plot=False)
    full = train(cfg, tmp_path / "full", **kw)
    total = _count_replaces(monkeypatch, lambda: train(cfg, tmp_path / "count", **kw))
    assert total >= 10
    for k in range(1, total + 1):
        d = tmp_path / f"k{k}"
        assert _kill_at(monkeypatch, k, lambda d=d: train(cfg, d, **kw)), k
        resumed = train(cfg, d, resume=True, **kw)
        _same_run(full, resumed)
        assert json.loads((d / "summary.json").read_text())["final"]["step"] == cfg.steps
        # the files a user reads afterwards are consistent too
        model_state = read_state(d / "checkpoints" / "last.safetensors")
        assert model_state["step"] == cfg.steps
        sidecar = json.loads((d / "checkpoints" / "last.json").read_text())
        assert sidecar["step"] == cfg.steps


def test_batched_kill_between_two_seeds_saves_falls_back_to_a_common_step(tmp_path, monkeypatch):
    cfg = _cfg(weight_noise=0.0)
    kw = dict(progress=False, plot=False, batched=True)
    full = train_seeds(cfg, [1, 2], tmp_path / "full", **kw)
    total = _count_replaces(monkeypatch, lambda: train_seeds(cfg, [1, 2], tmp_path / "c", **kw))
    for k in range(1, total + 1):
        d = tmp_path / f"k{k}"
        assert _kill_at(monkeypatch, k, lambda d=d: train_seeds(cfg, [1, 2], d, **kw))
        again = train_seeds(cfg, [1, 2], d, resume=True, **kw)
        for a, b in zip(full, again, strict=True):
            _same_run(a, b)


def test_resume_says_which_checkpoint(tmp_path, capsys):
    cfg = _cfg()
    train(cfg, tmp_path, progress=False, plot=False, stop_after=7)
    capsys.readouterr()
    train(cfg, tmp_path, progress=False, plot=False, resume=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.safetensors at step 6" in err[0]
    # a damaged last falls back to prev, and says so
    train(cfg, tmp_path / "b", progress=False, plot=False, stop_after=7)
    last = tmp_path / "b" / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    full = train(cfg, tmp_path / "c", progress=False, plot=False)
    capsys.readouterr()
    resumed = train(cfg, tmp_path / "b", progress=False, plot=False, resume=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prev.safetensors at step 3" in err[0] and "unusable" in err[0]
    _same_run(full, resumed)


def test_resume_with_a_result_neutral_change_is_accepted_with_a_note(tmp_path, capsys):
    kw = dict(progress=False, plot=False)
    a = train(_cfg(checkpoint_every=2), tmp_path / "a", **kw)
    b = train(_cfg(checkpoint_every=5), tmp_path / "b", **kw)
    _same_run(a, b)  # the premise: checkpoint_every changes nothing that is measured
    train(_cfg(checkpoint_every=2), tmp_path / "c", stop_after=5, **kw)
    capsys.readouterr()
    c = train(_cfg(checkpoint_every=5, snapshots=True), tmp_path / "c", resume=True, **kw)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint_every 2 -> 5" in err[0] and "snapshots" in err[0]
    _same_run(a, c)
    with pytest.raises(InputError, match=r"lr 0\.001 there, 0\.002 now"):
        train(_cfg(lr=2e-3), tmp_path / "c", resume=True, **kw)


def test_resume_before_any_checkpoint_starts_from_step_zero(tmp_path, capsys):
    full = train(_cfg(), tmp_path / "a", progress=False, plot=False)
    again = train(_cfg(), tmp_path / "b", progress=False, plot=False, resume=True)
    assert "from step 0" in capsys.readouterr().err
    _same_run(full, again)


@pytest.mark.parametrize(
    "kw", [{"lr": 1e30}, {"weight_noise": 1e30}, {"lr": 1e30, "spectral_reg": 0.1}]
)
def test_diverged_training_stops_at_the_first_non_finite_loss(tmp_path, kw):
    cfg = _cfg(checkpoint_every=1, **kw)
    with pytest.raises(TrainingDiverged) as exc:
        train(cfg, tmp_path, progress=False, plot=False)
    assert exc.value.step <= 1 and "lower --lr" in str(exc.value)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 2 and "nan" not in "".join(rows[1:]).lower()
    assert not (tmp_path / "summary.json").exists()
    last = tmp_path / "checkpoints" / "last.safetensors"
    if last.exists():  # every checkpoint kept is finite
        tensors, meta = load_checkpoint(last)
        assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


def test_param_shapes_and_count_match_the_model():
    for ln in (None, "pre", "post"):
        for layers in (1, 2):
            c = ModelConfig(
                d_model=8, n_heads=2, d_head=3, d_mlp=5, n_layers=layers, layernorm=ln,
                vocab_size=12, seq_len=3, d_vocab_out=11,
            )  # fmt: skip
            m = Transformer(c)
            got = [(n, tuple(p.shape)) for n, p in m.named_parameters()]
            assert got == list(param_shapes(c).items())
            assert n_params(c) == sum(p.numel() for p in m.parameters())


def test_task_sizes_match_the_dataset():
    for op in ("+", "/"):
        for fmt in ("a b =", "a op b ="):
            t = TaskConfig(p=11, op=op, frac=0.3, fmt=fmt)
            ds = make_dataset(t)
            assert task_sizes(t) == (ds.vocab_size, ds.seq_len, ds.n_train + ds.n_test, ds.n_train)


def test_memory_estimate_grows_with_the_sizes():
    small = estimate_memory(_cfg())
    assert small.n_params == n_params(_cfg().model_config())
    assert estimate_memory(_cfg(task=TaskConfig(p=101, frac=0.5))).total > small.total
    big = estimate_memory(_cfg(model=ArchConfig(n_layers=10**6)))
    assert big.params > 10**12 and estimate_memory(_cfg(), n_seeds=3).params == 3 * small.params


def test_log_schedule_shortcut_equals_the_formula():
    import numpy as np

    for steps in (1, 2, 7, 50):
        n = int(2 * steps * max(1.0, np.log(steps))) + 1
        pts = np.unique(np.round(np.geomspace(1, steps, num=n)).astype(int))
        assert log_schedule(steps, n) == sorted({0, steps, *pts.tolist()})
    assert log_schedule(10, 10**12) == list(range(11))


def test_export_has_plain_names_config_header_and_the_checkpoint_values(tmp_path, capsys):
    cfg = _cfg(model=ArchConfig(d_model=8, n_heads=2, d_head=4, d_mlp=16, layernorm="pre"))
    res = train(cfg, tmp_path / "run", progress=False, plot=False)
    out = tmp_path / "model.safetensors"
    ckpt = tmp_path / "run" / "checkpoints" / "last.json"
    assert main(["export", str(ckpt), "--out", str(out)]) == 0
    got = load_file(out)
    assert list(got) == [n for n, _ in res.model.named_parameters()] or set(got) == {
        n for n, _ in res.model.named_parameters()
    }
    assert "blocks.0.mlp.W_in" in got and not any(k.startswith(("param.", "opt.")) for k in got)
    tensors, _ = load_checkpoint(ckpt)
    for name, t in got.items():
        assert torch.equal(t, tensors[f"param.{name}"]), name
    with safe_open(out, framework="pt") as fh:
        md = fh.metadata()
    assert TrainConfig.from_dict(json.loads(md["config"])) == cfg and md["step"] == "10"
    # an existing file is refused without --overwrite, replaced with it
    capsys.readouterr()
    assert main(["export", str(ckpt), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(ckpt), "--out", str(out), "--overwrite"]) == 0
    # the export is a checkpoint for `measure`, and bdm reads it by plain name
    m = tmp_path / "m"
    assert main(["measure", str(out), "--out", str(m), "--measures", "spectral"]) == 0
    from bdm.cli import main as bdm_main

    argv = ["blocks", str(out), "--tensor", "blocks.0.mlp.W_in", "--out", str(tmp_path / "b")]
    assert bdm_main(argv) == 0
    # a run folder works as the checkpoint argument too
    assert export_weights(tmp_path / "run", tmp_path / "x.safetensors").exists()


def test_cli_multi_seed_folder_holds_only_seed_folders(tmp_path):
    out = tmp_path / "s"
    argv = ["train", "--p", "7", "--frac", "0.5", "--steps", "4", "--d-model", "8"]
    argv += ["--n-heads", "2", "--d-head", "4", "--d-mlp", "16", "--measures", "spectral"]
    argv += ["--measure-points", "2", "--eval-points", "2", "--no-snapshots", "--quiet"]
    assert main([*argv, "--seeds", "0", "1", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if not n.startswith(".")] == ["seed_0", "seed_1"], names
    for s in ("seed_0", "seed_1"):
        have = {p.name for p in (out / s).iterdir()}
        assert {"metrics.csv", "summary.json", "checkpoints", "training.png"} <= have
    # resuming it without --seeds is refused, not mixed into it
    assert main([*argv, "--resume", "--out", str(out)]) == 2
