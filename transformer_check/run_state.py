"""The state of a training run behind one small protocol: one model, or a vmapped stack of seeds.

The training loop (:mod:`transformer_check.train`) only calls :meth:`RunState.update`, reads the
per-seed models to log (:meth:`RunState.models`), serialises seed ``i`` with
:meth:`RunState.state_tensors` and restores with :meth:`RunState.restore`. Every checkpoint is in
the single-run format whichever implementation wrote it, so any seed folder can be resumed or
measured alone.

:class:`BatchedRun` stacks the parameters of ``S`` same-shaped transformers (``torch.func.vmap``
over a leading seed axis). The loss is the sum over seeds of each seed's loss, so each slice gets
exactly its own gradient, and AdamW (elementwise, weight decay included) updates each slice as a
separate optimizer would: without weight noise a batched run follows the separate runs up to
floating-point reassociation in the batched matmuls. With weight noise the draws come from one
generator for the stack, so seeds are statistically, not bitwise, equivalent to separate runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from theory.base.errors import InputError
from transformer_check.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from transformer_check.config import TrainConfig
from transformer_check.data import ModularDataset
from transformer_check.measures.spectral import spectral_entropy_penalty
from transformer_check.model import Transformer

__all__ = [
    "RunState",
    "SingleRun",
    "BatchedRun",
    "BatchedModel",
    "NonFiniteLoss",
    "lr_at",
    "load_params",
]

Tensors = dict[str, torch.Tensor]

NOISE_SEED_OFFSET = 7919  # the weight-noise generator is seeded seed + this (a prime)


def lr_at(cfg: TrainConfig, update: int) -> float:
    """Linear warm-up over ``cfg.warmup`` updates, then constant (definitions §4.2)."""
    if cfg.warmup <= 0:
        return cfg.lr
    return cfg.lr * min(1.0, (update + 1) / cfg.warmup)


class NonFiniteLoss(Exception):
    """The training loss of the model at ``step`` (``seed``, when known) is NaN or infinite."""

    def __init__(self, step: int, seed: int | None = None) -> None:
        super().__init__(f"non-finite training loss at step {step}")
        self.step, self.seed = step, seed


def load_params(model: Transformer, tensors: Mapping[str, torch.Tensor]) -> None:
    """Copy the ``param.<name>`` tensors of a checkpoint into ``model``."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            key = f"param.{n}"
            if key not in tensors or tensors[key].shape != p.shape:
                raise InputError(
                    f"checkpoint: parameter {n} missing or of another shape; was it written by "
                    "this model?"
                )
            p.copy_(tensors[key].to(p.device, p.dtype))


class RunState(ABC):
    """Models, optimizer and noise generator of one run, at update count :attr:`step`."""

    command = "transformer_check train"  # the provenance command of its summaries

    def __init__(self, cfgs: Sequence[TrainConfig], ds: ModularDataset, device: torch.device):
        self.cfgs = list(cfgs)  # one per seed; they differ only in ``seed``
        self.cfg = self.cfgs[0]
        self.device = device
        self.dsd = ds.to(device)
        self.step = 0
        self.opt: torch.optim.Optimizer
        self.noise_gen = torch.Generator(device=device).manual_seed(
            self.cfg.seed + NOISE_SEED_OFFSET
        )
        # first update whose loss was not finite (-1: none), kept on the device so that
        # checking every step costs no host synchronisation; read by check_finite()
        self._bad = torch.full((), -1, dtype=torch.long, device=device)
        self._step_t = torch.zeros((), dtype=torch.long, device=device)

    def _amp(self) -> bool:
        return self.cfg.amp and self.device.type == "cuda"

    def update(self) -> None:
        """One full-batch AdamW update (warm-up learning rate of this step)."""
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.cfg, self.step)
        self.opt.zero_grad(set_to_none=True)
        try:
            loss = self.loss()
        except torch.linalg.LinAlgError:  # the eq. 16 penalty's SVD of non-finite weights
            raise NonFiniteLoss(self.step) from None
        self._step_t.fill_(self.step)
        bad = (self._bad < 0) & ~torch.isfinite(loss.detach())
        self._bad = torch.where(bad, self._step_t, self._bad)
        loss.backward()
        self.opt.step()
        self.step += 1

    def check_finite(self) -> None:
        """Raise :class:`NonFiniteLoss` if any update so far had a NaN or infinite loss."""
        bad = int(self._bad)
        if bad >= 0:
            raise NonFiniteLoss(bad)

    @abstractmethod
    def loss(self) -> torch.Tensor:
        """The training objective (summed over seeds) at the current weights."""

    @abstractmethod
    def models(self) -> list[Transformer]:
        """One module per seed holding that seed's current weights (for logging and saving)."""

    @abstractmethod
    def state_tensors(self, i: int) -> tuple[Tensors, dict[str, Any]]:
        """Seed ``i``'s parameters, AdamW tensors and noise RNG; the optimizer's JSON part."""

    @abstractmethod
    def restore(self, tensors: Sequence[Mapping[str, torch.Tensor]], metas: Sequence[dict]) -> None:
        """Load one full checkpoint per seed (already checked against the configuration)."""

    @abstractmethod
    def summary_fields(self, elapsed: float) -> dict[str, Any]:
        """The summary.json keys after ``device``."""

    def checkpoint_fields(self) -> dict[str, Any]:
        """Extra keys of a full checkpoint's JSON."""
        return {}


