"""``python -m transformer_check import FILE --format tl|nanda --out DIR``: an occam checkpoint of
a model trained elsewhere (docs/interop.md).

The run folder gets ``checkpoints/last.safetensors``/``.json`` (a weights-only checkpoint whose
config records the task: ``p`` and the format from the model's shapes, the rest from the file or
the flags) and ``import.json`` (the source file, its hash, the split, what is approximate, and
the largest logit difference between the written checkpoint read back and the source model).
Every other subcommand then takes ``DIR`` like any run: ``measure DIR``, ``export DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from theory.base.cli import add_out_argument, arg_type
from theory.base.errors import InputError, check_int, check_range

__all__ = ["add_subparser", "add_external_arguments", "external_kwargs", "import_external"]


def add_external_arguments(p: argparse.ArgumentParser, *, split: bool) -> None:
    """The flags that say what a foreign file does not: shared by ``import`` and ``measure``."""
    from transformer_check.data import OPS

    g = p.add_argument_group("a file trained elsewhere (--format tl|nanda)")
    g.add_argument(
        "--p", type=arg_type(check_int, 3), help="modulus (default: from the vocabulary)"
    )
    g.add_argument("--op", choices=OPS, help="operation (default +)")
    g.add_argument(
        "--frac",
        type=arg_type(check_range, 0.0, 1.0, lo_open=True, hi_open=True),
        help="train fraction (default: the file's, else 0.3)",
    )
    g.add_argument("--task-seed", type=arg_type(check_int, 0), help="split seed (default 0; the "
                   "TransformerLens grokking demo's is 598)")  # fmt: skip
    g.add_argument("--act", choices=("relu", "gelu"), help="activation when the file has no config")
    g.add_argument("--state-index", type=int, help="which of the file's saved checkpoints "
                   "('checkpoints', 'state_dicts'; default: its model, else the last)")  # fmt: skip
    if split:
        g.add_argument("--split", choices=("file", "occam", "nanda"), help="train/test split: "
                       "the file's own indices, occam's (= the TransformerLens demo's) or Nanda "
                       "et al.'s; default: the file's, else nanda for --format nanda, else occam")  # fmt: skip


def external_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`~transformer_check.interop.external.load_external` keywords from the flags."""
    keys = ("p", "op", "frac", "task_seed", "act", "state_index", "split")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def import_external(file: str | Path, fmt: str, out: str | Path, **load: Any) -> dict[str, Any]:
    """Write ``out/checkpoints/last`` and ``out/import.json`` for the ``fmt`` file ``file``."""
    import torch

    from theory.base.io import write_json
    from theory.base.provenance import run_metadata
    from transformer_check.checkpoint import save_checkpoint
    from transformer_check.config import TrainConfig
    from transformer_check.data import make_dataset
    from transformer_check.interop.external import load_external
    from transformer_check.interop.tl import bias_free
    from transformer_check.model import ArchConfig
    from transformer_check.train import load_model

    model, info = load_external(file, fmt, **load)
    notes = list(info.notes)
    if info.split == "file":
        tx = make_dataset(info.task).train_x  # [a, b, =] rows; all_pairs index a * p + b
        occam = set((tx[:, 0] * info.task.p + tx[:, 1]).tolist())
        if occam != set(info.train_idx or ()):
            raise InputError(
                f"--task-seed: occam's split of seed {info.task.seed} (frac {info.task.frac}) is "
                f"not {file}'s own train split; pass the seed that made it (the TransformerLens "
                f"grokking demo's is 598), or measure the file directly: measure --format {fmt} FILE"
            )
    elif info.split == "nanda":
        notes.append(
            "Nanda et al.'s own split (Python random.shuffle) is not occam's: the checkpoint's "
            f"train/test metrics use occam's split of seed {info.task.seed}; measure --format "
            "nanda FILE uses theirs"
        )
    plain = bias_free(model)
    if plain is None:
        raise InputError(
            f"FILE: {file} has nonzero attention or unembedding biases (b_Q, b_V, b_O or b_U) an "
            f"occam checkpoint cannot hold yet; measure it directly: measure --format {fmt} FILE"
        )
    if plain is not model:
        notes.append("nonzero b_K dropped (exact: the softmax ignores it); no other bias")
    arch = {f.name: getattr(plain.cfg, f.name) for f in dataclasses.fields(ArchConfig)}
    cfg = TrainConfig(task=info.task, model=ArchConfig(**arch), device="cpu")
    if cfg.model_config() != plain.cfg:
        raise InputError(f"FILE: {file} is not a model of occam's task layout ({plain.cfg})")
    out = Path(out)
    source = {**info.info(), "notes": notes}
    state = {"kind": "weights", "step": info.step, "config": cfg.to_dict(), "device": "cpu"}
    stem = out / "checkpoints" / "last"
    tensors = {f"param.{n}": p for n, p in plain.named_parameters()}
    save_checkpoint(stem, tensors, {**state, "row": None, "imported": source})
    back, _, ds, _ = load_model(stem)
    x = torch.cat([ds.train_x, ds.test_x])
    with torch.no_grad():
        diff = float((back(x) - model(x)).abs().max())
    result = {
        "metadata": run_metadata("transformer_check import", {"file": str(file), "format": fmt}),
        "source": source,
        "checkpoint": str(stem.with_suffix(".json")),
        "config": cfg,
        "max_abs_logit_diff": diff,
    }
    write_json(out / "import.json", result)
    return result


def add_subparser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="an occam checkpoint of a TransformerLens or Nanda et al. model file",
        description="Reads FILE (.pth/.pt with torch.load(weights_only=True), or .safetensors; "
        "nothing else is unpickled), converts it exactly (docs/interop.md says what is "
        "approximate) and writes DIR/checkpoints/last.json and DIR/import.json.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the model file")
    p.add_argument("--format", dest="fmt", choices=("tl", "nanda"), required=True,
                   help="tl: a TransformerLens HookedTransformer state dict; nanda: Nanda et "
                   "al.'s progress-measures Transformer")  # fmt: skip
    add_external_arguments(p, split=False)
    add_out_argument(p, "runs/transformer_check-import")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args: argparse.Namespace) -> int:
    res = import_external(args.file, args.fmt, args.out, **external_kwargs(args))
    t = res["source"]["task"]
    print(
        f"{args.out}: {args.file} ({args.fmt}, p {t.p}, op {t.op}, step {res['source']['step']}, "
        f"split {res['source']['split']}) -> checkpoints/last.json; max |logit diff| "
        f"{res['max_abs_logit_diff']:.3g}; measure it: python -m transformer_check measure {args.out}"
    )
    return 0
