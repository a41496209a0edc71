"""One K_BDM: ``python -m bdm measure`` of a training checkpoint equals the training-time
``bdm_bits`` of the same step to the last bit, and ``blocks --tensor`` takes the toolkit's names."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from bdm.cli import main
from transformer_check.data import TaskConfig
from transformer_check.model import ArchConfig
from transformer_check.train import TrainConfig, train

TINY = ArchConfig(d_model=16, n_heads=2, d_head=8, d_mlp=32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("kbdm") / "run"
    cfg = TrainConfig(
        task=TaskConfig(p=11, frac=0.5),
        model=TINY,
        steps=12,
        eval_points=4,
        measure_points=3,
        checkpoint_every=6,
        measures=("bdm",),
        snapshots=True,
    )
    train(cfg, out, progress=False, plot=False)
    return out


def _logged(run_dir) -> dict[int, float]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {int(r["step"]): float(r["bdm_bits"]) for r in rows if r.get("bdm_bits")}


def _measured(path, out, capsys, *extra) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["measure", str(path), "--out", str(out), *extra]) == 0
    err = capsys.readouterr().err
    return json.loads((out / "bdm_measure.json").read_text()), err


def _step(path) -> int:
    """A checkpoint's step: from the JSON state in its safetensors header, else the JSON beside it."""
    with safe_open(str(path), "np") as fh:
        meta = fh.metadata() or {}
    state = json.loads(meta["state"]) if "state" in meta else None
    if state is None:
        state = json.loads(path.with_suffix(".json").read_text())
    return int(state["step"])


def _checkpoints(run_dir):
    """(weights-only snapshots, full checkpoints by step) of a run."""
    files = sorted((run_dir / "checkpoints").rglob("*.safetensors"))
    full = [f for f in files if any(k.startswith("opt.") for k in load_file(str(f)))]
    snaps = [f for f in files if f not in full]
    return snaps, sorted(full, key=_step)


def test_snapshots_and_final_checkpoint_match_training_bdm_bits(run_dir, tmp_path, capsys):
    logged = _logged(run_dir)
    snaps, full = _checkpoints(run_dir)
    assert snaps and full and len(logged) >= 2
    for i, snap in enumerate(snaps):
        step = _step(snap)
        doc, _ = _measured(snap, tmp_path / f"s{i}", capsys)
        assert doc["k_bdm_bits"] == logged[step]  # exact, not approx
    final = full[-1]
    step = _step(final)
    doc, err = _measured(final, tmp_path / "last", capsys)
    assert doc["k_bdm_bits"] == logged[step]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "skipped" in lines[0] and "--include-state" in lines[0]
    names = {r["tensor"] for r in doc["tensors"]}
    assert "blocks.0.attn.W_Q" in names and not any(n.startswith(("param.", "opt.")) for n in names)


def test_include_state_prices_the_optimizer_too(run_dir, tmp_path, capsys):
    final = _checkpoints(run_dir)[1][-1]
    plain, _ = _measured(final, tmp_path / "a", capsys)
    state, err = _measured(final, tmp_path / "b", capsys, "--include-state")
    assert err.strip() == ""
    rows = {r["tensor"]: r for r in state["tensors"]}
    assert any(n.startswith("opt.") and r["bdm_bits"] for n, r in rows.items())
    assert all(r["bdm_bits"] is None for n, r in rows.items() if n.startswith("rng."))
    assert state["k_bdm_bits"] > plain["k_bdm_bits"]


def test_plain_export_names_match_checkpoint(run_dir, tmp_path, capsys):
    final = _checkpoints(run_dir)[1][-1]
    ckpt = load_file(str(final))
    plain = tmp_path / "model.safetensors"
    save_file(
        {k.removeprefix("param."): v for k, v in ckpt.items() if k.startswith("param.")}, str(plain)
    )
    a, _ = _measured(final, tmp_path / "a", capsys)
    b, err = _measured(plain, tmp_path / "b", capsys)
    assert a["k_bdm_bits"] == b["k_bdm_bits"] and err.strip() == ""


@pytest.mark.parametrize("name", ["blocks.0.mlp.W_in", "param.blocks.0.mlp.W_in"])
def test_readme_blocks_example_on_toolkit_files(run_dir, tmp_path, name):
    final = _checkpoints(run_dir)[1][-1]
    out = tmp_path / "blocks"
    assert main(["blocks", str(final), "--tensor", name, "--out", str(out)]) == 0
    assert (out / "blocks_blocks_0_mlp_W_in.png").stat().st_size > 0
    doc = json.loads((out / "bdm_blocks.json").read_text())
    assert [t["tensor"] for t in doc["tensors"]] == ["blocks.0.mlp.W_in"]


def test_attention_view_is_heads_stacked(run_dir):
    # The one rule (bdm.weights.as_matrix): [H, d_model, d_head] -> (H*d_model, d_head).
    from bdm.weights import as_matrix

    w = load_file(str(_checkpoints(run_dir)[1][-1]))["param.blocks.0.attn.W_Q"]
    m = as_matrix(w, "blocks.0.attn.W_Q")
    assert m.shape == (TINY.n_heads * TINY.d_model, TINY.d_head)
    np.testing.assert_array_equal(m[TINY.d_model :], w[1])
