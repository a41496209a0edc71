"""examples/tutorial.ipynb runs top to bottom (TINY = True) in a fresh kernel of this interpreter,
in a temporary working directory, and is committed with its outputs stripped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("torch")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"
CELL_TIMEOUT_S = 300


def test_the_committed_notebook_has_no_outputs_and_starts_tiny():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert code[0].source.startswith("TINY = True")
    assert not any("matplotlib.use" in c.source for c in code)


def test_the_notebook_executes_without_an_error(tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel must be this interpreter (jupyter_client puts sys.executable for "python").
    check = f"import sys; assert sys.prefix == {sys.prefix!r}, sys.prefix"
    nb.cells.insert(0, nbformat.v4.new_code_cell(check))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook's %matplotlib inline decides
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "display_data" and "image/png" in o.get("data", {})
    ]
    assert len(images) == 4  # (a) the crossover, (b) the SFM, (c) the training, (f) the shipped run
    assert not any(tmp_path.iterdir())  # every run folder went to the notebook's own temp dir
