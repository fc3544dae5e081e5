"""Datasets: real MNIST / Fashion-MNIST, and atomic verified downloads."""

from .download import CorruptFileError, DatasetNotFoundError, download_file, md5sum
from .mnist import FASHION_CLASSES, MNIST_CLASSES, load_mnist, make_loader

__all__ = ["CorruptFileError", "DatasetNotFoundError", "download_file", "md5sum",
           "FASHION_CLASSES", "MNIST_CLASSES", "load_mnist", "make_loader"]
