"""Weights to symbols and ``K_BDM`` over a set of named tensors (definitions §3.3).

Each tensor is viewed as a 2-D matrix by :func:`as_matrix` (the one place that rule lives; used by
``python -m bdm`` and by the training-time measure alike), mapped to symbols by its own quantiles,
and measured:

* ``layout="2d"`` (default): 4x4 blocks; 4 symbols use the bit-plane table, 2 the published one.
* ``layout="1d"``: rows flattened into one sequence, length-12 blocks over the 1-D table.

``K_BDM(theta) = sum over tensors of BDM(tensor)``; tensors smaller than one block are listed as
skipped with the reason, never silently counted as zero.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theory.base.errors import InputError

from .engine import BDM, BDMResult, BlockCounts, NoBlocksError
from .partition import Ignore, Partition

__all__ = [
    "quartile_symbols",
    "median_symbols",
    "as_matrix",
    "to_symbols",
    "CHECKPOINT_PREFIXES",
    "select_model_tensors",
    "TensorBDM",
    "KBDMResult",
    "k_bdm",
    "load_tensors",
    "bdm_for",
    "pooled_entropy",
]


def quartile_symbols(w: np.ndarray) -> np.ndarray:
    """Symbol = number of the tensor's quartile boundaries strictly below the value (definitions §3.3).

    Quartiles use numpy's default (linear interpolation) quantile rule.

    Parameters
    ----------
    w : numpy.ndarray
        Real-valued weights of any shape.

    Returns
    -------
    numpy.ndarray
        ``int8`` symbols ``0 .. 3`` of the same shape.

    Raises
    ------
    InputError
        If ``w`` is empty or holds NaN or inf.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262; definitions §3.3.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import quartile_symbols
    >>> quartile_symbols(np.linspace(-1, 1, 8)).tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    """
    w = _finite(w)
    q = np.quantile(w, [0.25, 0.5, 0.75])
    return ((w > q[0]).astype(np.int8) + (w > q[1]) + (w > q[2])).astype(np.int8)


def median_symbols(w: np.ndarray) -> np.ndarray:
    """Binary alternative: 1 above the tensor's median, 0 otherwise (definitions §3.3).

    Parameters
    ----------
    w : numpy.ndarray
        Real-valued weights of any shape.

    Returns
    -------
    numpy.ndarray
        ``int8`` symbols 0 and 1 of the same shape.

    Raises
    ------
    InputError
        If ``w`` is empty or holds NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import median_symbols
    >>> median_symbols(np.linspace(-1, 1, 8)).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1]
    """
    w = _finite(w)
    return (w > np.median(w)).astype(np.int8)


def _finite(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        raise InputError("weights: tensor is empty")
    bad = int(np.count_nonzero(~np.isfinite(w)))
    if bad:
        raise InputError(
            f"weights: holds {bad} NaN or inf value(s) of {w.size}; "
            "the model diverged or the file is damaged: measure a checkpoint with finite weights"
        )
    return w


def as_matrix(t: np.ndarray, name: str = "tensor") -> np.ndarray:
    """The matrix BDM tiles for tensor ``name``: the one rule, used by every caller (docs/bdm.md).

    0-D -> 1x1; 1-D -> one row; 2-D as stored; k-D (k > 2) -> ``(prod(shape[:-1]), shape[-1])``:
    the last axis stays the columns and the leading axes are flattened row-major, so a stack of
    matrices ``[H, a, b]`` (per-head attention weights) is its ``H`` matrices one below the other.
    """
    t = np.asarray(t)
    if t.size == 0:
        raise InputError(f"tensor {name!r}: empty (shape {t.shape}); nothing to measure")
    if t.ndim == 0:
        return t.reshape(1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1)
    return t.reshape(-1, t.shape[-1])


#: Tensor-name prefixes of a ``transformer_check`` training checkpoint (``checkpoint.py``).
CHECKPOINT_PREFIXES = ("param.", "opt.", "rng.")


def select_model_tensors(
    tensors: Mapping[str, np.ndarray], include_state: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, str], list[str]]:
    """The model's parameters of a training checkpoint, under their plain names.

    Returns ``(tensors, skip, left_out)``. A file whose names all carry a checkpoint prefix and
    that holds ``param.*`` is a training checkpoint: its ``param.`` prefix is stripped and the
    optimizer and RNG state (``opt.*``, ``rng.*``) are left out (``left_out`` names them) unless
    ``include_state``; then they are measured under their own names, except integer tensors (the
    RNG byte states), which ``skip`` lists with the reason. Any other file is returned unchanged.
    """
    names = list(tensors)
    is_ckpt = any(n.startswith("param.") for n in names) and all(
        n.startswith(CHECKPOINT_PREFIXES) for n in names
    )
    if not is_ckpt:
        return dict(tensors), {}, []
    out = {n.removeprefix("param."): t for n, t in tensors.items() if n.startswith("param.")}
    state = [n for n in names if not n.startswith("param.")]
    skip: dict[str, str] = {}
    if not include_state:
        return out, skip, state
    for n in state:
        out[n] = tensors[n]
        if not np.issubdtype(np.asarray(tensors[n]).dtype, np.floating):
            skip[n] = "integer state, not weights"
    return out, skip, []


@dataclass(frozen=True)
class TensorBDM:
    """BDM of one named tensor, or why it was skipped."""

    name: str
    shape: tuple[int, ...]
    result: BDMResult | None
    skipped: str | None = None


@dataclass(frozen=True)
class KBDMResult:
    """``K_BDM`` (bits) summed over measured tensors, with the per-tensor breakdown (definitions §3.3).

    Returned by :func:`k_bdm`.

    Parameters
    ----------
    total_bdm : float
        ``K_BDM``, the sum of the measured tensors' BDM, in bits.
    total_nbdm : float, optional
        ``(K_BDM - sum of per-tensor minima) / (sum of maxima - sum of minima)``; ``None`` where
        a tensor's NBDM is undefined.
    total_nbdm_note : str, optional
        Why ``total_nbdm`` is undefined.
    pooled_entropy : float
        Block entropy of all tensors' raw blocks counted together.
    tensors : list of TensorBDM
        Every tensor, measured or skipped with the reason.
    mapping, layout : str
        The weight-to-symbol map and the layout used.
    nsymbols : int
        Alphabet size.
    table : str
        Name of the CTM table.
    config : dict
        Block side and partition.
    """

    total_bdm: float
    total_nbdm: float | None
    total_nbdm_note: str | None
    pooled_entropy: float
    tensors: list[TensorBDM]
    mapping: str
    layout: str
    nsymbols: int
    table: str
    config: dict = field(default_factory=dict)

    @property
    def measured(self) -> list[TensorBDM]:
        """The tensors that were measured (not skipped)."""
        return [t for t in self.tensors if t.result is not None]


def pooled_entropy(counts: list[BlockCounts]) -> float:
    """Block entropy (bits) of several tensors' raw blocks pooled into one multiset."""
    by_shape: dict[tuple, list[BlockCounts]] = {}
    for bc in counts:
        by_shape.setdefault(bc.shape, []).append(bc)
    merged = []
    for shape, group in by_shape.items():
        codes = np.concatenate([g.codes for g in group])
        n = np.concatenate([g.counts for g in group])
        _, inv = np.unique(codes, return_inverse=True)
        c = np.bincount(inv, weights=n).astype(np.int64)
        merged.append(BlockCounts(shape, np.zeros(c.size, np.int64), c, np.zeros(c.size), c > 0))
    return BDM.entropy_from_counts(merged)


