"""The variants of the BDM ablation and one model's complexity under each (definitions in
:mod:`transformer_check.bdm_ablation`)."""

from __future__ import annotations

import bz2
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bdm.engine import BDM, BlockCounts, NoBlocksError
from bdm.weights import as_matrix, bdm_for, to_symbols
from theory.base.errors import InputError, check_choice

__all__ = [
    "AGGREGATIONS",
    "DEFINITIONS",
    "LAYOUTS",
    "MAPS",
    "PAPER_VARIANT",
    "RAW",
    "VARIANTS",
    "VARIANT_NAMES",
    "Variant",
    "engine",
    "model_complexity",
    "parse_variants",
    "per_tensor_bdm",
    "pooled_bdm",
    "raw_bz2_bits",
    "tensor_block_counts",
]

MAPS = ("quartile", "median")
LAYOUTS = ("2d", "1d")
AGGREGATIONS = ("per_tensor", "pooled")
RAW = "raw_bz2"
_NSYMBOLS = {"quartile": 4, "median": 2}  # definitions §3.3: quartiles give 4 symbols, the median 2
_BZ2_LEVEL = 9  # the level of transformer_check.measures.compression.bz2_size


@dataclass(frozen=True)
class Variant:
    """One choice of symbol map, block layout and aggregation over tensors."""

    mapping: str
    layout: str
    aggregation: str

    def __post_init__(self) -> None:
        check_choice("map", self.mapping, MAPS)
        check_choice("blocks", self.layout, LAYOUTS)
        check_choice("aggregation", self.aggregation, AGGREGATIONS)

    @property
    def name(self) -> str:
        return f"{self.mapping}-{self.layout}-{self.aggregation}"

    @property
    def nsymbols(self) -> int:
        return _NSYMBOLS[self.mapping]


#: The grid, the paper's choice first (the order of every table and figure).
VARIANTS: tuple[Variant, ...] = tuple(
    Variant(m, lay, a) for m in MAPS for lay in LAYOUTS for a in AGGREGATIONS
)
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)
PAPER_VARIANT = "quartile-2d-per_tensor"  # what training logs as bdm_bits

#: The definitions every output carries (module docstring; definitions §3.2-§3.3 for BDM).
DEFINITIONS = {
    "per_tensor": "sum over measured tensors t of BDM(t) = sum_r [CTM(r) + log2 n_t(r)]",
    "pooled": "sum over the union of distinct blocks r of [CTM(r) + log2 N(r)], N(r) = sum_t n_t(r)",
    "raw_bz2": "8 x bz2 size (level 9) of the float32 parameters in named_parameters order",
    "init": "value at the earliest checkpoint",
    "plateau": "mean over checkpoints with t_mem <= step < t_gen; if none, the one nearest t_mem",
    "final": "value at the last checkpoint (at or after t_gen)",
    "rise": "(plateau - init) / init",
    "drop": "(plateau - final) / plateau",
    "rises_then_falls": "rise > 0 and drop > 0",
    "drop_minus_raw": "drop - drop of raw_bz2 over the same checkpoints",
    "over runs": "mean over the runs with a defined drop; [min, max] is their range, not an interval",
}


def parse_variants(names: Iterable[str] | None) -> tuple[Variant, ...]:
    """The variants named (grid order, each once); ``None`` or empty: all 8."""
    if not names:
        return VARIANTS
    wanted = set()
    for n in names:
        wanted.add(check_choice("--variants", n, VARIANT_NAMES))
    return tuple(v for v in VARIANTS if v.name in wanted)


@lru_cache(maxsize=len(MAPS) * len(LAYOUTS))
def engine(nsymbols: int, layout: str) -> BDM:
    """The BDM engine of one (alphabet, layout); its tables load once per process."""
    return bdm_for(nsymbols, layout)


# -- complexity of one model ------------------------------------------------------------------


