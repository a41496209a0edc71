"""``python -m transformer_check``: every bad input is one line, exit code 2, no partial file.

Classes: conflicting flags; sizes that cannot fit (refused from a memory estimate before anything
is allocated); training that diverges; damaged checkpoints for ``--resume``, ``measure`` and
``export``; damaged ``--config`` files; runs of the other kind in a resumed folder; ``export``
targets.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer_check.checkpoint import load_checkpoint, save_checkpoint
from transformer_check.cli import main

TINY = ["--p", "7", "--frac", "0.5", "--d-model", "8", "--n-heads", "2", "--d-head", "4"]
TINY += ["--d-mlp", "16", "--measures", "spectral", "--measure-points", "2", "--eval-points", "2"]
TINY += ["--no-snapshots", "--quiet", "--threads", "1"]


def _train(*extra: str) -> list[str]:
    return ["train", *TINY, "--steps", "4", *extra]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run with one checkpoint (``last`` only: no ``prev`` to fall back to)."""
    out = tmp_path_factory.mktemp("tc") / "run"
    assert main(_train("--checkpoint-every", "100", "--out", str(out))) == 0
    assert not (out / "checkpoints" / "prev.safetensors").exists()
    return out


@pytest.fixture
def copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


# -- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seed", "1", "--seeds", "0", "1"], ["--seed", "conflicts with --seeds"]),
        (["--batched"], ["--batched", "--seeds"]),
        (["--seeds", "1", "1"], "seeds: must be distinct"),
        (["--measures", "nope"], "--measures"),
        (["--steps", "0"], "--steps"),
        (["--lr", "nan"], "--lr"),
    ],
)
def test_conflicting_or_bad_flags(refused, tmp_path, argv, match):
    out = tmp_path / "o"
    refused(main, [*_train(), *argv, "--out", str(out)], match, out=tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda(refused, tmp_path):
    refused(main, [*_train("--device", "cuda"), "--out", str(tmp_path / "o")], "CUDA", tmp_path)


# -- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["--p", "100003"], ["--layers", "1000000"], ["--d-model", "1000000"], ["--seeds", "0", "1"]],
)
def test_sizes_that_cannot_fit_are_refused_before_allocating(refused, tmp_path, monkeypatch, argv):
    import transformer_check.memory as mem

    # the same refusal on any machine: 1 GiB free (the tiny run with --seeds needs far less)
    free = 2**30 if argv[0] != "--seeds" else 2**10
    monkeypatch.setattr(mem, "available_memory", lambda device: free)
    argv = [*_train(), *argv, "--batched"] if argv[0] == "--seeds" else [*_train(), *argv]
    line = refused(
        main, [*argv, "--out", str(tmp_path / "o")], ["needs at least", "free"], tmp_path
    )
    assert "GiB" in line or "MiB" in line


# -- divergence -------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [["--lr", "1e30"], ["--weight-noise", "1e30"]])
def test_diverging_training_stops_in_one_line(refused, tmp_path, flag):
    out = tmp_path / "d"
    line = refused(main, [*_train(*flag), "--out", str(out)], "training diverged")
    assert "at step" in line and "lower --lr" in line and flag[0] in line
    assert (out / "metrics.csv").exists() and not (out / "summary.json").exists()


# -- damaged checkpoints ----------------------------------------------------------------------


def _rewrite(run, *, state=None, tensors=None):
    """Rewrite ``run``'s last checkpoint with an edited state or edited tensors."""
    stem = run / "checkpoints" / "last"
    t, meta = load_checkpoint(stem)
    meta = dict(meta)
    if state is not None:
        meta = state(meta)
    if tensors is not None:
        t = tensors(dict(t))
    save_checkpoint(stem, t, meta)


def _no_config(m):
    return {k: v for k, v in m.items() if k != "config"}


def _unknown_key(m):
    return {**m, "config": {**m["config"], "stpes": 3}}


def _other_shapes(m):
    return {**m, "config": {**m["config"], "model": {**m["config"]["model"], "d_model": 12}}}


def _huge_claim(m):
    return {**m, "config": {**m["config"], "task": {**m["config"]["task"], "p": 100003}}}


def _nan(t):
    t["param.W_E"] = torch.full_like(t["param.W_E"], float("nan"))
    return t


DAMAGE = {
    "no config": (dict(state=_no_config), "has no training config"),
    "unknown key": (dict(state=_unknown_key), ["bad training config", "stpes"]),
    "shapes": (dict(state=_other_shapes), ["parameter", "shape"]),
    "huge p": (dict(state=_huge_claim), ["shape"]),
    "nan": (dict(tensors=_nan), ["param.W_E", "NaN"]),
}


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", ["measure", "resume", "export"])
def test_damaged_checkpoint(refused, copy, tmp_path, case, command):
    kw, match = DAMAGE[case]
    _rewrite(copy, **kw)
    _check_refused(refused, copy, tmp_path, command, match)


def _check_refused(refused, run, tmp_path, command, match):
    ckpt = str(run / "checkpoints" / "last.json")
    if command == "measure":
        argv = ["measure", ckpt, "--out", str(tmp_path / "m"), "--measures", "spectral"]
        refused(main, argv, match, out=tmp_path)
    elif command == "export":
        refused(main, ["export", ckpt, "--out", str(tmp_path / "x.safetensors")], match, tmp_path)
    else:
        refused(main, [*_train("--resume"), "--out", str(run)], match, out=run)


