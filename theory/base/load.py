"""Read a finished (or killed) run folder back as data: :func:`load_run` and :class:`RunRecord`.

Every subcommand writes one run folder (docs/architecture.md, "Run folders"): an identity file
``.occam-run.json``, while it runs a ``RUNNING`` marker, one JSON whose ``metadata`` block names
the command and its configuration (definitions §5), CSV tables and figures. This module reads
those files and nothing else: JSON and CSV are parsed, checkpoints and figures are only listed
(nothing is ever unpickled or imported), so it stays in the base layer and needs no leg.
"""

from __future__ import annotations

import csv
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theory.base.errors import InputError
from theory.base.runs import IDENTITY_FILE, LATEST, RUNNING_FILE, read_latest

__all__ = ["RunRecord", "load_run"]

# Folders inside a run that hold no results of its own: a sweep's scratch space, checkpoints
# (listed, never read) and Hypothesis' example database.
_NOT_TABLES = {"work", "checkpoints", "hypothesis-db"}
# Subcommands whose JSON carries per-prediction verdicts (definitions §4.4).
_VERDICT_COMMANDS = {"transformer_check crosscheck", "transformer_check decide"}
_MISSING = {"", "None", "null"}
# A safetensors header longer than this is not one occam wrote (it holds names and shapes only).
_MAX_HEADER = 100 * 2**20


