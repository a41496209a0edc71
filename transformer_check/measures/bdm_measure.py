"""BDM of the quartile-quantised weights, ``K_BDM(theta)`` in bits (definitions §3.3, Zhang et al. (2026)).

Every parameter, under its ``named_parameters`` name (the names a checkpoint stores as
``param.<name>``), is viewed as a matrix by :func:`bdm.weights.as_matrix` (the one rule, also used
by ``python -m bdm measure``), mapped to 4 symbols by its own quartiles and measured with 4x4 blocks
over the bit-plane CTM table (the definitions §3.3 default). Biases and LayerNorm vectors are one row,
smaller than a 4x4 block, and so add nothing. ``python -m bdm measure`` of a checkpoint of the same
step therefore gives the same ``bdm_bits`` to the last bit. Quartile symbols are scale-free, so
weight-decay shrinkage alone does not move this measure.
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
    """``bdm_bits`` = sum over parameters of BDM, plus ``bdm_bits.<name>`` per measured one."""
    from bdm.weights import k_bdm

    params = {k: v.detach().cpu().numpy() for k, v in model.named_parameters()}
    res = k_bdm(params, mapping="quartile", layout="2d", bdm=_engine())
    out = {"bdm_bits": float(res.total_bdm)}
    for t in res.measured:
        out[f"bdm_bits.{t.name}"] = float(t.result.bdm)
    return out
