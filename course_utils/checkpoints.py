"""Saving and loading trained weights: atomic writes, safe loads (``weights_only=True``)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .runtime import cache_dir


def checkpoint_path(name: str) -> Path:
    """``<cache>/checkpoints/<name>.pt``: where :func:`save_checkpoint` puts ``name``."""
    return cache_dir() / "checkpoints" / f"{name}.pt"


def save_checkpoint(model: nn.Module, name_or_path: str | Path, **info: float | int | str) -> Path:
    """Write ``model.state_dict()`` and ``info`` (plain numbers and strings) atomically; return the path.

    A bare name goes to :func:`checkpoint_path`; a path (with a suffix) is used as given.
    """
    path = Path(name_or_path) if Path(name_or_path).suffix else checkpoint_path(str(name_or_path))
    return atomic_save({"state_dict": model.state_dict(), "info": info}, path)


def atomic_save(obj: object, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``: an interrupted
    save never leaves a truncated file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(model: nn.Module, name_or_path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (tensors only: ``weights_only=True``).

    Returns the ``info`` dict. Raises ``FileNotFoundError`` naming the path if there is none.
    """
    path = Path(name_or_path) if Path(name_or_path).suffix else checkpoint_path(str(name_or_path))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; run the notebook that trains it first.")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return payload["info"]
