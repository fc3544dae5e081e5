r"""The Inception Score and its MNIST analogue, and the standard FID features (torchvision's Inception-v3).

The course's own feature networks need no download; the standard FID needs ImageNet weights once. Offline,
:func:`inception_network` stops with one message (:class:`InceptionUnavailableError`) that says what to do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's Inception_V3_Weights.IMAGENET1K_V1 (the file torch.hub caches under <hub dir>/checkpoints)
INCEPTION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def inception_score_from_probabilities(probs: torch.Tensor) -> float:
    r"""The Inception Score (Salimans et al., 2016, "Improved techniques for training GANs", sec. 4):
    :math:`\exp\big(\mathbb{E}_x\, \mathrm{KL}(p(y \mid x) \,\Vert\, p(y))\big)` with
    :math:`p(y) = \mathbb{E}_x\, p(y \mid x)`, for class probabilities ``[N, C]``.

    Between 1 and C: high when every sample is classified confidently *and* the classes are used evenly. It
    never looks at real data, so it cannot see whether the samples vary within a class: C perfect samples,
    one per class, repeated, score the maximum C (notebook 07 shows it).
    """
    probs = probs.detach().double().clamp_min(1e-12)
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.log() - marginal.log())).sum(1)
    return float(kl.mean().exp())


@torch.no_grad()
def classifier_score(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> float:
    """The Inception Score's MNIST analogue: :func:`inception_score_from_probabilities` of the course's MNIST
    classifier's softmax on ``images`` ``[N, 1, 28, 28]`` in [0, 1] (or [-1, 1]). At most 10."""
    from .scores import class_probabilities
    return inception_score_from_probabilities(class_probabilities(classifier, images, batch_size))


class InceptionUnavailableError(RuntimeError):
    """torchvision's Inception-v3 weights are neither cached nor downloadable (no internet)."""


def inception_network(device: torch.device | str = "cpu") -> nn.Module:
    """torchvision's ImageNet Inception-v3 (Szegedy et al., 2016) with its classifier removed: images
    ``[B, 3, 299, 299]`` (ImageNet-normalised) → pool features ``[B, 2048]``, the layer FID uses.

    The weights (104 MB) are downloaded once into torch.hub's cache. They are torchvision's, not the
    TensorFlow graph of Heusel et al.'s reference code, so values are FIDs in the same sense but not equal to
    published numbers. Raises :class:`InceptionUnavailableError` when the weights cannot be had.
    """
    from torchvision.models import inception_v3

    try:
        state = torch.hub.load_state_dict_from_url(INCEPTION_URL, progress=False, check_hash=True,
                                                   weights_only=True)
    except Exception as err:  # no internet, a proxy, a 404, a truncated file: one message for all
        raise InceptionUnavailableError(
            f"the standard FID needs torchvision's Inception-v3 weights, which are not cached and could not be "
            f"downloaded from {INCEPTION_URL} ({type(err).__name__}: {err}). On a machine with internet they are "
            f"fetched once; offline, copy that file into {torch.hub.get_dir()}/checkpoints/. Without them, use "
            "the course's own feature spaces, which need no download: metrics.mnist_features for digits and "
            "metrics.photo_features for the 32×32 photos.") from None
    model = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    model.load_state_dict(state)
    model.fc = nn.Identity()
    return model.eval().to(device)


@torch.no_grad()
def inception_features(images: torch.Tensor, network: nn.Module | None = None, batch_size: int = 100) -> torch.Tensor:
    """Inception-v3 pool features ``[N, 2048]`` of images ``[N, C, H, W]`` in [-1, 1] or [0, 1] (C = 1 or 3):
    grey images are repeated over three channels, everything is resized to 299×299 (bilinear) and normalised
    with ImageNet's mean and standard deviation."""
    network = network if network is not None else inception_network()
    device = next(network.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    scale_from_signed = bool(images.min() < 0)
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].float().to(device)
        if scale_from_signed:
            x = (x + 1) / 2
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(network((x - mean) / std).float().cpu())
    return torch.cat(out)
