"""Published CTM tables: safe loading from the pybdm 0.1.0 wheel and a per-user array cache (definitions §3.1).

The tables (Soler-Toscano, Zenil, Delahaye & Gauvrit 2014) ship as gzipped pickles inside the
``pybdm`` wheel. ``pybdm`` itself is never imported: its folder is located with
:func:`importlib.util.find_spec` (which does not execute a top-level package) and each pickle is read
by :class:`SafeUnpickler`, which resolves only ``collections.defaultdict``,
``collections.OrderedDict`` and ``builtins.dict`` and refuses every other global, so a tampered file
cannot run code. The gzip stream is inflated with a bound derived from the genuine table's known
size, so a gzip bomb is refused before it fills memory. Each table is converted once to
integer-keyed numpy arrays and cached as an uncompressed ``.npz`` (atomic write, stamped with the
cache format, the source file's SHA-256 and the SHA-256 of the arrays themselves); a cache that
fails any check on load is rebuilt with a one-line warning on stderr.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import pickle
import sys
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theory.base.errors import InputError
from theory.base.io import atomic_write_bytes

__all__ = [
    "CACHE_FORMAT",
    "TABLE_FILES",
    "TABLE_RAW_BYTES",
    "SafeUnpickler",
    "ShapeTable",
    "CTMTable",
    "safe_load_pickle",
    "pybdm_data_dir",
    "cache_dir",
    "load_table",
    "table_for",
]

#: Bump when the cached array layout changes; old cache files are then rebuilt.
#: 2: the arrays' own SHA-256 (``content_sha256``) is stored and checked on load.
CACHE_FORMAT = 2

#: (ndim, nsymbols) -> file name inside ``pybdm/ctmdata`` (pybdm 0.1.0, ``BDM._ndim_to_ctm``).
TABLE_FILES: dict[tuple[int, int], str] = {
    (1, 2): "ctm-b2-d12.pkl.gz",
    (1, 4): "ctm-b4-d12.pkl.gz",
    (1, 5): "ctm-b5-d12.pkl.gz",
    (1, 6): "ctm-b6-d12.pkl.gz",
    (1, 9): "ctm-b9-d12.pkl.gz",
    (2, 2): "ctm-b2-d4x4.pkl.gz",
}

#: Decompressed size in bytes of each genuine pybdm 0.1.0 pickle; reading stops past twice this.
TABLE_RAW_BYTES: dict[str, int] = {
    "ctm-b2-d12.pkl.gz": 94_409,
    "ctm-b4-d12.pkl.gz": 19_995_000,
    "ctm-b5-d12.pkl.gz": 47_787_295,
    "ctm-b6-d12.pkl.gz": 51_817_693,
    "ctm-b9-d12.pkl.gz": 95_425_803,
    "ctm-b2-d4x4.pkl.gz": 923_328,
}

_REINSTALL = "reinstall it with `pip install --no-deps --force-reinstall pybdm==0.1.0`"

_ALLOWED_GLOBALS = {
    ("collections", "defaultdict"),
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
}

# Dense lookup arrays (indexed by normalised code) are built when the largest normalised code of a
# shape is below this; that covers every binary shape and the 4-symbol table (2.1M entries).
_DENSE_LIMIT = 1 << 22


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the three container classes the CTM tables use (definitions §3.1)."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) in _ALLOWED_GLOBALS:
            import builtins
            import collections

            return getattr(collections if module == "collections" else builtins, name)
        raise pickle.UnpicklingError(
            f"CTM table refers to {module}.{name}, which is not allowed "
            "(only collections.defaultdict, collections.OrderedDict and builtins.dict are); "
            "the file is not a genuine pybdm 0.1.0 table: reinstall pybdm==0.1.0"
        )


def safe_load_pickle(data: bytes) -> object:
    """Unpickle ``data`` with :class:`SafeUnpickler` (no code from the file is executed)."""
    return SafeUnpickler(io.BytesIO(data)).load()


def pybdm_data_dir() -> Path:
    """Folder holding the pybdm 0.1.0 CTM pickles, found without importing pybdm (definitions §3.1)."""
    env = os.environ.get("OCCAM_CTM_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("pybdm")
    if spec is None or spec.origin is None:
        raise InputError(
            "CTM tables: the pybdm 0.1.0 wheel (data only) is not installed; "
            "run `pip install --no-deps pybdm==0.1.0` or set OCCAM_CTM_DIR to its ctmdata folder"
        )
    return Path(spec.origin).parent / "ctmdata"


def cache_dir() -> Path:
    """Per-user cache folder: ``$OCCAM_CACHE_DIR/bdm``, else ``$XDG_CACHE_HOME/occam/bdm``."""
    env = os.environ.get("OCCAM_CACHE_DIR")
    if env:
        return Path(env) / "bdm"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "occam" / "bdm"


@dataclass(frozen=True)
class ShapeTable:
    """CTM values of one block shape, keyed by the integer code of the normalised block.

    Parameters
    ----------
    shape : tuple of int
        The block shape.
    nsymbols : int
        Alphabet size of the table.
    keys : numpy.ndarray
        Sorted base-``nsymbols`` row-major codes of first-occurrence-normalised blocks.
    ctm : numpy.ndarray
        CTM of each key, in bits.
    order : numpy.ndarray
        Indices into ``keys`` in pybdm's order (CTM descending, ties in file order), which fixes
        its normalised-BDM maximum.
    nsym : numpy.ndarray
        Number of distinct symbols per key.
    dense : numpy.ndarray, optional
        Lookup array indexed by normalised code (NaN where absent), for small key spaces.

    References
    ----------
    Soler-Toscano, Zenil, Delahaye, Gauvrit (2014); definitions §3.1.

    Examples
    --------
    >>> from bdm import load_table
    >>> st = load_table(2, 2).shape_table((4, 4))
    >>> st.length, st.keys.size, round(st.min_ctm, 3), round(st.missing_ctm, 3)
    (16, 32768, 22.007, 37.023)
    """

    shape: tuple[int, ...]
    nsymbols: int
    keys: np.ndarray
    ctm: np.ndarray
    order: np.ndarray
    nsym: np.ndarray
    dense: np.ndarray | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def length(self) -> int:
        """Number of cells of the block."""
        return math.prod(self.shape)

    @property
    def max_ctm(self) -> float:
        """Largest CTM of the shape, in bits."""
        return float(self.ctm.max())

    @property
    def min_ctm(self) -> float:
        """Smallest CTM of the shape, in bits."""
        return float(self.ctm.min())

    @property
    def missing_ctm(self) -> float:
        """CTM given to a block absent from the table: max CTM of the shape + 1 (definitions §3.2)."""
        return self.max_ctm + 1.0

    def lookup(self, norm_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CTM of normalised codes and a mask of those found; missing ones get ``missing_ctm``."""
        norm_codes = np.asarray(norm_codes, dtype=np.int64)
        if self.dense is not None:
            vals = self.dense[norm_codes]
            found = ~np.isnan(vals)
        else:
            pos = np.searchsorted(self.keys, norm_codes)
            pos_c = np.minimum(pos, self.keys.size - 1)
            found = self.keys[pos_c] == norm_codes
            vals = self.ctm[pos_c]
        return np.where(found, vals, self.missing_ctm), found

    def descending(self) -> tuple[np.ndarray, np.ndarray]:
        """Cached :meth:`_descending`."""
        got = self._memo.get("descending")
        if got is None:
            got = self._memo["descending"] = self._descending()
        return got

    def _descending(self) -> tuple[np.ndarray, np.ndarray]:
        """(CTM values, raw-block multiplicities) in pybdm's descending order.

        Multiplicity ``nsymbols! / (nsymbols - k)!`` counts the raw blocks that normalise to a key with
        ``k`` distinct symbols (pybdm ``BDM._cycle_parts``).
        """
        vals = self.ctm[self.order]
        k = self.nsym[self.order].astype(np.int64)
        fact = np.array(
            [math.perm(self.nsymbols, j) if j <= self.nsymbols else 0 for j in range(17)],
            dtype=np.int64,
        )
        return vals, fact[k]


