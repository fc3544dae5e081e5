"""A feature network for the 32×32 photos of notebooks 04–05, trained by the course itself (notebook 07).

The photos have no labels, so the network learns a *pretext task*: which of four rotations (0°, 90°, 180°,
270°) was applied to an image (Gidaris, Singh & Komodakis, 2018, "Unsupervised representation learning by
predicting image rotations"). To tell up from down it must recognise what is in the picture and where: sky
above, ground and water below, trunks upright, horizons level. Those are the properties a generator gets wrong,
so distances between its pooled features see structure, not pixels: a blurred photo keeps its pixel
statistics but loses edges and objects. Trained on all training images of monet2photo the course has (photos
and paintings) at 32×32, cached like the MNIST classifier; nothing is downloaded.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import checkpoint_path, load_checkpoint, save_checkpoint

CHECKPOINT = "photo_rotation_net"


def rotations(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of each image: ``[B, C, H, W]`` (square) → images ``[4B, C, H, W]`` (0°, 90°, 180°,
    270°, in blocks of B) and labels ``[4B]`` in {0, 1, 2, 3}."""
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(len(images))


class RotationNet(nn.Module):
    """Three 3×3 conv blocks (16, 32, 64 channels; BatchNorm, ReLU, 2×2 max-pool), global average pooling,
    a linear layer over the four rotations.

    ``forward``: ``[B, 3, 32, 32]`` in [-1, 1] → logits ``[B, 4]``; ``features``: → ``[B, 64]`` (the
    penultimate layer, used for Fréchet and kernel distances).
    """

    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        blocks, width = [], 3
        for channels in (16, 32, 64):
            blocks += [nn.Conv2d(width, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.MaxPool2d(2)]                                  # 32 → 16 → 8 → 4 pixels
            width = channels
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())   # [B, 64]
        self.head = nn.Linear(self.feature_dim, 4)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and random 32×32 crops of the reflect-padded images (before rotating)."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    padded = F.pad(images, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + images.shape[2], dx:dx + images.shape[3]]


@torch.no_grad()
def rotation_accuracy(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> float:
    """Share of the four rotations of ``images`` ``[N, 3, 32, 32]`` that ``model`` recognises."""
    model.eval()
    rotated, labels = rotations(images)
    correct = sum(int((model(rotated[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
                  for i in range(0, len(rotated), batch_size))
    return correct / len(rotated)


def train_rotation_net(images: torch.Tensor, test_images: torch.Tensor | None = None, *, epochs: int = 8,
                       batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> tuple[RotationNet, dict]:
    """Train :class:`RotationNet` on ``images`` ``[N, 3, 32, 32]`` in [-1, 1]: each batch holds all four
    rotations of ``batch_size`` augmented images (Gidaris et al., 2018, sec. 2.2), cross-entropy, Adam with a
    cosine learning-rate schedule. Returns the model (eval mode) and ``info`` (rotation accuracy on
    ``test_images``, epochs, seconds)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = RotationNet()
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for i in range(0, len(images), batch_size):
            x, y = rotations(_augment(images[order[i:i + batch_size]], generator))
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    info = {"epochs": epochs, "seconds": time.perf_counter() - start, "train_images": len(images)}
    if test_images is not None:
        info["test_accuracy"] = rotation_accuracy(model, test_images)
    return model.eval(), info


def photo_feature_network(device: torch.device | str = "cpu", verbose: bool = True) -> RotationNet:
    """The course's photo feature network in eval mode: loaded from the cache, or trained on monet2photo's
    training photos and paintings at 32×32 (about a minute on a laptop CPU) and cached first."""
    model = RotationNet()
    if checkpoint_path(CHECKPOINT).is_file():
        info = load_checkpoint(model, CHECKPOINT)
        source = "loaded from the cache"
    else:
        from ..data.images import load_image_folder
        from ..data.monet2photo import monet2photo_root

        root = monet2photo_root()
        train = torch.cat([load_image_folder(root / split, 32).tensors[0] for split in ("trainB", "trainA")])
        test = torch.cat([load_image_folder(root / split, 32).tensors[0] for split in ("testB", "testA")])
        model, info = train_rotation_net(train, test)
        save_checkpoint(model, CHECKPOINT, **info)
        source = f"trained in {info['seconds']:.0f} s and cached"
    if verbose:
        print(f"photo feature network, rotation prediction ({source}): "
              f"{100 * info['test_accuracy']:.1f} % of the test images' rotations recognised")
    return model.to(device).eval()