def tensor_block_counts(
    tensors: Mapping[str, np.ndarray], mapping: str, layout: str, bdm: BDM | None = None
) -> dict[str, list[BlockCounts]]:
    """Each measurable tensor's block counts under ``mapping`` and ``layout``.

    The steps of :func:`bdm.weights.k_bdm` (own-quantile symbols, :func:`as_matrix`, rows
    flattened for ``1d``); a tensor smaller than one block is left out, as there.
    """
    bdm = bdm or engine(_NSYMBOLS[mapping], layout)
    out: dict[str, list[BlockCounts]] = {}
    for name, t in tensors.items():
        arr = np.asarray(t)
        if arr.size == 0:
            continue
        mat = as_matrix(to_symbols(arr, mapping, bdm.nsymbols, name), name)
        data = mat.ravel() if layout == "1d" else mat
        try:
            out[name] = bdm.count(data)
        except NoBlocksError:
            continue
    if not out:
        raise InputError(
            f"tensors: no tensor is large enough for one {'x'.join(map(str, bdm.shape))} block"
        )
    return out


def per_tensor_bdm(counts: Mapping[str, list[BlockCounts]]) -> float:
    """``sum over tensors of BDM`` (definitions §3.3), summed like :func:`bdm.weights.k_bdm` (fsum)."""
    return math.fsum(BDM.bdm_from_counts(c) for c in counts.values())


def pooled_bdm(counts: Iterable[BlockCounts]) -> float:
    """BDM of several tensors' blocks as one multiset: ``sum_r CTM(r) + log2 N(r)`` over the
    union of distinct blocks, ``N(r)`` the count of ``r`` over all tensors (module docstring)."""
    by_shape: dict[tuple[int, ...], list[BlockCounts]] = {}
    for bc in counts:
        by_shape.setdefault(bc.shape, []).append(bc)
    merged = []
    for shape, group in by_shape.items():
        codes = np.concatenate([g.codes for g in group])
        uniq, first, inv = np.unique(codes, return_index=True, return_inverse=True)
        n = np.bincount(inv, weights=np.concatenate([g.counts for g in group]))
        # CTM is a function of the block alone, so any occurrence's value is the block's
        ctm = np.concatenate([g.ctm for g in group])[first]
        found = np.concatenate([g.found for g in group])[first]
        merged.append(BlockCounts(shape, uniq, np.rint(n).astype(np.int64), ctm, found))
    if not merged:
        raise InputError("counts: no blocks to pool; give at least one measured tensor")
    return BDM.bdm_from_counts(merged)


def raw_bz2_bits(tensors: Mapping[str, np.ndarray]) -> float:
    """8 x bz2 size of the float32 tensors in the given order (``naive_bz2_bytes``, DeMoss et al. (2024)
    Fig. A.9): the unquantised reference."""
    raw = b"".join(np.ascontiguousarray(t, dtype=np.float32).tobytes() for t in tensors.values())
    return 8.0 * len(bz2.compress(raw, _BZ2_LEVEL))


def model_complexity(
    tensors: Mapping[str, np.ndarray], variants: Sequence[Variant] = VARIANTS
) -> dict[str, float]:
    """``{variant name: bits}`` for ``variants`` plus ``raw_bz2``; block counts are computed once
    per (map, layout) and shared by both aggregations."""
    return _measure(tensors, variants)[0]


def _measure(
    tensors: Mapping[str, np.ndarray], variants: Sequence[Variant]
) -> tuple[dict[str, float], dict[str, int]]:
    """:func:`model_complexity` and the number of tensors measured per ``<map>-<blocks>``."""
    out: dict[str, float] = {}
    measured: dict[str, int] = {}
    for mapping, layout in dict.fromkeys((v.mapping, v.layout) for v in variants):
        counts = tensor_block_counts(tensors, mapping, layout)
        measured[f"{mapping}-{layout}"] = len(counts)
        for v in variants:
            if (v.mapping, v.layout) != (mapping, layout):
                continue
            if v.aggregation == "per_tensor":
                out[v.name] = per_tensor_bdm(counts)
            else:
                out[v.name] = pooled_bdm(bc for c in counts.values() for bc in c)
    out[RAW] = raw_bz2_bits(tensors)
    return {k: out[k] for k in [v.name for v in variants] + [RAW]}, measured


# -- runs and their checkpoints ---------------------------------------------------------------
