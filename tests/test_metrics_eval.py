"""The evaluation metrics of notebook 07 against closed forms, hand-counted cases, and controlled degradations."""

import math
import urllib.error

import pytest
import torch

from course_utils import metrics
from course_utils.metrics import (FeatureReference, InceptionUnavailableError, add_noise, blur, classifier_score,
                                  density_coverage, drop_classes, frechet_distance, frechet_distance_from_statistics,
                                  gaussian_statistics, inception_score_from_probabilities, kernel_inception_distance,
                                  kth_neighbour_radii, most_typical, polynomial_kernel,
                                  polynomial_mmd2, precision_recall, sqrtm_psd)
from course_utils.metrics.distances import GaussianStatistics
from course_utils.models.classifier import MNISTClassifier
from course_utils.models.photo_features import RotationNet, rotation_accuracy, rotations, train_rotation_net


def random_spd(d, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64))


def stats(mean, cov):
    return GaussianStatistics(torch.as_tensor(mean, dtype=torch.float64), 0, _cov=cov)


# --- Fréchet distance -------------------------------------------------------------------------------------

def test_sqrtm_psd_squares_back_and_is_symmetric():
    a = random_spd(6, 0)
    root = sqrtm_psd(a)
    assert torch.allclose(root @ root, a, atol=1e-10) and torch.allclose(root, root.T)
    singular = torch.diag(torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(sqrtm_psd(singular), torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)))


def test_frechet_distance_of_gaussians_matches_the_closed_forms():
    # commuting (diagonal) covariances: ||mu_a - mu_b||^2 + sum (sigma_a - sigma_b)^2
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    mu_a, mu_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    want = float((mu_a - mu_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    got = frechet_distance_from_statistics(stats(mu_a, torch.diag(var_a)), stats(mu_b, torch.diag(var_b)))
    assert got == pytest.approx(want, rel=1e-10)
    # general covariances: Tr(S_a S_b)^(1/2) = sum of the square roots of the eigenvalues of S_a S_b
    s_a, s_b = random_spd(5, 1), random_spd(5, 2, scale=3.0)
    trace_sqrt = torch.linalg.eigvals(s_a @ s_b).real.clamp_min(0).sqrt().sum()
    want = float(torch.trace(s_a) + torch.trace(s_b) - 2 * trace_sqrt)
    got = frechet_distance_from_statistics(stats(torch.zeros(5), s_a), stats(torch.zeros(5), s_b))
    assert got == pytest.approx(want, rel=1e-8)
    assert frechet_distance_from_statistics(stats(torch.zeros(5), s_b), stats(torch.zeros(5), s_a)) == pytest.approx(got)
    assert frechet_distance_from_statistics(stats(torch.zeros(5), s_a), stats(torch.zeros(5), s_a)) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_of_samples_converges_to_the_closed_form():
    g = torch.Generator().manual_seed(0)
    s_a, s_b = random_spd(4, 3), random_spd(4, 4)
    mu_b = torch.tensor([0.5, -0.5, 0.0, 1.0], dtype=torch.float64)
    want = frechet_distance_from_statistics(stats(torch.zeros(4), s_a), stats(mu_b, s_b))
    x = torch.randn(100_000, 4, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s_a).T
    y = torch.randn(100_000, 4, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s_b).T + mu_b
    assert frechet_distance(x, y) == pytest.approx(want, rel=0.02)
    assert frechet_distance(gaussian_statistics(x), y) == pytest.approx(frechet_distance(x, y))


def test_low_rank_covariances_give_the_same_distance_as_the_full_matrices():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 50, generator=g, dtype=torch.float64), torch.randn(40, 50, generator=g, dtype=torch.float64) + 0.1
    sa, sb = gaussian_statistics(a), gaussian_statistics(b)
    assert sa.factor is not None and sb.factor is not None            # N < d: kept as factors
    full = lambda s: GaussianStatistics(s.mean, s.count, _cov=s.cov)   # noqa: E731
    want = frechet_distance_from_statistics(full(sa), full(sb))        # the d × d symmetric form
    # (the d × d route takes square roots of rank-deficient matrices: round-off of about 1e-8 relative)
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-6)
    assert frechet_distance_from_statistics(sa, full(sb)) == pytest.approx(want, rel=1e-6)
    assert frechet_distance_from_statistics(full(sa), sb) == pytest.approx(want, rel=1e-6)
    assert torch.allclose(sa.cov, torch.cov(a.T))


