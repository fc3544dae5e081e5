"""Numbers instead of opinions: how good are generated samples (notebooks 02–07).

``scores``        classifier-based sample quality, mode coverage on 2-D mixtures, sharpness, sliced Wasserstein
``distances``     Fréchet distance (FID's formula) and the kernel distance (KID) between feature sets
``manifold``      k-NN precision/recall and density/coverage
``inception``     the Inception Score and its MNIST analogue; the standard FID features (Inception-v3)
``features``      feature spaces that need no download (MNIST classifier, photo network), all metrics at once
``degradations``  blur, noise, dropped classes, truncation: the controlled damage that validates a metric
``content``       what a translation keeps of its input: edge correlation, SSIM (06)
"""

from .content import edge_correlation, sobel_magnitude, ssim
from .degradations import add_noise, blur, drop_classes, most_typical
from .distances import (GaussianStatistics, frechet_distance, frechet_distance_from_statistics, gaussian_statistics,
                        kernel_inception_distance, mmd2_unbiased_from_kernels, polynomial_kernel, polynomial_mmd2, subset_mmd2,
                        sqrtm_psd)
from .features import (HIGHER_IS_BETTER, METRICS, FeatureReference, extract_features, mnist_features,
                       photo_feature_distance, photo_features)
from .inception import (InceptionUnavailableError, classifier_score, inception_features, inception_network,
                        inception_score_from_probabilities)
from .manifold import density_coverage, kth_neighbour_radii, precision_recall
from .scores import class_probabilities, mode_coverage, sample_quality, sharpness, sliced_wasserstein

__all__ = [
    "class_probabilities", "mode_coverage", "sample_quality", "sharpness", "sliced_wasserstein",
    "GaussianStatistics", "frechet_distance", "frechet_distance_from_statistics", "gaussian_statistics",
    "kernel_inception_distance", "mmd2_unbiased_from_kernels", "polynomial_kernel", "polynomial_mmd2", "sqrtm_psd",
    "subset_mmd2",
    "density_coverage", "kth_neighbour_radii", "precision_recall",
    "InceptionUnavailableError", "classifier_score", "inception_features", "inception_network",
    "inception_score_from_probabilities",
    "HIGHER_IS_BETTER", "METRICS", "FeatureReference", "extract_features", "mnist_features", "photo_feature_distance",
    "photo_features",
    "add_noise", "blur", "drop_classes", "most_typical",
    "edge_correlation", "sobel_magnitude", "ssim",
]
