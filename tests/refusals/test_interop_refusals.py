"""``import`` and ``measure --format tl|nanda``: every bad file or flag is one line, exit code 2,
no traceback and no file left in the run folder; a pickle of anything but tensors and plain
containers is refused, never loaded."""

from __future__ import annotations

import math

import pytest
import torch

from transformer_check.cli import main
from transformer_check.interop import tl_from_occam
from transformer_check.model import ModelConfig, Transformer

P = 7
SMALL = dict(d_model=8, n_heads=2, d_head=4, d_mlp=16, n_layers=1)


class NotATensor:
    """Any class of the user's: a weights-only load must refuse to build it."""


class Sneaky:
    """A pickle that would call a function when loaded."""

    def __reduce__(self):
        return (print, ("this must never run",))


def _tl_sd() -> tuple[dict, dict]:
    m = Transformer.from_seed(ModelConfig(vocab_size=P + 1, seq_len=3, d_vocab_out=P, **SMALL), 0)
    return tl_from_occam(m)


def _nanda_sd() -> dict:
    d, H, e, m, V = 8, 2, 4, 16, P + 1
    g = torch.Generator().manual_seed(0)
    shapes = {
        "embed.W_E": (d, V),
        "pos_embed.W_pos": (3, d),
        "blocks.0.attn.W_K": (H, e, d),
        "blocks.0.attn.W_Q": (H, e, d),
        "blocks.0.attn.W_V": (H, e, d),
        "blocks.0.attn.W_O": (d, H * e),
        "blocks.0.mlp.W_in": (m, d),
        "blocks.0.mlp.b_in": (m,),
        "blocks.0.mlp.W_out": (d, m),
        "blocks.0.mlp.b_out": (d,),
        "unembed.W_U": (d, V),
    }
    return {k: torch.randn(s, generator=g) / math.sqrt(s[-1]) for k, s in shapes.items()}


@pytest.fixture
def files(tmp_path):
    sd, cfg = _tl_sd()
    f = {
        "tl": tmp_path / "tl.pth",
        "nanda": tmp_path / "nanda.pth",
        "pickle": tmp_path / "object.pth",
        "sneaky": tmp_path / "sneaky.pth",
        "garbage": tmp_path / "garbage.pth",
        "garbage_st": tmp_path / "garbage.safetensors",
        "txt": tmp_path / "model.txt",
        "no_sd": tmp_path / "losses.pth",
        "demo": tmp_path / "demo.pth",
        "bq": tmp_path / "bq.pth",
        "rotary": tmp_path / "rotary.pth",
        "nan": tmp_path / "nan.pth",
        "list": tmp_path / "list.pth",
    }
    torch.save({"model": sd, "config": cfg}, f["tl"])
    torch.save(_nanda_sd(), f["nanda"])
    torch.save({"model": sd, "extra": NotATensor()}, f["pickle"])
    torch.save({"model": sd, "extra": Sneaky()}, f["sneaky"])
    f["garbage"].write_bytes(b"not a torch file at all")
    f["garbage_st"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    f["txt"].write_text("weights")
    torch.save({"train_losses": [1.0, 0.5]}, f["no_sd"])
    idx = torch.randperm(P * P, generator=torch.Generator().manual_seed(598))
    n = int(0.3 * P * P)
    torch.save({"model": sd, "config": cfg, "train_indices": idx[:n], "test_indices": idx[n:]},
               f["demo"])  # fmt: skip
    torch.save({"model": {**sd, "blocks.0.attn.b_Q": torch.ones(2, 4)}, "config": cfg}, f["bq"])
    torch.save({"model": sd, "config": {**cfg, "positional_embedding_type": "rotary"}}, f["rotary"])
    torch.save({**sd, "embed.W_E": torch.full_like(sd["embed.W_E"], float("nan"))}, f["nan"])
    torch.save({"state_dicts": [_nanda_sd(), _nanda_sd()]}, f["list"])
    return f


CASES = {
    "arbitrary pickle": ("pickle", ["--format", "tl"], ["weights_only", "NotATensor"]),
    "missing file": ("missing", ["--format", "tl"], "does not exist"),
    "unknown suffix": ("txt", ["--format", "tl"], "neither"),
    "garbage .pth": ("garbage", ["--format", "tl"], "torch.load(weights_only=True)"),
    "garbage .safetensors": ("garbage_st", ["--format", "tl"], "cannot be read as safetensors"),
    "no state dict": ("no_sd", ["--format", "nanda"], "no state dict"),
    "Nanda file as tl": ("nanda", ["--format", "tl"], "--format nanda"),
    "tl file as Nanda": ("tl", ["--format", "nanda"], "--format tl"),
    "unsupported architecture": ("rotary", ["--format", "tl"], "positional_embedding_type"),
    "NaN weights": ("nan", ["--format", "tl"], "NaN"),
    "p does not fit": ("tl", ["--format", "tl", "--p", "5"], "--p"),
    "state index of a single model": (
        "tl",
        ["--format", "tl", "--state-index", "0"],
        "--state-index",
    ),
    "state index out of range": (
        "list",
        ["--format", "nanda", "--state-index", "5"],
        "--state-index",
    ),
}


@pytest.mark.parametrize("command", ["import", "measure"])
@pytest.mark.parametrize("case", CASES)
def test_bad_files_and_flags(refused, files, tmp_path, command, case):
    key, flags, match = CASES[case]
    path = files.get(key, tmp_path / "missing.pth")
    out = tmp_path / "out"
    refused(main, [command, str(path), *flags, "--out", str(out)], match, out=tmp_path)


def test_arbitrary_pickle_never_runs(refused, files, tmp_path, capsys):
    refused(main, ["measure", str(files["sneaky"]), "--format", "tl", "--out", str(tmp_path / "o")],
            ["weights_only", "print"])  # fmt: skip
    assert "must never run" not in capsys.readouterr().out


def test_import_refuses_what_a_checkpoint_cannot_hold(refused, files, tmp_path):
    out = tmp_path / "o"
    refused(main, ["import", str(files["bq"]), "--format", "tl", "--out", str(out)],
            ["nonzero", "measure --format tl"], out=tmp_path)  # fmt: skip
    refused(main, ["import", str(files["demo"]), "--format", "tl", "--out", str(out)],
            ["--task-seed", "598"], out=tmp_path)  # fmt: skip


def test_split_and_task_flags(refused, files, tmp_path):
    out = tmp_path / "o"
    refused(main, ["measure", str(files["tl"]), "--format", "tl", "--split", "file", "--out",
                   str(out)], "no train indices", out=tmp_path)  # fmt: skip
    refused(main, ["measure", str(files["tl"]), "--p", "7", "--out", str(out)],
            ["--p", "--format tl"], out=tmp_path)  # fmt: skip
