"""2-D Gaussian mixtures for watching GANs train (notebooks 03 and 05).

The 8-Gaussian ring and the 5×5 grid are the standard mode-collapse benchmarks of Metz et al. (2017),
"Unrolled GANs", and Srivastava et al. (2017), "VEEGAN".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianMixture2D:
    """Equal-weight isotropic Gaussians with ``centers`` ``[K, 2]`` and standard deviation ``std``."""

    centers: torch.Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points ``[n, 2]``: a uniformly chosen center plus N(0, std² I) noise."""
        index = torch.randint(len(self.centers), (n,), generator=generator)
        return self.centers[index] + self.std * torch.randn(n, 2, generator=generator)

    def batches(self, batch_size: int, seed: int = 0):
        """An endless iterator of ``(x,)`` batches ``[batch_size, 2]``, reproducible from ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        while True:
            yield (self.sample(batch_size, generator),)


def ring(num_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture2D:
    """``num_modes`` Gaussians evenly spaced on a circle of ``radius``."""
    angles = torch.arange(num_modes) * (2 * math.pi / num_modes)
    return GaussianMixture2D(radius * torch.stack([angles.cos(), angles.sin()], dim=1), std)


def grid(side: int = 5, spacing: float = 1.0, std: float = 0.05) -> GaussianMixture2D:
    """``side × side`` Gaussians on a square grid centred on the origin, ``spacing`` apart."""
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return GaussianMixture2D(torch.stack([gx.flatten(), gy.flatten()], dim=1), std)
