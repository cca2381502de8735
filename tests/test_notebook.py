"""notebooks/quickstart.ipynb executes top to bottom (so it cannot rot)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    outputs = [str(cell.get("outputs")) for cell in nb.cells if cell.cell_type == "code"]
    assert any("Summary" in out for out in outputs)
