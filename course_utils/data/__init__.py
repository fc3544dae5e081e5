"""Datasets: real MNIST / Fashion-MNIST, monet2photo, 2-D mixtures, and atomic verified downloads."""

from ..runtime import StorageError
from .download import CorruptFileError, DatasetNotFoundError, download_file, md5sum
from .imagefiles import BadImageWarning
from .images import RGB32_DATASETS, load_image_folder, load_rgb32
from .mnist import FASHION_CLASSES, MNIST_CLASSES, device_batches, load_mnist, make_loader
from .monet2photo import UnpairedImages, monet2photo_root

__all__ = ["BadImageWarning", "CorruptFileError", "DatasetNotFoundError", "StorageError", "download_file", "md5sum",
           "RGB32_DATASETS", "load_image_folder", "load_rgb32", "FASHION_CLASSES", "MNIST_CLASSES", "load_mnist",
           "make_loader", "device_batches", "UnpairedImages", "monet2photo_root"]
