"""Where the course runs and how much work it does: device, seeding, ``COURSE_MODE`` budgets, folders.

Environment variables (all optional):

``COURSE_MODE``
    ``smoke`` (CI: seconds per notebook) | ``quick`` (CPU default: a few minutes per notebook)
    | ``full`` (CUDA default: full-length training) | ``lecture`` (pretrained models from
    ``pretrained/`` instead of the long trainings; every figure regenerated from them, under a minute). Unset: ``smoke`` when the ``CI`` variable is
    set, ``full`` when CUDA is available, ``quick`` otherwise.
``COURSE_DEVICE``
    ``cpu``, ``cuda``, ``cuda:1``, ``mps``... Unset: CUDA, then Apple MPS, then CPU.
``COURSE_DATA_DIR``
    Folder holding the datasets (default: the project's ``data/``). Any other folder is only read.
``COURSE_CACHE_DIR``
    Writable folder for extracted files and small trained models (default: ``data/cache``).
"""

from __future__ import annotations

import errno
import os
import platform
import random
import shutil
import tempfile
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

MODES = ("smoke", "quick", "full", "lecture")
PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def get_mode() -> str:
    """The budget switch: ``COURSE_MODE`` if set, else ``smoke`` on CI, ``full`` on CUDA, else ``quick``."""
    mode = os.environ.get("COURSE_MODE", "").strip().lower()
    if mode:
        if mode not in MODES:
            raise ValueError(
                f"COURSE_MODE={mode!r} is not one of {', '.join(MODES)}; "
                "unset it to choose automatically."
            )
        return mode
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return "smoke"
    return "full" if torch.cuda.is_available() else "quick"


_UNSET = object()


def by_mode(*, smoke: T, quick: T, full: T, lecture: T = _UNSET) -> T:  # type: ignore[assignment]
    """Pick the value for the current ``COURSE_MODE``: ``EPOCHS = by_mode(smoke=1, quick=8, full=30)``.

    ``lecture`` defaults to the ``quick`` value: in lecture mode the long trainings are replaced by
    pretrained models (:func:`course_utils.pretrained.train_or_load`), and what is left (evaluation sizes,
    short demonstrations) runs at the ``quick`` size unless ``lecture=`` says otherwise.
    """
    return {"smoke": smoke, "quick": quick, "full": full,
            "lecture": quick if lecture is _UNSET else lecture}[get_mode()]


def is_lecture() -> bool:
    """Whether ``COURSE_MODE=lecture``: load pretrained models instead of training them."""
    return get_mode() == "lecture"


DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(name: str | torch.device, *, setting: str = "COURSE_DEVICE") -> torch.device:
    """``name`` as a :class:`torch.device`, checked to exist here: a known type (``cpu``, ``cuda``,
    ``cuda:N``, ``mps``), available, and with an index below the number of such devices.

    Raises ``ValueError`` naming ``setting`` (the variable or option it came from), what is wrong and
    which devices this machine has.
    """
    text = str(name).strip()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{setting}={text!r} is not a device name ({str(err).splitlines()[0]}); "
                         f"use one of {available_devices_text()}.") from None
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"{setting}={text!r}: the course runs on {', '.join(DEVICE_TYPES)} only; "
                         f"this machine has {available_devices_text()}.")
    count = {"cpu": 1, "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
             "mps": 1 if torch.backends.mps.is_available() else 0}[device.type]
    if count == 0:
        raise ValueError(f"{setting}={text!r} but no {device.type} device is available here; this machine has "
                         f"{available_devices_text()} (unset {setting} to choose automatically).")
    if device.index is not None and device.index >= count:
        raise ValueError(f"{setting}={text!r} but this machine has {count} {device.type} device"
                         f"{'s' if count > 1 else ''} (index 0{f'..{count - 1}' if count > 1 else ''}); "
                         f"use one of {available_devices_text()}.")
    return device


def available_devices_text() -> str:
    """The devices of this machine, e.g. ``cpu, cuda, cuda:0, cuda:1``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return ", ".join(names)


def get_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``COURSE_DEVICE`` overrides (checked by :func:`check_device`)."""
    requested = os.environ.get("COURSE_DEVICE", "").strip()
    if requested:
        return check_device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


