"""Atomic, verified downloads: a file appears under its final name only once it is complete and checked."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ..runtime import StorageError, is_storage_error, storage_error


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is missing and could not be downloaded; the message says what to put where."""


class CorruptFileError(OSError):
    """A dataset file exists but is damaged (wrong checksum, truncated, not the expected format)."""


def dataset_missing(what: str, searched: list[Path], layout: str, *, reason: str = "", by_hand: str = "",
                    problem: str = "") -> DatasetNotFoundError:
    """The one message for a dataset that is not on disk (a notebook's first data cell shows it).

    Names ``what`` is missing, the folders ``searched``, why it could not be downloaded (``reason``),
    and the ways out: ``make data``, fetching it by hand (``by_hand``), or ``COURSE_DATA_DIR`` pointing
    at a folder that holds ``layout`` (e.g. ``MNIST/raw/*.gz``). ``problem`` replaces the first sentence.
    """
    where = " or ".join(str(p) for p in dict.fromkeys(searched))
    first = problem or f"{what} is missing: not found in {where}"
    lines = [first + (f" and could not be downloaded ({reason})." if reason else ".")]
    lines.append("To fix it, run `make data` in the project folder (it downloads every dataset of the course)"
                 + (f", or {by_hand}" if by_hand else "")
                 + f", or set COURSE_DATA_DIR to a folder that holds {layout}.")
    return DatasetNotFoundError("\n".join(lines))


def md5sum(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex md5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, dest: Path, md5: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` with a progress bar, atomically.

    The bytes go to ``dest.part`` first; only when the transfer is complete (the length matches the
    server's ``Content-Length``) and the md5 matches (when given) is it renamed to ``dest``. On any
    failure the partial file is removed and the error is re-raised, so an interrupted download
    never leaves a file that later looks valid.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                received = 0
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise CorruptFileError(f"download of {url} stopped after {received} of {total} bytes")
        if md5 is not None and (actual := md5sum(part)) != md5:
            raise CorruptFileError(f"{url} downloaded with md5 {actual}, expected {md5}")
        os.replace(part, dest)
    except BaseException as err:
        part.unlink(missing_ok=True)
        if is_storage_error(err) and not isinstance(err, StorageError):  # our disk, not the network
            raise storage_error(err, dest.parent, f"the download of {url}",
                                "Free some space or make the folder writable, or download the file by hand, "
                                "or set COURSE_DATA_DIR to a folder that already holds the dataset.") from None
        raise
    return dest


def is_network_error(err: BaseException) -> bool:
    """True for the errors that mean 'could not reach the server' rather than 'bad data' or 'our disk
    cannot take it' (permission, read-only, full: see :func:`~course_utils.runtime.is_storage_error`)."""
    if isinstance(err, CorruptFileError) or is_storage_error(err):
        return False
    return isinstance(err, (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError))
