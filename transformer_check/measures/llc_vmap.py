"""Vectorised SGLD chains for the LLC (definitions §2.3): every chain advances in one computation.

The chains' sampled parameters are one flat leaf ``theta [C, d]`` (C chains, d sampled numbers).
A step evaluates the C losses in one call, ``torch.func.vmap`` of the loss over the chain
dimension (for a module: of ``torch.func.functional_call``), or the loss itself when it is
written for batched parameters (:meth:`.llc_rrr.RRRProblem.loss_of`). One backward pass of the
sum gives all C gradients, because the chains do not interact (``d sum_c L(theta_c) / d theta_c
= grad L(theta_c)``), and one fused update moves all of them. Shared by the chains and computed
once: ``L_n(w*)``, the data (closed over by the loss), the parameters outside the sampled subset
(fixed at w*). Each chain draws its own Gaussian noise and, when minibatching, its own rows, so
the chains stay independent and the spread across them is an honest standard error.

Parameter subsets (:func:`select_params`): comma-separated glob patterns over parameter names;
a pattern also matches every name below it (``blocks.0.attn`` matches ``blocks.0.attn.W_Q``), and
a trailing ``[i]`` keeps index ``i`` of the leading dimension only (for the attention weights
``W_Q/W_K/W_V/W_O`` of :mod:`transformer_check.model`: head ``i``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from theory.base.errors import InputError

__all__ = ["LossAt", "LLCTarget", "parse_selector", "select_params", "module_target", "run_chains"]

# ``loss_at(params, idx)``: mean per-sample loss of the training rows ``idx`` (None: all n).
LossAt = Callable[[dict[str, Tensor], Tensor | None], Tensor]

_ITEM = re.compile(r"^([A-Za-z0-9_.*?-]+)(?:\[(\d+)\])?$")
_NOISE_NUMBERS = 1 << 20  # Gaussian numbers drawn per call to the generator (steps x C x d)


def parse_selector(selector: str) -> list[tuple[str, int | None]]:
    """``"blocks.0.attn.W_*[1], unembed"`` -> ``[("blocks.0.attn.W_*", 1), ("unembed", None)]``.

    Raises
    ------
    InputError
        For an empty selector or an item that is not ``PATTERN`` or ``PATTERN[i]``.
    """
    items = [s.strip() for s in str(selector).split(",")]
    out: list[tuple[str, int | None]] = []
    for item in items:
        m = _ITEM.match(item)
        if not item or m is None:
            raise InputError(
                f"params: {item!r} in {selector!r} is not a name pattern such as 'blocks.0.attn' "
                "or 'blocks.0.attn.W_*[1]' (comma-separated)"
            )
        out.append((m.group(1), None if m.group(2) is None else int(m.group(2))))
    return out


def select_params(
    names: Mapping[str, Tensor], selector: str | None
) -> dict[str, tuple[str, int | None]]:
    """Sampled entries ``{key: (parameter name, leading index or None)}`` chosen by ``selector``.

    ``None`` selects every parameter. The key is the name, or ``name[i]`` for an index.

    Raises
    ------
    InputError
        If the selector matches no parameter, or an index is outside a parameter's first axis.
    """
    if selector is None:
        return {k: (k, None) for k in names}
    picked: dict[str, tuple[str, int | None]] = {}
    for pattern, index in parse_selector(selector):
        hits = [
            k
            for k in names
            if fnmatch.fnmatchcase(k, pattern) or fnmatch.fnmatchcase(k, pattern + ".*")
        ]
        if not hits:
            shown = ", ".join(list(names)[:8]) + (", ..." if len(names) > 8 else "")
            raise InputError(f"params: {pattern!r} matches no parameter; names are {shown}")
        for k in hits:
            size = names[k].shape[0] if names[k].dim() else 0
            if index is not None and index >= size:
                raise InputError(
                    f"params: index [{index}] is outside the first axis of {k} (shape "
                    f"{tuple(names[k].shape)}); use an index below {size}"
                )
            picked[k if index is None else f"{k}[{index}]"] = (k, index)
    whole = {name for name, i in picked.values() if i is None}
    return {k: v for k, v in picked.items() if v[1] is None or v[0] not in whole}


@dataclass
class LLCTarget:
    """What the chains sample: ``loss_at`` near ``w_star``, with everything the chains share.

    ``batched``: ``loss_at`` takes parameters with a leading chain dimension (and ``idx`` of
    shape ``[C, b]``) and returns ``[C]`` losses; otherwise it is vmapped over the chains.
    ``sampled`` maps each sampled key to (parameter name, leading index or None); parameters not
    sampled stay fixed at w*.
    """

    loss_at: LossAt
    w_star: dict[str, Tensor]
    n: int
    batched: bool
    sampled: dict[str, tuple[str, int | None]]
    init_loss: float  # L_n(w*) on the full training set, computed once

    @classmethod
    def build(
        cls,
        loss_at: LossAt,
        w_star: Mapping[str, Tensor],
        n: int,
        *,
        batched: bool = False,
        selector: str | None = None,
    ) -> LLCTarget:
        """Target of ``loss_at`` at ``w_star``; ``selector`` samples a subset (module doc)."""
        if int(n) < 2:
            raise InputError(f"n: the number of training samples must be >= 2, got {n}")
        w = {k: v.detach() for k, v in w_star.items()}
        if not w:
            raise InputError("params: no tensors given; pass a model or a dict of tensors")
        sampled = select_params(w, selector)
        with torch.no_grad():
            init_loss = float(loss_at(w, None))
        return cls(loss_at, w, int(n), batched, sampled, init_loss)

    def sampled_w_star(self) -> dict[str, Tensor]:
        """The sampled tensors at w*, by key."""
        return {
            k: self.w_star[nm] if i is None else self.w_star[nm][i]
            for k, (nm, i) in self.sampled.items()
        }

    def full(self, parts: dict[str, Tensor], n_chains: int | None) -> dict[str, Tensor]:
        """Every parameter: the sampled ``parts``, the rest at w*; sampled slices of a parameter
        are stacked with its fixed rows (along dim 1 with an explicit chain dim ``n_chains``)."""
        out = dict(self.w_star)
        rows: dict[str, dict[int, Tensor]] = {}
        for k, (nm, i) in self.sampled.items():
            if i is None:
                out[nm] = parts[k]
            else:
                rows.setdefault(nm, {})[i] = parts[k]
        for nm, picked in rows.items():
            w = self.w_star[nm]
            if n_chains is None:  # inside vmap: per-chain shapes
                out[nm] = torch.stack([picked.get(j, w[j]) for j in range(w.shape[0])])
            else:
                fixed = [w[j].expand(n_chains, *w[j].shape) for j in range(w.shape[0])]
                out[nm] = torch.stack([picked.get(j, fixed[j]) for j in range(w.shape[0])], 1)
        return out


class _Closure(nn.Module):
    """``forward(idx) = loss_fn(idx)`` with the model as a submodule, so that
    ``functional_call`` swaps the parameters the closure's ``model(...)`` calls use."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[Tensor | None], Tensor]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, idx: Tensor | None) -> Tensor:
        return self.loss_fn(idx)


