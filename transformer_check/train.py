"""Full-batch AdamW training on modular arithmetic with complexity logging (definitions §4.2-§4.3).

One step = one AdamW update on the whole training set. Step ``s`` in the metrics is the model
after ``s`` updates (``s = 0`` is the initialisation). Loss/accuracy/L2 are logged on
``eval_points`` log-spaced steps, the complexity measures on a log-spaced subset of
``measure_points`` of them. Options: the spectral-entropy regulariser (DeMoss et al. (2024) eq. 16, mean over
matrices, definitions §4.2) and weight noise (DeMoss et al. (2024) eq. 10: forward and gradient at
``theta + delta N(0,1)``, update applied to ``theta``).

One loop (:class:`_Loop`) drives any :class:`~transformer_check.run_state.RunState`: a single
model (:func:`train`) or several seeds as one vmapped model (:func:`train_seeds`). It owns the
schedule, the measure calls, snapshots, checkpoints, resume checks and each seed's folder
(metrics.csv, summary.json, training.png/.svg, checkpoints/).

Before anything is allocated the run's memory is estimated (:mod:`transformer_check.memory`) and
a run that cannot fit is refused. At the first non-finite training loss the run stops: nothing
after the last finite checkpoint is saved, the metrics logged so far are written, and
:class:`TrainingDiverged` (an :class:`InputError`: one line, exit code 2 in the CLI) says at
which step and what to change.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theory.base.errors import InputError
from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.checkpoint import load_checkpoint, previous_of, save_checkpoint
from transformer_check.checkpoint_check import check_tensors, checked_config
from transformer_check.config import TrainConfig, TrainResult
from transformer_check.data import ModularDataset, make_dataset
from transformer_check.divergence import TrainingDiverged, diverged_error
from transformer_check.events import detect_events, log_schedule
from transformer_check.measures import MeasureFn, build_measures
from transformer_check.measures.basic import basic_metrics
from transformer_check.memory import check_fits
from transformer_check.model import ArchConfig, Transformer
from transformer_check.resume import compare_configs, note, resume_points
from transformer_check.run_state import (
    BatchedRun,
    NonFiniteLoss,
    RunState,
    SingleRun,
    load_params,
    lr_at,
)

__all__ = [
    "ArchConfig",
    "TrainConfig",
    "TrainResult",
    "MeasureFn",
    "log_schedule",
    "detect_events",
    "resolve_device",
    "lr_at",
    "train",
    "train_seeds",
    "load_model",
    "TrainingDiverged",
]

ExtraMeasures = Mapping[str, MeasureFn] | Sequence[MeasureFn] | None
# ``report(step, steps, what)``: live progress for a caller in another process (sweeps)
Report = Callable[[int, int, str], None] | None


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an input error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device: CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


def _build_measures(cfg: TrainConfig, extra: ExtraMeasures) -> dict[str, MeasureFn]:
    fns: dict[str, MeasureFn] = dict(build_measures(cfg.measures, cfg.measure_option_map()))
    if extra is None:
        return fns
    if isinstance(extra, Mapping):
        fns.update(extra)
    else:
        for i, f in enumerate(extra):
            fns[getattr(f, "__name__", f"extra{i}")] = f
    return fns


def _flat_row(step: int, wall: float, values: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"step": step, "wall_s": wall}
    for k, v in values.items():
        row[k] = v if isinstance(v, str) else float(v)
    return row


def _title(cfg: TrainConfig) -> str:
    t = cfg.task
    return (
        f"{cfg.preset or 'custom'}: a {t.op} b mod {t.p}, f={t.frac:g}, wd={cfg.weight_decay:g}, "
        f"lr={cfg.lr:g}, seed={cfg.seed}"
    )


class _Loop:
    """The schedule, logging and every file of a run; one folder per seed of ``run``."""

    def __init__(
        self, run: RunState, ds: ModularDataset, dirs: Sequence[Path], measures: ExtraMeasures
    ) -> None:
        self.run, self.ds, self.dirs = run, ds, list(dirs)
        self.cfg = run.cfg
        self.fns = _build_measures(self.cfg, measures)
        self.rows: list[list[dict[str, Any]]] = [[] for _ in self.dirs]
        self.elapsed = 0.0
        self.measure_steps = set(log_schedule(self.cfg.steps, self.cfg.measure_points))
        self.eval_steps = set(log_schedule(self.cfg.steps, self.cfg.eval_points))
        self.eval_steps |= self.measure_steps
        self.saved_step: int | None = None  # step of the newest full checkpoint on disk
        self.report: Report = None

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, i: int, stem: Path, model: Transformer | None = None) -> None:
        """A full checkpoint of seed ``i``, or a weights-only snapshot of ``model``."""
        run, rows = self.run, self.rows[i]
        full = model is None
        if full:
            tensors, opt_meta = run.state_tensors(i)
            extra = {
                "optimizer": opt_meta,
                "rows": rows,
                "elapsed_s": self.elapsed,
                **run.checkpoint_fields(),
            }
        else:
            tensors = {f"param.{n}": p for n, p in model.named_parameters()}
            extra = {"row": rows[-1] if rows else None}
        state = {
            "kind": "full" if full else "weights",
            "step": run.step,
            "config": run.cfgs[i].to_dict(),
            "device": str(run.device),
            **extra,
        }
        save_checkpoint(stem, tensors, state, keep_previous=full)

    def save_all(self) -> None:
        self.run.check_finite()  # a checkpoint never holds a diverged model
        for i, d in enumerate(self.dirs):
            self.save(i, d / "checkpoints" / "last")
        self.saved_step = self.run.step

    def restore(self) -> None:
        """Continue from the newest consistent checkpoint every seed has, refusing one written
        with a configuration that changes results; start from step 0 if there is none yet."""
        for d in self.dirs:
            if not (d / "checkpoints").exists() and any(d.glob("seed_*/checkpoints")):
                raise InputError(
                    f"resume: {d} holds a multi-seed run (seed_*/); resume it with the same "
                    "--seeds, or start a fresh run (--overwrite or a new --out)"
                )
        for d in self.dirs:  # temp files of a write that a kill -9 cut short
            for tmp in (d / "checkpoints").glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        points = resume_points(self.dirs)
        if points is None:
            note(f"resume: no checkpoint in {self.dirs[0]} yet; training from step 0")
            return
        tensors, metas, notes = [], [], set()
        for path, cfg in zip(points, self.run.cfgs, strict=True):
            t, meta = load_checkpoint(path)
            saved = checked_config(meta, path)
            check_tensors(t, saved, path, full=True)
            extra = compare_configs(
                saved, cfg, path, saved_device=meta.get("device"), now_device=str(self.run.device)
            )
            if extra:
                notes.add(extra)
            tensors.append(t)
            metas.append(meta)
        steps = {int(m["step"]) for m in metas}
        if len(steps) != 1:
            raise InputError(
                f"resume: seeds stopped at different steps {sorted(steps)}; resume each alone"
            )
        self.run.restore(tensors, metas)
        self.run.step = self.saved_step = steps.pop()
        self.rows = [list(m["rows"]) for m in metas]
        self.elapsed = float(metas[0].get("elapsed_s", 0.0))
        where = points[0] if len(points) == 1 else f"{len(points)} seeds' {points[0].name}"
        fallback = (
            " (the newest consistent checkpoint: last.safetensors was unusable or behind)"
            if points[0] == previous_of(points[0])
            else ""
        )
        msg = f"resume: continuing from {where} at step {self.run.step}{fallback}"
        note("; ".join([msg, *sorted(n.removeprefix("resume: ") for n in notes)]))

    # -- logging ---------------------------------------------------------------------------
    def log(self, step: int) -> None:
        measured = step in self.measure_steps
        dsd = self.run.dsd
        for i, model in enumerate(self.run.models()):
            model.eval()
            vals: dict[str, Any] = dict(basic_metrics(model, dsd))
            if not all(np.isfinite(float(vals[k])) for k in ("train_loss", "test_loss")):
                raise NonFiniteLoss(step, self.run.cfgs[i].seed)
            if measured:
                for fn in self.fns.values():
                    vals.update(fn(model, dsd))
            self.rows[i].append(_flat_row(step, self.elapsed, vals))
            model.train()
            if self.cfg.snapshots and measured:
                self.save(i, self.dirs[i] / "checkpoints" / f"step_{step:07d}", model)

    def write_metrics(self, i: int) -> Path:
        keys: dict[str, None] = {}
        for r in self.rows[i]:
            keys.update(dict.fromkeys(r))
        return write_csv(self.dirs[i] / "metrics.csv", self.rows[i], header=list(keys))

    def _postfix(self) -> dict[str, str]:
        if len(self.rows) == 1:
            r = self.rows[0][-1]
            return {
                "loss": f"{r['train_loss']:.3g}/{r['test_loss']:.3g}",
                "acc": f"{r['train_acc']:.3f}/{r['test_acc']:.3f}",
            }
        return {"test_acc": " ".join(f"{r[-1]['test_acc']:.2f}" for r in self.rows)}

    # -- the loop --------------------------------------------------------------------------
    def _log_shown(self, bar: Any, report: Report, step: int) -> None:
        """Log ``step``; the measure steps show as such, and their time stays out of the ETA
        (the bar's rate and ETA are the training steps')."""
        measuring = step in self.measure_steps
        if measuring:
            bar.set_postfix_str(f"measuring at step {step}")
        if report:
            report(step, self.cfg.steps, "measuring" if measuring else "training")
        self.log(step)
        if measuring:
            bar.unpause()

    def run_steps(self, progress: bool, stop_after: int | None) -> None:
        """Train to ``cfg.steps`` (or ``stop_after``), logging and checkpointing on schedule."""
        from tqdm import tqdm

        run, cfg, report = self.run, self.cfg, self.report
        bar = tqdm(
            total=cfg.steps,
            initial=run.step,
            disable=not progress,
            file=sys.stderr,
            desc="train",
            dynamic_ncols=True,
        )
        last_stop = cfg.steps if stop_after is None else min(stop_after, cfg.steps)
        try:
            if run.step == 0 and not self.rows[0]:
                self._log_shown(bar, report, 0)
            while run.step < last_stop:
                t0 = time.perf_counter()
                run.update()
                self.elapsed += time.perf_counter() - t0
                bar.update(1)
                if run.step in self.eval_steps:
                    run.check_finite()
                    self._log_shown(bar, report, run.step)
                    bar.set_postfix(self._postfix(), refresh=False)
                    if run.step in self.measure_steps:
                        for i in range(len(self.dirs)):
                            self.write_metrics(i)
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                    self.save_all()
            run.check_finite()
        except NonFiniteLoss as exc:
            self.diverged(exc)
        finally:
            bar.close()

    def diverged(self, exc: NonFiniteLoss) -> None:
        """Write what was logged and raise :class:`TrainingDiverged` saying what to change."""
        for i in range(len(self.dirs)):
            if self.rows[i]:
                self.write_metrics(i)
        where = self.dirs[0] if len(self.dirs) == 1 else self.dirs[0].parent
        raise diverged_error(self.cfg, exc, where, self.saved_step, len(self.dirs)) from None

    def results(self, finished: bool, plot: bool) -> list[TrainResult]:
        """Write each seed's folder (when ``finished``) and return one result per seed."""
        if finished:
            self.save_all()
        models = self.run.models()
        return [self._seed_result(i, models[i], finished, plot) for i in range(len(self.dirs))]

    def _seed_result(self, i: int, model: Transformer, finished: bool, plot: bool) -> TrainResult:
        d, rows, cfg = self.dirs[i], self.rows[i], self.run.cfgs[i]
        paths = {"metrics_csv": d / "metrics.csv", "summary_json": d / "summary.json"}
        t_mem, t_gen = detect_events(rows)
        if not finished:  # stopped as if killed: nothing more is written
            return TrainResult(rows, t_mem, t_gen, paths, cfg, model, self.ds)
        paths["checkpoint"] = d / "checkpoints" / "last.json"
        self.write_metrics(i)
        summary = {
            "metadata": run_metadata(self.run.command, cfg, seed=cfg.seed),
            "t_mem": t_mem,
            "t_gen": t_gen,
            "final": rows[-1],
            "device": str(self.run.device),
            **self.run.summary_fields(self.elapsed),
        }
        write_json(paths["summary_json"], summary)
        if plot:
            from transformer_check.plots import plot_run

            fig = plot_run(rows, t_mem, t_gen, title=_title(cfg))
            paths["figure"] = save_figure(fig, d / "training")[0]
        return TrainResult(rows, t_mem, t_gen, paths, cfg, model, self.ds)


