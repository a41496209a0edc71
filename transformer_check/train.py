"""Full-batch AdamW training on modular arithmetic with complexity logging (SPEC §4.2-§4.3).

One step = one AdamW update on the whole training set. Step ``s`` in the metrics is the model
after ``s`` updates (``s = 0`` is the initialisation). Loss/accuracy/L2 are logged on
``eval_points`` log-spaced steps, the complexity measures on a log-spaced subset of
``measure_points`` of them. Options: the spectral-entropy regulariser (paper 001 eq. 16, mean over
matrices, SPEC §4.2) and weight noise (paper 001 eq. 10: forward and gradient at
``theta + delta N(0,1)``, update applied to ``theta``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from theory.base.errors import InputError
from theory.base.io import write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.checkpoint import (
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from transformer_check.data import ModularDataset, TaskConfig, make_dataset
from transformer_check.measures import ALL_MEASURES, BUILTIN_MEASURES, get_measure
from transformer_check.measures.basic import basic_metrics
from transformer_check.measures.spectral import spectral_entropy_penalty
from transformer_check.model import ArchConfig, ModelConfig, Transformer

__all__ = [
    "ArchConfig",
    "TrainConfig",
    "TrainResult",
    "log_schedule",
    "detect_events",
    "resolve_device",
    "train",
    "load_model",
]

MeasureFn = Callable[[Any, ModularDataset], Mapping[str, Any]]

MEM_TRAIN_ACC = 0.99
MEM_TEST_ACC = 0.5
GEN_TEST_ACC = 0.99


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (SPEC §4.2 defaults)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ArchConfig = field(default_factory=ArchConfig)
    steps: int = 10_000
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: int = 10  # linear warm-up steps
    seed: int = 0  # model init and weight noise (the split has task.seed)
    spectral_reg: float = 0.0  # beta of paper 001 eq. 16
    weight_noise: float = 0.0  # delta of paper 001 eq. 10
    device: str = "auto"
    amp: bool = False  # bfloat16 autocast on CUDA
    eval_points: int = 200
    measure_points: int = 30
    measures: tuple[str, ...] = BUILTIN_MEASURES
    coarse_eps: float = 0.1
    coarse_budget: int = 24
    checkpoint_every: int = 1000
    snapshots: bool = True  # weights-only checkpoint at every measure step
    preset: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"steps: must be a positive integer, got {self.steps!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr: must be > 0, got {self.lr!r}")
        for name in ("weight_decay", "spectral_reg", "weight_noise", "coarse_eps"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise InputError(f"{name}: must be >= 0 and finite, got {v!r}")
        if not all(0 <= b < 1 for b in self.betas) or len(self.betas) != 2:
            raise InputError(f"betas: must be two numbers in [0, 1), got {self.betas!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"device: must be auto, cpu or cuda, got {self.device!r}")
        for name in ("eval_points", "measure_points", "checkpoint_every", "warmup"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise InputError(f"{name}: must be an integer >= 0, got {v!r}")
        bad = [m for m in self.measures if m not in ALL_MEASURES]
        if bad:
            raise InputError(f"measures: unknown {bad}; choose from {', '.join(ALL_MEASURES)}")

    def model_config(self, ds: ModularDataset) -> ModelConfig:
        """The full :class:`ModelConfig` for this task's vocabulary and sequence length."""
        return ModelConfig(
            vocab_size=ds.vocab_size,
            seq_len=ds.seq_len,
            d_vocab_out=ds.p,
            **dataclasses.asdict(self.model),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        d = dict(d)
        task = TaskConfig(**d.pop("task", {}))
        model = ArchConfig(**d.pop("model", {}))
        for key in ("betas", "measures"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(task=task, model=model, **d)


@dataclass
class TrainResult:
    """Metrics rows, events (``None`` when they did not occur) and output paths."""

    rows: list[dict[str, Any]]
    t_mem: int | None
    t_gen: int | None
    paths: dict[str, Path]
    config: TrainConfig
    model: Transformer | None = None
    dataset: ModularDataset | None = None


def log_schedule(steps: int, n: int) -> list[int]:
    """``0`` and ~``n`` log-spaced integer steps in ``[1, steps]`` (always including ``steps``)."""
    if n <= 0:
        return [0, steps]
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


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an input error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device: CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


def lr_at(cfg: TrainConfig, update: int) -> float:
    """Linear warm-up over ``cfg.warmup`` updates, then constant (SPEC §4.2)."""
    if cfg.warmup <= 0:
        return cfg.lr
    return cfg.lr * min(1.0, (update + 1) / cfg.warmup)


def _rng_tensors(gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {"rng.noise": gen.get_state()}


def _flat_row(step: int, wall: float, values: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"step": step, "wall_s": wall}
    for k, v in values.items():
        row[k] = v if isinstance(v, str) else float(v)
    return row


class _Run:
    """Mutable state of one run: model, optimizer, noise generator, rows."""

    def __init__(self, cfg: TrainConfig, ds: ModularDataset, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.ds = ds
        self.dsd = ds.to(device)
        self.model = Transformer.from_seed(cfg.model_config(ds), cfg.seed).to(device)
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=cfg.lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
        )
        self.noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 7919)
        self.step = 0
        self.rows: list[dict[str, Any]] = []
        self.elapsed = 0.0

    def loss(self) -> torch.Tensor:
        cfg, model = self.cfg, self.model
        x, y = self.dsd.train_x, self.dsd.train_y
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self._amp()):
            if cfg.weight_noise > 0:
                noisy = {
                    n: p
                    + cfg.weight_noise
                    * torch.randn(p.shape, generator=self.noise_gen, device=p.device, dtype=p.dtype)
                    for n, p in model.named_parameters()
                }
                logits = functional_call(model, noisy, (x,))
            else:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        if cfg.spectral_reg > 0:
            loss = loss + cfg.spectral_reg * spectral_entropy_penalty(model.named_weight_matrices())
        return loss

    def _amp(self) -> bool:
        return self.cfg.amp and self.device.type == "cuda"

    def update(self) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.cfg, self.step)
        self.opt.zero_grad(set_to_none=True)
        self.loss().backward()
        self.opt.step()
        self.step += 1

    def state_tensors(self) -> dict[str, torch.Tensor]:
        t = {f"param.{n}": p for n, p in self.model.named_parameters()}
        otens, self._opt_meta = optimizer_to_tensors(self.opt)
        t.update(otens)
        t.update(_rng_tensors(self.noise_gen))
        return t

    def save(self, stem: Path, full: bool) -> None:
        if full:
            tensors = self.state_tensors()
            extra = {"optimizer": self._opt_meta, "rows": self.rows, "elapsed_s": self.elapsed}
        else:
            tensors = {f"param.{n}": p for n, p in self.model.named_parameters()}
            extra = {"row": self.rows[-1] if self.rows else None}
        state = {
            "kind": "full" if full else "weights",
            "step": self.step,
            "config": self.cfg.to_dict(),
        }
        state.update(extra)
        save_checkpoint(stem, tensors, state)

    def restore(self, stem: Path) -> None:
        tensors, meta = load_checkpoint(stem)
        if meta.get("kind") != "full":
            raise InputError(
                f"resume: {stem} is a weights-only snapshot; resume from checkpoints/last"
            )
        if TrainConfig.from_dict(meta["config"]) != self.cfg:
            raise InputError(
                f"resume: {stem} was written with a different configuration; "
                "resume with the same options (or start a fresh --out)"
            )
        _load_params(self.model, tensors)
        optimizer_from_tensors(self.opt, tensors, meta["optimizer"])
        self.noise_gen.set_state(tensors["rng.noise"])
        self.step = int(meta["step"])
        self.rows = list(meta["rows"])
        self.elapsed = float(meta.get("elapsed_s", 0.0))


