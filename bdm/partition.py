"""Partitions of a symbol array into blocks, as integer codes (definitions §3.2; pybdm ``partitions``).

* :class:`Ignore` tiles from the origin with step = block side; partial tiles are dropped.
* :class:`Recursive` tiles like Ignore, then re-tiles each partial tile with square blocks of side
  ``min(partial tile shape)`` while that side is at least ``min_length`` (pybdm's rule).
* :class:`Correlated` slides a full block window with step ``shift`` along every axis.

Each returns :class:`BlockGroup` objects (one per block shape) holding the block codes and, on
request, the block origins; order inside a group is pybdm's decomposition order.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from theory.base.errors import InputError

__all__ = [
    "Ignore",
    "Recursive",
    "Correlated",
    "Partition",
    "BlockGroup",
    "decompose",
    "parse_partition",
    "tile_shapes",
]


@dataclass(frozen=True)
class Ignore:
    """Non-overlapping tiles from the origin; leftovers at the far edges are dropped.

    pybdm's ``PartitionIgnore`` and the default of :class:`BDM` (definitions §3.2).

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import BDM, Ignore
    >>> BDM(ndim=1, side=4, partition=Ignore()).measure(np.zeros(10, dtype=int)).n_blocks
    2
    """

    name = "ignore"


@dataclass(frozen=True)
class Recursive:
    """Leftover strips re-tiled with smaller square blocks down to ``min_length`` (pybdm default 2).

    Parameters
    ----------
    min_length : int, default 2
        Smallest block side used for the leftovers.

    Raises
    ------
    InputError
        If ``min_length`` is not an integer ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import BDM, Recursive
    >>> r = BDM(ndim=1, side=4, partition=Recursive(2)).measure(np.zeros(10, dtype=int))
    >>> r.blocks_per_shape
    {'4': 2, '2': 1}
    """

    min_length: int = 2
    name = "recursive"

    def __post_init__(self) -> None:
        if isinstance(self.min_length, bool) or int(self.min_length) != self.min_length:
            raise InputError(f"min_length: expected an integer >= 0, got {self.min_length!r}")
        if self.min_length < 0:
            raise InputError(f"min_length: must be >= 0, got {self.min_length}")


@dataclass(frozen=True)
class Correlated:
    """Sliding window with step ``shift`` >= 1 (pybdm ``PartitionCorrelated``).

    Normalised BDM is undefined for this partition.

    Parameters
    ----------
    shift : int, default 1
        Step of the window along every axis.

    Raises
    ------
    InputError
        If ``shift`` is not an integer ``>= 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import BDM, Correlated
    >>> BDM(ndim=1, side=4, partition=Correlated(2)).measure(np.zeros(10, dtype=int)).n_blocks
    4
    """

    shift: int = 1
    name = "correlated"

    def __post_init__(self) -> None:
        if isinstance(self.shift, bool) or int(self.shift) != self.shift or self.shift < 1:
            raise InputError(f"shift: must be an integer >= 1, got {self.shift!r}")


Partition = Ignore | Recursive | Correlated


def parse_partition(text: str) -> Partition:
    """``ignore``, ``recursive[:MIN_LENGTH]`` or ``correlated[:SHIFT]`` -> a partition object.

    Parameters
    ----------
    text : str
        The partition as written on the command line (``--partition``); case-insensitive.

    Returns
    -------
    Ignore, Recursive or Correlated

    Raises
    ------
    InputError
        If the name is unknown or its argument is not an integer.

    Examples
    --------
    >>> from bdm import parse_partition
    >>> parse_partition("recursive:3"), parse_partition("correlated"), parse_partition("ignore")
    (Recursive(min_length=3), Correlated(shift=1), Ignore())
    """
    name, _, arg = text.partition(":")
    name = name.strip().lower()
    try:
        if name == "ignore" and not arg:
            return Ignore()
        if name == "recursive":
            return Recursive(int(arg)) if arg else Recursive()
        if name == "correlated":
            return Correlated(int(arg)) if arg else Correlated()
    except ValueError:
        pass
    raise InputError(
        f"partition: unknown partition {text!r}; use ignore, recursive[:MIN_LENGTH] "
        "or correlated[:SHIFT]"
    )


@dataclass(frozen=True)
class BlockGroup:
    """All blocks of one shape: ``codes[i]`` is the block whose first cell is ``origins[i]``."""

    shape: tuple[int, ...]
    codes: np.ndarray
    origins: np.ndarray | None = None


def _tile_codes(x: np.ndarray, side: int, base: int, step: int) -> tuple[np.ndarray, tuple]:
    """Codes of every full ``side``-cube window starting at multiples of ``step``; grid shape."""
    if x.ndim == 1:
        n = (x.shape[0] - side) // step + 1 if x.shape[0] >= side else 0
        codes = np.zeros(n, dtype=np.int64)
        for p in range(side):
            codes *= base
            codes += x[p : p + (n - 1) * step + 1 : step] if n else 0
        return codes, (n,)
    nr = (x.shape[0] - side) // step + 1 if x.shape[0] >= side else 0
    nc = (x.shape[1] - side) // step + 1 if x.shape[1] >= side else 0
    codes = np.zeros((nr, nc), dtype=np.int64)
    if nr and nc:
        for i in range(side):
            for j in range(side):
                codes *= base
                codes += x[i : i + (nr - 1) * step + 1 : step, j : j + (nc - 1) * step + 1 : step]
    return codes.ravel(), (nr, nc)


def _grid_origins(grid: tuple, step: int, offset: tuple) -> np.ndarray:
    axes = [np.arange(g, dtype=np.int64) * step + o for g, o in zip(grid, offset, strict=True)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _recursive(
    x: np.ndarray,
    side: int,
    base: int,
    min_length: int,
    offset: tuple,
    out: list[BlockGroup],
    with_origins: bool,
) -> None:
    codes, grid = _tile_codes(x, side, base, side)
    if codes.size:
        orig = _grid_origins(grid, side, offset) if with_origins else None
        out.append(BlockGroup((side,) * x.ndim, codes, orig))
    # Partial tiles, in pybdm's row-major tile order; each is re-tiled on its own.
    starts = [range(0, n, side) for n in x.shape]
    if x.ndim == 1:
        parts = [(s,) for s in starts[0] if s + side > x.shape[0]]
    else:
        parts = [
            (r, c)
            for r in starts[0]
            for c in starts[1]
            if r + side > x.shape[0] or c + side > x.shape[1]
        ]
    for start in parts:
        sl = tuple(slice(s, min(s + side, n)) for s, n in zip(start, x.shape, strict=True))
        part = x[sl]
        m = min(part.shape)
        if m < min_length or m == 0:
            continue
        sub_off = tuple(o + s for o, s in zip(offset, start, strict=True))
        _recursive(part, m, base, min_length, sub_off, out, with_origins)


def decompose(
    x: np.ndarray, side: int, base: int, partition: Partition, with_origins: bool = False
) -> list[BlockGroup]:
    """Blocks of the symbol array ``x`` (1-D or 2-D) with block side ``side``, grouped by shape."""
    if isinstance(partition, Correlated):
        codes, grid = _tile_codes(x, side, base, partition.shift)
        if not codes.size:
            return []
        orig = _grid_origins(grid, partition.shift, (0,) * x.ndim) if with_origins else None
        return [BlockGroup((side,) * x.ndim, codes, orig)]
    if isinstance(partition, Ignore):
        codes, grid = _tile_codes(x, side, base, side)
        if not codes.size:
            return []
        orig = _grid_origins(grid, side, (0,) * x.ndim) if with_origins else None
        return [BlockGroup((side,) * x.ndim, codes, orig)]
    if isinstance(partition, Recursive):
        groups: list[BlockGroup] = []
        _recursive(x, side, base, partition.min_length, (0,) * x.ndim, groups, with_origins)
        return _merge(groups)
    raise InputError(f"partition: expected Ignore, Recursive or Correlated, got {partition!r}")


def _merge(groups: list[BlockGroup]) -> list[BlockGroup]:
    """Concatenate groups of equal shape (first-seen order of shapes)."""
    by: dict[tuple, list[BlockGroup]] = {}
    for g in groups:
        by.setdefault(g.shape, []).append(g)
    out = []
    for shape, gs in by.items():
        codes = np.concatenate([g.codes for g in gs])
        orig = None if gs[0].origins is None else np.concatenate([g.origins for g in gs])
        out.append(BlockGroup(shape, codes, orig))
    return out


def tile_shapes(data_shape: tuple[int, ...], side: int) -> dict[tuple[int, ...], int]:
    """Shapes of the first-level tiles of an array, leftovers included (pybdm ``iter_part_shapes``).

    pybdm normalises the Recursive partition with these shapes, not with the re-tiled blocks.
    """
    per_axis = [[min(side, n - s) for s in range(0, n, side)] for n in data_shape]
    out: dict[tuple[int, ...], int] = {}
    for shape in product(*per_axis):
        out[shape] = out.get(shape, 0) + 1
    return out
