"""A small MNIST classifier that scores generated digits (notebooks 02, 03 and later).

It is trained by the course itself on first use (about half a minute on a laptop CPU, the same way
in every mode) and cached in the project's cache folder; nothing is downloaded.
"""

from __future__ import annotations

import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from ..data.mnist import load_mnist, make_loader

CHECKPOINT = "mnist_classifier"


class MNISTClassifier(nn.Module):
    """Two 5×5 convs (16, 32 channels) with ReLU and 2×2 max-pooling, then a linear layer.

    ``[B, 1, 28, 28]`` images in [0, 1] → ``[B, 10]`` logits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # [B, 16, 14, 14]
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # [B, 32, 7, 7]
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 7 * 7, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: ``[B, 1, 28, 28]`` in [0, 1] → ``[B, 1568]`` (the flattened 32×7×7 maps the
        linear layer reads; dropout is the identity in eval mode). Notebook 07's feature space for digits."""
        return self.net[:-2](x)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` ``[N, 1, 28, 28]`` whose predicted class equals ``labels`` ``[N]``."""
    model.eval()
    device = next(model.parameters()).device
    correct = sum(int((model(images[i:i + batch_size].to(device)).argmax(1).cpu() == labels[i:i + batch_size]).sum())
                  for i in range(0, len(images), batch_size))
    return correct / len(images)


def train_classifier(epochs: int = 2, seed: int = 0, device: torch.device | str = "cpu") -> tuple[MNISTClassifier, dict]:
    """Train :class:`MNISTClassifier` on the 60,000 MNIST training digits (Adam, lr 1e-3, batch 128)."""
    torch.manual_seed(seed)
    model = MNISTClassifier().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for x, y in make_loader(load_mnist(train=True), 128, seed=seed + epoch):
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    test_images, test_labels = load_mnist(train=False).tensors
    info = {"test_accuracy": accuracy(model, test_images, test_labels), "epochs": epochs,
            "seconds": time.perf_counter() - start}
    return model.eval(), info


def mnist_classifier(device: torch.device | str = "cpu", verbose: bool = True) -> MNISTClassifier:
    """The course's MNIST classifier in eval mode: loaded from the cache, or trained (and cached) first.

    A cached file that cannot be used (truncated, damaged, another layout or architecture) is replaced:
    a warning names it, and the classifier is trained again and cached over it.
    """
    model = MNISTClassifier()
    info = None
    if checkpoint_path(CHECKPOINT).is_file():
        try:
            info = load_checkpoint(model, CHECKPOINT, fix="")
            source = "loaded from the cache"
            if "test_accuracy" not in info:
                raise CheckpointError(f"{checkpoint_path(CHECKPOINT)} has no test accuracy in its info {info}.")
        except CheckpointError as err:
            info = None
            warnings.warn(f"the cached MNIST classifier cannot be used: {str(err).strip()} Training a new one to "
                          "replace it (about half a minute).", stacklevel=2)
            model = MNISTClassifier()
    if info is None:
        model, info = train_classifier()
        save_checkpoint(model, CHECKPOINT, **info)
        source = f"trained in {info['seconds']:.0f} s and cached"
    if verbose:
        print(f"MNIST classifier ({source}): test accuracy {100 * info['test_accuracy']:.2f} %")
    return model.to(device).eval()
