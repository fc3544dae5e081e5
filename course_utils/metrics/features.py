"""Feature spaces that need no download, and every feature-based metric of notebook 07 against one reference.

``mnist_features``: the course's MNIST classifier, penultimate layer (``[N, 1568]``).
``photo_features``: the course's rotation-prediction network for 32×32 photos (``[N, 64]``).
:class:`FeatureReference` holds a real set's features with everything that depends on them only (Gaussian
statistics and the square root of their covariance, k-NN radii, kernel matrix), so that scoring many sample
sets against it costs one pass each.
"""

from __future__ import annotations

import torch
from torch import nn

from .distances import _as_features, frechet_distance, gaussian_statistics, polynomial_kernel, subset_mmd2
from .manifold import _inside, _pairwise, _radii, kth_neighbour_radii

METRICS = ("fd", "kid", "precision", "recall", "density", "coverage")
HIGHER_IS_BETTER = {"fd": False, "kid": False, "precision": True, "recall": True, "density": True,
                    "coverage": True, "is": True}


@torch.no_grad()
def extract_features(network: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``network.features`` of ``images`` ``[N, ...]`` in eval mode, in batches: ``[N, d]`` float32 on the CPU."""
    network.eval()
    device = next(network.parameters()).device
    return torch.cat([network.features(images[i:i + batch_size].float().to(device)).flatten(1).float().cpu()
                      for i in range(0, len(images), batch_size)])


def mnist_features(images: torch.Tensor, classifier: nn.Module | None = None) -> torch.Tensor:
    """Penultimate-layer features ``[N, 1568]`` of the course's MNIST classifier for digits ``[N, 1, 28, 28]``
    in [0, 1] (images in [-1, 1], e.g. from a tanh generator, are rescaled)."""
    from ..models.classifier import mnist_classifier
    classifier = classifier if classifier is not None else mnist_classifier(verbose=False)
    images = images.float()
    if images.min() < 0:
        images = (images + 1) / 2
    return extract_features(classifier, images)


def photo_features(images: torch.Tensor, network: nn.Module | None = None) -> torch.Tensor:
    """Features ``[N, 64]`` of the course's rotation-prediction network
    (:mod:`course_utils.models.photo_features`) for 32×32 RGB images ``[N, 3, 32, 32]`` in [-1, 1]."""
    from ..models.photo_features import photo_feature_network
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, 32, 32):
        raise ValueError(f"photo_features takes 32×32 RGB images [N, 3, 32, 32] in [-1, 1], got {list(images.shape)}.")
    network = network if network is not None else photo_feature_network(verbose=False)
    return extract_features(network, images)


def photo_feature_distance(samples: torch.Tensor, reference: torch.Tensor, network: nn.Module | None = None) -> float:
    """Fréchet distance between 32×32 RGB ``samples`` ``[M, 3, 32, 32]`` and ``reference`` images ``[N, 3, 32, 32]``
    (both in [-1, 1]) in the photo network's feature space (Heusel et al., 2017, eq. 6, with the course's own
    features instead of Inception's). Lower is better; compare values only at equal sample sizes."""
    from ..models.photo_features import photo_feature_network
    network = network if network is not None else photo_feature_network(verbose=False)
    return frechet_distance(photo_features(samples, network), photo_features(reference, network))


class FeatureReference:
    """A real feature set ``[N, d]`` to score generated feature sets against, with all metrics of notebook 07:

    ``fd`` (:func:`~course_utils.metrics.distances.frechet_distance`), ``kid`` (the mean of ``kid_subsets``
    unbiased MMD² estimates on subsets of ``kid_subset_size``, Bińkowski et al., 2018), ``precision``/``recall``
    (k = ``k_pr``, Kynkäänniemi et al., 2019) and ``density``/``coverage`` (k = ``k_dc``, Naeem et al., 2020).
    """

    def __init__(self, features: torch.Tensor, *, k_pr: int = 3, k_dc: int = 5, kid_subsets: int = 50,
                 kid_subset_size: int = 1000, seed: int = 0) -> None:
        self.features = _as_features("reference features", features)
        self.k_pr, self.k_dc, self.seed = k_pr, k_dc, seed
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.stats = gaussian_statistics(self.features)
        if self.stats.factor is None:
            self.stats.sqrt_cov  # noqa: B018 (computed once here, reused by every score)
        own = _pairwise(self.features, self.features)                        # [N, N], once for both k
        self.radii_pr, self.radii_dc = _radii(own, k_pr), _radii(own, k_dc)
        del own
        self.k_xx = polynomial_kernel(self.features, self.features)

    def _kid(self, fake: torch.Tensor) -> float:
        k_yy, k_xy = polynomial_kernel(fake, fake), polynomial_kernel(self.features, fake)
        return float(subset_mmd2(self.k_xx, k_yy, k_xy, num_subsets=self.kid_subsets,
                                 subset_size=self.kid_subset_size, seed=self.seed).mean())

    def score(self, fake_features: torch.Tensor) -> dict[str, float]:
        """All metrics of ``fake_features`` ``[M, d]`` against this reference: a dict keyed by :data:`METRICS`."""
        fake = _as_features("generated features", fake_features)
        if fake.shape[1] != self.features.shape[1]:
            raise ValueError(f"features of different sizes: {fake.shape[1]} vs {self.features.shape[1]} dimensions; "
                             "use the same feature network for both sets.")
        distances = _pairwise(fake, self.features)                                 # [M, N]
        fake_radii = kth_neighbour_radii(fake, self.k_pr)
        inside_dc = _inside(distances, self.radii_dc)
        return {
            "fd": frechet_distance(self.stats, gaussian_statistics(fake)),
            "kid": self._kid(fake),
            "precision": float(_inside(distances, self.radii_pr).any(1).float().mean()),
            "recall": float(_inside(distances.T, fake_radii).any(1).float().mean()),
            "density": float(inside_dc.sum() / (self.k_dc * len(fake))),
            "coverage": float(inside_dc.any(0).float().mean()),
        }