def test_frechet_distance_is_finite_with_fewer_samples_than_dimensions_and_biased_upwards():
    g = torch.Generator().manual_seed(0)
    big = [frechet_distance(torch.randn(5000, 64, generator=g), torch.randn(5000, 64, generator=g)) for _ in range(2)]
    small = [frechet_distance(torch.randn(40, 64, generator=g), torch.randn(40, 64, generator=g)) for _ in range(2)]
    assert all(math.isfinite(v) for v in small)
    assert min(small) > 10 * max(big)          # same distribution: the small-sample FD is far from 0


def test_bad_feature_sets_are_rejected_with_what_to_do():
    with pytest.raises(ValueError, match="flatten"):
        frechet_distance(torch.randn(10, 1, 4, 4), torch.randn(10, 16))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((10, 3), float("nan")), torch.randn(10, 3))
    with pytest.raises(ValueError, match="different sizes"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))


# --- KID ------------------------------------------------------------------------------------------------

def test_unbiased_mmd_matches_the_double_sums():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64) + 1
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / 35
    assert polynomial_mmd2(x, y) == pytest.approx(float(xx + yy - 2 * xy), rel=1e-10)
    assert torch.allclose(polynomial_kernel(x, y), (x @ y.T / 3 + 1) ** 3)


def test_kid_is_zero_in_expectation_for_identical_distributions_at_any_sample_size():
    g = torch.Generator().manual_seed(0)
    same = [polynomial_mmd2(torch.randn(50, 8, generator=g), torch.randn(50, 8, generator=g)) for _ in range(400)]
    mean, sem = torch.tensor(same).mean(), torch.tensor(same).std() / math.sqrt(len(same))
    assert abs(mean) < 3 * sem                  # unbiased: negative values occur and cancel the positive ones
    assert min(same) < 0
    biased = [float(polynomial_kernel(a, a).mean() + polynomial_kernel(b, b).mean() - 2 * polynomial_kernel(a, b).mean())
              for a, b in ((torch.randn(50, 8, generator=g), torch.randn(50, 8, generator=g)) for _ in range(100))]
    assert torch.tensor(biased).mean() > 10 * sem  # with the diagonal terms the estimate is biased upwards


def test_kid_sees_a_shift_and_its_mean_does_not_depend_on_the_sample_size():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(4000, 16, generator=g)
    shifted = torch.randn(4000, 16, generator=g) + 0.3
    small, _ = kernel_inception_distance(real, shifted, num_subsets=200, subset_size=100)
    large, sd = kernel_inception_distance(real, shifted, num_subsets=20, subset_size=2000)
    assert large > 0 and small == pytest.approx(large, rel=0.2)
    same, _ = kernel_inception_distance(real[:2000], real[2000:], num_subsets=20, subset_size=1000)
    assert abs(same) < 0.1 * large


# --- precision / recall, density / coverage -----------------------------------------------------------------

def test_kth_neighbour_excludes_the_sample_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert kth_neighbour_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match=r"k = 4 needs at least k \+ 1 = 5 samples"):
        kth_neighbour_radii(x, 4)


def test_precision_recall_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])          # k = 1: every real ball has radius 1 → [−1, 4]
    fake = torch.tensor([[0.5], [3.9], [6.0], [6.2]])          # fake radii 3.4, 2.1, 0.2, 0.2
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(2 / 4)                   # 0.5 and 3.9 lie on the real manifold
    assert recall == pytest.approx(4 / 4)                      # the ball of 0.5 (radius 3.4) reaches every real
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 1) / (1 * 4))         # 0.5 is in 2 real balls, 3.9 in 1
    assert coverage == pytest.approx(3 / 4)                    # balls of 0, 1 (holding 0.5) and 3 (holding 3.9)


def test_identical_sets_score_one_and_disjoint_sets_zero():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    density, coverage = density_coverage(x, x.clone(), k=5)
    assert coverage == 1.0 and density == pytest.approx(6 / 5)  # each ball holds its centre and its 5 neighbours
    assert precision_recall(x, x + 100) == (0.0, 0.0)
    assert density_coverage(x, x + 100) == (0.0, 0.0)


