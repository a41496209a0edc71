"""bdm: Coding Theorem / Block Decomposition Method engine over the published CTM tables (definitions §3)."""

from theory.base.version import __version__

from .bitplane import BitPlaneTable
from .engine import BDM, BDMResult, BlockCounts, NoBlocksError, PublishedTable, make_table
from .partition import Correlated, Ignore, Recursive, parse_partition
from .perturbation import PerturbationResult, perturbation
from .tables import CTMTable, ShapeTable, load_table
from .weights import KBDMResult, k_bdm, load_tensors, median_symbols, quartile_symbols

__all__ = [
    "__version__",
    "BDM",
    "BDMResult",
    "BlockCounts",
    "NoBlocksError",
    "BitPlaneTable",
    "PublishedTable",
    "make_table",
    "Ignore",
    "Recursive",
    "Correlated",
    "parse_partition",
    "perturbation",
    "PerturbationResult",
    "CTMTable",
    "ShapeTable",
    "load_table",
    "k_bdm",
    "KBDMResult",
    "load_tensors",
    "quartile_symbols",
    "median_symbols",
]
