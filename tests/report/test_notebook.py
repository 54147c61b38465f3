"""notebooks/analysis.ipynb runs top to bottom on a results tree (nbclient), and says so
clearly when there are no results."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "analysis.ipynb"


def execute(results: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RASSIM_RESULTS", str(results))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=dict(os.environ))
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    markdown = "".join(
        o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})
    )
    return text + markdown, images


def test_notebook_draws_the_main_figures(results_tree, monkeypatch):
    text, images = execute(results_tree, monkeypatch)
    assert "5 result directories" in text
    # point comparison, recovery vs event survival, blast radius, latency CDF, downtime,
    # outcomes vs rate, recovery vs kernel share, memory by page size, timeline
    assert len(images) == 9
    assert "exit_to_user" in text and "compared with serror_fallback" in text  # a verdict
    assert "not drawn" not in text


def test_notebook_says_when_there_are_no_results(tmp_path, monkeypatch):
    text, images = execute(tmp_path / "nothing-here", monkeypatch)
    assert "No results to analyse" in text and "no such directory" in text
    assert images == []
