"""Checkpoints: one self-describing safetensors file per checkpoint, written atomically (definitions §5).

``<stem>.safetensors`` holds the model parameters (``param.<name>``), the AdamW moment tensors
(``opt.<i>.<key>``) and RNG states as uint8 tensors (``rng.<name>``); its metadata header holds
the JSON state (step, configuration, optimizer scalars, metrics so far) and the SHA-256 of the
tensor data. The file is complete the moment it appears (one ``os.replace``), so a kill at any
moment leaves either the old or the new checkpoint, never a mixed pair. Before it is replaced the
old file is renamed ``prev.safetensors``: a multi-seed run whose kill landed between two seeds'
saves resumes from the newest step every seed still has. ``<stem>.json`` is a readable copy of the
state (for people, ``--config`` and ``measure``); it is written after the tensor file and never
trusted over it. Loading uses ``safetensors.torch.load`` on bytes: nothing is ever unpickled.
Version-1 pairs (the state only in the JSON, checked by its hash) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from theory.base.errors import InputError
from theory.base.io import atomic_write_bytes, to_jsonable, write_json

__all__ = [
    "FORMAT",
    "EXPORT_FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "read_state",
    "resolve_checkpoint",
    "previous_of",
    "optimizer_to_tensors",
    "optimizer_from_tensors",
    "checkpoint_stem",
]

FORMAT = "occam.transformer_check.checkpoint/2"
FORMAT_V1 = "occam.transformer_check.checkpoint/1"
EXPORT_FORMAT = "occam.transformer_check.weights/1"  # written by `transformer_check export`
MAX_HEADER = 100_000_000  # the safetensors format's own limit on the header
PREVIOUS = "prev"


def checkpoint_stem(path: str | Path) -> Path:
    """Accept ``stem``, ``stem.json`` or ``stem.safetensors`` and return ``stem``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def resolve_checkpoint(path: str | Path) -> Path:
    """The tensor file meant by ``path``: a stem, its ``.json``/``.safetensors``, or a run folder
    (its ``checkpoints/last``)."""
    p = Path(path)
    if p.is_dir():
        for cand in (p / "checkpoints" / "last.safetensors", p / "last.safetensors"):
            if cand.exists():
                return cand
        raise InputError(
            f"checkpoint: {p} is a folder without checkpoints/last.safetensors; pass a "
            "checkpoint file such as RUN/checkpoints/last.json"
        )
    return checkpoint_stem(p).with_suffix(".safetensors")


def previous_of(stem: str | Path) -> Path:
    """The tensor file that held the checkpoint before ``stem`` was last written."""
    return checkpoint_stem(stem).with_name(f"{PREVIOUS}.safetensors")