@dataclass(frozen=True)
class CTMTable:
    """One published CTM table: ``ndim``, alphabet size and a :class:`ShapeTable` per block shape.

    Returned by :func:`load_table`.

    Parameters
    ----------
    name : str
        The file name without extension, upper case (``CTM-B2-D4X4``).
    ndim : int
        1 or 2.
    nsymbols : int
        Alphabet size.
    shapes : Mapping of tuple of int to ShapeTable
        One table per block shape.
    source : str
        Path of the pybdm pickle read.
    source_sha256 : str
        SHA-256 of that file.
    load_seconds : float
        Time the load took.
    from_cache : bool
        Whether the arrays came from the per-user cache.

    References
    ----------
    Soler-Toscano, Zenil, Delahaye, Gauvrit (2014); definitions §3.1.
    """

    name: str
    ndim: int
    nsymbols: int
    shapes: Mapping[tuple[int, ...], ShapeTable]
    source: str
    source_sha256: str
    load_seconds: float = 0.0
    from_cache: bool = False

    def shape_table(self, shape: tuple[int, ...]) -> ShapeTable:
        """The table for ``shape`` or an :class:`InputError` naming the shapes available.

        Parameters
        ----------
        shape : tuple of int
            A block shape such as ``(4, 4)``.

        Returns
        -------
        ShapeTable

        Raises
        ------
        InputError
            If the table holds no blocks of that shape.
        """
        try:
            return self.shapes[tuple(shape)]
        except KeyError:
            avail = ", ".join("x".join(map(str, s)) for s in sorted(self.shapes))
            raise InputError(
                f"shape: the {self.name} table has no blocks of shape "
                f"{'x'.join(map(str, shape))}; available: {avail}"
            ) from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _keys_to_digits(keys: list[str], length: int) -> np.ndarray:
    """String keys ('0102...') of equal length -> (n, length) int8 digit array."""
    arr = np.array(keys, dtype=f"<U{length}")
    digits = arr.view(np.uint32).reshape(len(keys), length).astype(np.int64) - ord("0")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise InputError("CTM table: a key holds a non-digit character; reinstall pybdm==0.1.0")
    return digits.astype(np.int8)


