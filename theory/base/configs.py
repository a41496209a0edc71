"""Configurations as data: nested frozen dataclasses to and from JSON, and nested overrides.

One validation idiom everywhere: a config dataclass checks itself in ``__post_init__`` and raises
:class:`~theory.base.errors.InputError` naming the field. Every run writes its configuration into
its JSON (``metadata.config``); :func:`load_config_file` reads that block back, so "rerun exactly
this" is ``--config RUN.json``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from theory.base.errors import InputError
from theory.base.io import to_jsonable

__all__ = [
    "config_to_dict",
    "config_from_dict",
    "field_types",
    "replace_path",
    "apply_overrides",
    "load_config_file",
]

C = TypeVar("C")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a (nested) config dataclass.

    Parameters
    ----------
    cfg : dataclass instance
        The configuration.

    Returns
    -------
    dict
        Field names to JSON values (nested configs as nested dicts; see ``to_jsonable``).

    Examples
    --------
    >>> from dataclasses import field, make_dataclass
    >>> Train = make_dataclass("Train", [("lr", float, field(default=0.1))], frozen=True)
    >>> Run = make_dataclass(
    ...     "Run", [("p", int, field(default=97)), ("train", Train, field(default=Train()))], frozen=True
    ... )
    >>> from theory.base import config_to_dict
    >>> config_to_dict(Run())
    {'p': 97, 'train': {'lr': 0.1}}
    """
    return to_jsonable(cfg)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields (``from __future__`` strings evaluated)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(tp: Any, value: Any, where: str) -> Any:
    tp = _strip_optional(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return config_from_dict(tp, value, where=where)
    origin = typing.get_origin(tp)
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        if args and len(args) == len(value):
            return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
        return tuple(value)
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "config") -> C:
    """Build ``cls`` from a nested dict (inverse of :func:`config_to_dict`).

    Lists become tuples where the field is a tuple, nested dicts become nested configs; an
    unknown key is an :class:`~theory.base.errors.InputError` naming it (a typo never passes
    silently).

    Parameters
    ----------
    cls : type
        The config dataclass.
    data : Mapping
        Field names to values; missing fields take their defaults.
    where : str, default "config"
        Where the data came from, for the messages.

    Returns
    -------
    cls instance

    Raises
    ------
    InputError
        For a non-mapping, an unknown field, or a field ``cls`` refuses.

    Examples
    --------
    >>> from dataclasses import field, make_dataclass
    >>> Train = make_dataclass("Train", [("lr", float, field(default=0.1))], frozen=True)
    >>> Run = make_dataclass(
    ...     "Run", [("p", int, field(default=97)), ("train", Train, field(default=Train()))], frozen=True
    ... )
    >>> from theory.base import config_from_dict
    >>> config_from_dict(Run, {"p": 13, "train": {"lr": 0.5}})
    Run(p=13, train=Train(lr=0.5))
    >>> config_from_dict(Run, {"q": 13})
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: config: unknown field(s) q for Run; known: p, train
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping of {cls.__name__} fields, got {data!r}")
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known: {', '.join(types_)}"
        )
    kwargs = {k: _coerce(types_[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from None


def replace_path(cfg: C, path: str, value: Any, *, _full: str | None = None) -> C:
    """``cfg`` with the (dotted) field ``path`` replaced, nested configs rebuilt on the way.

    Parameters
    ----------
    cfg : dataclass instance
        The (frozen) configuration; it is not changed.
    path : str
        Dotted field path, e.g. ``"train.lr"``.
    value : Any
        The new value.

    Returns
    -------
    dataclass instance
        A new configuration (``__post_init__`` validates it again).

    Raises
    ------
    InputError
        If a component of ``path`` is not a field.

    Examples
    --------
    >>> from dataclasses import field, make_dataclass
    >>> Train = make_dataclass("Train", [("lr", float, field(default=0.1))], frozen=True)
    >>> Run = make_dataclass(
    ...     "Run", [("p", int, field(default=97)), ("train", Train, field(default=Train()))], frozen=True
    ... )
    >>> from theory.base import replace_path
    >>> replace_path(Run(), "train.lr", 0.2)
    Run(p=97, train=Train(lr=0.2))
    >>> replace_path(Run(), "train.wd", 0.2)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: train.wd: Train has no field 'wd'
    """
    head, _, rest = path.partition(".")
    full = _full or path
    if not dataclasses.is_dataclass(cfg) or head not in {f.name for f in dataclasses.fields(cfg)}:
        raise InputError(f"{full}: {type(cfg).__name__} has no field {head!r}")
    if rest:
        value = replace_path(getattr(cfg, head), rest, value, _full=full)
    return dataclasses.replace(cfg, **{head: value})


def apply_overrides(cfg: C, overrides: Mapping[str, Any]) -> C:
    """Replace each dotted path of ``overrides`` in turn (``None`` values are left out).

    Parameters
    ----------
    cfg : dataclass instance
        The configuration.
    overrides : Mapping of str to Any
        Dotted paths to values; ``None`` means "not given" (an unset command-line flag).

    Returns
    -------
    dataclass instance

    Raises
    ------
    InputError
        As :func:`replace_path`.

    Examples
    --------
    >>> from dataclasses import field, make_dataclass
    >>> Train = make_dataclass("Train", [("lr", float, field(default=0.1))], frozen=True)
    >>> Run = make_dataclass(
    ...     "Run", [("p", int, field(default=97)), ("train", Train, field(default=Train()))], frozen=True
    ... )
    >>> from theory.base import apply_overrides
    >>> apply_overrides(Run(), {"p": 7, "train.lr": None})
    Run(p=7, train=Train(lr=0.1))
    """
    for path, value in overrides.items():
        if value is not None:
            cfg = replace_path(cfg, path, value)
    return cfg


def load_config_file(path: str | Path, cls: type[C], block: str | None = None) -> C:
    """Read a configuration from ``path``: a bare config, or any run JSON holding one.

    Accepted shapes: the config's own fields; ``{"config": {...}}``; ``{"metadata": {"config":
    {...}}}`` (what every run writes). ``block`` names a sub-key of that config (the crosscheck
    writes ``{"crosscheck": ..., "thresholds": ...}``).

    Parameters
    ----------
    path : str or pathlib.Path
        The JSON file.
    cls : type
        The config dataclass.
    block : str or None, default None
        Sub-key of the config to read.

    Returns
    -------
    cls instance

    Raises
    ------
    InputError
        If the file cannot be read, is not JSON, or does not fit ``cls``.

    Examples
    --------
    >>> from dataclasses import field, make_dataclass
    >>> Train = make_dataclass("Train", [("lr", float, field(default=0.1))], frozen=True)
    >>> Run = make_dataclass(
    ...     "Run", [("p", int, field(default=97)), ("train", Train, field(default=Train()))], frozen=True
    ... )
    >>> import tempfile
    >>> from pathlib import Path
    >>> from theory.base import config_to_dict, load_config_file, run_metadata, write_json
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = write_json(folder / "run.json", {"metadata": run_metadata("demo", Run(p=13))})
    >>> load_config_file(folder / "run.json", Run)
    Run(p=13, train=Train(lr=0.1))
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--config: cannot read {p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"--config: {p} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, Mapping) and isinstance(data.get("metadata"), Mapping):
        data = data["metadata"].get("config", data)
    if isinstance(data, Mapping) and isinstance(data.get("config"), Mapping):
        data = data["config"]
    if block is not None and isinstance(data, Mapping) and isinstance(data.get(block), Mapping):
        data = data[block]
    return config_from_dict(cls, data, where=f"--config {p}")
