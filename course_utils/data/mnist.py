"""MNIST and Fashion-MNIST as in-memory tensors, found in ``COURSE_DATA_DIR`` or downloaded.

The original ``.gz`` files (torchvision's ``<root>/MNIST/raw`` layout) are looked for in
``COURSE_DATA_DIR`` and then in the project's ``data/``. Missing files are downloaded into the
project's ``data/`` (never into a ``COURSE_DATA_DIR`` elsewhere, which is only read), verified
against torchvision's md5 sums, and decompressed into the project's cache folder, each through a
temporary name so that an interrupted run leaves nothing half-written behind.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset
from torchvision.datasets.mnist import read_image_file, read_label_file

from ..runtime import CACHE_FIX, StorageError, cache_dir, data_dir, default_data_dir, is_storage_error, storage_error
from .download import CorruptFileError, dataset_missing, download_file, is_network_error, md5sum

_DATASETS = {
    "mnist": torchvision.datasets.MNIST,
    "fashion": torchvision.datasets.FashionMNIST,
}

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _raw_folder(root: Path, name: str) -> Path:
    return root / _DATASETS[name].__name__ / "raw"


def _find_or_download(name: str, filename: str, md5: str) -> Path:
    """Return a verified ``.gz`` file, downloading it into the project's ``data/`` if it is missing."""
    cls = _DATASETS[name]
    searched = [_raw_folder(data_dir(), name)]
    if default_data_dir().resolve() != data_dir():
        searched.append(_raw_folder(default_data_dir(), name))
    for folder in searched:
        path = folder / filename
        if path.is_file():
            try:
                actual = md5sum(path)
            except OSError as err:   # unreadable is not corrupt: the file may well be good
                raise storage_error(err, path, f"{cls.__name__} file {filename}",
                                    "Fix the file's permissions, or set COURSE_DATA_DIR to a folder you can read.",
                                    reading=True) from None
            if actual != md5:
                writable = folder == _raw_folder(default_data_dir(), name)
                fix = ("Delete it and run again to download a fresh copy (or run `make data`)." if writable
                       else "Replace it with a good copy (or point COURSE_DATA_DIR elsewhere).")
                raise CorruptFileError(f"{path} is corrupt or truncated (its md5 is {actual}, not {md5}). {fix}")
            return path

    target = _raw_folder(default_data_dir(), name) / filename
    errors = []
    for mirror in cls.mirrors:
        try:
            return download_file(mirror + filename, target, md5=md5)
        except Exception as err:  # try the next mirror, report all of them if none works
            if not (is_network_error(err) or isinstance(err, CorruptFileError)):
                raise
            errors.append(f"{mirror}{filename}: {err}")
    names = ", ".join(f for f, _ in cls.resources)
    raise dataset_missing(f"{cls.__name__} file {filename}", searched, f"{cls.__name__}/raw/",
                          reason="; ".join(errors),
                          by_hand=f"download {names} from {cls.mirrors[0]} and put them in {searched[0]}")


def _decompressed(name: str, gz_path: Path) -> Path:
    """Decompress ``gz_path`` into the cache (once), through a temporary file.

    A damaged ``.gz`` is a :class:`CorruptFileError`; a cache that cannot be written (permission,
    read-only, disk full) is a :class:`~course_utils.runtime.StorageError` naming ``COURSE_CACHE_DIR``.
    """
    out = cache_dir() / _DATASETS[name].__name__ / "raw" / gz_path.name.removesuffix(".gz")
    if out.is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(gz_path, "rb") as src, open(tmp, "wb") as dst:
            while True:
                try:
                    chunk = src.read(1 << 20)
                except (OSError, EOFError, zlib.error) as err:
                    if is_storage_error(err):
                        raise storage_error(err, gz_path, "the dataset file",
                                            "Fix its permissions, or set COURSE_DATA_DIR to a folder you can read.",
                                            reading=True) from None
                    raise CorruptFileError(f"{gz_path} could not be decompressed ({err}); it is damaged: "
                                           "replace it with a good copy (or run `make data`).") from err
                if not chunk:
                    break
                dst.write(chunk)
        os.replace(tmp, out)
    except (CorruptFileError, StorageError):
        raise
    except OSError as err:
        if is_storage_error(err):
            raise storage_error(err, out.parent, "the decompressed dataset (cache)", CACHE_FIX) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _read(name: str, kind: str, path: Path) -> torch.Tensor:
    try:
        return read_image_file(str(path)) if kind == "images" else read_label_file(str(path))
    except OSError as err:
        if is_storage_error(err):
            raise storage_error(err, path, "the decompressed dataset (cache)", CACHE_FIX, reading=True) from None
        raise CorruptFileError(f"{path} is not a valid IDX {kind} file ({err}).") from err
    except Exception as err:
        raise CorruptFileError(f"{path} is not a valid IDX {kind} file ({err}).") from err