@dataclass(frozen=True)
class RunRecord:
    """What one run folder holds, read back as data (see :func:`load_run`).

    Attributes
    ----------
    path : pathlib.Path
        The run folder (a ``latest`` pointer resolved), or the file of an ``export``.
    command : str
        The subcommand that wrote it, e.g. ``"transformer_check train"``, ``"sfm run"``.
    config : dict
        The configuration the command ran with, as its JSON's ``metadata.config`` has it.
    metrics : dict of str to dict of str to numpy.ndarray
        Every CSV table of the run: the file's path relative to the run without ``.csv``
        (``"metrics"``, ``"curves"``, ``"crossover_diagram_p5"``, ``"seed_0/metrics"``), then one
        array per column, one entry per row. Integer columns are ``int64``, numeric ones
        ``float64`` (an empty cell is NaN), ``True``/``False`` columns ``bool``, anything else
        ``str``.
    summary : dict
        The command's JSON without its ``metadata`` block (``summary.json`` of a training run,
        ``crosscheck.json``, ``report.json``, ...).
    verdicts : dict or None
        crosscheck and decide: each prediction's pooled verdict (``label``, ``mean``, ``ci``,
        ``fraction_holding``, ...), keyed by prediction; ``None`` for every other command.
    files : tuple of str
        Every file in the folder, relative to it, sorted (checkpoints included, not loaded).
    running : bool
        The ``RUNNING`` marker is still there: the command is running, or it was killed or
        failed (continue it with ``--resume``).
    runs : tuple of str
        Nested run folders (a crosscheck's ``runs/<key>``, a multi-seed training's
        ``seed_<s>``), relative to :attr:`path`; :meth:`sub` reads one.
    metadata : dict
        The provenance block of the command's JSON (time, command line, versions, git commit).
    identity : dict or None
        ``.occam-run.json``: command line, start, every attempt, ``finished_utc`` once finished.
        ``None`` for a nested run, which has none of its own.
    summary_file : str or None
        Which file :attr:`summary` came from.
    """

    path: Path
    command: str
    config: dict[str, Any] = field(repr=False)
    metrics: dict[str, dict[str, np.ndarray]] = field(repr=False)
    summary: dict[str, Any] = field(repr=False)
    verdicts: dict[str, dict[str, Any]] | None = field(repr=False)
    files: tuple[str, ...] = field(repr=False)
    running: bool
    runs: tuple[str, ...] = field(default=(), repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    identity: dict[str, Any] | None = field(default=None, repr=False)
    summary_file: str | None = None

    @property
    def finished(self) -> bool:
        """The command exited with 0 (its identity file says ``finished_utc``)."""
        if self.identity is None:
            return not self.running and self.summary_file is not None
        return "finished_utc" in self.identity and not self.running

    @property
    def checkpoints(self) -> tuple[str, ...]:
        """The checkpoint records (``checkpoints/*.json``, sorted by name), listed, not loaded."""
        return tuple(f for f in self.files if f.startswith("checkpoints/") and f.endswith(".json"))

    def column(self, name: str, table: str | None = None) -> np.ndarray:
        """The column ``name`` of ``table``, or of the one table that has such a column.

        Raises
        ------
        InputError
            If no table, or more than one, has the column (give ``table`` then).
        """
        if table is not None:
            if table not in self.metrics:
                raise InputError(
                    f"{self.path}: no table {table!r}; tables: {', '.join(self.metrics) or 'none'}"
                )
            cols = self.metrics[table]
            if name not in cols:
                raise InputError(
                    f"{self.path}/{table}.csv: no column {name!r}; columns: {', '.join(cols)}"
                )
            return cols[name]
        have = [t for t, cols in self.metrics.items() if name in cols]
        if len(have) == 1:
            return self.metrics[have[0]][name]
        if not have:
            raise InputError(
                f"{self.path}: no table has a column {name!r}; "
                f"tables: {', '.join(self.metrics) or 'none'}"
            )
        raise InputError(
            f"{self.path}: {len(have)} tables have a column {name!r} ({', '.join(have)}); "
            "say which with table="
        )

    def sub(self, name: str) -> RunRecord:
        """Read the nested run ``name`` (one of :attr:`runs`)."""
        if name not in self.runs:
            raise InputError(
                f"{self.path}: no nested run {name!r}; nested runs: {', '.join(self.runs) or 'none'}"
            )
        return load_run(self.path / name)


def _read_json_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the path and its permissions"
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not UTF-8 text, so not a JSON an occam command wrote; "
            "restore the file or rerun the command"
        ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(
            f"{path}: damaged JSON ({getattr(exc, 'msg', exc)}{where}); restore the file or "
            "rerun the command (a run killed while writing leaves the previous file, never half a file)"
        ) from None


def _column(values: list[str]) -> np.ndarray:
    present = [v for v in values if v not in _MISSING]
    if len(present) == len(values):
        try:
            return np.array([int(v) for v in values], dtype=np.int64)
        except (ValueError, OverflowError):
            pass
        if all(v in ("True", "False") for v in values):
            return np.array([v == "True" for v in values], dtype=bool)
    try:
        return np.array([float(v) if v not in _MISSING else np.nan for v in values])
    except ValueError:
        return np.array(values, dtype=str)


def _read_table(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: damaged CSV ({exc}); restore the file or rerun") from None
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}: line {i} has {len(row)} fields, the header {len(header)}; the table is "
                "damaged: restore it or rerun the command"
            )
    return {name: _column([r[j] for r in body]) for j, name in enumerate(header)}


def _has_results(folder: Path) -> bool:
    return (folder / IDENTITY_FILE).is_file() or (folder / "summary.json").is_file()


