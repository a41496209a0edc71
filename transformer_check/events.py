"""The training schedule and the two events of a run: the log-spaced logging steps, t_mem and
t_gen (docs/transformer_check.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MEM_TRAIN_ACC", "MEM_TEST_ACC", "GEN_TEST_ACC", "log_schedule", "detect_events"]

MEM_TRAIN_ACC = 0.99
MEM_TEST_ACC = 0.5
GEN_TEST_ACC = 0.99


def log_schedule(steps: int, n: int) -> list[int]:
    """``0`` and ~``n`` log-spaced integer steps in ``[1, steps]`` (always including ``steps``)."""
    if n <= 0:
        return [0, steps]
    if n - 1 >= 2 * steps * max(1.0, float(np.log(steps))):
        # the points are then < 0.5 apart, so every step is hit: no need to allocate n of them
        return list(range(steps + 1))
    pts = np.unique(np.round(np.geomspace(1, steps, num=n)).astype(int))
    return sorted({0, steps, *pts.tolist()})


def detect_events(rows: Sequence[Mapping[str, Any]]) -> tuple[int | None, int | None]:
    """``t_mem``: first logged step with train acc >= 0.99 and test acc < 0.5; ``t_gen``: first
    logged step with test acc >= 0.99 (docs/transformer_check.md). ``None`` if it never happened."""
    t_mem = t_gen = None
    for r in rows:
        if "test_acc" not in r or r["test_acc"] is None:
            continue
        if t_mem is None and r["train_acc"] >= MEM_TRAIN_ACC and r["test_acc"] < MEM_TEST_ACC:
            t_mem = int(r["step"])
        if t_gen is None and r["test_acc"] >= GEN_TEST_ACC:
            t_gen = int(r["step"])
    return t_mem, t_gen