def module_target(
    model: nn.Module, loss_fn: Callable[[Tensor | None], Tensor], n: int, selector: str | None
) -> LLCTarget:
    """Target of a module and a closure ``loss_fn(idx)`` that calls it (definitions §2.3)."""
    named = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if not named:
        raise InputError("params: the model has no trainable parameters to sample")
    wrapper = _Closure(model, loss_fn)

    def loss_at(params: dict[str, Tensor], idx: Tensor | None) -> Tensor:
        return functional_call(wrapper, {f"model.{k}": v for k, v in params.items()}, (idx,))

    return LLCTarget.build(loss_at, named, n, selector=selector)


def run_chains(
    target: LLCTarget,
    *,
    eps: float,
    gamma: float,
    nbeta: float,
    n_chains: int,
    n_total: int,
    batch_size: int | None,
    seed: int,
    progress: bool = False,
) -> np.ndarray:
    """Sampled losses ``[n_chains, n_total]`` of SGLD on the localised tempered posterior.

    Step (definitions §2.3; Welling & Teh 2011, Lau et al. 2023):
    ``w <- w - (eps/2)(n beta grad L_batch(w) + gamma (w - w*)) + N(0, eps I)``; the recorded loss
    of a step is the (minibatch) loss at which its gradient was taken. A chain that diverges
    records non-finite values from then on; once every chain has, sampling stops (rest NaN).
    """
    keys = list(target.sampled)
    w0s = target.sampled_w_star()
    dtypes = {w0s[k].dtype for k in keys}
    if len(dtypes) != 1:
        raise InputError(
            f"params: sampled tensors must share one dtype, got {sorted(map(str, dtypes))}"
        )
    shapes = [w0s[k].shape for k in keys]
    sizes = [w0s[k].numel() for k in keys]
    w0 = torch.cat([w0s[k].reshape(-1) for k in keys])
    dev, C, d = w0.device, int(n_chains), int(w0.numel())
    theta = w0.expand(C, d).clone().requires_grad_(True)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    minibatch = batch_size is not None and batch_size < target.n
    if target.batched:

        def losses_of(parts: dict[str, Tensor], idx: Tensor | None) -> Tensor:
            return target.loss_at(target.full(parts, C), idx)
    else:
        losses_of = vmap(
            lambda parts, idx: target.loss_at(target.full(parts, None), idx),
            in_dims=(0, 0 if minibatch else None),
        )
    h = 0.5 * eps
    trace = torch.full((C, n_total), math.nan, dtype=torch.float64)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_total, desc=f"SGLD x{C}", leave=False)
    noise = theta.new_empty(0)
    block = max(1, min(256, _NOISE_NUMBERS // (C * d)))  # steps of noise drawn at once
    for t in range(n_total):
        j = t % block
        if j == 0:
            if t and not bool(torch.isfinite(trace[:, t - 1]).any()):
                break  # every chain has diverged
            k = min(block, n_total - t)
            noise = torch.randn((k, C, d), generator=gen, device=dev, dtype=w0.dtype)
            noise.mul_(math.sqrt(eps))
        idx = (
            torch.randint(target.n, (C, batch_size), generator=gen, device=dev)
            if minibatch
            else None
        )
        parts = {
            k: v.view(C, *s) for k, v, s in zip(keys, theta.split(sizes, 1), shapes, strict=True)
        }
        losses = losses_of(parts, idx)
        (g,) = torch.autograd.grad(losses.sum(), theta)
        with torch.no_grad():
            # (1 - h gamma) w + h gamma w* - h n beta g + noise  ==  the step above
            theta.mul_(1.0 - h * gamma).add_(w0, alpha=h * gamma).add_(g, alpha=-h * nbeta)
            theta.add_(noise[j])
            trace[:, t] = losses.detach()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return trace.numpy()
