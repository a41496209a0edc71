"""The ``Examples`` sections of the legs' public API run as doctests (issue 16).

One case per module that carries examples, so a docstring whose printed value drifts from the
code fails here rather than in the rendered API reference. Values are printed rounded, so the
examples hold on every platform numpy and torch support.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

NUMPY_MODULES = (
    "sfm.basis",
    "sfm.task",
    "sfm.dynamics",
    "bdm.engine",
    "bdm.bitplane",
    "bdm.partition",
    "bdm.perturbation",
    "bdm.tables",
    "bdm.weights",
)
TORCH_MODULES = (
    "transformer_check.data",
    "transformer_check.model",
    "transformer_check.measures.registry",
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run(name: str) -> None:
    # import_module, not attribute access: ``bdm.perturbation`` is also the function of that name.
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, report=True, verbose=False)
    assert result.attempted > 0, f"{name}: no examples found; the module is listed here for them"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


@pytest.mark.parametrize("name", NUMPY_MODULES)
def test_examples_run(name: str) -> None:
    _run(name)


@pytest.mark.parametrize("name", TORCH_MODULES)
def test_torch_examples_run(name: str) -> None:
    pytest.importorskip("torch")
    _run(name)
