"""Content preservation between an image and its translation (notebook 06: does G(a) keep a's content?).

* :func:`edge_correlation`: Pearson correlation of the Sobel gradient magnitudes of the two images' grey
  levels, per image: 1 when the edges sit at the same places with proportional strengths, ≈ 0 for unrelated
  images. It ignores colour and brightness, which a translation is meant to change.
* :func:`ssim`: the structural similarity index of Wang, Bovik, Sheikh & Simoncelli (2004, eq. 13) on the grey
  levels, with their 11×11 Gaussian window (σ = 1.5) and constants K₁ = 0.01, K₂ = 0.03: local means
  (luminance), variances (contrast) and covariance (structure), averaged over the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def grey(images: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` → ``[N, 1, H, W]``: the mean over the channels."""
    return images.float().mean(1, keepdim=True)


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude √(g_x² + g_y²) of the grey levels with 3×3 Sobel filters, no padding:
    ``[N, C, H, W]`` → ``[N, 1, H − 2, W − 2]``."""
    kernels = torch.stack([SOBEL_X, SOBEL_X.T]).unsqueeze(1).to(images.device)      # [2, 1, 3, 3]
    g = F.conv2d(grey(images), kernels)                                              # [N, 2, H-2, W-2]
    return g.pow(2).sum(1, keepdim=True).sqrt()


def edge_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation, image by image, of the Sobel magnitudes of ``x`` and ``y`` ``[N, C, H, W]``
    (same shape): ``[N]`` in [−1, 1]. A flat image (no edges) gives 0."""
    ex, ey = sobel_magnitude(x).flatten(1), sobel_magnitude(y).flatten(1)
    ex, ey = ex - ex.mean(1, keepdim=True), ey - ey.mean(1, keepdim=True)
    denominator = (ex.norm(dim=1) * ey.norm(dim=1)).clamp_min(1e-12)
    return (ex * ey).sum(1) / denominator


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]                                    # [1, 1, size, size]


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 2.0, window: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al., 2004, eq. 13) of the grey levels of ``x`` and ``y`` ``[N, C, H, W]`` in
    [−1, 1] (``data_range`` 2), image by image: ``[N]``, 1 for identical images. Local statistics under an
    ``window``×``window`` Gaussian of std ``sigma``, valid positions only (H, W ≥ ``window``)."""
    gx, gy = grey(x), grey(y)
    w = _gaussian_window(window, sigma).to(gx.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = F.conv2d(gx, w), F.conv2d(gy, w)
    var_x = F.conv2d(gx * gx, w) - mu_x ** 2
    var_y = F.conv2d(gy * gy, w) - mu_y ** 2
    cov = F.conv2d(gx * gy, w) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1)
