"""Running the crosscheck: the theory, SFM and transformer legs over seeds, the weight-decay
sweep, the verdicts per seed and pooled, and the files they are written to (definitions §4.4;
docs/crosscheck.md, docs/statistics.md).

Every transformer run (each seed's main run with every measure, and each seed's weight-decay
sweep runs) is one point of :mod:`theory.base.sweeps`, the machinery ``transformer_check sweep``
and ``sfm sweep`` run on: a Dask LocalCluster by default (or ``--scheduler``), one atomic record
per run in ``points/``, the run folders in ``runs/``, checkpoints that a killed crosscheck
continues from with ``--resume``. The SFM's seeds run in this process, as one batched call.

Outputs in the run directory: ``crosscheck.json`` (keys ``metadata, seeds, summary, pooled,
per_seed, events, theory, data, paths``; ``data`` holds every seed's series, so
``transformer_check decide`` re-decides without training), ``sfm_curves.csv``, ``sweeps.csv``,
``verdicts.csv`` and ``crosscheck.png/.svg``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from theory.base.sweeps import ClusterSpec
from theory.base.trajectory import Trajectory
from theory.predictions import TaskPredictions, task_predictions
from transformer_check.crosscheck.config import (
    CrosscheckConfig,
    base_weight_decay,
    seed_list,
    sfm_betas,
    sfm_configs,
    train_config,
)
from transformer_check.crosscheck.pooled import PooledVerdict, pool_verdicts, rules_for
from transformer_check.crosscheck.verdicts import (
    CrosscheckData,
    Sweep,
    Sweeps,
    Thresholds,
    Verdict,
)
from transformer_check.sweep import point_entry, run_train_points, train_point

__all__ = [
    "SFMLeg",
    "theory_leg",
    "sfm_leg",
    "transformer_points",
    "run_crosscheck",
    "decide_report",
    "data_to_json",
    "data_from_json",
]

Log = Callable[[str], None]


def theory_leg(cfg: CrosscheckConfig) -> TaskPredictions:
    """The theory's numbers for the task, at the SFM's gate strength (``cfg`` resolved)."""
    return task_predictions(cfg.p, cfg.sfm.beta, cfg.frac)


@dataclass(frozen=True)
class SFMLeg:
    """One seed of the SFM at the default beta and its beta sweep; ``curves`` are the raw
    columns that ``sfm_curves.csv`` is written from (integer columns stay integers there)."""

    seed: int
    trajectory: Trajectory
    curves: Mapping[str, np.ndarray]
    sweep: Sweep


def sfm_leg(cfg: CrosscheckConfig, seeds: Sequence[int] | None = None) -> list[SFMLeg]:
    """The SFM on the same task and its beta sweep for every seed, in one batched call."""
    from sfm import simulate

    seeds = list(seed_list(cfg) if seeds is None else seeds)
    betas = sfm_betas(cfg)
    res = simulate([c for s in seeds for c in sfm_configs(cfg, seed=s)])
    legs, i0 = [], betas.index(cfg.sfm.beta)
    for j, s in enumerate(seeds):
        ev = res.events[j * len(betas) : (j + 1) * len(betas)]
        b = j * len(betas) + i0
        sweep = Sweep(tuple(betas), tuple(e.t_gen for e in ev))
        legs.append(SFMLeg(s, res.trajectory(b), res.curves.column(b), sweep))
    return legs


def _wds(cfg: CrosscheckConfig) -> list[tuple[float, float]]:
    return [(m, base_weight_decay(cfg) * m) for m in cfg.train.wd_sweep]


def transformer_points(cfg: CrosscheckConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every transformer run: per seed the main run (multiple 1 of the weight decay, every
    measure, its rows kept) and the sweep's other weight decays (no measures)."""
    wds = _wds(cfg)
    if not any(m == 1.0 for m, _ in wds):
        wds = [(1.0, base_weight_decay(cfg)), *wds]
    pts = []
    for seed in seed_list(cfg):
        for m, wd in wds:
            main = m == 1.0
            labels = {"role": "main" if main else "sweep", "weight_decay": wd, "seed": seed}
            tc = train_config(cfg, wd, with_measures=main, seed=seed)
            pts.append(point_entry(train_point(labels, tc, keep_rows=main)))
    return pts


def _trajectory(rec: dict[str, Any]) -> Trajectory:
    return Trajectory.from_rows(
        _floats(rec["rows"]), {"t_mem": rec["t_mem"], "t_gen": rec["t_gen"]}
    )


