"""Folders of RGB images as small in-memory tensors (notebook 04 trains on 32×32 photographs)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import TensorDataset
from torchvision.transforms import v2 as T

from .download import DatasetNotFoundError

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder: Path | str) -> list[Path]:
    """The image files of ``folder``, sorted by name (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def load_image_folder(folder: Path | str, size: int = 32, limit: int | None = None) -> TensorDataset:
    """Every image of ``folder`` (sorted by name; the first ``limit``), resized so that the shorter side
    is ``size`` (antialiased), centre-cropped to ``size × size``.

    Returns a ``TensorDataset`` of images ``[N, 3, size, size]`` in [-1, 1] and labels ``[N]`` (zeros), so
    that it plugs into the same loaders as MNIST.
    """
    folder = Path(folder)
    paths = list_images(folder)[:limit]
    if not paths:
        raise DatasetNotFoundError(f"no images ({', '.join(SUFFIXES)}) in {folder}.")
    transform = T.Compose([T.ToImage(), T.Resize(size, antialias=True), T.CenterCrop(size),
                           T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(transform(image.convert("RGB")))
    return TensorDataset(torch.stack(images), torch.zeros(len(images), dtype=torch.long))