def bdm_for(
    nsymbols: int,
    layout: str = "2d",
    side: int | None = None,
    partition: Partition | None = None,
    **load_kwargs,
) -> BDM:
    """The BDM configuration for ``layout`` ("2d": 4x4 blocks; "1d": length-12 blocks)."""
    if layout not in ("1d", "2d"):
        raise InputError(f"layout: must be '1d' or '2d', got {layout!r}")
    ndim = 2 if layout == "2d" else 1
    return BDM(ndim, nsymbols, side, partition or Ignore(), **load_kwargs)


def to_symbols(t: np.ndarray, mapping: str, nsymbols: int, name: str = "tensor") -> np.ndarray:
    """Symbols of tensor ``name`` under ``mapping`` (quartile, median, or none: already symbols).

    Quantile maps take real-valued weights only: integer or boolean tensors are refused rather
    than quantised as if they were a model (give ``mapping="none"`` if they are symbols).
    """
    t = np.asarray(t)
    if mapping in ("quartile", "median"):
        if np.issubdtype(t.dtype, np.integer) or t.dtype == np.bool_:
            raise InputError(
                f"tensor {name!r}: holds {t.dtype} integers, not real-valued weights; if they are "
                "symbols give --map none --nsymbols B, otherwise convert the tensor to float"
            )
        if not np.issubdtype(t.dtype, np.floating):
            raise InputError(
                f"tensor {name!r}: dtype {t.dtype} is not real-valued; give float weights"
            )
        try:
            return quartile_symbols(t) if mapping == "quartile" else median_symbols(t)
        except InputError as exc:
            raise InputError(f"tensor {name!r}: {str(exc).removeprefix('weights: ')}") from None
    if mapping == "none":
        if not (np.issubdtype(t.dtype, np.integer) or t.dtype == np.bool_):
            raise InputError(
                f"tensor {name!r}: expected integer symbols 0..{nsymbols - 1} (--map none), got "
                f"dtype {t.dtype}; use --map quartile or --map median for real-valued weights"
            )
        return t
    raise InputError(f"map: must be quartile, median or none, got {mapping!r}")


