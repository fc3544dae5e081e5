"""``make data``: every dataset the notebooks use, downloaded once, verified, into ``COURSE_DATA_DIR``.

Run as ``python -m course_utils.data.fetch`` (``make data``). Datasets are looked for where the
loaders look (``COURSE_DATA_DIR``, then the project's ``data/``, see :mod:`course_utils.runtime`);
what is missing is downloaded into ``COURSE_DATA_DIR`` (default ``data/``) with the package's own
atomic, verified downloads (:func:`~course_utils.data.download.download_file`: a ``.part`` file
renamed only when complete and md5-checked; :func:`~course_utils.data.monet2photo.verify_zip`: the
four folders and the published image counts) and extracted through a temporary folder. A second run
checks what is there and downloads nothing.

``--check`` only reports (exit status 1 when something is missing); ``--only NAME`` limits the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from torchvision.datasets import MNIST

from ..runtime import data_dir, default_data_dir
from . import monet2photo
from .download import CorruptFileError, DatasetNotFoundError, download_file, is_network_error, md5sum
from .images import list_images


def search_roots() -> list[Path]:
    """The dataset folders the loaders search, in their order: ``COURSE_DATA_DIR``, then ``data/``."""
    roots = [data_dir()]
    if default_data_dir().resolve() != roots[0]:
        roots.append(default_data_dir().resolve())
    return roots


@dataclass(frozen=True)
class Found:
    """Where a dataset is (``location``, ``None`` when missing) and a one-line account of it."""

    location: Path | None
    detail: str


@dataclass(frozen=True)
class Dataset:
    """A dataset of the course: how to find it (as the loaders do) and how to fetch it into a folder."""

    name: str
    used_by: str
    download_mb: int
    urls: tuple[str, ...]
    find: Callable[[], Found]
    fetch: Callable[[Path], Path]


# --- MNIST: the four original .gz files in <root>/MNIST/raw, checked against torchvision's md5 sums ----------------

MNIST_FILES: tuple[tuple[str, str], ...] = tuple(MNIST.resources)
MNIST_MIRRORS: tuple[str, ...] = tuple(MNIST.mirrors)


def find_mnist(files: Sequence[tuple[str, str]] = MNIST_FILES) -> Found:
    """Each MNIST file in the first search root that has it (as ``load_mnist`` does), md5-checked.

    Raises :class:`CorruptFileError` for a file whose md5 is wrong (``load_mnist`` would refuse it).
    """
    found = {}
    for filename, md5 in files:
        for root in search_roots():
            path = root / "MNIST" / "raw" / filename
            if path.is_file():
                if md5sum(path) != md5:
                    raise CorruptFileError(f"{path} is corrupt or truncated (its md5 is not {md5}). "
                                           "Delete it and run `make data` again.")
                found[filename] = path
                break
    missing = [filename for filename, _ in files if filename not in found]
    folders = sorted({str(path.parent) for path in found.values()})
    if missing:
        where = " or ".join(str(root / "MNIST" / "raw") for root in search_roots())
        return Found(None, f"{len(missing)} of {len(files)} files missing ({', '.join(missing)}), not in {where}")
    return Found(Path(folders[0]), f"{len(files)} files, md5 verified, in {', '.join(folders)}")


def fetch_mnist(root: Path, files: Sequence[tuple[str, str]] = MNIST_FILES,
                mirrors: Sequence[str] = MNIST_MIRRORS) -> Path:
    """Download the missing MNIST files into ``root/MNIST/raw`` (each mirror in turn), md5-verified."""
    folder = root / "MNIST" / "raw"
    errors = []
    for filename, md5 in files:
        if (folder / filename).is_file() and md5sum(folder / filename) == md5:
            continue
        for mirror in mirrors:
            try:
                download_file(mirror + filename, folder / filename, md5=md5)
                break
            except Exception as err:
                if not (is_network_error(err) or isinstance(err, CorruptFileError)):
                    raise
                errors.append(f"{mirror}{filename}: {err}")
        else:
            raise DatasetNotFoundError(f"MNIST file {filename} could not be downloaded ({'; '.join(errors)}).")
    return folder


# --- monet2photo: the CycleGAN authors' zip, verified and extracted to <root>/monet2photo -------------------------


def find_monet2photo() -> Found:
    """The first search root holding ``monet2photo/{trainA,trainB,testA,testB}`` with images (as
    ``monet2photo_root`` looks); a partial copy is reported with the folders it lacks."""
    partial = []
    for root in search_roots():
        folder = root / monet2photo.NAME
        counts = {split: len(list_images(folder / split)) if (folder / split).is_dir() else 0
                  for split in monet2photo.SPLITS}
        if all(counts.values()):
            return Found(folder, "images: " + ", ".join(f"{split} {n:,}" for split, n in counts.items())
                         + f", in {folder}")
        if folder.exists():
            lacking = [split for split, n in counts.items() if n == 0]
            partial.append(f"{folder} lacks {', '.join(lacking)} (or their images)")
    where = " or ".join(str(root / monet2photo.NAME) for root in search_roots())
    return Found(None, "; ".join(partial) or f"not in {where}")


def fetch_monet2photo(root: Path, urls: Sequence[str] = tuple(monet2photo.URLS),
                      expected_counts: dict[str, int] | None = monet2photo.PUBLISHED_COUNTS) -> Path:
    """Download the zip into ``root``, verify it, extract ``monet2photo/`` atomically, delete the zip."""
    target = root / monet2photo.NAME
    if target.exists():
        raise CorruptFileError(f"{target} exists but is incomplete; it is left as it is. Delete it (or move the "
                               "missing folders into it) and run `make data` again.")
    archive = root / f"{monet2photo.NAME}.zip"
    errors = []
    for url in urls:
        try:
            download_file(url, archive)
            monet2photo.verify_zip(archive, expected_counts)
        except CorruptFileError as err:
            archive.unlink(missing_ok=True)
            errors.append(f"{url}: {err}")
            continue
        except Exception as err:
            if not is_network_error(err):
                raise
            errors.append(f"{url}: {err}")
            continue
        staging = Path(tempfile.mkdtemp(prefix=f".{monet2photo.NAME}.partial", dir=root))
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(staging)
            os.replace(staging / monet2photo.NAME, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        archive.unlink()
        return target
    raise DatasetNotFoundError(f"{monet2photo.NAME} could not be downloaded ({'; '.join(errors)}).")


DATASETS: tuple[Dataset, ...] = (
    Dataset("MNIST", "notebooks 01-05", 12, tuple(m + MNIST_FILES[0][0] for m in MNIST_MIRRORS), find_mnist,
            fetch_mnist),
    Dataset("monet2photo", "notebooks 04-06", 300, tuple(monet2photo.URLS), find_monet2photo, fetch_monet2photo),
)


def missing(datasets: Sequence[Dataset] = DATASETS) -> list[tuple[Dataset, Found]]:
    """The datasets the loaders would not find, each with where it was looked for."""
    return [(dataset, found) for dataset in datasets if (found := dataset.find()).location is None]


def writable_problem(folder: Path) -> str | None:
    """``None`` if files can be created in ``folder`` (created if needed), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test"):
            pass
    except OSError as err:
        return f"{folder} is not writable ({err.strerror or err})"
    return None


