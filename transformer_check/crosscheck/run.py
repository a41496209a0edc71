"""Running the crosscheck: the theory, SFM and transformer legs, the weight-decay sweep, the
verdicts and the files they are written to (SPEC §4.4; docs/crosscheck.md).

Outputs in the run directory: ``crosscheck.json`` (keys ``metadata, verdicts, summary, events,
theory, paths``), ``transformer/`` (the main training run), ``sweep_wd<wd>/`` (the sweep runs),
``sfm_curves.csv``, ``sweeps.csv`` and ``crosscheck.png/.svg``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from theory.base.trajectory import Trajectory
from theory.predictions import TaskPredictions, task_predictions
from transformer_check.config import TrainResult
from transformer_check.crosscheck.config import (
    CrosscheckConfig,
    base_weight_decay,
    measure_options,
    sfm_betas,
    sfm_configs,
    train_config,
)
from transformer_check.crosscheck.verdicts import (
    CrosscheckData,
    Sweep,
    Sweeps,
    Thresholds,
    Verdict,
    decide_all,
)

__all__ = ["SFMLeg", "theory_leg", "sfm_leg", "transformer_leg", "run_crosscheck"]

Log = Callable[[str], None]


def theory_leg(cfg: CrosscheckConfig) -> TaskPredictions:
    """The theory's numbers for the task, at the SFM's gate strength (``cfg`` resolved)."""
    return task_predictions(cfg.p, cfg.sfm.beta, cfg.frac)


@dataclass(frozen=True)
class SFMLeg:
    """The SFM at the default beta and its beta sweep; ``curves`` are the raw columns that
    ``sfm_curves.csv`` is written from (integer columns stay integers there)."""

    trajectory: Trajectory
    curves: Mapping[str, np.ndarray]
    sweep: Sweep


def sfm_leg(cfg: CrosscheckConfig) -> SFMLeg:
    """The SFM on the same task and its beta sweep, in one batched call (``cfg`` resolved)."""
    from sfm import simulate

    betas = sfm_betas(cfg)
    res = simulate(sfm_configs(cfg))
    i0 = betas.index(cfg.sfm.beta)
    sweep = Sweep(tuple(betas), tuple(e.t_gen for e in res.events))
    return SFMLeg(res.trajectory(i0), res.curves.column(i0), sweep)


def transformer_leg(cfg: CrosscheckConfig, out: Path, progress: bool) -> TrainResult:
    """The main transformer run: built-in measures, the progress measures and the LLC."""
    from transformer_check.measures import build_measures
    from transformer_check.train import train

    opts = measure_options(cfg)
    measures = build_measures(list(opts), opts)
    main_cfg = train_config(cfg, base_weight_decay(cfg), with_measures=True)
    return train(main_cfg, out / "transformer", measures=measures, progress=progress)


def sweep_run(cfg: CrosscheckConfig, wd: float, out_dir: str) -> int | None:
    """One weight-decay run without extra measures; returns its t_gen (None: did not grok)."""
    import torch

    from transformer_check.train import train

    # a worker beside the main run: one thread each, or they fight over two cores
    torch.set_num_threads(1)
    r = train(train_config(cfg, wd, with_measures=False), out_dir, progress=False, plot=False)
    return r.t_gen


def _sweep_dir(out: Path, wd: float) -> str:
    return str(out / f"sweep_wd{wd:g}")


class WeightDecaySweep:
    """The sweep's runs other than the main one (multiple 1), in spawned worker processes while
    the main run trains here (on two cores this nearly halves the wall time), or serially."""

    def __init__(self, cfg: CrosscheckConfig, out: Path) -> None:
        self.cfg, self.out = cfg, out
        self.wds = [(m, base_weight_decay(cfg) * m) for m in cfg.train.wd_sweep]
        others = [wd for m, wd in self.wds if m != 1.0]
        workers = min(len(others), max(0, (os.cpu_count() or 1) - 1))
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[float, Future] = {}
        if workers >= 1 and cfg.train.parallel_sweep:
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            self.futures = {
                wd: self.pool.submit(sweep_run, cfg, wd, _sweep_dir(out, wd)) for wd in others
            }

    def __enter__(self) -> WeightDecaySweep:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    @property
    def parallel(self) -> int:
        return len(self.futures)

    def collect(self, main_t_gen: int | None, log: Log) -> Sweep:
        """t_gen at every strength: the main run's at multiple 1, the workers', or a serial run."""
        t_gens: list[int | None] = []
        for m, wd in self.wds:
            if m == 1.0:
                t_gens.append(main_t_gen)
            elif wd in self.futures:
                t_gens.append(self.futures[wd].result())
            else:
                log(f"crosscheck: weight-decay sweep, wd = {wd:g}")
                t_gens.append(sweep_run(self.cfg, wd, _sweep_dir(self.out, wd)))
        return Sweep(tuple(wd for _, wd in self.wds), tuple(t_gens))


def run_crosscheck(
    cfg: CrosscheckConfig,
    out_dir: str | Path,
    th: Thresholds | None = None,
    progress: bool = True,
    command: str = "transformer_check crosscheck",
) -> dict[str, Any]:
    """Run the theory, SFM and transformer legs, decide the verdicts, write JSON/CSV/figures.

    ``th`` replaces ``cfg.thresholds`` when given. The returned report is what
    ``crosscheck.json`` holds plus ``data`` (:class:`CrosscheckData`) and ``verdict_objects``.
    """
    cfg = cfg.resolved()
    if th is not None:
        cfg = dataclasses.replace(cfg, thresholds=th)
    out = Path(out_dir)
    t0 = time.perf_counter()
    log: Log = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
    log("crosscheck: theory + SFM")
    theory = theory_leg(cfg)
    sfm = sfm_leg(cfg)
    with WeightDecaySweep(cfg, out) as sweep:
        extra = f" (+ {sweep.parallel} weight-decay runs in parallel)" if sweep.parallel else ""
        log("crosscheck: transformer with all measures" + extra)
        res = transformer_leg(cfg, out, progress)
        tc_sweep = sweep.collect(res.t_gen, log)
    data = CrosscheckData(cfg.p, res.trajectory, sfm.trajectory, Sweeps(tc_sweep, sfm.sweep))
    verdicts = decide_all(data.transformer, data.sfm, data.sweeps, data.p, cfg.thresholds)
    report = write_outputs(
        cfg, out, data, sfm, theory, verdicts, command, seconds=time.perf_counter() - t0
    )
    report["data"] = data
    report["verdict_objects"] = verdicts
    return report


def write_outputs(
    cfg: CrosscheckConfig,
    out: Path,
    data: CrosscheckData,
    sfm: SFMLeg,
    theory: TaskPredictions,
    verdicts: list[Verdict],
    command: str,
    seconds: float,
) -> dict[str, Any]:
    """``sfm_curves.csv``, ``sweeps.csv``, ``crosscheck.json`` and the figure; returns the report."""
    from transformer_check.crosscheck.plots import plot_crosscheck

    sfm_rows = [
        dict(zip(sfm.curves, vals, strict=True)) for vals in zip(*sfm.curves.values(), strict=True)
    ]
    write_csv(out / "sfm_curves.csv", sfm_rows)
    sweep_rows = [
        {"system": system, "strength": s, "t_gen": t}
        for system, sw in (("transformer", data.sweeps.transformer), ("sfm", data.sweeps.sfm))
        for s, t in zip(sw.strength, sw.t_gen, strict=True)
    ]
    write_csv(out / "sweeps.csv", sweep_rows)
    tc, sf = data.transformer, data.sfm
    report: dict[str, Any] = {
        "metadata": run_metadata(
            command, {"crosscheck": cfg}, seed=cfg.seed, extra={"seconds": seconds}
        ),
        "verdicts": {v.key: dataclasses.asdict(v) | {"label": v.label} for v in verdicts},
        "summary": {v.key: {"label": v.label, "value": v.value} for v in verdicts},
        "events": {
            "transformer": {"t_mem": tc.t_mem, "t_gen": tc.t_gen},
            "sfm": {"t_mem": sf.t_mem, "t_gen": sf.t_gen},
        },
        "theory": dataclasses.asdict(theory),
        "paths": {"transformer_metrics": out / "transformer" / "metrics.csv"},
    }
    # written before the figure too, so a plotting failure still leaves the verdicts
    write_json(out / "crosscheck.json", report)
    figs = save_figure(plot_crosscheck(data, theory, verdicts), out / "crosscheck")
    report["paths"]["figure"] = figs[0]
    write_json(out / "crosscheck.json", report)
    return report