def _scan(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Files (all, relative), the run's own CSV tables, and nested run folders."""
    files: list[str] = []
    tables: list[str] = []
    nested: list[str] = []
    for here, dirs, names in os.walk(root):
        rel = Path(here).relative_to(root)
        dirs.sort()
        in_nested = any(rel.as_posix() == n or rel.as_posix().startswith(n + "/") for n in nested)
        if rel.parts and not in_nested and _has_results(Path(here)):
            nested.append(rel.as_posix())
            in_nested = True
        skip = in_nested or any(part in _NOT_TABLES for part in rel.parts)
        for name in sorted(names):
            relpath = (rel / name).as_posix()
            files.append(relpath)
            if name.endswith(".csv") and not skip:
                tables.append(relpath)
    return sorted(files), tables, nested


def _metadata_jsons(root: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for p in sorted(root.glob("*.json")):
        if p.name == IDENTITY_FILE or not p.is_file():
            continue
        data = _read_json_file(p)
        if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
            if "command" in data["metadata"]:
                found.append((p.name, data))
    return found


def _command_from_identity(identity: Mapping[str, Any]) -> str:
    prog = str(identity.get("prog", "")).split()
    # "python -m transformer_check" -> "transformer_check"; a script path -> its stem
    name = prog[-1] if prog else ""
    name = Path(name).stem if name.endswith(".py") else name
    argv = [a for a in identity.get("argv", []) if isinstance(a, str)]
    # every occam CLI takes its subcommand first
    sub = argv[0] if argv and not argv[0].startswith("-") else ""
    return f"{name} {sub}".strip()


def _enclosing_identity(folder: Path, levels: int = 3) -> Path | None:
    for parent in list(folder.parents)[:levels]:
        if (parent / IDENTITY_FILE).is_file():
            return parent
    return None


def _merge_configs(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Values all configs share; a value that differs becomes the list of them, in order."""
    out: dict[str, Any] = {}
    for key in configs[0]:
        vals = [c.get(key) for c in configs]
        if all(isinstance(v, dict) for v in vals):
            out[key] = _merge_configs(vals)
        else:
            out[key] = vals[0] if all(v == vals[0] for v in vals) else vals
    return out


def _resolve(path: Path) -> Path:
    if path.name == LATEST and (path.is_symlink() or path.is_file()):
        target = read_latest(path.parent)
        if target is None:
            raise InputError(f"{path}: cannot read the run it points at; give the run folder")
        path = target
    if not path.exists():
        raise InputError(
            f"{path}: no such folder; give a run folder a subcommand wrote "
            "(e.g. runs/transformer_check-train/latest)"
        )
    if path.is_dir() and not _has_results(path) and not any(path.glob("*.json")):
        target = read_latest(path)
        if target is not None and target.is_dir():
            return target
    return path


def _load_export(path: Path) -> RunRecord:
    """An ``export`` writes one .safetensors file: its JSON header carries the config and step."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > _MAX_HEADER:
                raise ValueError("header too long")
            header = json.loads(fh.read(n).decode("utf-8"))
        meta = dict(header.get("__metadata__") or {})
        metadata = json.loads(meta.pop("metadata", "{}"))
        config = json.loads(meta.pop("config", "{}"))
    except (OSError, struct.error, ValueError, AttributeError) as exc:
        raise InputError(
            f"{path}: not a safetensors file an occam export wrote ({exc}); give a run folder "
            "or a file written by `python -m transformer_check export`"
        ) from None
    if not isinstance(metadata, dict) or "command" not in metadata:
        raise InputError(
            f"{path}: a safetensors file without occam metadata; give a run folder or a file "
            "written by `python -m transformer_check export`"
        )
    tensors = {
        k: {"dtype": v.get("dtype"), "shape": v.get("shape")}
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict)
    }
    return RunRecord(
        path=path,
        command=str(metadata["command"]),
        config=config if isinstance(config, dict) else {},
        metrics={},
        summary={**meta, "tensors": tensors},
        verdicts=None,
        files=(path.name,),
        running=False,
        metadata=metadata,
        summary_file=path.name,
    )


def load_run(path: str | os.PathLike) -> RunRecord:
    """Read the run folder ``path`` that any occam subcommand wrote.

    Works for every subcommand (theory crossover/diagram/report/check; sfm run/sweep; bdm
    measure/blocks; transformer_check train/measure/import/sweep/bdm-ablation/llc-calibrate/
    crosscheck/decide), for ``<root>/latest`` and for ``<root>`` itself (its newest run), for a nested run
    (a crosscheck's ``runs/<key>``, a training's ``seed_<s>``) and for the ``.safetensors`` file
    of ``transformer_check export``. A folder holding only ``seed_<s>`` runs (``train --seeds``)
    gathers them: its tables are ``seed_<s>/<stem>``, its summary is keyed by ``seed_<s>``, and
    its config holds what the seeds share, a differing value as the list of the seeds' values.

    Parameters
    ----------
    path : str or os.PathLike
        The run folder, a ``latest`` pointer or the folder holding it, or an exported file.

    Returns
    -------
    RunRecord
        Command, config, every CSV as column arrays, the command's JSON, verdicts (crosscheck,
        decide), the file list and whether ``RUNNING`` is still there. A killed run reads too,
        with ``running=True`` and whatever it had written.

    Raises
    ------
    InputError
        One line naming the file and what to do: a missing path, a folder no occam command
        wrote (no ``.occam-run.json`` and no JSON with a ``metadata`` block), a damaged JSON or
        CSV.

    Examples
    --------
    A two-file run folder, as ``python -m sfm run`` writes one (its real output has more):

    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from theory.base import load_run, write_csv, write_json
    >>> run = Path(tempfile.mkdtemp())
    >>> meta = {"command": "sfm run", "config": {"p": 7, "steps": 20}}
    >>> _ = write_json(run / "summary.json", {"metadata": meta, "events": {"t_gen": 20}})
    >>> _ = write_csv(run / "curves.csv", [{"step": 0, "support": 49}, {"step": 20, "support": 7}])
    >>> rec = load_run(run)
    >>> rec.command, rec.config["p"], rec.summary, rec.running
    ('sfm run', 7, {'events': {'t_gen': 20}}, False)
    >>> rec.metrics["curves"]["support"].tolist(), rec.column("step").tolist(), rec.files
    ([49, 7], [0, 20], ('curves.csv', 'summary.json'))
    >>> _ = (run / "summary.json").write_text("{ damaged")
    >>> load_run(run)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: .../summary.json: damaged JSON (Expecting property name ...
    >>> shutil.rmtree(run)

    The shipped finished run (``examples/runs/quick-seed0`` in a checkout):
    ``load_run("examples/runs/quick-seed0").summary["t_gen"]`` is 1097.
    """
    path = _resolve(Path(path))
    if path.is_file():
        if path.suffix == ".safetensors":
            return _load_export(path)
        raise InputError(
            f"{path}: a file, not a run folder; give the folder a subcommand wrote "
            "(or an exported .safetensors file)"
        )
    identity = None
    if (path / IDENTITY_FILE).is_file():
        identity = _read_json_file(path / IDENTITY_FILE)
        if not isinstance(identity, dict):
            raise InputError(
                f"{path / IDENTITY_FILE}: not a JSON object; the identity file is damaged: "
                "restore it or rerun the command"
            )
    jsons = _metadata_jsons(path)
    if identity is None and not jsons and not _has_results(path):
        raise InputError(
            f"{path}: not an occam run folder (no {IDENTITY_FILE} and no JSON with a metadata "
            "block); give a folder a subcommand wrote, e.g. runs/transformer_check-train/latest"
        )
    files, table_files, nested = _scan(path)
    metrics = {t[: -len(".csv")]: _read_table(path / t) for t in table_files}
    wanted = _command_from_identity(identity) if identity else None
    jsons.sort(key=lambda item: item[1]["metadata"].get("command") != wanted)  # stable
    name, main = jsons[0] if jsons else (None, {})
    metadata = dict(main.get("metadata", {}))
    summary = {k: v for k, v in main.items() if k != "metadata"}
    config = metadata.get("config") if isinstance(metadata.get("config"), dict) else {}
    command = str(metadata.get("command") or wanted or "")
    seeds = [n for n in nested if n.startswith("seed_") and "/" not in n]
    if not jsons and seeds:
        subs = [load_run(path / s) for s in seeds]
        for s, rec in zip(seeds, subs, strict=True):
            metrics.update({f"{s}/{t}": cols for t, cols in rec.metrics.items()})
        summary = {s: rec.summary for s, rec in zip(seeds, subs, strict=True)}
        config = _merge_configs([rec.config for rec in subs])
        command = command or subs[0].command
        metadata = subs[0].metadata
    verdicts = None
    if command in _VERDICT_COMMANDS and isinstance(summary.get("summary"), dict):
        verdicts = summary["summary"]
    marker_home = path if identity is not None else _enclosing_identity(path) or path
    return RunRecord(
        path=path,
        command=command,
        config=config,
        metrics=metrics,
        summary=summary,
        verdicts=verdicts,
        files=tuple(files),
        running=(marker_home / RUNNING_FILE).exists(),
        runs=tuple(nested),
        metadata=metadata,
        identity=identity,
        summary_file=name,
    )
