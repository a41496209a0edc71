"""Every doctest in theory's modules passes, and every public name of ``theory`` has one.

The examples in the docstrings are the API reference's (docs/api/) worked numbers; running them
here keeps those numbers true, and a new public function without an example fails the suite.
"""

from __future__ import annotations

import doctest
import importlib
import types
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    names = []
    for folder, package in ((ROOT / "theory", "theory"), (ROOT / "theory" / "base", "theory.base")):
        for f in sorted(folder.glob("*.py")):
            if f.stem == "__main__":  # importing it runs the command line
                continue
            names.append(package if f.stem == "__init__" else f"{package}.{f.stem}")
    return names


def _doctests(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder().find(module, module_name)
    return [t for t in tests if t.examples]


MODULES = _module_names()
WITH_EXAMPLES = [m for m in MODULES if _doctests(m)]


def test_the_module_list_finds_theory_and_its_base():
    # A wrong ROOT or glob would make every case below vanish instead of fail.
    assert {"theory.crossover", "theory.base.errors", "theory.base.io"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("module_name", WITH_EXAMPLES)
def test_doctests_pass(module_name: str) -> None:
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _doctests(module_name):
        runner.run(test, out=out.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(out)


@pytest.mark.parametrize("name", theory.__all__)
def test_every_public_name_has_an_example(name: str) -> None:
    import theory.crossover  # noqa: F401  (imports every formula module, as real use does)

    obj = getattr(theory, name)
    # a submodule named like a public function would shadow it once imported
    assert not isinstance(obj, types.ModuleType), f"theory.{name} is a module, not the object"
    examples = doctest.DocTestParser().get_examples(obj.__doc__ or "")
    assert examples, f"theory.{name} has no doctest in its docstring's Examples section"


def test_the_constants_written_into_the_api_reference_are_the_code_s():
    # Imported data has no docstring autodoc can find, so docs/api/theory.base.rst states it.
    from theory.base import GATE_CONVENTIONS, OPS

    page = (ROOT / "docs" / "api" / "theory.base.rst").read_text(encoding="utf-8")
    for name, value in (("OPS", OPS), ("GATE_CONVENTIONS", GATE_CONVENTIONS)):
        block = page.split(f".. py:data:: {name}\n", 1)[1]
        options = [line.strip() for line in block.split("\n\n", 1)[0].splitlines()]
        assert f":value: {value!r}" in options, name
