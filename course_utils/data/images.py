"""Folders of RGB images as small in-memory tensors (notebook 04 trains on 32×32 photographs)."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.utils.data import TensorDataset
from torchvision.transforms import v2 as T

from ..runtime import data_dir, default_data_dir
from .download import DatasetNotFoundError
from .mnist import load_mnist

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


RGB32_DATASETS = ("photos", "mnist", "cifar10")


def load_rgb32(name: str = "photos", *, train: bool = True, limit: int | None = None) -> TensorDataset:
    """32×32 RGB images in [-1, 1] for notebooks 04 and 05, chosen by one switch.

    ``photos``: the photographs of monet2photo (domain B; ``trainB``/``testB``), resized and centre-cropped.
    ``mnist``: MNIST digits padded from 28×28 to 32×32 with background, repeated over 3 channels.
    ``cifar10``: CIFAR-10 through torchvision (downloaded into the project's ``data/`` when online).

    Returns a ``TensorDataset`` of images ``[N, 3, 32, 32]`` and labels ``[N]`` (zeros for ``photos``).
    """
    from .monet2photo import monet2photo_root  # here: monet2photo imports this module

    if name == "photos":
        return load_image_folder(monet2photo_root() / ("trainB" if train else "testB"), 32, limit)
    if name == "mnist":
        images, labels = load_mnist(train=train, limit=limit).tensors
        images = torch.nn.functional.pad(images * 2 - 1, (2, 2, 2, 2), value=-1.0).expand(-1, 3, -1, -1)
        return TensorDataset(images.contiguous(), labels)
    if name == "cifar10":
        roots = [data_dir(), default_data_dir()]
        for root in roots:
            if (root / "cifar-10-batches-py").is_dir():
                break
        else:
            root = default_data_dir()
        try:
            data = torchvision.datasets.CIFAR10(str(root), train=train, download=root == default_data_dir())
        except Exception as err:  # offline, or a broken download: say where to put the files
            raise DatasetNotFoundError(
                f"CIFAR-10 is not in {' or '.join(map(str, roots))} and could not be downloaded ({err}). "
                f"Download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, extract it into "
                f"{default_data_dir()}, or use the photos (name='photos')."
            ) from err
        images = torch.from_numpy(data.data[:limit]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        return TensorDataset(images, torch.tensor(data.targets[:limit]))
    raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(RGB32_DATASETS)}.")