def fetch_all(datasets: Sequence[Dataset] = DATASETS, target: Path | None = None, out=sys.stdout) -> int:
    """Report each dataset; download the missing ones into ``target`` (default ``COURSE_DATA_DIR``).

    Returns the exit status: 0 when every dataset is present afterwards, 1 otherwise.
    """
    target = Path(target) if target is not None else data_dir()
    todo = []
    for dataset in datasets:
        try:
            found = dataset.find()
        except CorruptFileError as err:
            print(f"{dataset.name} ({dataset.used_by}): {err}", file=out)
            return 1
        except OSError as err:  # e.g. a COURSE_DATA_DIR this user may not read
            print(f"{dataset.name} ({dataset.used_by}): cannot look in {err.filename} ({err.strerror}). "
                  "Fix its permissions, or set COURSE_DATA_DIR to another folder.", file=out)
            return 1
        if found.location is not None:
            print(f"{dataset.name} ({dataset.used_by}): present, {found.detail}", file=out)
        else:
            todo.append((dataset, found))
    if not todo:
        print("Nothing to download: every dataset is in place.", file=out)
        return 0
    names = ", ".join(dataset.name for dataset, _ in todo)
    if problem := writable_problem(target):
        print(f"Cannot download {names}: {problem}.\n"
              "Make it writable, or set COURSE_DATA_DIR to a writable folder (unset, the datasets go to data/).",
              file=out)
        return 1
    need_mb = sum(2 * dataset.download_mb for dataset, _ in todo)  # the archive and what is extracted from it
    free_mb = shutil.disk_usage(target).free // 2**20
    if free_mb < need_mb:
        print(f"Cannot download {names}: {target} has {free_mb:,} MiB free, about {need_mb:,} MiB are needed.\n"
              "Free some space, or set COURSE_DATA_DIR to a folder on a larger disk.", file=out)
        return 1
    failed = []
    for dataset, found in todo:
        print(f"{dataset.name} ({dataset.used_by}): {found.detail}; downloading about {dataset.download_mb} MB "
              f"into {target}", file=out, flush=True)
        start = time.perf_counter()
        try:
            dataset.fetch(target)
            after = dataset.find()
        except (DatasetNotFoundError, CorruptFileError) as err:
            print(f"{dataset.name}: {err}", file=out)
            failed.append(dataset)
            continue
        if after.location is None:  # e.g. COURSE_DATA_DIR changed under us: say so rather than claim success
            print(f"{dataset.name}: downloaded, but the loaders still do not find it: {after.detail}", file=out)
            failed.append(dataset)
            continue
        print(f"{dataset.name}: done in {time.perf_counter() - start:.0f} s, {after.detail}", file=out)
    if failed:
        print(f"Not downloaded: {', '.join(d.name for d in failed)}. Without network, copy them from a machine that "
              f"has them (the layout is in data/README.md) into {target}, or set COURSE_DATA_DIR to a folder "
              "that holds them.", file=out)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report; exit status 1 if a dataset is missing")
    parser.add_argument("--only", choices=[d.name for d in DATASETS], action="append",
                        help="fetch only this dataset (repeatable)")
    args = parser.parse_args(argv)
    datasets = [d for d in DATASETS if not args.only or d.name in args.only]
    if args.check:
        absent = missing(datasets)
        for dataset, found in absent:
            print(f"{dataset.name} ({dataset.used_by}): {found.detail}")
        return 1 if absent else 0
    return fetch_all(datasets)


if __name__ == "__main__":
    sys.exit(main())
