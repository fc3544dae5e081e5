"""Reproducibility, proven: a solution notebook executed twice in smoke mode gives the same outputs.

Each run has a fresh cache folder (nothing trained in the first run is reused by the second), the
outputs are normalised with nbval's own sanitizer and `tests/nbval_sanitize.cfg` (timings, devices,
addresses, progress bars), and widget model ids (random UUIDs) are masked. Everything else — printed
numbers, tables, figures (PNG bytes) — must be identical.
"""

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams, get_sanitize_patterns

from course_utils.data.fetch import find_mnist

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "solutions" / "01_vae_reparameterization.ipynb"
PATTERNS = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
DATA_DIR = os.environ.get("COURSE_DATA_DIR")  # read at import: the tests' fixture clears COURSE_* settings
WIDGET_ID = re.compile(r'"model_id": "[0-9a-f]{32}"')


def _sanitize(text: str) -> str:
    for regex, replace in PATTERNS:
        text = re.sub(regex, replace, text)
    return WIDGET_ID.sub('"model_id": "MODEL"', text)


def _outputs(nb) -> list[tuple[int, str]]:
    """``(cell index, sanitised JSON of its outputs)`` for every code cell."""
    result = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            outputs = [{k: v for k, v in o.items() if k != "execution_count"} for o in coalesce_streams(cell.outputs)]
            result.append((index, _sanitize(json.dumps(outputs, sort_keys=True))))
    return result


def _execute(path: Path, cache: Path, monkeypatch) -> list[tuple[int, str]]:
    monkeypatch.setenv("COURSE_MODE", "smoke")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return _outputs(nb)


def test_a_solution_run_twice_gives_identical_outputs(monkeypatch, tmp_path):
    if DATA_DIR:
        monkeypatch.setenv("COURSE_DATA_DIR", DATA_DIR)
    if find_mnist().location is None:
        pytest.skip("needs MNIST: run `make data` or set COURSE_DATA_DIR to a folder holding MNIST/raw")
    first = _execute(NOTEBOOK, tmp_path / "cache1", monkeypatch)
    second = _execute(NOTEBOOK, tmp_path / "cache2", monkeypatch)
    assert len(first) == len(second)
    assert sum(1 for _, text in first if '"image/png"' in text) >= 5, "no figures compared"
    for (index, a), (_, b) in zip(first, second):
        assert a == b, f"{NOTEBOOK.name}, cell {index}: the two runs differ\nfirst:  {a[:2000]}\nsecond: {b[:2000]}"


def test_the_comparison_ignores_timings_and_widget_ids_but_not_results():
    def notebook(text: str, model_id: str):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text[:9]),
                        nbformat.v4.new_output("stream", name="stdout", text=text[9:]),
                        nbformat.v4.new_output("display_data", data={
                            "application/vnd.jupyter.widget-view+json": {"model_id": model_id}})]
        nb.cells = [cell]
        return _outputs(nb)

    same = notebook("trained 1 epochs in 3 s, test ELBO -223.6", "a" * 32)
    assert same == notebook("trained 1 epochs in 41 s, test ELBO -223.6", "b" * 32)
    assert same != notebook("trained 1 epochs in 3 s, test ELBO -223.7", "a" * 32)
