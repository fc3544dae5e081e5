"""Train (once) and cache the two networks that score the notebooks, before several processes need them.

    python -m course_utils.models.cache

``make test`` runs this before the test processes start, so that they all load the MNIST classifier
(:func:`~course_utils.models.classifier.mnist_classifier`) and the photo feature network
(:func:`~course_utils.models.photo_features.photo_feature_network`) from the cache instead of each training
its own copy at the same time. Run again, it only loads them.
"""

from __future__ import annotations

from .classifier import mnist_classifier
from .photo_features import photo_feature_network


def main() -> None:
    mnist_classifier()
    photo_feature_network()


if __name__ == "__main__":
    main()