def _load_tensor(name: str, kind: str, gz_path: Path) -> torch.Tensor:
    """The IDX tensor of ``gz_path``, decompressed into the cache once; a damaged cache copy (the
    ``.gz`` it came from being verified) is replaced with a warning."""
    path = _decompressed(name, gz_path)
    try:
        return _read(name, kind, path)
    except CorruptFileError as err:
        warnings.warn(f"{err} It is a cache copy of {gz_path}: decompressing it again.", stacklevel=3)
        path.unlink(missing_ok=True)
        return _read(name, kind, _decompressed(name, gz_path))


def load_mnist(train: bool = True, *, fashion: bool = False, limit: int | None = None) -> TensorDataset:
    """MNIST (or Fashion-MNIST) as a ``TensorDataset`` of ``(images, labels)``.

    Args:
        train: the 60,000-image training split, or the 10,000-image test split.
        fashion: Fashion-MNIST (Xiao et al., 2017) instead of MNIST (LeCun et al., 1998).
        limit: keep only the first ``limit`` examples (for ``smoke`` runs).

    Returns:
        ``images``: float32 ``[N, 1, 28, 28]`` in [0, 1]; ``labels``: int64 ``[N]`` in 0..9.
    """
    name = "fashion" if fashion else "mnist"
    prefix = "train" if train else "t10k"
    tensors = {}
    for filename, md5 in _DATASETS[name].resources:
        if not filename.startswith(prefix):
            continue
        kind = "images" if "images" in filename else "labels"
        tensors[kind] = _load_tensor(name, kind, _find_or_download(name, filename, md5))
    images, labels = tensors["images"], tensors["labels"]
    if len(images) != len(labels):
        raise CorruptFileError(f"{name} {prefix}: {len(images)} images but {len(labels)} labels; "
                               f"delete {cache_dir() / _DATASETS[name].__name__} and run again.")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return TensorDataset(images.unsqueeze(1).float().div_(255), labels.long())


def make_loader(dataset: TensorDataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A ``DataLoader`` whose shuffling order depends only on ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


def device_batches(dataset: TensorDataset, batch_size: int, *, device: torch.device | str, shuffle: bool = True,
                   seed: int = 0, drop_last: bool = False) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless batches of ``dataset`` from a copy of its tensors held on ``device``: the same batches, in
    the same order, as ``endless(make_loader(dataset, batch_size, shuffle=..., seed=seed, drop_last=...))``
    moved there, without the DataLoader's per-sample indexing and collation or a host-to-device copy of
    every batch (one copy of the epoch's order per epoch instead). For datasets that fit in the device's
    memory (MNIST is 188 MB as float32, the 32×32 photos 12.5 MB)."""
    loader = make_loader(dataset, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    tensors = tuple(t.to(device) for t in dataset.tensors)
    while True:
        epoch = iter(loader.batch_sampler)   # the DataLoader's own sampler and generator ...
        # ... and the one draw a DataLoader iterator makes from that generator before the first batch (its
        # workers' base seed), so that the shuffles that follow are the DataLoader's
        torch.empty((), dtype=torch.int64).random_(generator=loader.generator)
        batches = list(epoch)
        if not batches:
            raise ValueError(f"a dataset of {len(dataset)} samples has no full batch of {batch_size}: "
                             "lower batch_size or pass drop_last=False")
        order = torch.tensor([i for batch in batches for i in batch]).to(device)
        for index in order.split([len(batch) for batch in batches]):
            yield tuple(t[index] for t in tensors)