class SingleRun(RunState):
    """One model trained on its own."""

    def __init__(self, cfg: TrainConfig, ds: ModularDataset, device: torch.device) -> None:
        super().__init__([cfg], ds, device)
        self.model = Transformer.from_seed(cfg.model_config(ds), cfg.seed).to(device)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )
        self.n_train, self.n_test = ds.n_train, ds.n_test

    def loss(self) -> torch.Tensor:
        cfg, model = self.cfg, self.model
        x, y = self.dsd.train_x, self.dsd.train_y
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self._amp()):
            if (
                cfg.weight_noise > 0
            ):  # DeMoss et al. (2024) eq. 10: forward at theta + delta N(0, 1)
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
        if cfg.spectral_reg > 0:  # DeMoss et al. (2024) eq. 16
            loss = loss + cfg.spectral_reg * spectral_entropy_penalty(model.named_weight_matrices())
        return loss

    def models(self) -> list[Transformer]:
        return [self.model]

    def state_tensors(self, i: int) -> tuple[Tensors, dict[str, Any]]:
        t = {f"param.{n}": p for n, p in self.model.named_parameters()}
        otens, meta = optimizer_to_tensors(self.opt)
        t.update(otens)
        t["rng.noise"] = self.noise_gen.get_state()
        return t, meta

    def restore(self, tensors: Sequence[Mapping[str, torch.Tensor]], metas: Sequence[dict]) -> None:
        load_params(self.model, tensors[0])
        optimizer_from_tensors(self.opt, tensors[0], metas[0]["optimizer"])
        self.noise_gen.set_state(tensors[0]["rng.noise"])

    def summary_fields(self, elapsed: float) -> dict[str, Any]:
        return {
            "train_seconds": elapsed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_params": sum(p.numel() for p in self.model.parameters()),
        }


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
        """Per-seed mean spectral entropy ``[S]`` (DeMoss et al. (2024) eq. 16 / beta)."""
        return self._penv(self.params)

    @torch.no_grad()
    def write_into(self, i: int, model: Transformer) -> Transformer:
        """Copy seed ``i``'s slice into ``model`` (a same-shaped module) and return it."""
        for n, p in model.named_parameters():
            p.copy_(self.params[n][i])
        return model


class BatchedRun(RunState):
    """Several seeds of one configuration as one vmapped model and one AdamW."""

    command = "transformer_check train --seeds"

    def __init__(
        self, cfgs: Sequence[TrainConfig], ds: ModularDataset, device: torch.device
    ) -> None:
        super().__init__(cfgs, ds, device)
        mcfg = self.cfg.model_config(ds)
        self._models = [Transformer.from_seed(mcfg, c.seed).to(device) for c in self.cfgs]
        self.bm = BatchedModel(self._models)
        cfg = self.cfg
        self.opt = torch.optim.AdamW(
            [self.bm.params[n] for n in self.bm.names],
            lr=cfg.lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
        )
        self.n_train, self.n_test = ds.n_train, ds.n_test

    def loss(self) -> torch.Tensor:
        cfg, params = self.cfg, self.bm.params
        x, y = self.dsd.train_x, self.dsd.train_y
        if cfg.weight_noise > 0:  # DeMoss et al. (2024) eq. 10, one draw for the whole stack
            params = {
                n: p
                + cfg.weight_noise * torch.randn(p.shape, generator=self.noise_gen, device=p.device)
                for n, p in params.items()
            }
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self._amp()):
            loss = self.bm.losses(x, y, params).sum()
        if cfg.spectral_reg > 0:  # DeMoss et al. (2024) eq. 16
            loss = loss + cfg.spectral_reg * self.bm.penalties().sum()
        return loss

    def models(self) -> list[Transformer]:
        return [self.bm.write_into(i, m) for i, m in enumerate(self._models)]

    def state_tensors(self, i: int) -> tuple[Tensors, dict[str, Any]]:
        t = {f"param.{n}": self.bm.params[n][i] for n in self.bm.names}
        otens, meta = optimizer_to_tensors(self.opt)
        # moments carry the seed axis; AdamW's step counter is one scalar for the stack
        t.update({k: (v[i] if v.dim() > 0 else v) for k, v in otens.items()})
        t["rng.noise"] = self.noise_gen.get_state()
        return t, meta

    def restore(self, tensors: Sequence[Mapping[str, torch.Tensor]], metas: Sequence[dict]) -> None:
        with torch.no_grad():
            for n in self.bm.names:
                self.bm.params[n].copy_(torch.stack([t[f"param.{n}"] for t in tensors]))
        stacked = {}
        for key, v in tensors[0].items():
            if key.startswith("opt."):
                stacked[key] = torch.stack([t[key] for t in tensors]) if v.dim() > 0 else v
        optimizer_from_tensors(self.opt, stacked, metas[0]["optimizer"])
        self.noise_gen.set_state(tensors[0]["rng.noise"])

    def summary_fields(self, elapsed: float) -> dict[str, Any]:
        return {
            "train_seconds_all_seeds": elapsed,
            "batched_seeds": self.bm.n,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }

    def checkpoint_fields(self) -> dict[str, Any]:
        return {"batched_seeds": [c.seed for c in self.cfgs]}
