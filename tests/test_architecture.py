"""The layer rules of docs/architecture.md hold, and the import-linter contracts can fail."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "sfm", "bdm", "transformer_check")
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _theory_formulas() -> set[str]:
    return {f"theory.{f.stem}" for f in (ROOT / "theory").glob("*.py") if f.stem != "__init__"}


def test_theory_formula_lists_name_every_theory_module_but_the_base():
    formulas = _theory_formulas()
    lists = [
        {m for m in c["forbidden_modules"] if m.startswith("theory.")}
        for c in _contracts()
        if c["type"] == "forbidden" and any(m.startswith("theory.") for m in c["forbidden_modules"])
    ]
    assert lists, "no contract forbids the theory formulas"
    for listed in lists:
        assert listed == formulas, f"update THEORY_FORMULAS in pyproject.toml: {formulas ^ listed}"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT, "--no-cache"], cwd=root, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", dst)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("bdm/engine.py", "import theory.crossover", "bdm imports only the base"),
        ("theory/base/io.py", "import sfm", "theory.base imports nothing"),
        ("theory/base/dispatch.py", "import transformer_check.cli", "theory.base imports nothing"),
        ("transformer_check/model.py", "import sfm.task", "transformer training imports bdm"),
        ("theory/base/errors.py", "import theory.rlct", "the formulas sit on the base"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree_copy, module, line, contract):
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # deliberate violation\n")
    try:
        res = _lint(tree_copy)
    finally:
        path.write_text(original)
    assert res.returncode != 0, res.stdout[-2000:]
    broken = res.stdout.split("Broken contracts")[-1]
    assert contract in broken, res.stdout[-2000:]


def test_the_tree_keeps_every_contract(tree_copy):
    res = _lint(tree_copy)
    assert res.returncode == 0, res.stdout[-3000:]


def test_no_transformer_check_file_is_over_450_lines():
    long = {
        str(f.relative_to(ROOT)): n
        for f in (ROOT / "transformer_check").rglob("*.py")
        if (n := len(f.read_text().splitlines())) > 450
    }
    assert not long, long


def _library_files():
    for pkg in PACKAGES:
        yield from (ROOT / pkg).rglob("*.py")


def test_library_code_never_switches_the_matplotlib_backend():
    sites = [
        f"{f.relative_to(ROOT)}:{i}"
        for f in _library_files()
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if re.search(r"matplotlib\.use\(", line)
    ]
    assert not sites, sites


def test_no_history_in_names():
    pattern = re.compile(r"\bpart[ -_]?[12]\b", re.IGNORECASE)
    files = [*_library_files(), *(ROOT / "tests").glob("*.py"), *(ROOT / "docs").glob("*.md")]
    hits = [
        f"{f.relative_to(ROOT)}:{i}"
        for f in files
        if f.name != "test_architecture.py"
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits
    assert not list((ROOT / "tests").glob("test_tc2_*.py"))
