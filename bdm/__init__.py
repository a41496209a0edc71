"""occam.bdm: Coding Theorem / Block Decomposition Method engine over the published CTM tables (SPEC §3)."""

from .bitplane import BitPlaneTable
from .engine import BDM, BDMResult, BlockCounts, PublishedTable, make_table
from .partition import Correlated, Ignore, Recursive, parse_partition
from .tables import CTMTable, ShapeTable, load_table

__all__ = [
    "BDM",
    "BDMResult",
    "BlockCounts",
    "BitPlaneTable",
    "PublishedTable",
    "make_table",
    "Ignore",
    "Recursive",
    "Correlated",
    "parse_partition",
    "CTMTable",
    "ShapeTable",
    "load_table",
]
