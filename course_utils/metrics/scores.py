"""Numbers instead of opinions: sample quality, mode coverage and sharpness."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.toy2d import GaussianMixture2D


@torch.no_grad()
def class_probabilities(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Softmax outputs ``[N, 10]`` of ``classifier`` for images ``[N, 1, 28, 28]`` in [0, 1] (or [-1, 1])."""
    device = next(classifier.parameters()).device
    images = images.float()
    if images.min() < 0:
        images = (images + 1) / 2
    return torch.cat([F.softmax(classifier(images[i:i + batch_size].to(device)), dim=1).cpu()
                      for i in range(0, len(images), batch_size)])


def sample_quality(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                   confidence: float = 0.9, min_share: float = 0.01) -> dict[str, float]:
    """Score generated digits with the course's MNIST classifier.

    Returns ``classes_covered`` (classes predicted for at least ``min_share`` of the samples),
    ``confident`` (share of samples whose top class has probability ≥ ``confidence``: a proxy for
    "looks like a clear digit") and, with the requested ``labels`` ``[N]``, ``label_accuracy``
    (share classified as the label asked for). ``images``: ``[N, 1, 28, 28]``.
    """
    probs = class_probabilities(classifier, images)
    top, predicted = probs.max(dim=1)
    counts = torch.bincount(predicted, minlength=probs.shape[1])
    result = {"classes_covered": int((counts >= min_share * len(images)).sum()),
              "confident": float((top >= confidence).float().mean())}
    if labels is not None:
        result["label_accuracy"] = float((predicted == labels.cpu()).float().mean())
    return result


def mode_coverage(samples: torch.Tensor, mixture: GaussianMixture2D, num_std: float = 3.0,
                  min_share: float = 0.01) -> dict[str, float]:
    """How well 2-D ``samples`` ``[N, 2]`` cover a Gaussian mixture (Srivastava et al., 2017, VEEGAN, sec. 5.1).

    A sample is *high quality* if it lies within ``num_std`` standard deviations of its nearest center;
    a mode is *covered* if at least ``min_share`` of all samples are high-quality samples of that mode.
    Returns ``modes_covered`` (of ``len(mixture.centers)``) and ``high_quality`` (a share).
    """
    distances = torch.cdist(samples.float().cpu(), mixture.centers)   # [N, K]
    nearest, index = distances.min(dim=1)
    good = nearest <= num_std * mixture.std
    counts = torch.bincount(index[good], minlength=len(mixture.centers))
    return {"modes_covered": int((counts >= min_share * len(samples)).sum()),
            "high_quality": float(good.float().mean())}


def sharpness(images: torch.Tensor) -> float:
    """Mean variance of the Laplacian over images ``[N, 1, H, W]`` in [0, 1]: blurrier images score lower
    (Pech-Pacheco et al., 2000)."""
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    laplacian = F.conv2d(images.float().cpu(), kernel)
    return float(laplacian.flatten(1).var(dim=1).mean())


@torch.no_grad()
def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, num_projections: int = 512, seed: int = 0) -> float:
    r"""Sliced Wasserstein distance between two sets of samples (Rabin et al., 2011; the image metric of
    Karras et al., 2018, PGGAN, sec. 5, here on whole images rather than Laplacian-pyramid patches).

    Both sets are flattened to ``[N, d]``; each of ``num_projections`` random unit directions θ gives two
    1-D samples :math:`\theta^\top x`, :math:`\theta^\top y`, whose :math:`W_1` is the mean absolute difference
    of their sorted values (quantiles, when the sizes differ). Returns the mean over directions
    (lower is better; 0 for identical sets). ``x``: ``[N, ...]``, ``y``: ``[M, ...]``, same per-sample shape.
    """
    x, y = x.flatten(1).float().cpu(), y.flatten(1).float().cpu()
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples of different sizes: {list(x.shape[1:])} vs {list(y.shape[1:])}.")
    theta = F.normalize(torch.randn(x.shape[1], num_projections, generator=torch.Generator().manual_seed(seed)), dim=0)
    px, py = (x @ theta).sort(dim=0).values, (y @ theta).sort(dim=0).values
    n = max(len(px), len(py))
    q = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    px = px[(q * len(px)).long().clamp(max=len(px) - 1)]
    py = py[(q * len(py)).long().clamp(max=len(py) - 1)]
    return float((px - py).abs().mean())
