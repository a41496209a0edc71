"""Will a training run fit? An estimate of its memory, made from the configuration alone.

:func:`check_fits` runs before the dataset or the model is allocated, so ``--p 100003`` (a
``p x p`` operation table of 80 GB) or ``--layers 1000000`` is refused in one line stating the
estimate and the memory available, instead of ending in a ``MemoryError`` minutes later.

The estimate counts (float32, 4 bytes; int64 tokens, 8 bytes):

- parameters, their gradients and AdamW's two moments: ``4 x n_params`` (one more copy with
  weight noise, the perturbed forward weights);
- the activations the backward pass keeps for the full batch of ``n_train`` pairs: per example
  and block, the residual and attention inputs/outputs ``3 x T x d``, Q/K/V and the head outputs
  ``4 x T x H x e``, scores and probabilities ``2 x H x T^2``, the MLP pre- and post-activation
  ``2 x T x d_mlp`` (the last block only its last position's query row and MLP row); plus the
  embedding ``T x d`` and the logits with their softmax ``3 x p``;
- the dataset: the ``p x p`` operation table, all pairs and their temporaries, int64.

It is meant as a lower bound of the peak (allocator slack and the measures' own work come on
top): measured peak resident memory above the interpreter's, nanda preset on the CPU, p = 401:
1050 MB for an estimate of 850 MB; p = 113: 300 MB for 52 MB. A refusal is right; a run that
passes may still be tight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from theory.base.errors import InputError
from transformer_check.config import TrainConfig
from transformer_check.data import task_sizes
from transformer_check.model import n_params

__all__ = ["MemoryEstimate", "estimate_memory", "available_memory", "check_fits"]

F32, I64 = 4, 8
GIB = 2**30


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of one training run, by part."""

    params: int  # weights, gradients, AdamW moments (and noisy weights)
    activations: int  # kept for the backward pass of the full batch
    data: int  # the dataset and the operation table
    n_params: int
    n_train: int

    @property
    def total(self) -> int:
        return self.params + self.activations + self.data


def estimate_memory(cfg: TrainConfig, n_seeds: int = 1) -> MemoryEstimate:
    """The memory a run of ``cfg`` needs (``n_seeds`` stacked seeds for a batched run)."""
    t, m = cfg.task, cfg.model
    vocab, seq, n_pairs, n_train = task_sizes(t)
    n = n_params(cfg.model_config())
    copies = 4 + (1 if cfg.weight_noise > 0 else 0)
    d, H, e, f = m.d_model, m.n_heads, m.d_head, m.d_mlp
    per_block = 3 * seq * d + 4 * seq * H * e + 2 * H * seq * seq + 2 * seq * f
    # the last block computes only the last position's query, scores and MLP row (model.py)
    last_block = seq * d + 2 * seq * H * e + 2 * H * e + 2 * H * seq + 2 * d + 2 * f
    if m.layernorm is not None:
        per_block += 2 * seq * d
        last_block += 2 * d
    per_example = (m.n_layers - 1) * per_block + last_block + seq * d + 3 * t.p
    data = I64 * (t.p * t.p + n_pairs * (2 * seq + 6))
    return MemoryEstimate(
        params=copies * n * F32 * n_seeds,
        activations=per_example * n_train * F32 * n_seeds,
        data=data,
        n_params=n,
        n_train=n_train,
    )


def _cgroup_free() -> int | None:
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            text = Path(limit).read_text().strip()
            if text == "max" or int(text) >= 2**60:
                return None
            return max(0, int(text) - int(Path(usage).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device`` (CUDA: free device memory; CPU: MemAvailable, within a cgroup
    limit); ``None`` where it cannot be read."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if free is None and hasattr(os, "sysconf"):
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            free = None
    cg = _cgroup_free()
    if cg is not None:
        free = cg if free is None else min(free, cg)
    return free


def _gib(x: int) -> str:
    return f"{x / GIB:.3g} GiB" if x >= GIB / 100 else f"{x / 2**20:.3g} MiB"


def check_fits(cfg: TrainConfig, device: torch.device, n_seeds: int = 1) -> MemoryEstimate:
    """Refuse (:class:`InputError`, one line) a run whose estimate exceeds the free memory."""
    est = estimate_memory(cfg, n_seeds)
    free = available_memory(device)
    if free is not None and est.total > free:
        seeds = f" for {n_seeds} stacked seeds" if n_seeds > 1 else ""
        raise InputError(
            f"train: this run needs at least {_gib(est.total)}{seeds} "
            f"({est.n_params:,} parameters with gradients and AdamW state {_gib(est.params)}, "
            f"activations of the full batch of {est.n_train:,} pairs {_gib(est.activations)}, "
            f"data {_gib(est.data)}) but {device.type} has {_gib(free)} free; lower --p, "
            "--d-model, --d-mlp, --layers or --frac, or use a device with more memory"
        )
    return est