def _load_params(model: Transformer, tensors: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, p in model.named_parameters():
            key = f"param.{n}"
            if key not in tensors:
                raise InputError(
                    f"checkpoint: parameter {n} missing; was it written by this model?"
                )
            p.copy_(tensors[key].to(p.device, p.dtype))


def _measure_fns(cfg: TrainConfig, extra: Any) -> dict[str, MeasureFn]:
    fns: dict[str, MeasureFn] = {}
    for name in cfg.measures:
        opts = {"eps": cfg.coarse_eps, "budget": cfg.coarse_budget} if name == "compression" else {}
        fns[name] = get_measure(name, **opts)
    if extra is None:
        return fns
    if isinstance(extra, Mapping):
        fns.update(extra)
    else:
        for i, f in enumerate(extra):
            fns[getattr(f, "__name__", f"extra{i}")] = f
    return fns


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    measures: Mapping[str, MeasureFn] | Sequence[MeasureFn] | None = None,
    progress: bool = True,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    plot: bool = True,
) -> TrainResult:
    """Train one model, log metrics and measures, checkpoint, and write the run directory.

    ``measures``: extra ``f(model, dataset) -> dict[str, float]`` logged on the measure schedule
    (a mapping gives them names). ``resume`` continues from ``out_dir/checkpoints/last``.
    ``stop_after`` stops after that many total steps without a final save (a simulated kill).
    """
    out = Path(out_dir)
    ckdir = out / "checkpoints"
    device = resolve_device(cfg.device)
    ds = make_dataset(cfg.task)
    run = _Run(cfg, ds, device)
    fns = _measure_fns(cfg, measures)
    if resume:
        if not (ckdir / "last.json").exists():
            raise InputError(
                f"resume: no checkpoint at {ckdir / 'last.json'}; train without --resume"
            )
        run.restore(ckdir / "last")
    eval_steps = set(log_schedule(cfg.steps, cfg.eval_points))
    measure_steps = set(log_schedule(cfg.steps, cfg.measure_points))
    eval_steps |= measure_steps
    meta = run_metadata("transformer_check train", cfg, seed=cfg.seed)
    paths = {"metrics_csv": out / "metrics.csv", "summary_json": out / "summary.json"}

    def log(step: int) -> None:
        run.model.eval()
        vals: dict[str, Any] = dict(basic_metrics(run.model, run.dsd))
        if step in measure_steps:
            for fn in fns.values():
                vals.update(fn(run.model, run.dsd))
        run.rows.append(_flat_row(step, run.elapsed, vals))
        run.model.train()
        if cfg.snapshots and step in measure_steps:
            run.save(ckdir / f"step_{step:07d}", full=False)

    def write_metrics() -> None:
        keys: dict[str, None] = {}
        for r in run.rows:
            keys.update(dict.fromkeys(r))
        write_csv(paths["metrics_csv"], run.rows, header=list(keys))

    from tqdm import tqdm

    bar = tqdm(
        total=cfg.steps,
        initial=run.step,
        disable=not progress,
        file=sys.stderr,
        desc="train",
        dynamic_ncols=True,
    )
    if run.step == 0 and not run.rows:
        log(0)
    last_stop = cfg.steps if stop_after is None else min(stop_after, cfg.steps)
    try:
        while run.step < last_stop:
            t0 = time.perf_counter()
            run.update()
            run.elapsed += time.perf_counter() - t0
            bar.update(1)
            if run.step in eval_steps:
                log(run.step)
                r = run.rows[-1]
                bar.set_postfix(
                    loss=f"{r['train_loss']:.3g}/{r['test_loss']:.3g}",
                    acc=f"{r['train_acc']:.3f}/{r['test_acc']:.3f}",
                    refresh=False,
                )
                if run.step in measure_steps:
                    write_metrics()
            if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                run.save(ckdir / "last", full=True)
    finally:
        bar.close()
    if stop_after is not None and run.step < cfg.steps:
        return TrainResult(run.rows, *detect_events(run.rows), paths, cfg, run.model, ds)
    run.save(ckdir / "last", full=True)
    paths["checkpoint"] = ckdir / "last.json"
    write_metrics()
    t_mem, t_gen = detect_events(run.rows)
    summary = {
        "metadata": meta,
        "t_mem": t_mem,
        "t_gen": t_gen,
        "final": run.rows[-1],
        "device": str(device),
        "train_seconds": run.elapsed,
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "n_params": sum(p.numel() for p in run.model.parameters()),
    }
    write_json(paths["summary_json"], summary)
    if plot:
        from transformer_check.plots import plot_run

        paths["figure"] = plot_run(run.rows, t_mem, t_gen, out / "training", title=_title(cfg))[0]
    return TrainResult(run.rows, t_mem, t_gen, paths, cfg, run.model, ds)


def _title(cfg: TrainConfig) -> str:
    t = cfg.task
    return (
        f"{cfg.preset or 'custom'}: a {t.op} b mod {t.p}, f={t.frac:g}, wd={cfg.weight_decay:g}, "
        f"lr={cfg.lr:g}, seed={cfg.seed}"
    )


def load_model(
    checkpoint: str | Path, device: str = "cpu"
) -> tuple[Transformer, TrainConfig, ModularDataset, dict[str, Any]]:
    """Model, config, dataset and JSON state of any checkpoint (full or weights-only)."""
    tensors, meta = load_checkpoint(checkpoint)
    cfg = TrainConfig.from_dict(meta["config"])
    ds = make_dataset(cfg.task)
    model = Transformer(cfg.model_config(ds)).to(resolve_device(device))
    _load_params(model, tensors)
    model.eval()
    return model, cfg, ds, meta
