"""Test-session settings shared by every test module."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_table_cache(tmp_path_factory):
    """Converted CTM tables go to one per-session folder, never the user's ~/.cache (SPEC §3.1)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OCCAM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bdm-cache"))
    mp.setenv("MPLBACKEND", "Agg")
    yield
    mp.undo()