def k_bdm(
    tensors: Mapping[str, np.ndarray],
    *,
    mapping: str = "quartile",
    layout: str = "2d",
    nsymbols: int | None = None,
    side: int | None = None,
    partition: Partition | None = None,
    bdm: BDM | None = None,
    skip: Mapping[str, str] | None = None,
    **load_kwargs,
) -> KBDMResult:
    """``K_BDM`` of named tensors (definitions §3.3): each mapped by its own quantiles and measured.

    Each tensor is viewed as a matrix by :func:`as_matrix`, mapped to symbols and measured;
    ``K_BDM(theta)`` is the sum over tensors. Tensors smaller than one block, those named in
    ``skip`` and empty ones are listed as skipped with the reason, never counted as zero.

    Parameters
    ----------
    tensors : Mapping of str to numpy.ndarray
        Named weights.
    mapping : str, default "quartile"
        ``quartile`` (4 symbols), ``median`` (2 symbols) or ``none`` (already symbols).
    layout : str, default "2d"
        ``2d``: 4x4 blocks (4 symbols use the bit-plane table); ``1d``: rows flattened into one
        sequence, length-12 blocks.
    nsymbols : int, optional
        Alphabet size; default 4 for ``quartile``, 2 otherwise.
    side : int, optional
        Block side; default the table's largest.
    partition : Ignore, Recursive or Correlated, optional
        Default :class:`Ignore`.
    bdm : BDM, optional
        A configured :class:`BDM` to use instead of building one.
    skip : Mapping of str to str, optional
        Tensor name -> reason to skip it.
    **load_kwargs
        Passed to :func:`load_table`.

    Returns
    -------
    KBDMResult

    Raises
    ------
    InputError
        If ``nsymbols`` contradicts ``mapping``, a tensor cannot be mapped, or no tensor is large
        enough for one block.

    References
    ----------
    Zhang, Shen, Xiong, Dong (2026), arXiv:2603.29262 (``K_BDM`` of quantised weights);
    definitions §3.3.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import k_bdm
    >>> rng = np.random.default_rng(0)
    >>> res = k_bdm({"W": rng.normal(size=(8, 8)), "b": rng.normal(size=3)})
    >>> round(res.total_bdm, 3), res.table
    (236.762, 'BITPLANE-B4-D4X4')
    >>> [(t.name, t.skipped) for t in res.tensors]
    [('W', None), ('b', 'smaller than one 4x4 block')]
    """
    if nsymbols is None:
        nsymbols = {"quartile": 4, "median": 2}.get(mapping, 2)
    if mapping == "quartile" and nsymbols != 4 or mapping == "median" and nsymbols != 2:
        raise InputError(
            f"nsymbols: the {mapping} mapping gives {4 if mapping == 'quartile' else 2}"
        )
    bdm = bdm or bdm_for(nsymbols, layout, side, partition, **load_kwargs)
    rows: list[TensorBDM] = []
    pooled: list = []
    skip = skip or {}
    for name, t in tensors.items():
        arr = np.asarray(t)
        if name in skip or arr.size == 0:
            rows.append(TensorBDM(name, arr.shape, None, skip.get(name, "empty tensor")))
            continue
        mat = as_matrix(to_symbols(arr, mapping, nsymbols, name), name)
        data = mat.ravel() if layout == "1d" else mat
        try:
            counts = bdm.count(data)
            res = bdm.measure_counts(counts, data.shape)
        except NoBlocksError:
            block = "x".join(map(str, bdm.shape))
            rows.append(TensorBDM(name, arr.shape, None, f"smaller than one {block} block"))
            continue
        except InputError as exc:
            raise InputError(f"tensor {name!r}: {exc}") from None
        rows.append(TensorBDM(name, arr.shape, res))
        pooled.extend(counts)
    results = [r.result for r in rows if r.result is not None]
    if not results:
        raise InputError(
            "tensors: no tensor is large enough for one block; use --layout 1d or a smaller --block"
        )
    total = math.fsum(r.bdm for r in results)
    total_nbdm, note = None, None
    if any(r.bdm_min is None for r in results):
        note = next(r.nbdm_note for r in results if r.bdm_min is None)
    else:
        lo = math.fsum(r.bdm_min for r in results)
        hi = math.fsum(r.bdm_max for r in results)
        total_nbdm = (total - lo) / (hi - lo)
    return KBDMResult(
        total_bdm=total,
        total_nbdm=total_nbdm,
        total_nbdm_note=note,
        pooled_entropy=pooled_entropy(pooled),
        tensors=rows,
        mapping=mapping,
        layout=layout,
        nsymbols=nsymbols,
        table=bdm.table.name,
        config={"side": bdm.side, "partition": repr(bdm.partition)},
    )


