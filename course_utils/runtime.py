"""Where the course runs and how much work it does: device, seeding, ``COURSE_MODE`` budgets, folders.

Environment variables (all optional):

``COURSE_MODE``
    ``smoke`` (CI: seconds per notebook) | ``quick`` (CPU default: a few minutes per notebook)
    | ``full`` (CUDA default: full-length training). Unset: ``smoke`` when the ``CI`` variable is
    set, ``full`` when CUDA is available, ``quick`` otherwise.
``COURSE_DEVICE``
    ``cpu``, ``cuda``, ``cuda:1``, ``mps``... Unset: CUDA, then Apple MPS, then CPU.
``COURSE_DATA_DIR``
    Folder holding the datasets (default: the project's ``data/``). Any other folder is only read.
``COURSE_CACHE_DIR``
    Writable folder for extracted files and small trained models (default: ``data/cache``).
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

MODES = ("smoke", "quick", "full")
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


def by_mode(*, smoke: T, quick: T, full: T) -> T:
    """Pick the value for the current ``COURSE_MODE``: ``EPOCHS = by_mode(smoke=1, quick=8, full=30)``."""
    return {"smoke": smoke, "quick": quick, "full": full}[get_mode()]


def get_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``COURSE_DEVICE`` overrides (and is checked to exist)."""
    requested = os.environ.get("COURSE_DEVICE", "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(f"COURSE_DEVICE={requested!r} is not a device name ({err}); "
                             "use cpu, cuda, cuda:0 or mps.") from None
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": torch.backends.mps.is_available(),
        }.get(device.type, False)
        if not available:
            raise ValueError(f"COURSE_DEVICE={requested!r} but no {device.type} device is available "
                             "here; unset COURSE_DEVICE to choose automatically.")
        return device
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


def cache_dir() -> Path:
    """A writable folder of the project's for extracted files and small trained models."""
    path = Path(os.environ.get("COURSE_CACHE_DIR") or PROJECT_ROOT / "data" / "cache").expanduser()
    path.mkdir(parents=True, exist_ok=True)
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
