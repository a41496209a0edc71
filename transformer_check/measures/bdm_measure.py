"""BDM of the quartile-quantised weight matrices, ``K_BDM(theta)`` in bits (SPEC §3.3, paper 004).

Each (out x in) matrix of ``named_weight_matrices`` is mapped to 4 symbols by its own quartiles and
measured with 4x4 blocks over the bit-plane CTM table (the SPEC §3.3 default), via :mod:`bdm`.
Quartile symbols are scale-free, so weight-decay shrinkage alone does not move this measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

__all__ = ["BDMOptions", "bdm_measures"]


@lru_cache(maxsize=1)
def _engine():
    """The 2-D, 4-symbol BDM engine (its tables load once per process)."""
    from bdm.weights import bdm_for

    return bdm_for(4, "2d")


@dataclass(frozen=True)
class BDMOptions:
    """:func:`bdm_measures` has no knobs; the empty options keep one calling convention."""


@torch.no_grad()
def bdm_measures(model, ds=None) -> dict[str, float]:
    """``bdm_bits`` = sum over weight matrices of BDM, plus ``bdm_bits.<name>`` per matrix."""
    from bdm.weights import k_bdm

    mats = {k: v.detach().double().cpu().numpy() for k, v in model.named_weight_matrices().items()}
    res = k_bdm(mats, mapping="quartile", layout="2d", bdm=_engine())
    out = {"bdm_bits": float(res.total_bdm)}
    for t in res.measured:
        out[f"bdm_bits.{t.name}"] = float(t.result.bdm)
    return out
