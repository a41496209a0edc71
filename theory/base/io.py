"""Atomic output files shared by every occam command (definitions §5).

Every file is written to a temporary sibling and renamed into place, so a killed run never
leaves a half-written result behind. Files get the mode the umask allows (``0o666 & ~umask``,
0644 under umask 022: collaborators can read a shared run folder) and folders ``0o777 & ~umask``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "current_umask",
    "make_dirs",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "read_json",
    "write_csv",
    "save_figure",
    "to_jsonable",
]


def _proc_umask() -> int | None:
    """The umask from ``/proc/self/status`` (Linux): reading it changes nothing, so no race."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _umask_by_setting() -> int:
    # os.umask can only be read by setting it; done once, at import, before any worker thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _proc_umask()
if _UMASK_AT_IMPORT is None:
    _UMASK_AT_IMPORT = _umask_by_setting()


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    mask = _proc_umask()
    return _UMASK_AT_IMPORT if mask is None else mask


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p`` with mode ``0o777 & ~umask`` (what ``mkdir`` gives; stated, not assumed)."""
    path = Path(path)
    path.mkdir(mode=0o777, parents=True, exist_ok=True)
    return path


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk; not possible on Windows.
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``.

    The file gets mode ``0o666 & ~umask`` (``mkstemp`` creates it 0600), and the folder is
    fsynced after the rename where the platform allows (definitions §5).

    Parameters
    ----------
    path : str or os.PathLike
        The file; missing folders are created.
    data : bytes
        Its content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> from theory.base import atomic_write_bytes
    >>> atomic_write_bytes(folder / "w.bin", bytes([1, 2, 3])).read_bytes()
    b'\\x01\\x02\\x03'
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            mode = 0o666 & ~current_umask()
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp, mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` as UTF-8 to ``path`` (a temporary sibling, then a rename).

    A killed run never leaves a half-written file; the file gets mode ``0o666 & ~umask`` and
    missing folders are created (definitions §5).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    text : str
        Its content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from theory.base import atomic_write_text
    >>> folder = Path(tempfile.mkdtemp())
    >>> f = atomic_write_text(folder / "sub" / "note.txt", "n* = 7.36e6")
    >>> f.read_text(), sorted(p.name for p in f.parent.iterdir())
    ('n* = 7.36e6', ['note.txt'])
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy scalars/arrays, paths and non-finite floats to JSON values.

    Non-finite floats become the strings ``"inf"``, ``"-inf"``, ``"nan"`` so the file stays
    strict JSON; complex numbers become ``{"re", "im"}``.

    Parameters
    ----------
    obj : Any

    Returns
    -------
    Any
        Only dicts, lists, strings, numbers, booleans and ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory.base import to_jsonable
    >>> to_jsonable({"a": np.float64(1.5), "b": np.array([1, 2]), "c": float("nan"), "d": 1 + 2j})
    {'a': 1.5, 'b': [1, 2], 'c': 'nan', 'd': {'re': 1.0, 'im': 2.0}}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        if np.isnan(x):
            return "nan"
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, complex | np.complexfloating):
        return {"re": to_jsonable(obj.real), "im": to_jsonable(obj.imag)}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` (made JSON-safe by :func:`to_jsonable`) as indented JSON.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    obj : Any
        The content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> from theory.base import write_json
    >>> print(write_json(folder / "r.json", {"n_star": float("inf")}).read_text(), end="")
    {
      "n_star": "inf"
    }
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`.

    Parameters
    ----------
    path : str or os.PathLike
        The file (UTF-8).

    Returns
    -------
    Any
        The decoded JSON; non-finite floats come back as the strings ``"inf"``, ``"-inf"``,
        ``"nan"`` that :func:`to_jsonable` wrote.

    Examples
    --------
    >>> import math, tempfile
    >>> from pathlib import Path
    >>> from theory.base import read_json, write_json
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = write_json(folder / "r.json", {"n_star": math.inf, "p": 97})
    >>> read_json(folder / "r.json")
    {'n_star': 'inf', 'p': 97}
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(
    path: str | os.PathLike,
    rows: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]],
    header: Sequence[str] | None = None,
) -> Path:
    """Atomically write rows (dicts, or sequences with ``header``) as CSV.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    rows : iterable of Mapping or of Sequence
        Dict rows (the first row's keys are the header unless ``header`` is given) or sequences.
    header : sequence of str, optional
        Column names.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> from theory.base import write_csv
    >>> print(write_csv(folder / "t.csv", [{"p": 97, "n": 2822}]).read_text(), end="")
    p,n
    97,2822
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    rows = list(rows)
    buf = io.StringIO()
    if rows and isinstance(rows[0], Mapping):
        fields = list(header) if header is not None else list(rows[0].keys())
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: to_jsonable(r.get(k)) for k in fields})
    else:
        writer = csv.writer(buf, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        for r in rows:
            writer.writerow([to_jsonable(v) for v in r])
    return atomic_write_text(path, buf.getvalue())


def save_figure(fig: Any, path_stem: str | os.PathLike, dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``<stem>.png`` and ``<stem>.svg`` atomically; close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_stem : str or os.PathLike
        Path without suffix.
    dpi : int, default 150
        Resolution of the PNG.

    Returns
    -------
    list of pathlib.Path
        The PNG and the SVG.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> import matplotlib.pyplot as plt
    >>> from theory.base import save_figure
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([1, 2], [3, 4])
    >>> [p.name for p in save_figure(fig, folder / "curve")]
    ['curve.png', 'curve.svg']
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    import matplotlib.pyplot as plt

    stem = Path(path_stem)
    out = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight")
        out.append(atomic_write_bytes(stem.with_suffix(f".{ext}"), buf.getvalue()))
    plt.close(fig)
    return out