def _with_data_hash(flat: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    # The data section does not depend on the header, so hash it once and serialise again.
    blob = st_save(dict(flat), metadata=metadata)
    n = int.from_bytes(blob[:8], "little")
    digest = hashlib.sha256(memoryview(blob)[8 + n :]).hexdigest()
    return st_save(dict(flat), metadata={**metadata, "data_sha256": digest})


def save_checkpoint(
    stem: str | Path,
    tensors: Mapping[str, torch.Tensor],
    state: dict,
    *,
    keep_previous: bool = False,
) -> Path:
    """Write ``<stem>.safetensors`` (tensors + state) atomically, then the readable
    ``<stem>.json``; with ``keep_previous`` the old tensor file becomes ``prev.safetensors``
    first. Returns the JSON path."""
    stem = checkpoint_stem(stem)
    tpath = stem.with_suffix(".safetensors")
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = to_jsonable({**state, "format": FORMAT})
    text = json.dumps(meta, allow_nan=False)
    blob = _with_data_hash(flat, {"format": FORMAT, "state": text})
    if keep_previous and tpath.exists():
        os.replace(tpath, previous_of(stem))
    atomic_write_bytes(tpath, blob)
    sidecar = {**meta, "tensors": tpath.name, "tensors_sha256": hashlib.sha256(blob).hexdigest()}
    return write_json(stem.with_suffix(".json"), sidecar)


def _damaged(path: Path, what: str) -> InputError:
    return InputError(
        f"checkpoint: {path} {what}; it is damaged or not written by `transformer_check train`: "
        "use another checkpoint (checkpoints/prev.safetensors, a step_* snapshot) or retrain"
    )


def _parse_header(head: bytes, size: int, path: Path) -> dict[str, Any]:
    if size < 8 or len(head) < 8:
        raise _damaged(path, f"is too short for a safetensors file ({size} bytes)")
    n = int.from_bytes(head[:8], "little")
    if n > MAX_HEADER or 8 + n > size:
        raise _damaged(path, "is truncated or not a safetensors file (bad header length)")
    try:
        header = json.loads(head[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        raise _damaged(path, "has a header that is not JSON") from None
    if not isinstance(header, dict):
        raise _damaged(path, "has a header that is not a JSON object")
    md = header.get("__metadata__") or {}
    return md if isinstance(md, dict) else {}


def _state_of(md: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    if md.get("format") == EXPORT_FORMAT:
        try:
            config = json.loads(md["config"])
            step = int(md["step"]) if md.get("step", "") not in ("", "None") else None
        except (KeyError, ValueError, TypeError):
            raise _damaged(path, "is an export without a readable config") from None
        return {"kind": "export", "step": step, "config": config, "format": EXPORT_FORMAT}
    if md.get("format") != FORMAT:
        return None
    try:
        state = json.loads(md.get("state", ""))
    except ValueError:
        raise _damaged(path, "has a state header that is not JSON") from None
    if not isinstance(state, dict):
        raise _damaged(path, "has a state header that is not a JSON object")
    return state


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The JSON state in a tensor file's header (reads only the header); ``None`` for a file
    without one (version 1). Raises :class:`InputError` for a missing or damaged file."""
    tpath = Path(path)
    try:
        with open(tpath, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) == 8:
                n = int.from_bytes(head, "little")
                head += fh.read(min(n, MAX_HEADER + 1))
    except FileNotFoundError:
        raise InputError(
            f"checkpoint: {tpath} does not exist; pass a checkpoint written by "
            "`transformer_check train` (RUN/checkpoints/last.json)"
        ) from None
    except OSError as exc:
        raise InputError(f"checkpoint: cannot read {tpath}: {exc.strerror or exc}") from None
    return _state_of(_parse_header(head, size, tpath), tpath)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"checkpoint: {path} does not exist, and its tensor file has no state of its own; "
            "pass a checkpoint written by `transformer_check train`"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise _damaged(path, "is not readable JSON") from None
    if not isinstance(data, dict):
        raise _damaged(path, "is not a JSON object")
    return data


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON state of one checkpoint (no unpickling).

    ``path``: a stem, its ``.json`` or ``.safetensors``, a run folder, or an export. The state
    comes from the tensor file's own header; the ``.json`` is only needed for version-1 files.
    Raises :class:`InputError` naming the file for anything missing, truncated or mismatched.
    """
    tpath = resolve_checkpoint(path)
    if not tpath.exists():
        prev = previous_of(tpath)
        hint = f" ({prev} holds the previous checkpoint)" if prev.exists() else ""
        raise InputError(
            f"checkpoint: {tpath} does not exist{hint}; pass a checkpoint written by "
            "`transformer_check train` (RUN/checkpoints/last.json)"
        )
    state = read_state(tpath)
    try:
        blob = tpath.read_bytes()
    except OSError as exc:
        raise InputError(f"checkpoint: cannot read {tpath}: {exc.strerror or exc}") from None
    md = _parse_header(blob, len(blob), tpath)
    if state is None:  # version 1: the JSON holds the state and the file's hash
        jpath = tpath.with_suffix(".json")
        state = _read_json(jpath)
        if state.get("format") != FORMAT_V1:
            raise _damaged(jpath, f"is not a {FORMAT_V1} or {FORMAT} checkpoint")
        if hashlib.sha256(blob).hexdigest() != state.get("tensors_sha256"):
            raise InputError(
                f"checkpoint: {tpath} does not match {jpath} (an interrupted version-1 write); "
                "use another checkpoint or retrain"
            )
    elif "data_sha256" in md:
        n = int.from_bytes(blob[:8], "little")
        if hashlib.sha256(memoryview(blob)[8 + n :]).hexdigest() != md["data_sha256"]:
            raise _damaged(tpath, "has tensor data that does not match its recorded SHA-256")
    try:
        tensors = dict(st_load(blob))
    except Exception as exc:  # safetensors raises its own error type for every malformation
        raise _damaged(tpath, f"cannot be read as safetensors ({exc})") from None
    if state.get("kind") == "export":
        tensors = {f"param.{k}": v for k, v in tensors.items()}
    return tensors, state


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer ``state_dict`` into tensors and JSON-safe scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"opt.{idx}.{key}"] = val
            else:
                scalars.setdefault(str(idx), {})[key] = val
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in sd["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_to_tensors`: load the state into ``opt`` in place."""
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if not name.startswith("opt."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})
