"""Several seeds trained together as one batched model (``torch.func.vmap`` over stacked weights).

Every parameter gets a leading seed axis; the loss is the sum over seeds of each seed's loss, so
each slice receives exactly its own gradient, and AdamW (elementwise, weight decay included)
updates each slice exactly as a separate optimizer would. Without weight noise a batched run
therefore follows the per-seed runs of :func:`transformer_check.train.train` up to floating-point
reassociation in the batched matmuls; with weight noise the draws come from one generator for the
stack, so seeds are statistically, not bitwise, equivalent to separate runs.

Each seed gets its own folder ``seed_<s>/`` in the single-run layout (metrics.csv, summary.json,
training.png, checkpoints/last in the single-run format: each can be resumed or measured alone).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from theory.base.errors import InputError
from theory.base.io import write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.checkpoint import load_checkpoint, save_checkpoint
from transformer_check.data import make_dataset
from transformer_check.measures.basic import basic_metrics
from transformer_check.measures.spectral import spectral_entropy_penalty
from transformer_check.model import Transformer
from transformer_check.train import (
    MeasureFn,
    TrainConfig,
    TrainResult,
    _flat_row,
    _measure_fns,
    _title,
    detect_events,
    log_schedule,
    lr_at,
    resolve_device,
    train,
)

__all__ = ["train_seeds", "BatchedModel"]


class _Penalty(nn.Module):
    """Wraps a model so ``functional_call`` can evaluate the eq. 16 penalty of given weights."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.m = model

    def forward(self) -> torch.Tensor:
        return spectral_entropy_penalty(self.m.named_weight_matrices())


