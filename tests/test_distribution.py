"""The distribution: one version everywhere, ``--version`` on every CLI, the ``occam`` dispatcher,
its entry points, LICENSE and CITATION.cff (README, Install)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint, entry_points, metadata, version
from pathlib import Path

import pytest

import theory.base.dispatch as dispatch
from theory.base.version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "sfm", "bdm", "transformer_check")


def _py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )


def test_the_version_is_written_once_and_every_package_reports_it():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert version(DISTRIBUTION) == __version__, "reinstall: pip install --no-deps -e ."
    for pkg in PACKAGES:
        assert importlib.import_module(pkg).__version__ == __version__, pkg
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "theory.base.version.__version__"


def test_the_packages_import_without_torch_and_theory_stays_lazy():
    # None in sys.modules makes `import torch` fail as if torch were not installed.
    res = _py(
        "import sys; sys.modules['torch'] = None\n"
        "import theory, sfm, bdm, transformer_check\n"
        "print(theory.__version__, transformer_check.__version__, 'sympy' in sys.modules)"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == [__version__, __version__, "False"]


@pytest.mark.parametrize("pkg", PACKAGES)
def test_every_cli_prints_its_version(pkg):
    res = subprocess.run(
        [sys.executable, "-m", pkg, "--version"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == f"{pkg} ({DISTRIBUTION}) {__version__}\n"


def test_the_entry_points_name_each_package_main():
    eps = {ep.name: ep for ep in entry_points(group=dispatch.ENTRY_POINT_GROUP)}
    assert set(eps) == set(PACKAGES)
    for name, ep in eps.items():
        assert ep.value == f"{name}.cli:main"
        assert callable(ep.load())
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "occam"]
    assert script.load() is dispatch.main


def test_occam_version_and_help_list_the_four_packages(capsys):
    assert dispatch.main(["--version"]) == 0
    assert capsys.readouterr().out == f"occam ({DISTRIBUTION}) {__version__}\n"
    assert dispatch.main(["--help"]) == 0
    out = capsys.readouterr().out
    for pkg in PACKAGES:
        (row,) = [line for line in out.splitlines() if line.split()[:1] == [pkg]]
        assert len(row.split()) > 3, row  # a summary, read from the package's docstring
    assert dispatch.main([]) == 2


@pytest.mark.parametrize("argv", [["nope"], ["--bogus"], ["theroy", "crossover"]])
def test_an_unknown_package_or_option_is_one_line_and_exit_2(capsys, argv):
    assert dispatch.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("occam: error:") and repr(argv[0]) in lines[0]


def test_the_dispatcher_runs_a_package_command_in_process(tmp_path, capsys):
    out = tmp_path / "cross"
    assert dispatch.main(["theory", "crossover", "--p", "97", "--out", str(out)]) == 0
    record = json.loads((out / "crossover.json").read_text())
    assert "n*" in capsys.readouterr().out
    assert record["metadata"]["command"]  # the run folder policy of run_cli still applies


def test_a_dash_spells_the_same_package(capsys):
    assert dispatch.main(["transformer-check", "--version"]) == 0
    assert capsys.readouterr().out == f"transformer_check ({DISTRIBUTION}) {__version__}\n"
    with pytest.raises(SystemExit) as exc:  # the package's own parser: `train --help` exits 0
        dispatch.main(["transformer-check", "train", "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m transformer_check train")


def test_a_missing_dependency_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    leg = tmp_path / "fakeleg"
    leg.mkdir()
    (leg / "__init__.py").write_text('"""fakeleg: a leg whose CLI needs an absent module."""\n')
    (leg / "cli.py").write_text("import occam_absent_dependency\n\ndef main(argv):\n    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint("fakeleg", "fakeleg.cli:main", dispatch.ENTRY_POINT_GROUP)
    monkeypatch.setattr(dispatch, "commands", lambda: {"fakeleg": ep})
    assert dispatch.main(["fakeleg", "run"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "fakeleg needs 'occam_absent_dependency'" in line


def test_without_torch_occam_transformer_check_says_so_in_one_line():
    res = _py(
        "import sys; sys.modules['torch'] = None\n"
        "from theory.base.dispatch import main\n"
        "assert main(['transformer_check', '--version']) == 0\n"
        "raise SystemExit(main(['transformer_check', 'train']))"
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stdout == f"transformer_check ({DISTRIBUTION}) {__version__}\n"
    (line,) = res.stderr.splitlines()
    assert "transformer_check needs 'torch'" in line


def test_the_installed_console_script_runs_a_command(tmp_path):
    script = shutil.which("occam") or str(Path(sys.executable).with_name("occam"))
    if not Path(script).exists():
        pytest.skip("no `occam` console script installed (pip install -e .)")
    res = subprocess.run(
        [script, "theory", "crossover", "--p", "97", "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "c" / "crossover.json").is_file()


def test_license_and_citation_match_the_release():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 the occam authors" in license_text
    assert metadata(DISTRIBUTION)["License-Expression"] == "MIT"
    cff = (ROOT / "CITATION.cff").read_text()
    # Top-level keys start a line; a reference's own `version:` would be indented.
    assert re.findall(r"^version: *\"?([^\"\s]+)\"?$", cff, re.M) == [__version__]
    assert re.findall(r"^cff-version: *(\S+)$", cff, re.M) == ["1.2.0"]
    assert re.findall(r"^license: *(\S+)$", cff, re.M) == ["MIT"]
    for arxiv in ("2412.09810", "2310.05918", "2405.12755", "2603.29262"):
        assert f"arXiv:{arxiv}" in cff, arxiv
    yaml = pytest.importorskip("yaml")
    parsed = yaml.safe_load(cff)
    assert str(parsed["version"]) == __version__ and len(parsed["references"]) == 4


@pytest.mark.torch
def test_every_public_name_is_the_object_not_a_submodule():
    """A package attribute named like a submodule becomes the module once that submodule is
    imported; every exported name must survive importing the whole package."""
    pytest.importorskip("torch")
    import types

    for pkg in ("theory", "sfm", "bdm", "transformer_check"):
        package = importlib.import_module(pkg)
        for mod in pkgutil.walk_packages(package.__path__, f"{pkg}."):
            if not mod.name.endswith("__main__"):
                importlib.import_module(mod.name)
        for name in package.__all__:
            obj = getattr(package, name)
            assert not isinstance(obj, types.ModuleType), f"{pkg}.{name} is a module"


def test_transformer_check_without_torch_says_so_in_one_line():
    # None in sys.modules makes ``import torch`` fail as on a machine without torch
    code = (
        "import runpy, sys; sys.modules['torch'] = None; "
        "runpy.run_module('transformer_check', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "torch is not installed" in lines[0], proc.stderr