def test_precision_is_fidelity_and_recall_is_diversity():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 2, generator=g)
    narrow = 0.2 * torch.randn(1000, 2, generator=g)            # typical samples only: faithful, not diverse
    wide = 3.0 * torch.randn(1000, 2, generator=g)              # everywhere: diverse, often off the data
    p_narrow, r_narrow = precision_recall(real, narrow)
    p_wide, r_wide = precision_recall(real, wide)
    assert p_narrow > 0.95 and r_narrow < 0.4
    assert p_wide < 0.7 and r_wide > 0.9 and p_wide < p_narrow - 0.3


def test_feature_reference_agrees_with_the_single_functions():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(400, 6, generator=g), torch.randn(300, 6, generator=g) * 1.3 + 0.2
    scores = FeatureReference(real, kid_subsets=10, kid_subset_size=200).score(fake)
    assert set(scores) == set(metrics.METRICS)
    assert scores["fd"] == pytest.approx(frechet_distance(real, fake), rel=1e-9)
    assert (scores["precision"], scores["recall"]) == pytest.approx(precision_recall(real, fake, k=3))
    assert (scores["density"], scores["coverage"]) == pytest.approx(density_coverage(real, fake, k=5))
    assert scores["kid"] == pytest.approx(kernel_inception_distance(real, fake, num_subsets=10, subset_size=200)[0])
    with pytest.raises(ValueError, match="same feature network"):
        FeatureReference(real).score(torch.randn(10, 7))


# --- Inception Score and its MNIST analogue ---------------------------------------------------------------------

def test_inception_score_limits():
    assert inception_score_from_probabilities(torch.eye(10)) == pytest.approx(10.0)
    assert inception_score_from_probabilities(torch.eye(10)[[3] * 10]) == pytest.approx(1.0)
    assert inception_score_from_probabilities(torch.full((8, 10), 0.1)) == pytest.approx(1.0)
    # the flaw: ten perfect samples repeated score the maximum, although there are only ten different images
    assert inception_score_from_probabilities(torch.eye(10).repeat(100, 1)) == pytest.approx(10.0)


def test_classifier_score_uses_the_classifier_softmax():
    classifier = MNISTClassifier().eval()
    images = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(classifier(images), dim=1)
    assert classifier_score(classifier, images) == pytest.approx(inception_score_from_probabilities(probs), rel=1e-5)
    assert classifier_score(classifier, images * 2 - 1) == pytest.approx(classifier_score(classifier, images), rel=1e-5)


def test_classifier_features_are_what_its_last_layer_reads():
    classifier = MNISTClassifier().eval()
    x = torch.rand(4, 1, 28, 28)
    features = classifier.features(x)
    assert features.shape == (4, 32 * 7 * 7)
    assert torch.allclose(classifier.net[-1](features), classifier(x), atol=1e-6)
    assert metrics.mnist_features(x, classifier).shape == (4, 1568)


# --- the standard FID path ------------------------------------------------------------------------------------

def test_inception_weights_that_cannot_be_downloaded_give_one_clear_message(monkeypatch, tmp_path, server):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(metrics.inception, "INCEPTION_URL", server.url + "inception_v3_google-0cc3c7bd.pth")
    with pytest.raises(InceptionUnavailableError) as err:
        metrics.inception_network()
    message = str(err.value)
    assert "could not be downloaded" in message and "HTTPError" in message
    assert str(tmp_path / "hub") in message and "mnist_features" in message and "photo_features" in message


def test_inception_offline_message(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(InceptionUnavailableError, match="name resolution"):
        metrics.inception_features(torch.rand(2, 1, 28, 28))


# --- the photo feature network ----------------------------------------------------------------------------

def test_rotations_and_photo_network_shapes():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    rotated, labels = rotations(x)
    assert rotated.shape == (8, 3, 4, 4) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[2], torch.rot90(x[0], 1, dims=(1, 2)))
    net = RotationNet().eval()
    assert net.features(torch.zeros(5, 3, 32, 32)).shape == (5, 64) and net(torch.zeros(5, 3, 32, 32)).shape == (5, 4)
    with pytest.raises(ValueError, match=r"\[N, 3, 32, 32\]"):
        metrics.photo_features(torch.zeros(5, 1, 28, 28), net)