def _convert(
    raw: object, nsymbols: int, source: Path
) -> dict[tuple[int, ...], dict[str, np.ndarray]]:
    """Validate the unpickled mapping and turn each shape into sorted integer-keyed arrays."""
    from .encoding import digits_to_codes, normalise_digits

    if not isinstance(raw, Mapping):
        raise InputError(
            f"CTM table {source.name}: top level is {type(raw).__name__}, not a mapping"
        )
    out: dict[tuple[int, ...], dict[str, np.ndarray]] = {}
    for shape, table in raw.items():
        if not (isinstance(shape, tuple) and all(isinstance(s, int) and s > 0 for s in shape)):
            raise InputError(f"CTM table {source.name}: bad shape key {shape!r}")
        if not isinstance(table, Mapping):
            raise InputError(f"CTM table {source.name}: shape {shape} maps to a non-mapping")
        length = math.prod(shape)
        keys = list(table.keys())
        vals = np.array(list(table.values()), dtype=np.float64)
        if not all(isinstance(k, str) and len(k) == length for k in keys):
            raise InputError(f"CTM table {source.name}: shape {shape} has keys of the wrong length")
        if not np.all(np.isfinite(vals)):
            raise InputError(f"CTM table {source.name}: shape {shape} has non-finite values")
        digits = _keys_to_digits(keys, length)
        if digits.size and digits.max() >= nsymbols:
            raise InputError(f"CTM table {source.name}: symbols beyond the alphabet of {nsymbols}")
        if not np.array_equal(normalise_digits(digits), digits):
            raise InputError(f"CTM table {source.name}: keys are not first-occurrence normalised")
        codes = digits_to_codes(digits, nsymbols)
        # pybdm sorts each shape by CTM descending with a stable sort, so ties keep file order.
        order_file = np.argsort(-vals, kind="stable")
        by_code = np.argsort(codes, kind="stable")
        if np.any(np.diff(codes[by_code]) == 0):
            raise InputError(f"CTM table {source.name}: duplicate keys in shape {shape}")
        rank_of_file = np.empty_like(by_code)
        rank_of_file[by_code] = np.arange(by_code.size)
        out[shape] = {
            "keys": codes[by_code],
            "ctm": vals[by_code],
            "order": rank_of_file[order_file].astype(np.int32),
            "nsym": (digits.max(axis=1).astype(np.int16) + 1)[by_code].astype(np.int8),
        }
    return out


def _build_shape_tables(
    arrays: dict[tuple[int, ...], dict[str, np.ndarray]], nsymbols: int
) -> dict[tuple[int, ...], ShapeTable]:
    tables = {}
    for shape, a in sorted(arrays.items()):
        length = math.prod(shape)
        from .encoding import max_normalised_code

        dense = None
        top = max_normalised_code(length, nsymbols) + 1
        if top <= _DENSE_LIMIT:
            dense = np.full(top, np.nan)
            dense[a["keys"]] = a["ctm"]
        tables[shape] = ShapeTable(
            shape=shape,
            nsymbols=nsymbols,
            keys=a["keys"],
            ctm=a["ctm"],
            order=a["order"],
            nsym=a["nsym"],
            dense=dense,
        )
    return tables


