"""The skeletons, executed: exactly the cells the builder tagged raise, and each check fails usefully.

(nbval, run by `make test`, re-executes both variants and compares the solutions' tagged outputs;
this test adds what nbval cannot: that a tagged cell really fails, like `nbgrader validate --invert`.)
"""

import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from tools import authoring

EXERCISES = sorted(authoring.EXERCISES.glob("[0-9][0-9]_*.ipynb"))
needs_data = pytest.mark.skipif(
    not os.environ.get("COURSE_DATA_DIR") and not (authoring.ROOT / "data" / "MNIST" / "raw").is_dir(),
    reason="needs MNIST: set COURSE_DATA_DIR to a folder holding MNIST/raw")


@pytest.fixture(scope="module")
def data_env():
    return {k: v for k, v in os.environ.items() if k == "COURSE_DATA_DIR"}


@needs_data
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_skeleton_fails_exactly_where_tagged(path, monkeypatch, data_env):
    for key, value in data_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COURSE_MODE", "smoke")
    monkeypatch.delenv("COURSE_CACHE_DIR")  # share the project's cache (the classifier) with the nbval run
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    raised, tagged = set(), set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            raised.add(index)
        if "raises-exception" in cell.metadata.get("tags", []):
            tagged.add(index)
        if authoring.CHECK_CALL.search(cell.source):
            assert errors, f"check passed on the unfinished skeleton: {cell.source}"
            assert errors[0].ename == "CheckError", f"{cell.source}: {errors[0].ename}: {errors[0].evalue}"
            assert "not implemented yet" in errors[0].evalue
    assert raised == tagged, (f"cells that raised but are not tagged: {sorted(raised - tagged)}; "
                              f"tagged but ran clean: {sorted(tagged - raised)}")
    assert tagged, "a skeleton with no unfinished exercise"


def test_kernel_is_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] in (sys.executable, "python", "python3") or os.path.samefile(spec.argv[0], sys.executable)
