"""What ``make test`` and ``make lab`` need, checked up front: the packages, a writable cache, the datasets.

``python -m course_utils.preflight test`` stops (exit status 1) with one message when something the
notebooks need is missing and cannot be had: a package of the virtual environment, a writable
``COURSE_CACHE_DIR``, or a dataset that is neither found (where the loaders look: ``COURSE_DATA_DIR``,
then ``data/``) nor downloadable (its server is probed with a short timeout). ``... preflight lab``
reports the same problems but stops only for the packages and the cache: JupyterLab opens, and the
notebooks that need a missing dataset stop at their data cell with the same advice.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import os
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Sequence

from .runtime import PROJECT_ROOT, cache_dir, data_dir

PACKAGES = {  # import name → what provides it (pyproject.toml)
    "test": ("torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "pytest", "nbval", "nbclient", "nbformat",
             "ipykernel", "matplotlib_inline"),
    "lab": ("torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "jupyterlab", "ipykernel"),
}
PROBE_TIMEOUT_S = 5.0


def missing_packages(purpose: str) -> list[str]:
    """The modules ``purpose`` (``test`` or ``lab``) needs that this interpreter cannot import."""
    return [name for name in PACKAGES[purpose] if importlib.util.find_spec(name) is None]


def cache_problem() -> str | None:
    """``None`` if the cache folder (``COURSE_CACHE_DIR``, default ``data/cache``) takes a file, else why not."""
    where = os.environ.get("COURSE_CACHE_DIR") or str(PROJECT_ROOT / "data" / "cache")
    try:
        with tempfile.NamedTemporaryFile(dir=cache_dir(), prefix=".write-test"):
            pass
    except OSError as err:
        return (f"the cache folder {where} is not writable ({err.strerror or err}): set COURSE_CACHE_DIR to a "
                "writable folder")
    return None


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` if the server of ``url`` answers within ``timeout`` seconds (any HTTP status), else the error."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except (OSError, ValueError) as err:
        return str(getattr(err, "reason", None) or err)


def unavailable_datasets(timeout: float = PROBE_TIMEOUT_S) -> tuple[list[str], list[str]]:
    """``(unavailable, downloadable)``: lines for the missing datasets that cannot be downloaded (no
    server of theirs answers) and for those the notebooks will download on first use."""
    from .data.download import CorruptFileError
    from .data.fetch import DATASETS

    absent, broken = [], []
    for dataset in DATASETS:
        try:
            found = dataset.find()
        except CorruptFileError as err:
            broken.append(f"{dataset.name}: {err}")
            continue
        if found.location is None:
            absent.append((dataset, found))
    with concurrent.futures.ThreadPoolExecutor() as pool:
        probes = {d.name: list(pool.map(lambda url: reachable(url, timeout), d.urls)) for d, _ in absent}
    unavailable, downloadable = list(broken), []
    for dataset, found in absent:
        errors = probes[dataset.name]
        line = f"{dataset.name} ({dataset.used_by}, about {dataset.download_mb} MB): {found.detail}"
        if all(errors):
            unavailable.append(f"{line}; cannot be downloaded ({errors[0]})")
        else:
            downloadable.append(line)
    return unavailable, downloadable


def pretrained_problems() -> list[str]:
    """Every pretrained model of the manifest that is missing or changed (its sha256), with the command that
    rebuilds it; checked when ``COURSE_MODE=lecture``, where the notebooks load them."""
    from . import pretrained

    found = []
    try:
        names = sorted(pretrained.manifest())
    except pretrained.PretrainedError as err:
        return [str(err)]
    for name in names:
        try:
            pretrained.path(name)
        except pretrained.PretrainedError as err:
            found.append(str(err))
    return found


def preflight(purpose: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` for ``purpose`` (``test`` or ``lab``): problems stop the command."""
    problems, notes = [], []
    if absent := missing_packages(purpose):
        problems.append(f"{sys.prefix} lacks {', '.join(absent)}: run `make clean` and then `make {purpose}` to "
                        "set up the virtual environment again (or `.venv/bin/pip install -e \".[dev]\"`)")
    if problem := cache_problem():
        problems.append(problem)
    unavailable, downloadable = unavailable_datasets(timeout)
    notes += [f"{line}; the notebooks download it on first use (or run `make data` now)" for line in downloadable]
    if unavailable:
        advice = ("Run `make data` where there is network (it downloads into COURSE_DATA_DIR, now "
                  f"{data_dir()}), or set COURSE_DATA_DIR to a folder that already holds them (layout: data/README.md).")
        text = "missing datasets:\n    " + "\n    ".join(unavailable) + "\n  " + advice
        (problems if purpose == "test" else notes).append(text)
    if os.environ.get("COURSE_MODE", "").strip().lower() == "lecture":
        notes += [f"lecture mode: {text}" for text in pretrained_problems()]
    return problems, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("purpose", choices=sorted(PACKAGES))
    parser.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S, help="seconds to wait for a server")
    args = parser.parse_args(argv)
    problems, notes = preflight(args.purpose, args.timeout)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        print(f"make {args.purpose} cannot start:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
