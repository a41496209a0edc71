"""Work several measures of one model share at one measure step (issue 18; definitions §4.3).

* the SVD of every weight matrix, ``U S V^T`` in float64 (:func:`weight_svds`): spectral entropy and
  effective rank (DeMoss et al. (2024) eqs. 12, 15) and the coarse-graining's truncations (eq. 13);
* the activation cache of one forward pass over all ``p^2`` inputs, train then test
  (:func:`all_inputs_cache`): activation sparsity (Golechha (2024)) and the ring geometry of the
  final residual (Zhang et al. (2026)).

:func:`~transformer_check.measures.registry.build_measures` makes one :class:`SharedWork` for the
measures it builds; a measure built alone computes the same values itself, with the same functions,
so its numbers do not depend on whether the work was shared. A value is reused only while the
model's parameters are the same tensors at the same ``_version`` (every in-place update, such as an
optimiser step, bumps it), and it is dropped once each of its users has taken it, so nothing outlives
the measure step that made it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["SVD", "weight_svds", "all_inputs", "all_inputs_cache", "SharedWork"]

# name -> (U, S, V^T) of one weight matrix, reduced (full_matrices=False), float64
SVD = dict[str, tuple[Tensor, Tensor, Tensor]]


@torch.no_grad()
def weight_svds(model: Any) -> SVD:
    """``U S V^T`` of each of ``model.named_weight_matrices()`` in float64 (singular values
    descending; Golub & Van Loan, *Matrix Computations* §2.4)."""
    return {
        name: torch.linalg.svd(m.detach().double(), full_matrices=False)
        for name, m in model.named_weight_matrices().items()
    }


def all_inputs(model: nn.Module, ds: Any) -> Tensor:
    """Every input of the task, the train split then the test split, on the model's device."""
    return torch.cat([ds.train_x, ds.test_x]).to(next(model.parameters()).device)


@torch.no_grad()
def all_inputs_cache(model: nn.Module, ds: Any) -> dict[str, Tensor]:
    """The activation cache (``model(x, cache=dict)``, docs/model_protocol.md) over
    :func:`all_inputs`."""
    cache: dict[str, Tensor] = {}
    model(all_inputs(model, ds), cache=cache)
    return cache


class SharedWork:
    """The shared SVDs and forward cache of one set of measures (module docstring).

    Parameters
    ----------
    svd_users, forward_users : int
        How many of the measures take the SVDs and the forward cache at each step; a value is
        released when that many have taken it for the same parameters.
    """

    def __init__(self, svd_users: int = 0, forward_users: int = 0) -> None:
        self.users = {"svd": svd_users, "forward": forward_users}
        self._params: tuple[Tensor, ...] = ()
        self._versions: tuple[int, ...] = ()
        self._values: dict[str, Any] = {}
        self._taken: dict[str, int] = {}

    def _same_state(self, model: nn.Module) -> bool:
        params = tuple(model.parameters())
        same = (
            len(params) == len(self._params)
            and all(a is b for a, b in zip(params, self._params, strict=True))
            and tuple(p._version for p in params) == self._versions
        )
        if not same:  # held, so a freed tensor's id can never alias a new one
            self._params, self._versions = params, tuple(p._version for p in params)
            self._values, self._taken = {}, {}
        return same

    def _take(self, what: str, key: Any, model: nn.Module, compute) -> Any:
        self._same_state(model)
        held = self._values.get(what)
        if held is None or held[0] is not key:
            held = (key, compute())
            self._values[what], self._taken[what] = held, 0
        self._taken[what] += 1
        if self._taken[what] >= self.users[what]:
            del self._values[what]  # every user has it: release the memory
        return held[1]

    def svd(self, model: Any) -> SVD:
        """:func:`weight_svds` of ``model``, computed once for its current parameters."""
        return self._take("svd", None, model, lambda: weight_svds(model))

    def forward(self, model: nn.Module, ds: Any) -> dict[str, Tensor]:
        """:func:`all_inputs_cache` of ``model`` on ``ds``, computed once for its parameters."""
        return self._take("forward", ds, model, lambda: all_inputs_cache(model, ds))
