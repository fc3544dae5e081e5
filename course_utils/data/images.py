"""Folders of RGB images as small in-memory tensors (notebook 04 trains on 32×32 photographs)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.utils.data import TensorDataset
from torchvision.transforms import v2 as T

from ..runtime import data_dir, default_data_dir
from .download import dataset_missing
from .imagefiles import SUFFIXES, BadImageWarning, list_images
from .mnist import load_mnist
from .monet2photo import monet2photo_root

__all__ = ["SUFFIXES", "list_images", "load_image_folder", "load_rgb32", "RGB32_DATASETS"]


def load_image_folder(folder: Path | str, size: int = 32, limit: int | None = None) -> TensorDataset:
    """Every image of ``folder`` (sorted by name; the first ``limit``), resized so that the shorter side
    is ``size`` (antialiased), centre-cropped to ``size × size``.

    Every file is decoded here, once: one that cannot be (corrupt, truncated, not an image) is skipped
    with a :class:`~course_utils.data.imagefiles.BadImageWarning` naming it.
    Returns a ``TensorDataset`` of images ``[N, 3, size, size]`` in [-1, 1] and labels ``[N]`` (zeros), so
    that it plugs into the same loaders as MNIST.
    """
    folder = Path(folder)
    paths = list_images(folder)[:limit]
    if not paths:
        raise dataset_missing("images", [folder], f"{folder.parent.name}/{folder.name}/",
                              problem=f"no images ({', '.join(SUFFIXES)}) in {folder}")
    transform = T.Compose([T.ToImage(), T.Resize(size, antialias=True), T.CenterCrop(size),
                           T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])
    images, bad = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(transform(image.convert("RGB")))
        except Exception as err:  # noqa: BLE001 - Pillow's errors for damaged files are of many types
            bad.append(f"{path}: {type(err).__name__}: {err}")
    if bad:
        warnings.warn(f"skipped {len(bad)} of {len(paths)} images of {folder} that cannot be decoded:\n  "
                      + "\n  ".join(bad[:10]) + ("\n  ..." if len(bad) > 10 else "")
                      + "\nReplace these files with good copies (or delete them) to silence this warning.",
                      BadImageWarning, stacklevel=2)
    if not images:
        raise dataset_missing("images", [folder], f"{folder.parent.name}/{folder.name}/",
                              problem=f"no usable images in {folder} (all {len(paths)} files are damaged)")
    return TensorDataset(torch.stack(images), torch.zeros(len(images), dtype=torch.long))


RGB32_DATASETS = ("photos", "mnist", "cifar10")


def load_rgb32(name: str = "photos", *, train: bool = True, limit: int | None = None) -> TensorDataset:
    """32×32 RGB images in [-1, 1] for notebooks 04 and 05, chosen by one switch.

    ``photos``: the photographs of monet2photo (domain B; ``trainB``/``testB``), resized and centre-cropped.
    ``mnist``: MNIST digits padded from 28×28 to 32×32 with background, repeated over 3 channels.
    ``cifar10``: CIFAR-10 through torchvision (downloaded into the project's ``data/`` when online).

    Returns a ``TensorDataset`` of images ``[N, 3, 32, 32]`` and labels ``[N]`` (zeros for ``photos``).
    """
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
            raise dataset_missing(
                "CIFAR-10", roots, "cifar-10-batches-py/", reason=str(err),
                by_hand=(f"download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it into "
                         f"{default_data_dir()}, or use the photos (name='photos')")) from err
        images = torch.from_numpy(data.data[:limit]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        return TensorDataset(images, torch.tensor(data.targets[:limit]))
    raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(RGB32_DATASETS)}.")