@pytest.mark.parametrize("command", ["measure", "resume", "export"])
@pytest.mark.parametrize(
    "cut, match", [(-10, "SHA-256"), (200, "truncated"), (4, "too short"), (0, "too short")]
)
def test_truncated_tensor_file(refused, copy, tmp_path, command, cut, match):
    last = copy / "checkpoints" / "last.safetensors"
    blob = last.read_bytes()
    flipped = bytes(b ^ 0xFF for b in blob[cut:]) if cut < 0 else b""
    last.write_bytes(blob[:cut] + flipped)
    _check_refused(refused, copy, tmp_path, command, ["last.safetensors", match])


@pytest.mark.parametrize("text", ["", "{not json", "null"])
def test_garbage_json_without_its_tensor_file_is_refused(refused, copy, tmp_path, text):
    (copy / "checkpoints" / "last.json").write_text(text)
    (copy / "checkpoints" / "last.safetensors").unlink()
    _check_refused(refused, copy, tmp_path, "measure", ["last.safetensors", "does not exist"])
    _check_refused(refused, copy, tmp_path, "export", ["last.safetensors", "does not exist"])


def test_garbage_json_beside_a_good_tensor_file_is_not_needed(copy, tmp_path):
    """The tensor file carries its own state; the JSON is a readable copy, never trusted."""
    (copy / "checkpoints" / "last.json").write_text("{not json")
    argv = ["measure", str(copy / "checkpoints" / "last.json"), "--out", str(tmp_path / "m")]
    assert main([*argv, "--measures", "spectral"]) == 0


def test_version1_pair_with_garbage_json_is_refused(refused, copy, tmp_path):
    from safetensors.torch import save_file

    t, _ = load_checkpoint(copy / "checkpoints" / "last")
    save_file(t, copy / "checkpoints" / "last.safetensors")  # no state in the header: v1
    (copy / "checkpoints" / "last.json").write_text("")
    _check_refused(refused, copy, tmp_path, "measure", ["last.json", "not readable JSON"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=300))
def test_any_bytes_as_a_checkpoint_are_refused(refused, tmp_path, blob):
    f = tmp_path / "ckpt.safetensors"
    f.write_bytes(blob)
    refused(main, ["measure", str(f), "--out", str(tmp_path / "m")], "checkpoint:", tmp_path)


def test_not_a_checkpoint(refused, run, tmp_path):
    argv = ["measure", str(run / "summary.json"), "--out", str(tmp_path / "m")]
    refused(main, argv, ["summary.safetensors", "does not exist"], out=tmp_path)
    argv = ["measure", str(tmp_path), "--out", str(tmp_path / "m")]
    refused(main, argv, ["is a folder without checkpoints"], out=tmp_path)


# -- resume -----------------------------------------------------------------------------------


def test_resume_with_a_result_changing_option_names_it(refused, copy):
    refused(main, [*_train("--resume", "--lr", "0.002"), "--out", str(copy)], "lr 0.003", copy)


def test_resume_of_the_other_kind_of_run(refused, copy, tmp_path):
    refused(
        main, [*_train("--resume", "--seeds", "0", "1"), "--out", str(copy)], "single run", copy
    )
    multi = tmp_path / "multi"
    (multi / "seed_0" / "checkpoints").mkdir(parents=True)
    refused(main, [*_train("--resume"), "--out", str(multi)], "multi-seed run", multi)


# -- --config files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "not JSON"),
        ("{not json", "not JSON"),
        ("null", "expected a mapping"),
        (json.dumps({"config": {"stpes": 3}}), "stpes"),
        (json.dumps({"lr": "x"}), "lr"),
        (json.dumps({"device": 5}), "device"),
        (json.dumps({"amp": "yes"}), "amp"),
        (json.dumps({"model": {"d_model": -1}}), "d_model"),
        (json.dumps({"model": 3}), "model"),
        (json.dumps({"measures": "spectral"}), "measures"),
        (json.dumps({"betas": 5}), "betas"),
    ],
)
def test_damaged_config_file(refused, tmp_path, text, match):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    argv = ["train", "--config", str(bad), "--quiet", "--out", str(tmp_path / "o")]
    refused(main, argv, ["--config", match], out=tmp_path)


# -- export targets ---------------------------------------------------------------------------


def test_export_targets(refused, run, tmp_path):
    ckpt = str(run / "checkpoints" / "last.json")
    (tmp_path / "there.safetensors").write_bytes(b"x")
    cases = [
        (tmp_path / "there.safetensors", ["exists", "--overwrite"]),
        (tmp_path / "model.txt", "does not end in .safetensors"),
        (tmp_path, "does not end in .safetensors"),
    ]
    for out, match in cases:
        refused(main, ["export", ckpt, "--out", str(out)], match, out=tmp_path)
    folder = tmp_path / "d.safetensors"
    folder.mkdir()
    refused(main, ["export", ckpt, "--out", str(folder)], "is a folder", out=tmp_path)
    missing = str(tmp_path / "nope.json")
    refused(main, ["export", missing, "--out", str(tmp_path / "n.safetensors")], "does not exist")