def _gunzip_bounded(path: Path, limit: int) -> bytes:
    """Inflate a gzip file, refusing it once the output passes ``limit`` bytes (gzip bombs)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        with open(path, "rb") as fh:
            while not d.eof:
                chunk = d.unconsumed_tail or fh.read(1 << 20)
                if not chunk:
                    raise InputError(
                        f"CTM table {path}: the gzip stream is truncated; {_REINSTALL}"
                    )
                out += d.decompress(chunk, limit + 1 - len(out))
                if len(out) > limit:
                    raise InputError(
                        f"CTM table {path}: decompresses to more than {limit:,} bytes, twice the "
                        f"genuine table's size (a gzip bomb?); {_REINSTALL}"
                    )
    except zlib.error as exc:
        raise InputError(f"CTM table {path}: not a valid gzip file ({exc}); {_REINSTALL}") from None
    except OSError as exc:
        raise InputError(f"CTM table {path}: cannot read it ({exc.strerror or exc})") from None
    return bytes(out)


def _read_pickle(src_file: Path, nsymbols: int) -> dict[tuple[int, ...], dict[str, np.ndarray]]:
    """The table's arrays from its gzipped pickle: bounded inflate, safe unpickle, validation."""
    limit = 2 * TABLE_RAW_BYTES.get(src_file.name, 100_000_000)
    data = _gunzip_bounded(src_file, limit)
    try:
        raw = safe_load_pickle(data)
        return _convert(raw, nsymbols, src_file)
    except InputError:
        raise
    except pickle.UnpicklingError as exc:
        raise InputError(f"CTM table {src_file}: {exc}") from None
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InputError(
            f"CTM table {src_file}: not a readable pybdm table ({type(exc).__name__}: {exc}); "
            f"{_REINSTALL}"
        ) from None


def _warn(msg: str) -> None:
    # One line on stderr: the run goes on, and the user learns why it was slower.
    print(f"warning: {msg}", file=sys.stderr)


def _content_sha256(arrays: dict[tuple[int, ...], dict[str, np.ndarray]]) -> str:
    """SHA-256 over every cached array (shape, dtype and bytes), in a fixed order."""
    h = hashlib.sha256()
    for shape in sorted(arrays):
        h.update(repr(tuple(shape)).encode())
        for k in ("keys", "ctm", "order", "nsym"):
            a = np.ascontiguousarray(arrays[shape][k])
            h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _check_arrays(arrays: dict, nsymbols: int) -> str | None:
    """What is structurally wrong with cached arrays (keys out of range, ...), or ``None``."""
    from .encoding import max_normalised_code

    for shape, a in arrays.items():
        if not (len(shape) in (1, 2) and all(isinstance(s, int) and 0 < s <= 12 for s in shape)):
            return f"bad block shape {shape}"
        keys, ctm, order, nsym = a["keys"], a["ctm"], a["order"], a["nsym"]
        n = keys.size
        if not (ctm.size == order.size == nsym.size == n) or n == 0:
            return f"shape {shape}: arrays of different lengths"
        top = max_normalised_code(math.prod(shape), nsymbols)
        if keys.min() < 0 or keys.max() > top or np.any(np.diff(keys) <= 0):
            return f"shape {shape}: keys out of range or not sorted"
        if not np.all(np.isfinite(ctm)) or nsym.min() < 1 or nsym.max() > nsymbols:
            return f"shape {shape}: CTM values or symbol counts out of range"
        if not np.array_equal(np.sort(order), np.arange(n)):
            return f"shape {shape}: the order is not a permutation"
    return None


def _cache_path(root: Path, filename: str) -> Path:
    return root / f"{filename.removesuffix('.pkl.gz')}.v{CACHE_FORMAT}.npz"


