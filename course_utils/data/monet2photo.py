"""monet2photo (Zhu et al., 2017, CycleGAN): Monet paintings (domain A) and photographs (domain B).

:func:`monet2photo_root` finds ``monet2photo/{trainA,trainB,testA,testB}`` in ``COURSE_DATA_DIR`` or the
project's ``data/``, or downloads the zip the CycleGAN authors publish into ``data/``: to a temporary
name, verified (a readable zip with the four folders and the published image counts), and extracted
to a temporary folder that is renamed into place only when complete. A second call does nothing.
"""

from __future__ import annotations

import os
import random
import shutil
import zipfile
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2 as T

from ..runtime import data_dir, default_data_dir
from .download import CorruptFileError, DatasetNotFoundError, download_file, is_network_error
from .images import SUFFIXES as IMAGE_SUFFIXES
from .images import list_images as _images

NAME = "monet2photo"
URLS = [  # the download script of the authors' repository (junyanz/pytorch-CycleGAN-and-pix2pix), new and old host
    "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/monet2photo.zip",
    "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/monet2photo.zip",
]
SPLITS = ("trainA", "trainB", "testA", "testB")
PUBLISHED_COUNTS = {"trainA": 1072, "trainB": 6287, "testA": 121, "testB": 751}


def _is_complete(root: Path) -> bool:
    return all((root / split).is_dir() and _images(root / split) for split in SPLITS)


def verify_zip(path: Path, expected_counts: dict[str, int] | None = PUBLISHED_COUNTS) -> None:
    """Check that ``path`` is a readable zip holding ``monet2photo/<split>/`` image folders with the
    expected numbers of images; raise :class:`CorruptFileError` saying what is wrong otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CorruptFileError(f"{path} is not a readable zip file ({err}).") from err
    if broken is not None:
        raise CorruptFileError(f"{path} is damaged: {broken} fails its CRC check.")
    counts = {split: sum(1 for n in names if n.startswith(f"{NAME}/{split}/")
                         and n.lower().endswith(IMAGE_SUFFIXES)) for split in SPLITS}
    missing = [split for split, count in counts.items() if count == 0]
    if missing:
        raise CorruptFileError(f"{path} has no {NAME}/{'/, '.join(missing)}/ folder with images.")
    if expected_counts is not None and counts != expected_counts:
        raise CorruptFileError(f"{path} holds {counts} images, expected {expected_counts}.")


def _extract(path: Path, target: Path) -> None:
    """Extract the zip's ``monet2photo/`` into ``target`` through a temporary folder, then rename."""
    tmp = target.with_name(target.name + f".partial{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp)
        os.replace(tmp / NAME, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def monet2photo_root(download: bool = True, urls: Sequence[str] = URLS,
                     expected_counts: dict[str, int] | None = PUBLISHED_COUNTS) -> Path:
    """The folder holding ``trainA, trainB, testA, testB``: found, or downloaded and extracted once."""
    candidates = [data_dir() / NAME, default_data_dir() / NAME]
    for root in candidates:
        if _is_complete(root):
            return root
    target = default_data_dir() / NAME
    if target.exists():
        raise CorruptFileError(f"{target} exists but lacks some of {', '.join(SPLITS)} (or their images). "
                               "Delete it and run again to download a fresh copy.")
    if not download:
        raise DatasetNotFoundError(f"{NAME} was not found in {' or '.join(map(str, candidates))}.")
    archive = default_data_dir() / f"{NAME}.zip"
    errors = []
    for url in urls:
        try:
            download_file(url, archive)
            verify_zip(archive, expected_counts)
            _extract(archive, target)
            archive.unlink()
            return target
        except CorruptFileError as err:
            archive.unlink(missing_ok=True)
            errors.append(f"{url}: {err}")
        except Exception as err:
            if not is_network_error(err):
                raise
            errors.append(f"{url}: {err}")
    raise DatasetNotFoundError(
        f"{NAME} is not in {' or '.join(map(str, candidates))} and could not be downloaded "
        f"({'; '.join(errors)}).\nDownload {urls[0]} by hand, unzip it into {default_data_dir()} (giving "
        f"{target}/trainA, trainB, testA, testB), or set COURSE_DATA_DIR to a folder holding {NAME}/."
    )


class UnpairedImages(Dataset):
    """Unpaired image-to-image data: item ``i`` is ``(a, b)``, the ``i``-th image of domain A and a
    randomly drawn image of domain B (deterministic with ``train=False``: image ``i mod len(B)``).

    Training: resize to ``load_size``, random ``crop_size`` crop, random horizontal flip (the CycleGAN
    paper's augmentation); evaluation: resize and centre crop. Images are ``[3, crop, crop]`` in [-1, 1].
    """

    def __init__(self, root: Path, split: str = "train", *, load_size: int = 286, crop_size: int = 256,
                 train: bool = True, limit: int | None = None, seed: int = 0) -> None:
        self.a = _images(Path(root) / f"{split}A")[:limit]
        self.b = _images(Path(root) / f"{split}B")[:limit]
        if not self.a or not self.b:
            raise DatasetNotFoundError(f"no images in {root}/{split}A or {root}/{split}B.")
        self.train = train
        self.random = random.Random(seed)
        crop = T.RandomCrop(crop_size) if train else T.CenterCrop(crop_size)
        steps = [T.ToImage(), T.Resize(load_size, antialias=True), crop]
        if train:
            steps.append(T.RandomHorizontalFlip())
        self.transform = T.Compose([*steps, T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])

    def __len__(self) -> int:
        return len(self.a)

    def _load(self, path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            return self.transform(image.convert("RGB"))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        b_index = self.random.randrange(len(self.b)) if self.train else index % len(self.b)
        return self._load(self.a[index]), self._load(self.b[b_index])
