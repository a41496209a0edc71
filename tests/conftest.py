"""Test-session settings shared by every test module."""

import os

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