def _floats(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows read back from JSON: the strict-JSON spellings of non-finite floats as floats."""
    special = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
    return [{k: special.get(v, v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


def _seed_data(
    cfg: CrosscheckConfig, records: Sequence[dict[str, Any]], legs: Sequence[SFMLeg]
) -> list[CrosscheckData]:
    """One :class:`CrosscheckData` per seed from the run records and the SFM legs."""
    out = []
    sweep_wds = [wd for _, wd in _wds(cfg)]
    for leg in legs:
        mine = [r for r in records if r["point"]["labels"]["seed"] == leg.seed]
        main = next(r for r in mine if r["point"]["labels"]["role"] == "main")
        t_gen = {r["point"]["labels"]["weight_decay"]: r["t_gen"] for r in mine}
        tc_sweep = Sweep(tuple(sweep_wds), tuple(t_gen[wd] for wd in sweep_wds))
        out.append(
            CrosscheckData(cfg.p, _trajectory(main), leg.trajectory, Sweeps(tc_sweep, leg.sweep))
        )
    return out


def run_crosscheck(
    cfg: CrosscheckConfig,
    out_dir: str | Path,
    th: Thresholds | None = None,
    progress: bool = True,
    command: str = "transformer_check crosscheck",
    cluster: ClusterSpec | None = None,
) -> dict[str, Any]:
    """Run the theory, SFM and transformer legs on every seed, decide the verdicts per seed and
    pooled, write JSON/CSV/figures (definitions §4.4; docs/crosscheck.md, docs/statistics.md).

    Finished runs in ``out_dir`` are reused, so a killed crosscheck continues.

    Parameters
    ----------
    cfg : CrosscheckConfig
        The task, the legs' settings, the seeds and the verdict thresholds.
    out_dir : str or Path
        The run directory: ``crosscheck.json``, ``sfm_curves.csv``, ``sweeps.csv``,
        ``verdicts.csv``, ``crosscheck.png/.svg``, ``points/`` and ``runs/``.
    th : Thresholds, optional
        Replaces ``cfg.thresholds`` when given.
    progress : bool, default True
        Show progress bars and warnings on stderr.
    command : str, default "transformer_check crosscheck"
        Recorded in the metadata.
    cluster : ClusterSpec, optional
        Runs the transformer points; default a Dask LocalCluster, or this process when
        ``cfg.train.parallel_sweep`` is off.

    Returns
    -------
    dict
        What ``crosscheck.json`` holds plus ``datas`` (one :class:`CrosscheckData` per seed),
        ``verdict_objects`` (per seed) and ``pooled_objects``.

    Raises
    ------
    InputError
        If the configuration is invalid (e.g. an unknown preset).

    References
    ----------
    Definitions §4.4 (the five predictions) and Zhang, Shen, Xiong, Dong (2026),
    arXiv:2603.29262 (the three condensations); docs/crosscheck.md.
    """
    from tqdm.auto import tqdm

    cfg = cfg.resolved()
    if th is not None:
        cfg = dataclasses.replace(cfg, thresholds=th)
    if cluster is None:
        cluster = ClusterSpec() if cfg.train.parallel_sweep else ClusterSpec("synchronous")
    out = Path(out_dir)
    t0 = time.perf_counter()
    stage = tqdm(total=4, desc="crosscheck", unit="stage", disable=not progress, position=0)
    log: Log = (lambda m: stage.set_postfix_str(m)) if progress else (lambda m: None)
    seeds = seed_list(cfg)
    log(f"theory + SFM on {len(seeds)} seed(s)")
    theory = theory_leg(cfg)
    legs = sfm_leg(cfg, seeds)
    stage.update(1)
    pts = transformer_points(cfg)
    log(f"{len(pts)} transformer runs")
    meta = run_metadata(command, {"crosscheck": cfg}, seed=cfg.seed, extra=cluster.describe())
    warn = (lambda m: print(f"crosscheck: warning: {m}", file=sys.stderr)) if progress else None
    records, n_resumed = run_train_points(
        pts, out, cluster, progress=progress, metadata=meta, warn=warn, desc="transformer runs"
    )
    stage.update(1)
    log("verdicts")
    datas = _seed_data(cfg, records, legs)
    per_seed = [d.decide(cfg.thresholds) for d in datas]
    pooled = pool_verdicts(per_seed, rules_for(cfg.thresholds), seeds)
    stage.update(1)
    log("figure")
    extra = {"seconds": time.perf_counter() - t0, "runs_resumed": n_resumed, **cluster.describe()}
    report = write_outputs(cfg, out, datas, legs, theory, per_seed, pooled, command, extra)
    stage.update(1)
    stage.close()
    report.update(datas=datas, verdict_objects=per_seed, pooled_objects=pooled)
    return report


def data_to_json(datas: Sequence[CrosscheckData], seeds: Sequence[int]) -> dict[str, Any]:
    """Every seed's series, events and sweeps: what :func:`data_from_json` decides again from."""

    def traj(t: Trajectory) -> dict[str, Any]:
        rows = [{k: (None if v != v else v) for k, v in r.items()} for r in t.to_rows()]
        return {"rows": rows, "events": dict(t.events)}

    def sweep(s: Sweep) -> dict[str, Any]:
        return {"strength": list(s.strength), "t_gen": list(s.t_gen)}

    return {
        "p": datas[0].p,
        "seeds": list(seeds),
        "per_seed": [
            {
                "transformer": traj(d.transformer),
                "sfm": traj(d.sfm),
                "sweeps": {"transformer": sweep(d.sweeps.transformer), "sfm": sweep(d.sweeps.sfm)},
            }
            for d in datas
        ],
    }


def data_from_json(data: Mapping[str, Any]) -> list[CrosscheckData]:
    """The inverse of :func:`data_to_json`."""

    def traj(d: Mapping[str, Any]) -> Trajectory:
        return Trajectory.from_rows(_floats(d["rows"]), d["events"])

    def sweep(d: Mapping[str, Any]) -> Sweep:
        return Sweep(tuple(d["strength"]), tuple(d["t_gen"]))

    return [
        CrosscheckData(
            int(data["p"]),
            traj(s["transformer"]),
            traj(s["sfm"]),
            Sweeps(sweep(s["sweeps"]["transformer"]), sweep(s["sweeps"]["sfm"])),
        )
        for s in data["per_seed"]
    ]


def decide_report(
    per_seed: Sequence[Sequence[Verdict]], pooled: Sequence[PooledVerdict], seeds: Sequence[int]
) -> dict[str, Any]:
    """The verdict blocks of ``crosscheck.json``: ``summary`` (pooled label, mean and interval),
    ``pooled`` and ``per_seed``."""
    return {
        "seeds": list(seeds),
        "summary": {pv.key: _summary(pv) for pv in pooled},
        "pooled": {pv.key: pv.to_dict() for pv in pooled},
        "per_seed": [
            {"seed": s, "verdicts": {v.key: dataclasses.asdict(v) | {"label": v.label} for v in vs}}
            for s, vs in zip(seeds, per_seed, strict=True)
        ],
    }


def _summary(pv: PooledVerdict) -> dict[str, Any]:
    d = pv.to_dict()
    keys = ("label", "mean", "ci", "fraction_holding", "n_holds", "n_decided", "n_seeds")
    return {k: d.get(k) for k in (*keys, "seeds_needed", "single_seed")}


def verdict_rows(
    per_seed: Sequence[Sequence[Verdict]], pooled: Sequence[PooledVerdict], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """``verdicts.csv``: one row per (prediction, seed), then the pooled row of each."""
    rows = [
        {"key": v.key, "seed": s, "value": v.value, "label": v.label}
        for s, vs in zip(seeds, per_seed, strict=True)
        for v in vs
    ]
    for pv in pooled:
        d = _summary(pv)
        ci = d["ci"] or (None, None)
        rows.append(
            {"key": pv.key, "seed": "pooled", "value": d["mean"], "label": d["label"],
             "ci_low": ci[0], "ci_high": ci[1], "n_holds": d["n_holds"],
             "seeds_needed": d["seeds_needed"]}
        )  # fmt: skip
    return rows


def write_outputs(
    cfg: CrosscheckConfig,
    out: Path,
    datas: Sequence[CrosscheckData],
    legs: Sequence[SFMLeg],
    theory: TaskPredictions,
    per_seed: Sequence[Sequence[Verdict]],
    pooled: Sequence[PooledVerdict],
    command: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """``sfm_curves.csv``, ``sweeps.csv``, ``verdicts.csv``, ``crosscheck.json`` and the figure."""
    from transformer_check.crosscheck.plots import plot_crosscheck

    seeds = [leg.seed for leg in legs]
    sfm_rows = [
        {"seed": leg.seed, **dict(zip(leg.curves, vals, strict=True))}
        for leg in legs
        for vals in zip(*leg.curves.values(), strict=True)
    ]
    write_csv(out / "sfm_curves.csv", sfm_rows)
    sweep_rows = [
        {"seed": s, "system": system, "strength": x, "t_gen": t}
        for s, d in zip(seeds, datas, strict=True)
        for system, sw in (("transformer", d.sweeps.transformer), ("sfm", d.sweeps.sfm))
        for x, t in zip(sw.strength, sw.t_gen, strict=True)
    ]
    write_csv(out / "sweeps.csv", sweep_rows)
    write_csv(out / "verdicts.csv", verdict_rows(per_seed, pooled, seeds))
    report: dict[str, Any] = {
        "metadata": run_metadata(command, {"crosscheck": cfg}, seed=cfg.seed, extra=dict(extra)),
        **decide_report(per_seed, pooled, seeds),
        "events": [
            {
                "seed": s,
                "transformer": {"t_mem": d.transformer.t_mem, "t_gen": d.transformer.t_gen},
                "sfm": {"t_mem": d.sfm.t_mem, "t_gen": d.sfm.t_gen},
            }
            for s, d in zip(seeds, datas, strict=True)
        ],  # fmt: skip
        "theory": dataclasses.asdict(theory),
        "data": data_to_json(datas, seeds),
        "paths": {"runs": out / "runs", "points": out / "points"},
    }
    # written before the figure too, so a plotting failure still leaves the verdicts
    write_json(out / "crosscheck.json", report)
    figs = save_figure(plot_crosscheck(datas, theory, pooled), out / "crosscheck")
    report["paths"]["figure"] = figs[0]
    write_json(out / "crosscheck.json", report)
    return report
