"""Test-session settings shared by every test module."""

import importlib
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples on every run (a failure there is reproducible from the log);
# local runs keep exploring new random examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _isolated_table_cache(tmp_path_factory):
    """Converted CTM tables go to one per-session folder, never the user's ~/.cache (definitions §3.1)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OCCAM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bdm-cache"))
    mp.setenv("MPLBACKEND", "Agg")
    yield
    mp.undo()


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def import_benchmark():
    """``import_benchmark("bench_sfm")``: a script of benchmarks/ as a module (the scripts import
    their sibling ``_evidence`` by name, so that folder goes on ``sys.path``)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without CUDA, for the refusals of the GPU benchmarks."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