def data_dir() -> Path:
    """The dataset folder: ``COURSE_DATA_DIR``, or the project's ``data/``."""
    return Path(os.environ.get("COURSE_DATA_DIR") or PROJECT_ROOT / "data").expanduser().resolve()


def default_data_dir() -> Path:
    """The project's own ``data/`` folder: the only dataset folder the course ever writes to."""
    return PROJECT_ROOT / "data"


# errno values that mean "this folder cannot take the file" rather than "the file's content is bad"
STORAGE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


class StorageError(OSError):
    """A folder the course must write to (cache, checkpoints, ``data/``) cannot be created or
    written, or has no room. Nothing is wrong with the data; the message says which setting to change."""


def is_storage_error(err: BaseException) -> bool:
    """True for permission, read-only and disk-full errors (the folder's fault, not the file's)."""
    return isinstance(err, StorageError) or (isinstance(err, OSError) and err.errno in STORAGE_ERRNOS)


def _reason(err: OSError) -> str:
    return {errno.ENOSPC: "no space left on the disk", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted"}.get(err.errno, err.strerror or str(err))


def storage_error(err: OSError, path: Path | str, what: str, fix: str, *, reading: bool = False) -> StorageError:
    """A :class:`StorageError` for ``err`` (raised writing, or ``reading``, ``path``): ``what`` could not be
    written there (or read from there), why (permission / read-only / no space), and ``fix``."""
    verb = "read from" if reading else "written to"
    result = StorageError(err.errno, f"{what} cannot be {verb} {path}: {_reason(err)}. {fix}")
    result.filename = str(path)
    return result


def _probe_write(folder: Path) -> None:
    """Create and delete a small file in ``folder`` (raises the ``OSError`` if that is not possible)."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-") as handle:
        handle.write(b"0")
        handle.flush()


def check_writable(folder: Path | str, *, need_bytes: int = 0, what: str = "folder", fix: str = "") -> Path:
    """Make sure ``folder`` exists (creating it), can be written and has ``need_bytes`` free.

    Raises :class:`StorageError` naming the folder, ``what`` it is for, the reason and ``fix``
    (what to do: usually the setting that chooses another folder). Returns the folder.
    """
    folder = Path(folder).expanduser()
    fix = fix or "Choose another folder, or fix its permissions."
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe_write(folder)
    except OSError as err:
        raise storage_error(err, folder, what, fix) from None
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise StorageError(errno.ENOSPC, f"{what} {folder} has {free / 2**20:.0f} MiB free but needs about "
                           f"{need_bytes / 2**20:.0f} MiB. Free some space, or {fix[0].lower() + fix[1:]}")
    return folder


CACHE_FIX = "Set COURSE_CACHE_DIR to a writable folder with a few hundred MiB free (or fix this one's permissions)."
_checked_caches: set[Path] = set()


def cache_dir() -> Path:
    """A writable folder of the project's for extracted files and small trained models.

    ``COURSE_CACHE_DIR``, or the project's ``data/cache``; checked to be writable the first time
    (a :class:`StorageError` naming ``COURSE_CACHE_DIR`` if not).
    """
    path = Path(os.environ.get("COURSE_CACHE_DIR") or PROJECT_ROOT / "data" / "cache").expanduser()
    if path not in _checked_caches or not path.is_dir():
        check_writable(path, what="the cache folder (COURSE_CACHE_DIR)", fix=CACHE_FIX)
        _checked_caches.add(path)
    return path.resolve()


def describe_setup(seed: int | None = None) -> str:
    """One line each for where the notebook runs, its mode and the library versions."""
    import torchvision

    device = get_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    lines = [
        f"device: {device} ({name}), threads: {torch.get_num_threads()}",
        f"mode: {get_mode()}" + (f", seed: {seed}" if seed is not None else ""),
        f"python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}",
        f"data: {data_dir()}",
    ]
    return "\n".join(lines)


def print_setup(seed: int | None = None) -> None:
    """Print :func:`describe_setup` (the first code cell of every notebook calls this)."""
    print(describe_setup(seed))