class BatchedModel:
    """Stacked parameters ``[S, ...]`` of ``S`` same-shaped transformers and a vmapped loss."""

    def __init__(self, models: Sequence[Transformer]) -> None:
        self.base = models[0]
        self.names = [n for n, _ in self.base.named_parameters()]
        self.params = {
            n: torch.stack(
                [dict(m.named_parameters())[n].detach() for m in models]
            ).requires_grad_()
            for n in self.names
        }
        self._pen = _Penalty(self.base)

        def ce(p, x, y):
            return F.cross_entropy(functional_call(self.base, p, (x,)).float(), y)

        def pen(p):
            return functional_call(self._pen, {f"m.{k}": v for k, v in p.items()}, ())

        self._ce = vmap(ce, in_dims=(0, None, None))
        self._penv = vmap(pen)

    @property
    def n(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def losses(self, x: torch.Tensor, y: torch.Tensor, params=None) -> torch.Tensor:
        """Per-seed training cross-entropy ``[S]``."""
        return self._ce(self.params if params is None else params, x, y)

    def penalties(self) -> torch.Tensor:
        """Per-seed mean spectral entropy ``[S]`` (paper 001 eq. 16 / beta)."""
        return self._penv(self.params)

    @torch.no_grad()
    def write_into(self, i: int, model: Transformer) -> Transformer:
        """Copy seed ``i``'s slice into ``model`` (a same-shaped module) and return it."""
        for n, p in model.named_parameters():
            p.copy_(self.params[n][i])
        return model


def train_seeds(
    cfg: TrainConfig,
    seeds: Sequence[int],
    out_dir: str | Path,
    measures: Mapping[str, MeasureFn] | Sequence[MeasureFn] | None = None,
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
    if batched == "auto":
        batched = resolve_device(cfg.device).type == "cuda"
    if not batched or len(seeds) == 1:
        return [
            train(
                dataclasses.replace(cfg, seed=s),
                out / f"seed_{s}",
                measures,
                progress,
                resume=resume,
                plot=plot,
                stop_after=stop_after,
            )
            for s in seeds
        ]
    return _train_batched(cfg, seeds, out, measures, progress, resume, plot, stop_after)


def _train_batched(
    cfg, seeds, out, measures, progress, resume, plot, stop_after
) -> list[TrainResult]:
    device = resolve_device(cfg.device)
    ds = make_dataset(cfg.task)
    dsd = ds.to(device)
    mcfg = cfg.model_config(ds)
    cfgs = [dataclasses.replace(cfg, seed=s) for s in seeds]
    models = [Transformer.from_seed(mcfg, s).to(device) for s in seeds]
    bm = BatchedModel(models)
    opt = torch.optim.AdamW(
        [bm.params[n] for n in bm.names], lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    gen = torch.Generator(device=device).manual_seed(seeds[0] + 7919)
    rows: list[list[dict[str, Any]]] = [[] for _ in seeds]
    step, elapsed = 0, 0.0
    dirs = [out / f"seed_{s}" for s in seeds]
    if resume:
        step, elapsed = _restore(bm, opt, gen, rows, dirs, cfgs)
    fns = _measure_fns(cfg, measures)
    measure_steps = set(log_schedule(cfg.steps, cfg.measure_points))
    eval_steps = set(log_schedule(cfg.steps, cfg.eval_points)) | measure_steps
    amp = cfg.amp and device.type == "cuda"

    def log(s: int) -> None:
        for i, m in enumerate(models):
            bm.write_into(i, m)
            m.eval()
            vals: dict[str, Any] = dict(basic_metrics(m, dsd))
            if s in measure_steps:
                for fn in fns.values():
                    vals.update(fn(m, dsd))
                if cfg.snapshots:
                    save_checkpoint(
                        dirs[i] / "checkpoints" / f"step_{s:07d}",
                        {f"param.{n}": p for n, p in m.named_parameters()},
                        {"kind": "weights", "step": s, "config": cfgs[i].to_dict()},
                    )
            rows[i].append(_flat_row(s, elapsed, vals))

    def save_all() -> None:
        sd = opt.state_dict()
        for i in range(len(seeds)):
            tensors = {f"param.{n}": bm.params[n][i] for n in bm.names}
            scalars: dict[str, dict] = {}
            for idx, st in sd["state"].items():
                for key, val in st.items():
                    if torch.is_tensor(val) and val.dim() > 0:
                        tensors[f"opt.{idx}.{key}"] = val[i]
                    elif torch.is_tensor(val):
                        tensors[f"opt.{idx}.{key}"] = val
                    else:
                        scalars.setdefault(str(idx), {})[key] = val
            tensors["rng.noise"] = gen.get_state()
            groups = [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
                for g in sd["param_groups"]
            ]
            state = {
                "kind": "full",
                "step": step,
                "config": cfgs[i].to_dict(),
                "optimizer": {"param_groups": groups, "scalars": scalars},
                "rows": rows[i],
                "elapsed_s": elapsed,
                "batched_seeds": seeds,
            }
            save_checkpoint(dirs[i] / "checkpoints" / "last", tensors, state)

    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, file=sys.stderr, desc="train")
    if step == 0:
        log(0)
    x, y = dsd.train_x, dsd.train_y
    last_stop = cfg.steps if stop_after is None else min(stop_after, cfg.steps)
    try:
        while step < last_stop:
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step)
            opt.zero_grad(set_to_none=True)
            params = bm.params
            if cfg.weight_noise > 0:
                params = {
                    n: p + cfg.weight_noise * torch.randn(p.shape, generator=gen, device=device)
                    for n, p in params.items()
                }
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                loss = bm.losses(x, y, params).sum()
            if cfg.spectral_reg > 0:
                loss = loss + cfg.spectral_reg * bm.penalties().sum()
            loss.backward()
            opt.step()
            step += 1
            elapsed += time.perf_counter() - t0
            bar.update(1)
            if step in eval_steps:
                log(step)
                accs = " ".join(f"{r[-1]['test_acc']:.2f}" for r in rows)
                bar.set_postfix(test_acc=accs, refresh=False)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_all()
    finally:
        bar.close()
    if step < cfg.steps:  # stopped as if killed: nothing more is written
        return [
            TrainResult(r, *detect_events(r), {}, c, None, ds)
            for r, c in zip(rows, cfgs, strict=True)
        ]
    save_all()
    return [
        _finish(cfgs[i], rows[i], dirs[i], models[i], bm, i, ds, device, elapsed, plot)
        for i in range(len(seeds))
    ]


def _finish(cfg, rows, d, model, bm, i, ds, device, elapsed, plot) -> TrainResult:
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    paths = {"metrics_csv": d / "metrics.csv", "summary_json": d / "summary.json"}
    write_csv(paths["metrics_csv"], rows, header=list(keys))
    t_mem, t_gen = detect_events(rows)
    write_json(
        paths["summary_json"],
        {
            "metadata": run_metadata("transformer_check train --seeds", cfg, seed=cfg.seed),
            "t_mem": t_mem,
            "t_gen": t_gen,
            "final": rows[-1],
            "device": str(device),
            "train_seconds_all_seeds": elapsed,
            "batched_seeds": bm.n,
            "n_train": ds.n_train,
            "n_test": ds.n_test,
        },
    )
    paths["checkpoint"] = d / "checkpoints" / "last.json"
    if plot:
        from transformer_check.plots import plot_run

        paths["figure"] = plot_run(rows, t_mem, t_gen, d / "training", title=_title(cfg))[0]
    bm.write_into(i, model)
    return TrainResult(rows, t_mem, t_gen, paths, cfg, model, ds)


def _restore(bm, opt, gen, rows, dirs, cfgs) -> tuple[int, float]:
    """Stack the per-seed ``last`` checkpoints back into the batched state."""
    metas, tens = [], []
    for d, c in zip(dirs, cfgs, strict=True):
        if not (d / "checkpoints" / "last.json").exists():
            raise InputError(f"resume: no checkpoint at {d / 'checkpoints' / 'last.json'}")
        t, m = load_checkpoint(d / "checkpoints" / "last")
        if TrainConfig.from_dict(m["config"]) != c:
            raise InputError(f"resume: {d} was written with a different configuration")
        tens.append(t)
        metas.append(m)
    steps = {int(m["step"]) for m in metas}
    if len(steps) != 1:
        raise InputError(
            f"resume: seeds stopped at different steps {sorted(steps)}; resume each alone"
        )
    with torch.no_grad():
        for n in bm.names:
            bm.params[n].copy_(torch.stack([t[f"param.{n}"] for t in tens]))
    state: dict[int, dict[str, Any]] = {}
    for key in tens[0]:
        if key.startswith("opt."):
            _, idx, k = key.split(".", 2)
            vals = [t[key] for t in tens]
            state.setdefault(int(idx), {})[k] = torch.stack(vals) if vals[0].dim() > 0 else vals[0]
    for idx, sc in metas[0]["optimizer"].get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = [dict(g, betas=tuple(g["betas"])) for g in metas[0]["optimizer"]["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    gen.set_state(tens[0]["rng.noise"])
    for i, m in enumerate(metas):
        rows[i].extend(m["rows"])
    return steps.pop(), float(metas[0].get("elapsed_s", 0.0))
