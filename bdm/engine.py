"""Block Decomposition Method over CTM tables, vectorised on integer block codes (definitions §3.2).

``BDM(X) = sum over distinct raw blocks r of (CTM(normalise(r)) + log2 n_r)`` where ``n_r`` counts
raw blocks (``0^12`` and ``1^12`` are two blocks with one CTM value). A block absent from the table
costs ``max CTM of its shape + 1``. Terms are pybdm's; they are summed with :func:`total`
(a compensated sum, accurate to about one ulp), so results match pybdm's left-to-right sum to its own rounding error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theory.base.errors import InputError

from .bitplane import BitPlaneTable
from .encoding import count_codes, max_code, neumaier_sum, normalise_codes
from .partition import BlockGroup, Correlated, Ignore, Partition, Recursive, decompose, tile_shapes
from .tables import TABLE_FILES, CTMTable, load_table

__all__ = [
    "NoBlocksError",
    "BDM",
    "BDMResult",
    "BlockCounts",
    "PublishedTable",
    "make_table",
    "log2_counts",
]

# Raw key spaces up to this size are counted with bincount, larger ones by hashing.
_BINCOUNT_LIMIT = 1 << 22


class NoBlocksError(InputError):
    """The input is smaller than one block under the chosen partition.

    An :class:`~theory.base.errors.InputError`, so the command line reports it as one line with
    exit code 2; :func:`~bdm.weights.k_bdm` catches it to list such a tensor as skipped.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import BDM, NoBlocksError
    >>> try:
    ...     BDM(ndim=2).bdm(np.zeros((2, 2), dtype=int))
    ... except NoBlocksError as exc:
    ...     print(str(exc)[:46])
    X: shape (2, 2) is smaller than one block of s
    """


@dataclass(frozen=True)
class PublishedTable:
    """Uniform interface over a published :class:`CTMTable` (definitions §3.1, §3.2).

    Raw block codes are looked up through their first-occurrence-normalised key, and the
    normalised-BDM maximum follows pybdm's cycle order. :class:`BitPlaneTable` offers the same
    interface for 4-symbol 2-D blocks.

    Parameters
    ----------
    table : CTMTable
        The loaded table, from :func:`load_table`.

    See Also
    --------
    make_table : the table for ``(ndim, nsymbols)``.

    Examples
    --------
    >>> from bdm import PublishedTable, load_table
    >>> t = PublishedTable(load_table(1, 2))
    >>> t.name, t.ndim, t.nsymbols
    ('CTM-B2-D12', 1, 2)
    """

    table: CTMTable

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def ndim(self) -> int:
        return self.table.ndim

    @property
    def nsymbols(self) -> int:
        return self.table.nsymbols

    @property
    def shapes(self):
        return self.table.shapes

    @property
    def load_seconds(self) -> float:
        return self.table.load_seconds

    def lookup_raw(
        self, shape: tuple[int, ...], codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """CTM of raw codes via their first-occurrence-normalised key (definitions §3.2)."""
        st = self.table.shape_table(shape)
        return st.lookup(normalise_codes(codes, st.length, self.nsymbols))

    def min_ctm(self, shape: tuple[int, ...]) -> float:
        return self.table.shape_table(shape).min_ctm

    def n_raw(self, shape: tuple[int, ...]) -> int:
        """Raw blocks covered by the table's keys (pybdm's cycle length)."""
        _, k = self.table.shape_table(shape).descending()
        return int(k.sum())

    def top_raw(self, shape: tuple[int, ...], m: int) -> np.ndarray:
        """The first ``m`` entries of pybdm's cycle: keys by CTM descending, each repeated once per
        raw block it stands for (``BDM._cycle_parts``)."""
        vals, k = self.table.shape_table(shape).descending()
        m = min(m, int(k.sum()))
        upto = int(np.searchsorted(np.cumsum(k), m)) + 1
        return np.repeat(vals[:upto], k[:upto])[:m]


Table = PublishedTable | BitPlaneTable


def make_table(ndim: int, nsymbols: int, **load_kwargs) -> Table:
    """Published table for ``(ndim, nsymbols)``; the bit-plane table for 2-D, 4 symbols (definitions §3.3).

    Parameters
    ----------
    ndim : int
        1 or 2.
    nsymbols : int
        Alphabet size: 2, 4, 5, 6 or 9 in 1-D; 2 (published) or 4 (bit-plane) in 2-D.
    **load_kwargs
        Passed to :func:`load_table` (``data_dir``, ``cache``, ``use_cache``).

    Returns
    -------
    PublishedTable or BitPlaneTable

    Raises
    ------
    InputError
        If no table exists for ``(ndim, nsymbols)`` or the pybdm data is missing or damaged.

    References
    ----------
    Soler-Toscano, Zenil, Delahaye, Gauvrit (2014) for the published tables; definitions §3.1,
    §3.3.

    Examples
    --------
    >>> from bdm import make_table
    >>> make_table(1, 2).name, make_table(2, 4).name
    ('CTM-B2-D12', 'BITPLANE-B4-D4X4')
    """
    if (ndim, nsymbols) == (2, 4):
        return BitPlaneTable(load_table(2, 2, **load_kwargs))
    return PublishedTable(load_table(ndim, nsymbols, **load_kwargs))


def log2_counts(counts: np.ndarray) -> np.ndarray:
    """``log2`` of positive integer counts with :func:`math.log2` (pybdm's rounding)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0:
        return np.zeros(0)
    top = int(counts.max())
    if top <= 1 << 16:
        table = np.array([0.0] + [math.log2(i) for i in range(1, top + 1)])
        return table[counts]
    uniq, inv = np.unique(counts, return_inverse=True)
    return np.array([math.log2(int(c)) for c in uniq])[inv]


def total(terms: list[np.ndarray]) -> float:
    """Compensated sum of all terms (order-independent to about one ulp of the result)."""
    flat = np.concatenate(terms) if terms else np.zeros(0)
    return float(neumaier_sum(np.ascontiguousarray(flat, dtype=np.float64)))


@dataclass(frozen=True)
class BlockCounts:
    """Distinct raw blocks of one shape, their counts and CTM values (definitions §3.2).

    Returned by :meth:`BDM.count`, one per block shape.

    Parameters
    ----------
    shape : tuple of int
        The block shape.
    codes : numpy.ndarray
        Integer codes (base ``nsymbols``, row-major) of the distinct raw blocks.
    counts : numpy.ndarray
        How often each raw block occurs.
    ctm : numpy.ndarray
        CTM of each block in bits (the missing-block rule where absent from the table).
    found : numpy.ndarray
        Boolean mask of the blocks found in the table.

    Examples
    --------
    >>> import numpy as np
    >>> from bdm import BDM
    >>> (bc,) = BDM(ndim=2).count(np.eye(8, dtype=int))
    >>> bc.shape, bc.counts.tolist(), bc.n_blocks
    ((4, 4), [2, 2], 4)
    """

    shape: tuple[int, ...]
    codes: np.ndarray
    counts: np.ndarray
    ctm: np.ndarray
    found: np.ndarray

    @property
    def n_blocks(self) -> int:
        """Number of raw blocks of this shape, repeats included."""
        return int(self.counts.sum())


@dataclass(frozen=True)
class BDMResult:
    """BDM of one array with its block statistics, in bits (definitions §3.2).

    Returned by :meth:`BDM.measure`.

    Parameters
    ----------
    bdm : float
        ``BDM(X)`` in bits.
    entropy : float
        Shannon entropy of the raw-block frequencies in bits (pybdm ``compute_ent``).
    n_blocks : int
        Raw blocks counted, repeats included.
    n_distinct : int
        Distinct raw blocks.
    n_missing_distinct, n_missing_blocks : int
        Distinct and total blocks priced by the missing-block rule (max CTM of the shape + 1).
    blocks_per_shape : dict of str to int
        Block counts by shape, keyed like ``"4x4"``.
    nbdm : float, optional
        Normalised BDM ``(BDM - min) / (max - min)``; ``None`` where undefined.
    nbdm_note : str, optional
        Why ``nbdm`` is undefined.
    bdm_min, bdm_max : float, optional
        The normalisation bounds.
    """

    bdm: float
    entropy: float
    n_blocks: int
    n_distinct: int
    n_missing_distinct: int
    n_missing_blocks: int
    blocks_per_shape: dict[str, int] = field(default_factory=dict)
    nbdm: float | None = None
    nbdm_note: str | None = None
    bdm_min: float | None = None
    bdm_max: float | None = None

    @property
    def missing_fraction(self) -> float:
        """Fraction of blocks (by count) whose CTM came from the missing-block rule."""
        return self.n_missing_blocks / self.n_blocks if self.n_blocks else 0.0


class BDM:
    """BDM configured for one kind of data: ``ndim``, alphabet, block side and partition.

    ``BDM(X) = sum over distinct raw blocks r of (CTM(normalise(r)) + log2 n_r)``, ``n_r`` the
    count of raw block ``r``; a block absent from the table costs the shape's max CTM + 1
    (definitions §3.2). ``BDM(ndim=2)`` is pybdm's default (binary 4x4, Ignore);
    ``BDM(ndim=1, nsymbols=4)`` uses the 4-symbol length-12 table; ``BDM(ndim=2, nsymbols=4)``
    the bit-plane table (definitions §3.3).

    Parameters
    ----------
    ndim : int
        1 or 2: the dimension of the arrays measured.
    nsymbols : int, default 2
        Alphabet size; the symbols are ``0 .. nsymbols - 1``.
    side : int, optional
        Block side; default the table's largest (12 in 1-D, 4 in 2-D).
    partition : Ignore, Recursive or Correlated, optional
        How the array is cut into blocks; default :class:`Ignore`.
    table : PublishedTable or BitPlaneTable, optional
        A table already loaded (keyword only); default :func:`make_table` ``(ndim, nsymbols)``.
    **load_kwargs
        Passed to :func:`load_table` when the table is loaded here.

    Raises
    ------
    InputError
        If ``ndim``, ``nsymbols`` or ``side`` has no table, or ``table`` does not match.

    References
    ----------
    Zenil, Hernández-Orozco, Kiani, Soler-Toscano, Rueda-Toicen, Tegnér (2018), A Decomposition
    Method for Global Evaluation of Shannon Entropy and Local Estimations of Algorithmic
    Complexity, Entropy 20(8):605; Soler-Toscano, Zenil, Delahaye, Gauvrit (2014) for the CTM tables; definitions §3.2.

    Examples
    --------
    An 8x8 identity holds two copies each of two 4x4 blocks:

    >>> import numpy as np
    >>> from bdm import BDM
    >>> b = BDM(ndim=2)
    >>> round(b.bdm(np.zeros((8, 8), dtype=int)), 3), round(b.bdm(np.eye(8, dtype=int)), 3)
    (24.007, 47.245)
    >>> r = b.measure(np.eye(8, dtype=int))
    >>> r.n_blocks, r.n_distinct, round(r.nbdm, 3), round(r.entropy, 3)
    (4, 2, 0.194, 1.0)
    """

    def __init__(
        self,
        ndim: int,
        nsymbols: int = 2,
        side: int | None = None,
        partition: Partition | None = None,
        *,
        table: Table | None = None,
        **load_kwargs,
    ) -> None:
        if ndim not in (1, 2):
            raise InputError(f"ndim: must be 1 or 2, got {ndim!r}")
        if table is None:
            if (ndim, nsymbols) not in TABLE_FILES and (ndim, nsymbols) != (2, 4):
                known = sorted({s for _, s in TABLE_FILES})
                raise InputError(
                    f"nsymbols: no CTM table for ndim={ndim}, nsymbols={nsymbols}; "
                    f"1-D tables: nsymbols in {known}; 2-D: nsymbols 2 (published) or 4 (bit-plane)"
                )
            table = make_table(ndim, nsymbols, **load_kwargs)
        if (table.ndim, table.nsymbols) != (ndim, nsymbols):
            raise InputError(
                f"table: {table.name} is for ndim={table.ndim}, nsymbols={table.nsymbols}, "
                f"not ndim={ndim}, nsymbols={nsymbols}"
            )
        max_side = max(s[0] for s in table.shapes)
        side = max_side if side is None else side
        if (side,) * ndim not in table.shapes:
            raise InputError(
                f"side: the {table.name} table holds block sides 1..{max_side}, got {side!r}"
            )
        self.ndim = ndim
        self.nsymbols = nsymbols
        self.side = int(side)
        self.shape = (self.side,) * ndim
        self.partition = partition if partition is not None else Ignore()
        self.table = table

    def __repr__(self) -> str:
        return (
            f"BDM(ndim={self.ndim}, nsymbols={self.nsymbols}, side={self.side}, "
            f"partition={self.partition!r}, table={self.table.name})"
        )

    # -- input -----------------------------------------------------------------------------------
    def check(self, x: np.ndarray, name: str = "X") -> np.ndarray:
        """Validated int8 copy of ``x``: integer symbols in ``[0, nsymbols)``, right ``ndim``.

        Raises
        ------
        InputError
            If ``x`` is not integer (or boolean), has the wrong ``ndim`` or a symbol outside the
            alphabet.
        """
        x = np.asarray(x)
        if x.dtype == np.bool_:
            x = x.astype(np.int8)
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError(
                f"{name}: expected integer symbols 0..{self.nsymbols - 1}, got dtype {x.dtype}; "
                "map real-valued weights to symbols first (bdm.quartile_symbols or median_symbols)"
            )
        if x.ndim != self.ndim:
            raise InputError(f"{name}: expected a {self.ndim}-D array, got shape {x.shape}")
        if x.size:
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi >= self.nsymbols:
                bad = lo if lo < 0 else hi
                raise InputError(
                    f"{name}: symbol {bad} is outside the alphabet 0..{self.nsymbols - 1}; "
                    f"relabel the data or use a table with more symbols"
                )
        return x.astype(np.int8, copy=False)

    def decompose(self, x: np.ndarray, with_origins: bool = False) -> list[BlockGroup]:
        """Blocks of ``x`` as integer codes grouped by shape (raises if there are none)."""
        x = self.check(x)
        groups = decompose(x, self.side, self.nsymbols, self.partition, with_origins)
        if not groups:
            raise NoBlocksError(
                f"X: shape {x.shape} is smaller than one block of shape "
                f"{'x'.join(map(str, self.shape))} under the {self.partition.name} partition; "
                "give a larger array or a smaller --block side"
            )
        return groups

    # -- counting --------------------------------------------------------------------------------
    def count(self, x: np.ndarray) -> list[BlockCounts]:
        """Distinct raw blocks per shape with counts and CTM values.

        Parameters
        ----------
        x : numpy.ndarray
            Integer symbols ``0 .. nsymbols - 1`` of dimension ``ndim``.

        Returns
        -------
        list of BlockCounts
            One per block shape (several only for the :class:`Recursive` partition).

        Raises
        ------
        NoBlocksError
            If ``x`` is smaller than one block.
        """
        out = []
        for g in self.decompose(x):
            space = max_code(math.prod(g.shape), self.nsymbols)
            if space <= _BINCOUNT_LIMIT:
                cnt = np.bincount(g.codes, minlength=space)
                codes = np.flatnonzero(cnt).astype(np.int64)
                counts = cnt[codes]
            else:
                codes, counts = count_codes(g.codes)
            ctm, found = self.table.lookup_raw(g.shape, codes)
            out.append(BlockCounts(g.shape, codes, counts.astype(np.int64), ctm, found))
        return out

    # -- measures --------------------------------------------------------------------------------
    @staticmethod
    def bdm_from_counts(counts: list[BlockCounts]) -> float:
        """``sum (CTM + log2 n)`` over distinct raw blocks (definitions §3.2)."""
        return total([bc.ctm + log2_counts(bc.counts) for bc in counts])

    @staticmethod
    def entropy_from_counts(counts: list[BlockCounts]) -> float:
        """Shannon entropy (bits) of raw-block frequencies (pybdm ``compute_ent``)."""
        c = np.concatenate([bc.counts for bc in counts]).astype(np.float64)
        p = c / c.sum()
        return -total([p * np.log2(p)]) + 0.0

    def bdm(self, x: np.ndarray, normalized: bool = False) -> float:
        """BDM of ``x`` in bits, or normalised BDM in [0, 1] (pybdm ``BDM.bdm``; definitions §3.2).

        Parameters
        ----------
        x : numpy.ndarray
            Integer symbols ``0 .. nsymbols - 1`` of dimension ``ndim``.
        normalized : bool, default False
            Return ``(BDM - min) / (max - min)`` instead.

        Returns
        -------
        float

        Raises
        ------
        InputError
            If ``x`` is invalid; :class:`NoBlocksError` if it holds no block; with
            ``normalized``, if NBDM is undefined (the Correlated partition, or max equal to min).
        """
        counts = self.count(x)
        value = self.bdm_from_counts(counts)
        if normalized:
            return self._normalise(value, counts, np.shape(x))
        return value

    def nbdm(self, x: np.ndarray) -> float:
        """Normalised BDM ``(BDM - min) / (max - min)`` (definitions §3.2)."""
        return self.bdm(x, normalized=True)

    def ent(self, x: np.ndarray) -> float:
        """Block entropy of ``x`` in bits."""
        return self.entropy_from_counts(self.count(x))

    def measure(self, x: np.ndarray) -> BDMResult:
        """BDM, block entropy, normalised BDM (or why it is undefined) and block statistics.

        Parameters
        ----------
        x : numpy.ndarray
            Integer symbols ``0 .. nsymbols - 1`` of dimension ``ndim``.

        Returns
        -------
        BDMResult
        """
        return self.measure_counts(self.count(x), np.shape(x))

    def measure_counts(
        self, counts: list[BlockCounts], data_shape: tuple[int, ...] | None = None
    ) -> BDMResult:
        """:meth:`measure` from block counts already computed with :meth:`count`.

        ``data_shape`` (the measured array's shape) fixes the NBDM bounds of the Recursive
        partition (:meth:`norm_shapes`); without it they use the blocks counted.
        """
        value = self.bdm_from_counts(counts)
        lo = hi = nbdm = note = None
        try:
            lo, hi = self.bounds(counts, data_shape)
            nbdm = (value - lo) / (hi - lo)
        except InputError as exc:
            note = str(exc)
        n_missing_blocks = int(sum(bc.counts[~bc.found].sum() for bc in counts))
        return BDMResult(
            bdm=value,
            entropy=self.entropy_from_counts(counts),
            n_blocks=int(sum(bc.n_blocks for bc in counts)),
            n_distinct=int(sum(bc.codes.size for bc in counts)),
            n_missing_distinct=int(sum((~bc.found).sum() for bc in counts)),
            n_missing_blocks=n_missing_blocks,
            blocks_per_shape={"x".join(map(str, bc.shape)): bc.n_blocks for bc in counts},
            nbdm=nbdm,
            nbdm_note=note,
            bdm_min=lo,
            bdm_max=hi,
        )

    # -- normalisation ---------------------------------------------------------------------------
    def min_bdm(self, shape_counts: dict[tuple[int, ...], int]) -> float:
        """Smallest BDM for these block counts: every block of a shape is the simplest one."""
        return math.fsum(self.table.min_ctm(s) + math.log2(n) for s, n in shape_counts.items())

    def max_bdm(self, shape_counts: dict[tuple[int, ...], int]) -> float:
        """Largest BDM for these block counts: blocks cycle through the raw blocks by CTM
        descending, so counts are as even as possible (pybdm ``BDM._get_max_bdm``)."""
        terms = []
        for shape, n in shape_counts.items():
            n_raw = self.table.n_raw(shape)
            vals = self.table.top_raw(shape, min(n, n_raw))
            full, rem = divmod(n, n_raw)
            if full == 0:
                terms.append(vals)  # every count is 1
                continue
            cnt = np.full(vals.size, full, dtype=np.int64)
            cnt[:rem] += 1
            terms.append(vals + log2_counts(cnt))
        return total(terms)

    def _normalise(self, value: float, counts: list[BlockCounts], data_shape=None) -> float:
        lo, hi = self.bounds(counts, data_shape)
        return (value - lo) / (hi - lo)

    def norm_shapes(
        self, counts: list[BlockCounts], data_shape: tuple[int, ...] | None = None
    ) -> dict[tuple[int, ...], int]:
        """Block shapes and counts that the NBDM bounds are built from.

        Recursive: pybdm's, the first-level tiles of the input including its leftovers (even one
        shorter than ``min_length`` that is never counted; pybdm ``BDM._iter_shapes``), so NBDM can
        leave [0, 1] as pybdm's does. Where a first-level shape has no table (2-D non-square
        leftovers: pybdm raises there) and for the other partitions: the blocks counted.
        """
        counted = {bc.shape: bc.n_blocks for bc in counts}
        if not isinstance(self.partition, Recursive) or data_shape is None:
            return counted
        tiles = tile_shapes(tuple(data_shape), self.side)
        if all(s in self.table.shapes for s in tiles):
            return tiles
        return counted

    def bounds(
        self, counts: list[BlockCounts], data_shape: tuple[int, ...] | None = None
    ) -> tuple[float, float]:
        """(min, max) BDM for these block counts; :class:`InputError` where NBDM is undefined."""
        if isinstance(self.partition, Correlated):
            raise InputError(
                "normalized: normalised BDM is undefined for the correlated partition "
                "(its min/max constructions count non-overlapping tiles); use ignore or recursive"
            )
        shape_counts = self.norm_shapes(counts, data_shape)
        lo, hi = self.min_bdm(shape_counts), self.max_bdm(shape_counts)
        if not hi > lo:
            raise InputError(
                f"normalized: undefined because max BDM equals min BDM ({lo:.6g} bits) for "
                f"block counts {shape_counts}; use the raw BDM"
            )
        return lo, hi