def load_tensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Named arrays from ``.npy``, ``.npz`` or ``.safetensors`` (never unpickles).

    Parameters
    ----------
    path : str or os.PathLike
        The file; a ``.npy`` file's one array is named after its stem.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    InputError
        For every way a file can be unreadable (missing, a folder, truncated, not the format its
        extension says, pickled objects, a dtype numpy lacks), naming the file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from bdm import load_tensors
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.savez(Path(d) / "w.npz", W_in=np.ones((4, 4)), W_out=np.zeros(3))
    ...     sorted((k, v.shape) for k, v in load_tensors(Path(d) / "w.npz").items())
    [('W_in', (4, 4)), ('W_out', (3,))]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise InputError(f"FILE: {path} is a folder; give a .npy, .npz or .safetensors file")
    if not path.is_file():
        raise InputError(f"FILE: {path} does not exist; give a .npy, .npz or .safetensors file")
    if suffix not in (".npy", ".npz", ".safetensors"):
        raise InputError(f"FILE: unsupported extension {suffix!r}; use .npy, .npz or .safetensors")
    damaged = f"FILE: cannot read {path.name}: it is truncated or not a valid {suffix} file"
    try:
        if suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        return _load_safetensors(path)
    except InputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(
                f"FILE: cannot read {path.name} without unpickling ({exc}); save plain arrays"
            ) from None
        raise InputError(f"{damaged} ({exc}); write it again") from None
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{damaged} ({type(exc).__name__}: {exc}); write it again") from None
    except OSError as exc:
        raise InputError(f"FILE: cannot read {path}: {exc.strerror or exc}") from None


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        return dict(load(path.read_bytes()))
    except SafetensorError as exc:
        raise InputError(
            f"FILE: cannot read {path.name}: it is truncated or not a valid .safetensors file "
            f"({exc}); write it again"
        ) from None
    except (KeyError, TypeError) as exc:  # a dtype numpy lacks, e.g. BF16
        raise InputError(
            f"FILE: {path.name} holds a tensor of dtype {exc} that numpy cannot represent; "
            "save the weights as float32"
        ) from None
