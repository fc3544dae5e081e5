"""environment.yml (conda) and pyproject.toml (pip) list the same dependencies with the same bounds."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}


def _normalize(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    name = CONDA_NAMES.get(name.lower(), name.lower()).replace("_", "-")
    return name, spec.replace(" ", "")


def test_conda_and_pip_dependencies_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = dict(_normalize(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("\ndependencies:"):].splitlines():
        match = re.match(r"^  - ([A-Za-z].*)$", line)
        if match:
            name, spec = _normalize(match.group(1))
            if name not in ("python", "pip"):
                conda[name] = spec
    assert conda == pip


def test_conda_installs_the_package_itself():
    assert "- -e ." in (ROOT / "environment.yml").read_text()


# --- The notebooks' first cell on a machine without the course's package (Colab) ------------------------------

import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*/[0-9][0-9]_*.ipynb"))


def _install_block(path: Path) -> str:
    """The part of the notebook's first code cell that runs before anything imports ``course_utils``."""
    source = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("if importlib.util.find_spec(\"course_utils\")"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" "))
    assert not any("course_utils" in line and line.startswith(("import", "from")) for line in lines[:start]), \
        f"{path.name}: course_utils is imported before the install block"
    return "\n".join(lines[:end])


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """``course_utils`` unimportable, ``subprocess.run`` recording instead of running, cwd in a temp folder."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "course_utils" else real_find_spec(name, *a, **k))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)) or
                        subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    return calls, tmp_path


def test_every_notebook_has_the_same_install_block():
    blocks = {path.relative_to(ROOT).as_posix(): _install_block(path) for path in NOTEBOOKS}
    assert len(blocks) >= 12 and len(set(blocks.values())) == 1, blocks


@pytest.mark.parametrize("path", NOTEBOOKS[:1], ids=lambda p: p.stem)
def test_install_block_clones_and_installs_when_course_utils_is_missing(path, colab, monkeypatch):
    calls, tmp = colab
    monkeypatch.setenv("COURSE_REPO", "https://example.org/course.git")
    exec(compile(_install_block(path), path.name, "exec"), {})
    course = str(tmp / "course")
    assert [cmd for cmd, _ in calls] == [
        ["git", "clone", "--depth", "1", "https://example.org/course.git", course],
        [sys.executable, "-m", "pip", "install", "-q", "-e", course],
    ]
    assert all(kw.get("check") for _, kw in calls), "a failed clone or install must stop the cell"
    assert sys.path[0] == course


def test_install_block_reuses_an_existing_clone(colab, monkeypatch):
    calls, tmp = colab
    (tmp / "course").mkdir()
    monkeypatch.setenv("COURSE_REPO", "https://example.org/course.git")
    exec(compile(_install_block(NOTEBOOKS[0]), "cell", "exec"), {})
    assert [cmd[:4] for cmd, _ in calls] == [[sys.executable, "-m", "pip", "install"]]


def test_install_block_without_a_repository_says_what_to_set(colab, monkeypatch):
    calls, _ = colab
    monkeypatch.delenv("COURSE_REPO", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"%env COURSE_REPO="):
        exec(compile(_install_block(NOTEBOOKS[0]), "cell", "exec"), {})
    assert calls == []


def test_install_block_does_nothing_where_course_utils_is_installed(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setenv("COURSE_REPO", "https://example.org/course.git")
    exec(compile(_install_block(NOTEBOOKS[0]), "cell", "exec"), {})
    assert calls == []