def _drive(
    run: RunState,
    ds: ModularDataset,
    dirs: Sequence[Path],
    measures: ExtraMeasures,
    progress: bool,
    resume: bool,
    stop_after: int | None,
    plot: bool,
    report: Report = None,
) -> list[TrainResult]:
    loop = _Loop(run, ds, dirs, measures)
    loop.report = report
    if resume:
        loop.restore()
    loop.run_steps(progress, stop_after)
    return loop.results(finished=run.step >= run.cfg.steps, plot=plot)


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    measures: ExtraMeasures = None,
    progress: bool = True,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    plot: bool = True,
    report: Report = None,
) -> TrainResult:
    """Train one model, log metrics and measures, checkpoint, and write the run directory.

    Parameters
    ----------
    cfg : TrainConfig
        The run: task, model, AdamW schedule and measures (definitions §4.1-§4.3).
    out_dir : str or Path
        The run folder: metrics.csv, summary.json, training.png/.svg, checkpoints/.
    measures : mapping or sequence of MeasureFn, optional
        Extra ``f(model, dataset) -> dict[str, float]`` logged on the measure schedule (a
        mapping gives them names).
    progress, plot : bool, default True
        Show a progress bar; write the training figure.
    resume : bool, default False
        Continue from ``out_dir/checkpoints/last``.
    stop_after : int, optional
        Stop after that many total steps without a final save (a simulated kill).
    report : callable, optional
        ``report(step, steps, what)`` receives the progress at every logged step.

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        If it cannot fit in memory or resume; :class:`TrainingDiverged` at a non-finite loss.
    """
    device = resolve_device(cfg.device)
    check_fits(cfg, device)
    ds = make_dataset(cfg.task)
    run = SingleRun(cfg, ds, device)
    return _drive(run, ds, [Path(out_dir)], measures, progress, resume, stop_after, plot, report)[0]


