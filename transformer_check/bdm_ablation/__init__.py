"""An ablation of Zhang et al. (2026)'s ``K_BDM`` choices over a run's training checkpoints (definitions §3.3).

Zhang et al. (2026) measures a transformer's weights as ``K_BDM``: every parameter tensor, viewed as a
matrix by :func:`bdm.weights.as_matrix`, mapped to 4 symbols by its own quartiles, cut into 4x4
blocks over the bit-plane CTM table, and the tensors' BDMs summed (what training logs as
``bdm_bits``, :mod:`transformer_check.measures.bdm_measure`). This module recomputes the measure
at every checkpoint of a run under each of the 8 combinations of three choices (a *variant*,
named ``<map>-<blocks>-<aggregation>``, e.g. ``quartile-2d-per_tensor``, the paper's):

* **map**: ``quartile`` (4 symbols, definitions §3.3) or ``median`` (2 symbols: above the median or not);
* **blocks**: ``2d`` (4x4 blocks: the bit-plane table for 4 symbols, the published one for 2) or
  ``1d`` (the matrix's rows concatenated into one sequence, length-12 blocks over the 1-D table);
* **aggregation**: ``per_tensor`` or ``pooled``, defined below.

Tensor selection is the training measure's: every named parameter; a tensor smaller than one
block is skipped (in ``2d`` the bias and LayerNorm vectors are one row, so they are skipped; in
``1d`` a vector of 12 or more entries is one sequence and *is* measured).

Definitions (BDM as in :mod:`bdm.engine`, definitions §3.2). Let ``B_t`` be the multiset of raw blocks of
tensor ``t`` (``Ignore`` partition: leftovers dropped) and ``n_t(r)`` the count of block ``r``:

* ``per_tensor = sum_t sum_{r in B_t} [CTM(r) + log2 n_t(r)]`` (the sum of the tensors' BDMs);
* ``pooled = sum_{r in U} [CTM(r) + log2 N(r)]`` with ``U`` the union of the distinct blocks of
  all measured tensors and ``N(r) = sum_t n_t(r)``: the BDM of all blocks as one multiset, so a
  block that several tensors share pays its CTM once.

Exact relation (proved in ``tests/test_bdm_ablation.py``'s docstring and checked there): with
``k_r`` the number of tensors holding block ``r`` and ``n_{r,i} >= 1`` their counts,
``per_tensor - pooled = sum_r [(k_r - 1) CTM(r) + sum_i log2 n_{r,i} - log2 sum_i n_{r,i}]``, and
because ``max_i n_{r,i} <= sum_i n_{r,i} <= k_r max_i n_{r,i} <= k_r prod_i n_{r,i}``,
``sum_r [(k_r - 1) CTM(r) - log2 k_r] <= per_tensor - pooled
<= sum_r [(k_r - 1) CTM(r) + sum_i log2 n_{r,i} - max_i log2 n_{r,i}]``. Since
``log2 k <= k - 1``, ``pooled <= per_tensor`` whenever every shared block has ``CTM >= 1`` bit;
every table here has minimum CTM above 22 bits, and the two coincide for a single tensor.

Reference (**raw**): ``raw_bz2`` = 8 x the bz2 size (level 9) of the unquantised float32
parameters in ``named_parameters`` order, ``8 * naive_bz2_bytes(model)`` (DeMoss et al. (2024) Fig. A.9). It
moves with weight-decay shrinkage; quantile symbols are scale-free and do not.

Trajectory summary of one run and variant (steps are checkpoint steps, events from the run):

* ``init``: the value at the earliest checkpoint (step 0 when the run kept it);
* ``plateau``: the mean over checkpoints with ``t_mem <= step < t_gen``; if none lies there, the
  value at the checkpoint nearest to ``t_mem`` (the later one on a tie);
* ``max``: the largest value; ``final``: the value at the last checkpoint, which must be at or
  after ``t_gen``;
* ``rise = (plateau - init) / init``; ``drop = (plateau - final) / plateau``; the run "rises then
  falls" when ``rise > 0`` and ``drop > 0``; ``drop_raw`` is the same drop of ``raw_bz2``, so
  ``drop - drop_raw > 0`` says the quantised measure falls by more than shrinkage alone explains.

A run without ``t_mem`` or ``t_gen``, or whose last checkpoint precedes ``t_gen``, has no plateau,
rise or drop (its ``note`` says why) and is left out of the statistics over runs, which give per
variant the number of runs, the mean and the range ``[min, max]`` over them (not an interval).
"""

from __future__ import annotations

from transformer_check.bdm_ablation.report import (
    ablation_figure,
    markdown_table,
    summary_rows,
    value_rows,
)
from transformer_check.bdm_ablation.runs import (
    Checkpoint,
    RunInput,
    checkpoint_tensors,
    find_run_folders,
    read_run,
    read_runs,
    run_names,
)
from transformer_check.bdm_ablation.summary import (
    RunAblation,
    Spread,
    TrajectorySummary,
    VariantSummary,
    ablate_run,
    spread,
    summarise_trajectory,
    summarise_variants,
)
from transformer_check.bdm_ablation.variants import (
    AGGREGATIONS,
    DEFINITIONS,
    LAYOUTS,
    MAPS,
    PAPER_VARIANT,
    RAW,
    VARIANT_NAMES,
    VARIANTS,
    Variant,
    engine,
    model_complexity,
    parse_variants,
    per_tensor_bdm,
    pooled_bdm,
    raw_bz2_bits,
    tensor_block_counts,
)

__all__ = [
    "MAPS",
    "LAYOUTS",
    "AGGREGATIONS",
    "RAW",
    "PAPER_VARIANT",
    "DEFINITIONS",
    "Variant",
    "VARIANTS",
    "VARIANT_NAMES",
    "parse_variants",
    "engine",
    "tensor_block_counts",
    "per_tensor_bdm",
    "pooled_bdm",
    "raw_bz2_bits",
    "model_complexity",
    "Checkpoint",
    "RunInput",
    "find_run_folders",
    "run_names",
    "read_run",
    "read_runs",
    "checkpoint_tensors",
    "TrajectorySummary",
    "summarise_trajectory",
    "Spread",
    "spread",
    "VariantSummary",
    "summarise_variants",
    "RunAblation",
    "ablate_run",
    "value_rows",
    "summary_rows",
    "markdown_table",
    "ablation_figure",
]
