"""Read a model trained elsewhere (TransformerLens or Nanda et al. format) as an occam model and
its task; measure it directly (docs/interop.md).

Files are ``.pth``/``.pt`` (read only with ``torch.load(weights_only=True)``: nothing but tensors
and plain containers is ever unpickled) or ``.safetensors``. A pickled TransformerLens config
object (the grokking demo saves ``model.cfg``) is read as its recorded fields by
:class:`PickledFields`, which stands in for that one class name inside the weights-only
unpickler: no TransformerLens code runs and any other object still refuses the file.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from theory.base.errors import InputError
from transformer_check.data import (
    ModularDataset,
    TaskConfig,
    all_pairs,
    apply_op,
    make_dataset,
    task_sizes,
)
from transformer_check.interop.nanda import occam_from_nanda
from transformer_check.interop.tl import occam_from_tl, tl_config
from transformer_check.model import Transformer

__all__ = [
    "FORMATS",
    "SPLITS",
    "PickledFields",
    "ExternalTask",
    "read_weights_file",
    "load_external",
    "nanda_split",
]

FORMATS = ("tl", "nanda")
SPLITS = ("file", "occam", "nanda")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
# The classes TransformerLens's config has been pickled as (2.x and 3.x module paths).
_TL_CONFIG_NAMES = (
    "transformer_lens.config.hooked_transformer_config.HookedTransformerConfig",
    "transformer_lens.HookedTransformerConfig.HookedTransformerConfig",
)


class PickledFields:
    """A pickled config object of another library, kept as the dict of fields it recorded."""

    def __setstate__(self, state: Any) -> None:
        self.fields = dict(state) if isinstance(state, Mapping) else {}


def _numpy_globals() -> list[Any]:
    """numpy's scalar and dtype constructors (TransformerLens stores ``attn_scale`` as
    ``np.float64``): they rebuild a number from its bytes and run nothing else."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    out: list[Any] = [np.dtype, (multiarray.scalar, "numpy.core.multiarray.scalar")]
    out.append((multiarray.scalar, "numpy._core.multiarray.scalar"))
    out += [getattr(np.dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType")]
    return out


def _why(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Unsupported global: GLOBAL ", "Unsupported operand"):
        if marker in text:
            name = text.split(marker, 1)[1].split()[0].rstrip(".,")
            return f"it pickles {name}, which is not a tensor or a plain container"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return first[:160]


def read_weights_file(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(object, safetensors metadata)``: what ``torch.load(weights_only=True)`` gives for a
    ``.pth``/``.pt`` (``{}`` metadata), or the tensors of a ``.safetensors``; one-line
    :class:`InputError` for anything that cannot be read that way."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"FILE: {p} does not exist or is not a file")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            blob = p.read_bytes()
            tensors = load(blob)
            n = int.from_bytes(blob[:8], "little")
            meta = json.loads(blob[8 : 8 + n]).get("__metadata__") or {}
        except (SafetensorError, ValueError, OSError) as exc:
            raise InputError(f"FILE: {p} cannot be read as safetensors ({_why(exc)})") from None
        return tensors, dict(meta)
    if p.suffix not in TORCH_SUFFIXES:
        raise InputError(
            f"FILE: {p} is neither {'/'.join(TORCH_SUFFIXES)} (torch.save) nor .safetensors"
        )
    subs = [(PickledFields, name) for name in _TL_CONFIG_NAMES] + _numpy_globals()
    try:
        with torch.serialization.safe_globals(subs):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises many types; every one is a refusal
        raise InputError(
            f"FILE: {p} cannot be read with torch.load(weights_only=True): {_why(exc)}; occam "
            "never unpickles arbitrary objects: save the state dict alone (torch.save("
            "model.state_dict(), FILE)) or as .safetensors"
        ) from None
    return obj, {}


def _is_state_dict(x: Any) -> bool:
    return isinstance(x, Mapping) and bool(x) and all(torch.is_tensor(v) for v in x.values())


@dataclass(frozen=True)
class _Payload:
    state_dict: Mapping[str, Tensor]
    config: dict[str, Any] | None
    step: int | None
    train_idx: tuple[int, ...] | None
    test_idx: tuple[int, ...] | None


def _indices(x: Any, p: int | None = None) -> tuple[int, ...] | None:
    if torch.is_tensor(x) and x.dim() == 1 and not x.is_floating_point():
        return tuple(int(i) for i in x.tolist())
    if isinstance(x, Sequence) and x and all(isinstance(t, Sequence) and len(t) >= 2 for t in x):
        # Nanda et al.'s train_data: (a, b, p) triples; index = a * p + b (all_pairs order)
        q = p or int(x[0][2])
        return tuple(int(t[0]) * q + int(t[1]) for t in x)
    return None


def _payload(obj: Any, meta: Mapping[str, Any], state_index: int | None) -> _Payload:
    if _is_state_dict(obj):
        if state_index is not None:
            raise InputError("--state-index: FILE holds one state dict, not a list of them")
        cfg = json.loads(meta["config"]) if isinstance(meta.get("config"), str) else None
        return _Payload(obj, cfg if isinstance(cfg, dict) else None, None, None, None)
    if not isinstance(obj, Mapping):
        raise InputError(f"FILE: holds a {type(obj).__name__}, not a state dict or a dict of one")
    lists = [k for k in ("checkpoints", "state_dicts") if isinstance(obj.get(k), list)]
    step = obj.get("epoch") if isinstance(obj.get("epoch"), int) else None
    if state_index is None and _is_state_dict(obj.get("model")):
        sd = obj["model"]
    elif lists:
        seq = obj[lists[0]]
        i = -1 if state_index is None else state_index
        if not -len(seq) <= i < len(seq) or not _is_state_dict(seq[i]):
            raise InputError(f"--state-index: {i} is not one of the {len(seq)} {lists[0]} of FILE")
        sd = seq[i]
        epochs = obj.get("checkpoint_epochs", obj.get("epochs"))
        step = int(epochs[i]) if isinstance(epochs, list) and len(epochs) == len(seq) else None
    else:
        keys = ", ".join(map(str, list(obj)[:6]))
        raise InputError(
            f"FILE: no state dict in it (keys {keys}); expected a state dict, or a dict with "
            "'model', 'checkpoints' (TransformerLens demo) or 'state_dicts' (Nanda et al.)"
            + ("; --state-index needs a list of them" if state_index is not None else "")
        )
    cfg = obj.get("config")
    cfg = cfg.fields if isinstance(cfg, PickledFields) else cfg
    tr = _indices(obj.get("train_indices", obj.get("train_data")))
    te = _indices(obj.get("test_indices", obj.get("test_data")))
    return _Payload(sd, dict(cfg) if isinstance(cfg, Mapping) else None, step, tr, te)


def nanda_split(p: int, frac: float, seed: int) -> tuple[int, ...]:
    """Nanda et al.'s training pairs as ``all_pairs`` indices ``a * p + b``: their
    ``gen_train_test`` shuffles ``[(a, b, p) ...]`` with ``random.seed(seed)`` and keeps the
    first ``int(frac * p^2)`` (progress-measures-paper ``transformers.py``)."""
    pairs = [a * p + b for a in range(p) for b in range(p)]
    random.Random(seed).shuffle(pairs)  # the same Mersenne Twister stream as random.seed
    return tuple(pairs[: int(frac * len(pairs))])


@dataclass(frozen=True)
class ExternalTask:
    """The task of an imported model and where it came from.

    ``split``: ``file`` (the file's own train indices), ``occam`` (:func:`make_dataset`'s seeded
    ``torch.randperm``, which is also the TransformerLens demo's) or ``nanda``
    (:func:`nanda_split`). ``notes``: what is approximate (docs/interop.md)."""

    task: TaskConfig
    fmt: str
    path: str
    sha256: str
    step: int | None = None
    split: str = "occam"
    train_idx: tuple[int, ...] | None = field(default=None, repr=False)
    test_idx: tuple[int, ...] | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    source_config: dict[str, Any] = field(default_factory=dict)

    def train_indices(self) -> tuple[int, ...] | None:
        """The training pairs as ``all_pairs`` indices; ``None`` for the ``occam`` split."""
        if self.split == "nanda":
            return nanda_split(self.task.p, self.task.frac, self.task.seed)
        return self.train_idx if self.split == "file" else None

    def dataset(self) -> ModularDataset:
        """The train/test tensors of the task on this split."""
        idx = self.train_indices()
        if idx is None:
            return make_dataset(self.task)
        t, p = self.task, self.task.p
        a, b = all_pairs(p, t.op)
        x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
        y = apply_op(a, b, t.op, p)
        is_tr = torch.zeros(len(y), dtype=torch.bool)
        is_tr[list(idx)] = True
        tr = torch.tensor(idx, dtype=torch.long)
        # the file's own test order if it has one (the TransformerLens demo's is occam's), so
        # a sample drawn from the data set is the same as from the imported checkpoint's
        te_idx = self.test_idx if self.split == "file" and self.test_idx else None
        te = torch.tensor(te_idx) if te_idx else torch.nonzero(~is_tr).flatten()
        return ModularDataset(x[tr], y[tr], x[te], y[te], p, t.op, p + 1, 3)

    def info(self) -> dict[str, Any]:
        """A JSON-ready description (no index lists)."""
        return {
            "format": self.fmt,
            "path": self.path,
            "sha256": self.sha256,
            "step": self.step,
            "task": self.task,
            "split": self.split,
            "n_train": len(idx) if (idx := self.train_indices()) else task_sizes(self.task)[3],
            "notes": list(self.notes),
            "source_config": self.source_config,
        }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _round_frac(n_train: int, n: int) -> float:
    """The shortest decimal ``f`` with ``int(f * n) == n_train`` (occam's split rule)."""
    for digits in range(1, 12):
        f = round(n_train / n, digits)
        if 0 < f < 1 and int(f * n) == n_train:
            return f
    return (n_train + 0.5) / n


def _check_split(tr: tuple[int, ...], te: tuple[int, ...] | None, n: int) -> None:
    both = set(tr) | set(te or ())
    if len(set(tr)) != len(tr) or not all(0 <= i < n for i in both):
        raise InputError(f"FILE: its train indices are not distinct pairs in [0, {n})")
    if te is not None and (set(tr) & set(te) or len(both) != n):
        raise InputError("FILE: its train and test indices do not split all p^2 pairs")


def load_external(
    path: str | Path,
    fmt: str,
    *,
    p: int | None = None,
    op: str | None = None,
    frac: float | None = None,
    task_seed: int | None = None,
    act: str | None = None,
    state_index: int | None = None,
    split: str | None = None,
) -> tuple[Transformer, ExternalTask]:
    """The occam model (``p`` outputs, the task's positions) of the ``fmt`` file at ``path``,
    and its :class:`ExternalTask`; what the file does not say comes from the keywords (``op``
    ``+``, ``frac`` 0.3, ``task_seed`` 0, ``act`` relu when there is no config). ``split``
    defaults to the file's own, else ``nanda`` for Nanda et al.'s files and ``occam`` for
    TransformerLens ones (the demo's is occam's with ``task_seed=598``)."""
    if fmt not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if split is not None and split not in SPLITS:
        raise InputError(f"--split: must be one of {', '.join(SPLITS)}, got {split!r}")
    path = Path(path)
    obj, meta = read_weights_file(path)
    pay = _payload(obj, meta, state_index)
    sd = dict(pay.state_dict)
    notes: list[str] = []
    if fmt == "nanda":
        probe = occam_from_nanda(sd, act=act or "relu", drop_eq=False).cfg  # checks sd
        V, T = probe.vocab_size, probe.seq_len
        cfg_in: dict[str, Any] = {"act_type": act or "relu"}
        if act is None:
            notes.append("activation not recorded in the file: ReLU assumed (--act)")
    else:
        cfg_in = dict(pay.config or {})
        if act is not None:
            cfg_in["act_fn"] = act
        tl = tl_config(sd, cfg_in)
        V, T = tl["d_vocab"], tl["n_ctx"]
        if pay.config is None:
            notes.append("no config in the file: act_fn relu (or --act) and the shapes assumed")
    extra = V - p if p is not None else (1 if T == 3 else 2 if T == 4 else 0)
    if extra not in (1, 2) or (fmt == "nanda" and extra != 1):
        raise InputError(
            f"--p: {V} tokens and {T} positions are not occam's 'a b =' (p + 1 tokens) or "
            "'a op b =' (p + 2) task; pass --p"
            if p is None
            else f"--p: {p} does not fit the model's {V} tokens (p + 1 for 'a b =', "
            "p + 2 for 'a op b =')"
        )
    task = TaskConfig(
        p=V - extra,
        op=op or "+",
        frac=frac if frac is not None else 0.3,
        seed=task_seed if task_seed is not None else 0,
        fmt="a b =" if extra == 1 else "a op b =",
    )
    seq_len = 2 + extra
    if T < seq_len:
        raise InputError(f"FILE: the model has {T} positions, the task needs {seq_len}")
    if fmt == "nanda":
        model = occam_from_nanda(sd, act=act or "relu", drop_eq=True)
        notes.append("the '=' output column is dropped: loss over the p residues (docs/interop.md)")
    else:
        d_out = tl["d_vocab_out"]
        if d_out < task.p:
            raise InputError(f"FILE: the model has {d_out} outputs, fewer than p = {task.p}")
        if d_out > task.p:
            notes.append(f"{d_out - task.p} output column(s) beyond the p residues dropped")
        model = occam_from_tl(sd, cfg_in, seq_len=seq_len, d_vocab_out=task.p)
    if T > seq_len:
        notes.append(f"positions beyond {seq_len} of {T} unused (exact on the task's inputs)")
    n = task_sizes(task)[2]
    default = "file" if pay.train_idx is not None else "nanda" if fmt == "nanda" else "occam"
    chosen = split or default
    train_idx = None
    if chosen in ("file", "nanda") and (task.op == "/" or task.fmt != "a b ="):
        raise InputError(f"--split: {chosen} needs an 'a b =' task over all p^2 pairs (not /)")
    if chosen == "file":
        if pay.train_idx is None:
            raise InputError("--split: file, but FILE records no train indices")
        _check_split(pay.train_idx, pay.test_idx, n)
        train_idx = pay.train_idx
        if frac is None:
            task = replace(task, frac=_round_frac(len(train_idx), n))
    simple = (int, float, str, bool, type(None))
    info = ExternalTask(
        task=task,
        fmt=fmt,
        path=str(path),
        sha256=_sha256(path),
        step=pay.step,
        split=chosen,
        train_idx=train_idx,
        test_idx=pay.test_idx if chosen == "file" else None,
        notes=tuple(notes),
        source_config={k: v for k, v in sorted(cfg_in.items()) if isinstance(v, simple)},
    )
    return model, info


def measure_external(
    path: str | Path,
    fmt: str,
    out_dir: str | Path,
    *,
    measures: Sequence[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    device: str = "cpu",
    **load: Any,
) -> dict[str, Any]:
    """Every measure of the ``fmt`` file at ``path`` (``load``: :func:`load_external`'s
    keywords), written like ``measure`` writes a checkpoint's: ``measures.json`` (with the
    source, task and notes), ``measures.csv`` and ``spectra``. Measure options start from a
    default training config's (compression ``eps``/``budget``), then ``options``."""
    from theory.base.io import save_figure, write_csv, write_json
    from theory.base.provenance import run_metadata
    from transformer_check.config import TrainConfig
    from transformer_check.measure_checkpoint import all_measures, spectra_figure
    from transformer_check.measures import ALL_MEASURES
    from transformer_check.train import resolve_device

    model, info = load_external(path, fmt, **load)
    model = model.to(resolve_device(device))
    ds = info.dataset()
    opts = {name: dict(o) for name, o in TrainConfig().measure_option_map().items()}
    for name, o in (options or {}).items():
        opts.setdefault(name, {}).update(o)
    names = tuple(measures) if measures is not None else ALL_MEASURES
    vals = all_measures(model, ds.to(model.W_E.device), names, opts)
    out = Path(out_dir)
    result = {
        "metadata": run_metadata(
            "transformer_check measure",
            {"checkpoint": str(path), "source": info.info(), "measure_options": opts},
        ),
        "step": info.step,
        "measures": vals,
    }
    write_json(out / "measures.json", result)
    write_csv(out / "measures.csv", [{"step": info.step, **vals}])
    title = f"{Path(path).name} ({fmt}): step {info.step}"
    save_figure(spectra_figure(model, ds, title), out / "spectra")
    return result
