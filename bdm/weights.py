"""Weights to symbols and ``K_BDM`` over a set of named tensors (SPEC §3.3).

Each tensor is viewed as a 2-D matrix (out x in: a 1-D tensor is one row, higher ranks keep the
first axis and flatten the rest), mapped to symbols by its own quantiles, and measured:

* ``layout="2d"`` (default): 4x4 blocks; 4 symbols use the bit-plane table, 2 the published one.
* ``layout="1d"``: rows flattened into one sequence, length-12 blocks over the 1-D table.

``K_BDM(theta) = sum over tensors of BDM(tensor)``; tensors smaller than one block are listed as
skipped with the reason, never silently counted as zero.
"""

from __future__ import annotations

import math
import os
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
    "TensorBDM",
    "KBDMResult",
    "k_bdm",
    "load_tensors",
    "bdm_for",
    "pooled_entropy",
]


def quartile_symbols(w: np.ndarray) -> np.ndarray:
    """Symbol = number of the tensor's quartile boundaries strictly below the value (SPEC §3.3).

    Quartiles use numpy's default (linear interpolation) quantile rule.
    """
    w = _finite(w)
    q = np.quantile(w, [0.25, 0.5, 0.75])
    return ((w > q[0]).astype(np.int8) + (w > q[1]) + (w > q[2])).astype(np.int8)


def median_symbols(w: np.ndarray) -> np.ndarray:
    """Binary alternative: 1 above the tensor's median, 0 otherwise (SPEC §3.3)."""
    w = _finite(w)
    return (w > np.median(w)).astype(np.int8)


def _finite(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        raise InputError("weights: tensor is empty")
    if not np.all(np.isfinite(w)):
        raise InputError("weights: tensor holds NaN or inf; clean the checkpoint first")
    return w


def as_matrix(t: np.ndarray) -> np.ndarray:
    """2-D (out x in) view: 0-D -> 1x1, 1-D -> one row, k-D -> (shape[0], prod(rest))."""
    t = np.asarray(t)
    if t.ndim == 0:
        return t.reshape(1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1)
    return t.reshape(t.shape[0], -1)


@dataclass(frozen=True)
class TensorBDM:
    """BDM of one named tensor, or why it was skipped."""

    name: str
    shape: tuple[int, ...]
    result: BDMResult | None
    skipped: str | None = None


@dataclass(frozen=True)
class KBDMResult:
    """``K_BDM`` (bits) summed over measured tensors, with the per-tensor breakdown.

    ``total_nbdm = (K_BDM - sum of per-tensor minima) / (sum of maxima - sum of minima)``;
    ``pooled_entropy`` is the block entropy of all tensors' raw blocks counted together.
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


def to_symbols(t: np.ndarray, mapping: str, nsymbols: int) -> np.ndarray:
    if mapping == "quartile":
        return quartile_symbols(t)
    if mapping == "median":
        return median_symbols(t)
    if mapping == "none":
        t = np.asarray(t)
        if not (np.issubdtype(t.dtype, np.integer) or t.dtype == np.bool_):
            raise InputError(
                f"tensor: expected integer symbols 0..{nsymbols - 1} (--map none), got dtype "
                f"{t.dtype}; use --map quartile or --map median for real-valued weights"
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
    **load_kwargs,
) -> KBDMResult:
    """``K_BDM`` of named tensors (SPEC §3.3): each mapped by its own quantiles and measured."""
    if nsymbols is None:
        nsymbols = {"quartile": 4, "median": 2}.get(mapping, 2)
    if mapping == "quartile" and nsymbols != 4 or mapping == "median" and nsymbols != 2:
        raise InputError(
            f"nsymbols: the {mapping} mapping gives {4 if mapping == 'quartile' else 2}"
        )
    bdm = bdm or bdm_for(nsymbols, layout, side, partition, **load_kwargs)
    rows: list[TensorBDM] = []
    pooled: list = []
    for name, t in tensors.items():
        arr = np.asarray(t)
        sym = to_symbols(arr, mapping, nsymbols)
        mat = as_matrix(sym)
        data = mat.ravel() if layout == "1d" else mat
        try:
            counts = bdm.count(data)
            res = bdm.measure_counts(counts)
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
    """Named arrays from ``.npy``, ``.npz`` or ``.safetensors`` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FILE: {path} does not exist; give a .npy, .npz or .safetensors file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
    except ValueError as exc:
        raise InputError(f"FILE: cannot read {path.name} without unpickling ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputError(f"FILE: cannot read {path.name}: {exc}") from None
    raise InputError(f"FILE: unsupported extension {suffix!r}; use .npy, .npz or .safetensors")
