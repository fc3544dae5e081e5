"""monet2photo (Zhu et al., 2017, CycleGAN): Monet paintings (domain A) and photographs (domain B).

:func:`monet2photo_root` finds ``monet2photo/{trainA,trainB,testA,testB}`` in ``COURSE_DATA_DIR`` or the
project's ``data/``, or downloads the zip the CycleGAN authors publish into ``data/``: to a temporary
name, verified (a readable zip with the four folders and the published image counts), and extracted
to a temporary folder that is renamed into place only when complete. A second call does nothing.
A copy that lacks a folder is reported by name (and never downloaded over). :class:`UnpairedImages`
checks every file when it is opened and skips a damaged one with a warning naming it.
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

from ..runtime import data_dir, default_data_dir, is_storage_error, storage_error
from .download import CorruptFileError, dataset_missing, download_file, is_network_error
from .imagefiles import SUFFIXES as IMAGE_SUFFIXES
from .imagefiles import checked_images
from .imagefiles import list_images as _images

NAME = "monet2photo"
URLS = [  # the download script of the authors' repository (junyanz/pytorch-CycleGAN-and-pix2pix), new and old host
    "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/monet2photo.zip",
    "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/monet2photo.zip",
]
SPLITS = ("trainA", "trainB", "testA", "testB")
PUBLISHED_COUNTS = {"trainA": 1072, "trainB": 6287, "testA": 121, "testB": 751}


def _missing_splits(root: Path) -> list[str]:
    """The splits of ``root`` that are absent or hold no images."""
    return [split for split in SPLITS if not _images(root / split)]


def _is_complete(root: Path) -> bool:
    return not _missing_splits(root)


def verify_zip(path: Path, expected_counts: dict[str, int] | None = PUBLISHED_COUNTS) -> None:
    """Check that ``path`` is a readable zip holding ``monet2photo/<split>/`` image folders with the
    expected numbers of images; raise :class:`CorruptFileError` saying what is wrong otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        if is_storage_error(err):
            raise storage_error(err, path, "the monet2photo zip", "Fix its permissions.", reading=True) from None
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
    except OSError as err:
        if is_storage_error(err):
            raise storage_error(err, target.parent, f"the extracted {NAME}",
                                "Free some space or make the folder writable, or set COURSE_DATA_DIR to a "
                                f"folder that already holds {NAME}/.") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def monet2photo_root(download: bool = True, urls: Sequence[str] = URLS,
                     expected_counts: dict[str, int] | None = PUBLISHED_COUNTS) -> Path:
    """The folder holding ``trainA, trainB, testA, testB``: found, or downloaded and extracted once."""
    candidates = list(dict.fromkeys([data_dir() / NAME, default_data_dir() / NAME]))
    for root in candidates:
        if _is_complete(root):
            return root
    for root in candidates:   # a partial copy: name what it lacks, never download over it
        if root.exists():
            missing = _missing_splits(root)
            fix = ("Delete it and run again (or run `make data`) to download a fresh copy, or copy the missing "
                   "folders in." if root == default_data_dir() / NAME else
                   "Copy the missing folders in, or set COURSE_DATA_DIR to a folder with a complete copy.")
            raise CorruptFileError(f"{root} is an incomplete copy of {NAME}: {', '.join(missing)} "
                                   f"{'is' if len(missing) == 1 else 'are'} missing or hold no images "
                                   f"(it needs {', '.join(SPLITS)}). {fix}")
    target = default_data_dir() / NAME
    if not download:
        raise dataset_missing(NAME, candidates, f"{NAME}/{{{','.join(SPLITS)}}}/")
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
    raise dataset_missing(
        NAME, candidates, f"{NAME}/{{{','.join(SPLITS)}}}/", reason="; ".join(errors) or "no download address",
        by_hand=(f"download {urls[0] if urls else URLS[0]} by hand and unzip it into {default_data_dir()} "
                 f"(giving {target}/trainA, trainB, testA, testB)"))


class UnpairedImages(Dataset):
    """Unpaired image-to-image data: item ``i`` is ``(a, b)``, the ``i``-th image of domain A and a
    randomly drawn image of domain B (deterministic with ``train=False``: image ``i mod len(B)``).

    Training: resize to ``load_size``, random ``crop_size`` crop, random horizontal flip (the CycleGAN
    paper's augmentation); evaluation: resize and centre crop. Images are ``[3, crop, crop]`` in [-1, 1].
    Every file is checked when the dataset is opened (:func:`~course_utils.data.imagefiles.image_problem`:
    header, structure, JPEG end marker); a damaged one is skipped with a warning naming it.
    """

    def __init__(self, root: Path, split: str = "train", *, load_size: int = 286, crop_size: int = 256,
                 train: bool = True, limit: int | None = None, seed: int = 0) -> None:
        root = Path(root)
        for side in ("A", "B"):
            if not _images(root / f"{split}{side}"):
                raise dataset_missing(f"{NAME} {split}{side} (images)", [root / f"{split}{side}"],
                                      f"{NAME}/{{{','.join(SPLITS)}}}/")
        self.a = checked_images(_images(root / f"{split}A")[:limit], what=f"images of {root / (split + 'A')}")
        self.b = checked_images(_images(root / f"{split}B")[:limit], what=f"images of {root / (split + 'B')}")
        if not self.a or not self.b:
            raise dataset_missing(f"usable images (every file is damaged) in {split}A or {split}B",
                                  [root], f"{NAME}/{{{','.join(SPLITS)}}}/")
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
        try:
            with Image.open(path) as image:
                return self.transform(image.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as err:   # damage the check at opening could not see
            raise CorruptFileError(f"{path} could not be decoded ({type(err).__name__}: {err}); replace it "
                                   "with a good copy or delete it, then start again.") from err

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        b_index = self.random.randrange(len(self.b)) if self.train else index % len(self.b)
        return self._load(self.a[index]), self._load(self.b[b_index])