def train_seeds(
    cfg: TrainConfig,
    seeds: Sequence[int],
    out_dir: str | Path,
    measures: ExtraMeasures = None,
    progress: bool = True,
    *,
    batched: bool | str = "auto",
    resume: bool = False,
    plot: bool = True,
    stop_after: int | None = None,
) -> list[TrainResult]:
    """Train ``cfg`` once per seed, as one vmapped model when ``batched`` (or ``"auto"`` on CUDA).

    ``"auto"`` batches only on a GPU: on the CPU the default model's full-batch matmuls already
    fill the core and the vmapped step measured 0.93x the looped one (benchmarks/
    bench_transformer.py). Results are in ``out_dir/seed_<s>``, in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"seeds: must be distinct non-negative integers, got {seeds}")
    out = Path(out_dir)
    if resume and (out / "checkpoints").exists():
        raise InputError(
            f"resume: {out} holds a single run (checkpoints/), not seed_*/ folders; resume it "
            "without --seeds, or start a fresh run (--overwrite or a new --out)"
        )
    dirs = [out / f"seed_{s}" for s in seeds]
    cfgs = [dataclasses.replace(cfg, seed=s) for s in seeds]
    device = resolve_device(cfg.device)
    if batched == "auto":
        batched = device.type == "cuda"
    if not batched or len(seeds) == 1:
        kw = dict(resume=resume, plot=plot, stop_after=stop_after)
        return [train(c, d, measures, progress, **kw) for c, d in zip(cfgs, dirs, strict=True)]
    check_fits(cfg, device, n_seeds=len(seeds))
    ds = make_dataset(cfg.task)
    run = BatchedRun(cfgs, ds, device)
    return _drive(run, ds, dirs, measures, progress, resume, stop_after, plot)


def load_model(
    checkpoint: str | Path, device: str = "cpu"
) -> tuple[Transformer, TrainConfig, ModularDataset, dict[str, Any]]:
    """Model, config, dataset and JSON state of any checkpoint (full, weights-only or an
    export); a damaged or inconsistent file is an :class:`InputError` naming it."""
    tensors, meta = load_checkpoint(checkpoint)
    cfg = checked_config(meta, checkpoint)
    check_tensors(tensors, cfg, checkpoint)
    device_ = resolve_device(device)
    ds = make_dataset(cfg.task)
    model = Transformer(cfg.model_config(ds)).to(device_)
    load_params(model, tensors)
    model.eval()
    return model, cfg, ds, meta
