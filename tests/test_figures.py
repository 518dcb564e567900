"""Executed chapters carry their figures, whatever MPLBACKEND says (here: Agg, as in CI)."""

import os
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

import gaputils as gu

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


@pytest.mark.slow
def test_chapter_00_shows_every_figure_under_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("GAPUTILS_MODE", "smoke")
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path))
    monkeypatch.delenv("GAPUTILS_DATA")
    if gu.data.locate("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    nb = jupytext.read(CHAPTERS / "00_getting_started.py")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(CHAPTERS)}}).execute()
    plotting = [c for c in nb.cells if c.cell_type == "code" and "gu.plots." in c.source]
    assert len(plotting) >= 2
    for cell in plotting:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert images, f"no figure captured from:\n{cell.source}"
    assert os.environ["MPLBACKEND"] == "Agg"