def test_rotation_net_learns_which_way_is_up():
    g = torch.Generator().manual_seed(0)
    sky = torch.linspace(1, -1, 32).view(1, 1, 32, 1).expand(96, 3, 32, 32)   # bright at the top, dark below
    images = (sky + 0.3 * torch.randn(96, 3, 32, 32, generator=g)).clamp(-1, 1)
    model, info = train_rotation_net(images[:64], images[64:], epochs=15, batch_size=16)
    assert info["test_accuracy"] > 0.9 and rotation_accuracy(model, images[64:]) == info["test_accuracy"]
    assert metrics.photo_feature_distance(images[64:], images[64:].clone(), model) == pytest.approx(0, abs=1e-6)
    assert metrics.photo_feature_distance(images[64:].flip(2), images[64:], model) > 0


# --- validation: does each metric see controlled damage? -------------------------------------------------------

_g = torch.Generator().manual_seed(99)
PROTOTYPES = blur(torch.rand(10, 1, 14, 14, generator=_g), 1.2)
STYLES = blur(torch.randn(10, 4, 14, 14, generator=_g), 1.0)       # four smooth directions of variation per class


def synthetic_digits(n, seed):
    """Ten classes of 14×14 'digits' on low-dimensional manifolds, like real ones: a smooth prototype per class
    plus a random combination of four smooth style images of that class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(10, (n,), generator=g)
    weights = torch.randn(n, 4, 1, 1, generator=g)
    images = (PROTOTYPES - PROTOTYPES.mean()) * 4 + 0.5
    return (images[labels] + 0.5 * (weights * STYLES[labels]).sum(1, keepdim=True)).clamp(0, 1), labels


@pytest.fixture(scope="module")
def validation():
    reference, _ = synthetic_digits(600, seed=1)
    pool, pool_labels = synthetic_digits(6000, seed=2)
    n = 600
    g = torch.Generator().manual_seed(3)
    sets = {
        "real": pool[:n],                                                   # disjoint from the reference
        "blur": blur(pool[n:2 * n], 1.5),
        "noise": add_noise(pool[n:2 * n], 0.2, generator=g),
        "dropped classes": drop_classes(pool, pool_labels, keep=4, n=n, generator=g),
        "truncated": pool[most_typical(pool.flatten(1), pool_labels, fraction=0.1)][:n],
    }
    ref = FeatureReference(reference.flatten(1), kid_subsets=20, kid_subset_size=300)
    return {name: ref.score(images.flatten(1)) for name, images in sets.items()}


@pytest.mark.parametrize("damage", ["blur", "noise", "dropped classes", "truncated"])
def test_real_vs_real_is_clearly_better_than_every_damage_on_both_distances(validation, damage):
    real = validation["real"]
    assert validation[damage]["fd"] > 2 * real["fd"]
    assert validation[damage]["kid"] > real["kid"] + 1e-3
    assert abs(real["kid"]) < 1e-3                      # unbiased: real vs real is about 0


@pytest.mark.parametrize("damage", ["blur", "noise"])
def test_fidelity_damage_lowers_precision_density_and_coverage(validation, damage):
    real, bad = validation["real"], validation[damage]
    assert bad["precision"] < real["precision"] - 0.2 and bad["density"] < 0.8 * real["density"]
    assert bad["coverage"] < real["coverage"] - 0.2


def test_noise_fools_recall_but_not_coverage(validation):
    """Naeem et al. (2020), sec. 3: noisy samples have large k-NN balls that swallow the real data."""
    real, noisy = validation["real"], validation["noise"]
    assert noisy["recall"] > real["recall"] - 0.05 and noisy["coverage"] < real["coverage"] - 0.2


@pytest.mark.parametrize("damage", ["dropped classes", "truncated"])
def test_diversity_damage_lowers_recall_and_coverage_but_not_precision(validation, damage):
    real, bad = validation["real"], validation[damage]
    assert bad["recall"] < real["recall"] - 0.2 and bad["coverage"] < real["coverage"] - 0.05
    assert bad["precision"] > real["precision"] - 0.05
