"""Controlled damage to real images, to test whether a metric sees what it should (notebook 07).

Fidelity: :func:`blur`, :func:`add_noise`. Diversity: :func:`drop_classes` (mode dropping) and
:func:`most_typical` (truncation: only the samples nearest their class centre, as a truncated or
low-temperature generator would give).
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import functional as TF


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``images`` ``[N, C, H, W]`` with standard deviation ``sigma`` pixels (kernel 2⌈3σ⌉ + 1,
    reflect padding); same shape and range."""
    if sigma <= 0:
        return images.clone()
    size = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(images.float(), kernel_size=[size, size], sigma=[sigma, sigma])


def add_noise(images: torch.Tensor, std: float, *, low: float = 0.0, high: float = 1.0,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """``images`` ``[N, ...]`` plus i.i.d. Gaussian pixel noise of standard deviation ``std``, clipped to the
    pixel range ``[low, high]``."""
    noise = torch.randn(images.shape, generator=generator) * std
    return (images.float() + noise.to(images.device)).clamp(low, high)


def drop_classes(images: torch.Tensor, labels: torch.Tensor, keep: int | list[int], n: int, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Mode dropping: ``n`` images drawn without replacement from ``images`` ``[N, ...]`` whose ``labels`` ``[N]``
    are among ``keep`` (a list of classes, or the first ``keep`` classes). Returns ``[n, ...]``."""
    classes = list(range(keep)) if isinstance(keep, int) else list(keep)
    pool = torch.nonzero(torch.isin(labels, torch.tensor(classes, device=labels.device))).flatten()
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} images of classes {classes}, fewer than the {n} requested.")
    return images[pool[torch.randperm(len(pool), generator=generator)[:n]]]


def most_typical(features: torch.Tensor, labels: torch.Tensor, fraction: float) -> torch.Tensor:
    """Truncation without a generator: the indices ``[K]`` of the ``fraction`` of samples in each class
    (by ``labels`` ``[N]``) whose ``features`` ``[N, d]`` lie nearest their class mean. A truncated or
    low-temperature generator (Brock et al., 2019, BigGAN, sec. 3.1; Kingma & Dhariwal, 2018, Glow) gives
    samples like these: typical, and less varied."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    keep = []
    for c in labels.unique():
        index = torch.nonzero(labels == c).flatten()
        distance = (features[index] - features[index].mean(0)).norm(dim=1)
        keep.append(index[distance.argsort()[:max(1, round(fraction * len(index)))]])
    return torch.cat(keep).sort().values
