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