def _read_cache(
    path: Path, sha: str, nsymbols: int = 0
) -> dict[tuple[int, ...], dict[str, np.ndarray]] | None:
    """Arrays from a cache file, or ``None`` if it must be (re)built.

    Absent or stamped for another format or source: ``None`` quietly. Unreadable, truncated,
    tampered (its arrays no longer match their stored SHA-256) or structurally invalid: ``None``
    with a one-line warning.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != CACHE_FORMAT or meta.get("source_sha256") != sha:
                return None
            out = {}
            for i, shape in enumerate(meta["shapes"]):
                out[tuple(shape)] = {k: z[f"{k}_{i}"] for k in ("keys", "ctm", "order", "nsym")}
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error):
        _warn(f"table cache {path} is unreadable or truncated; rebuilding it")
        return None
    if meta.get("content_sha256") != _content_sha256(out):
        _warn(f"table cache {path} does not match its content hash (modified?); rebuilding it")
        return None
    problem = _check_arrays(out, nsymbols) if nsymbols else None
    if problem:
        _warn(f"table cache {path} is invalid ({problem}); rebuilding it")
        return None
    return out


def _write_cache(path: Path, arrays: dict, sha: str, filename: str) -> None:
    shapes = sorted(arrays)
    meta = {
        "format": CACHE_FORMAT,
        "source": filename,
        "source_sha256": sha,
        "content_sha256": _content_sha256(arrays),
        "pybdm_version": "0.1.0",
        "shapes": [list(s) for s in shapes],
    }
    payload = {"meta": np.array(json.dumps(meta))}
    for i, shape in enumerate(shapes):
        for k, v in arrays[shape].items():
            payload[f"{k}_{i}"] = v
    buf = io.BytesIO()
    np.savez(buf, **payload)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        _warn(
            f"cannot write the table cache {path} ({exc.strerror or exc}); continuing without "
            "it: set OCCAM_CACHE_DIR to a writable folder"
        )


def load_table(
    ndim: int,
    nsymbols: int,
    *,
    data_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> CTMTable:
    """Load the published CTM table for ``(ndim, nsymbols)`` (definitions §3.1), from the cache if valid.

    The pickle is read from the pybdm 0.1.0 wheel without importing pybdm, with a bounded inflate
    and an unpickler that resolves only three container classes; the converted arrays are cached
    (module docstring).

    Parameters
    ----------
    ndim : int
        1 or 2.
    nsymbols : int
        Alphabet size: 2, 4, 5, 6 or 9 in 1-D, 2 in 2-D.
    data_dir : path, optional
        Overrides the pybdm folder (also ``$OCCAM_CTM_DIR``).
    cache : path, optional
        Overrides the cache folder (default :func:`cache_dir`).
    use_cache : bool, default True
        ``False`` forces a fresh conversion from the pickle (still writing nothing).

    Returns
    -------
    CTMTable

    Raises
    ------
    InputError
        If no published table exists for ``(ndim, nsymbols)``, or the file is missing,
        unreadable, tampered or not a genuine pybdm 0.1.0 table.

    References
    ----------
    Soler-Toscano, Zenil, Delahaye, Gauvrit (2014); definitions §3.1.

    Examples
    --------
    >>> from bdm import load_table
    >>> t = load_table(2, 2)
    >>> t.name, t.ndim, t.nsymbols, sorted(t.shapes)
    ('CTM-B2-D4X4', 2, 2, [(1, 1), (2, 2), (3, 3), (4, 4)])
    """
    key = (int(ndim), int(nsymbols))
    if key not in TABLE_FILES:
        avail = ", ".join(f"ndim={d} nsymbols={s}" for d, s in sorted(TABLE_FILES))
        raise InputError(
            f"nsymbols: no published CTM table for ndim={ndim}, nsymbols={nsymbols}; "
            f"tables exist for {avail} (4-symbol 2-D data: use the bit-plane table, definitions §3.3)"
        )
    t0 = time.perf_counter()
    filename = TABLE_FILES[key]
    src = Path(data_dir) if data_dir is not None else pybdm_data_dir()
    src_file = src / filename
    if not src_file.is_file():
        raise InputError(
            f"CTM tables: {src_file} not found; run `pip install --no-deps pybdm==0.1.0`"
        )
    try:
        sha = _sha256(src_file)
    except OSError as exc:
        raise InputError(f"CTM table {src_file}: cannot read it ({exc.strerror or exc})") from None
    root = Path(cache) if cache is not None else cache_dir()
    cpath = _cache_path(root, filename)
    arrays = _read_cache(cpath, sha, key[1]) if use_cache else None
    from_cache = arrays is not None
    if arrays is None:
        arrays = _read_pickle(src_file, key[1])
        if use_cache:
            _write_cache(cpath, arrays, sha, filename)
    shapes = _build_shape_tables(arrays, key[1])
    name = filename.removesuffix(".pkl.gz").upper()
    return CTMTable(
        name=name,
        ndim=key[0],
        nsymbols=key[1],
        shapes=shapes,
        source=str(src_file),
        source_sha256=sha,
        load_seconds=time.perf_counter() - t0,
        from_cache=from_cache,
    )


def table_for(ndim: int, nsymbols: int, **kwargs) -> CTMTable:
    """Alias of :func:`load_table` reading as prose: ``table_for(2, 2)``."""
    return load_table(ndim, nsymbols, **kwargs)
