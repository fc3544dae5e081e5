"""Mutation tests for notebook 07's checks: the mistakes students make are rejected with a message that names
them, and correct answers written another way pass."""

import pytest
import torch

from course_utils.checks import CheckError, check_frechet_distance, check_kid, check_precision_recall


# --- Exercise 1: the Fréchet distance ------------------------------------------------------------------------

def _stats(a, b, correction=1):
    return a.mean(0), b.mean(0), torch.cov(a.T, correction=correction), torch.cov(b.T, correction=correction)


def _sym_sqrt(m):
    values, vectors = torch.linalg.eigh(m)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def fd_symmetric(a, b, sign=-2.0, square_mean=True, mean_term=True):
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double())
    root = _sym_sqrt(s_a)
    cross = _sym_sqrt(root @ s_b @ root).trace()
    mean = (mu_a - mu_b).pow(2).sum() if square_mean else (mu_a - mu_b).norm()
    return (mean if mean_term else 0) + torch.trace(s_a) + torch.trace(s_b) + sign * cross


def fd_eigvals(a, b):
    """Correct: Tr (Σa Σb)^½ = Σ √λ over the (real, non-negative) eigenvalues of the non-symmetric product."""
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double())
    cross = torch.linalg.eigvals(s_a @ s_b).sqrt().real.sum()
    return float((mu_a - mu_b).pow(2).sum() + s_a.trace() + s_b.trace() - 2 * cross)


def fd_cholesky(a, b):
    """Correct: with Σa = L Lᵀ, the symmetric Lᵀ Σb L has the eigenvalues of Σa Σb."""
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double())
    low = torch.linalg.cholesky(s_a)
    cross = torch.linalg.eigvalsh(low.T @ s_b @ low).clamp_min(0).sqrt().sum()
    return (mu_a - mu_b).pow(2).sum() + s_a.trace() + s_b.trace() - 2 * cross


def fd_biased_covariance(a, b):
    """Correct too: the maximum-likelihood covariance (divisor N) changes FD by O(1/N)."""
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double(), correction=0)
    root = _sym_sqrt(s_a)
    return torch.sum((mu_a - mu_b) ** 2) + torch.trace(s_a + s_b - 2 * _sym_sqrt(root @ s_b @ root))


def fd_product_of_roots(a, b):
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double())
    return (mu_a - mu_b).pow(2).sum() + s_a.trace() + s_b.trace() - 2 * (_sym_sqrt(s_a) @ _sym_sqrt(s_b)).trace()


def fd_diagonal(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    return (mu_a - mu_b).pow(2).sum() + (a.std(0) - b.std(0)).pow(2).sum()


def fd_elementwise_sqrt_clamped(a, b):
    mu_a, mu_b, s_a, s_b = _stats(a.double(), b.double())
    return (mu_a - mu_b).pow(2).sum() + s_a.trace() + s_b.trace() - 2 * torch.sqrt((s_a @ s_b).clamp_min(0)).trace()


@pytest.mark.parametrize("wrong, message", [
    (lambda a, b: fd_symmetric(a, b, sign=+2.0), "wrong sign"),
    (lambda a, b: fd_symmetric(a, b, sign=-1.0), "factor 2"),
    (lambda a, b: fd_symmetric(a, b, square_mean=False), "must be squared"),
    (lambda a, b: fd_symmetric(a, b, mean_term=False), "mean term is missing"),
    (fd_product_of_roots, "commute"),
    (fd_diagonal, "only the variances"),
    (fd_elementwise_sqrt_clamped, "elementwise square root"),
    (lambda a, b: fd_symmetric(a[:1000], b), "expected"),               # ignores part of the data
])
def test_fd_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_frechet_distance(wrong)


@pytest.mark.parametrize("right", [fd_symmetric, fd_eigvals, fd_cholesky, fd_biased_covariance],
                         ids=["symmetric eigh", "eigvals of the product", "cholesky", "divisor N"])
def test_fd_correct_alternatives_pass(right, capsys):
    check_frechet_distance(right)
    assert capsys.readouterr().out.startswith("✓ check_frechet_distance passed")


# --- Exercise 2: k-NN precision and recall ------------------------------------------------------------------

def _radii(x, k, include_self=False):
    return torch.cdist(x, x).kthvalue(k if include_self else k + 1, dim=1).values


def pr_reference(real, fake, k=3, include_self=False, swap=False):
    r_real, r_fake = _radii(real, k, include_self), _radii(fake, k, include_self)
    d = torch.cdist(fake, real)
    precision = (d <= r_real[None]).any(1).float().mean()
    recall = (d.T <= r_fake[None]).any(1).float().mean()
    return (recall, precision) if swap else (precision, recall)


def pr_loops(real, fake, k=3):
    """Correct: a loop over the samples, squared distances and sorting (the same comparisons)."""
    def radii(points):
        return [sorted(((points - p) ** 2).sum(1).tolist())[k] for p in points]   # [0] is the sample itself
    r_real, r_fake = torch.tensor(radii(real)), torch.tensor(radii(fake))
    precision = sum(bool((((real - f) ** 2).sum(1) <= r_real).any()) for f in fake) / len(fake)
    recall = sum(bool((((fake - r) ** 2).sum(1) <= r_fake).any()) for r in real) / len(real)
    return precision, recall


def pr_topk(real, fake, k=3):
    """Correct: topk of the negated distances, self included then skipped."""
    r_real = torch.cdist(real, real).topk(k + 1, largest=False).values[:, -1]
    r_fake = torch.cdist(fake, fake).topk(k + 1, largest=False).values[:, -1]
    d = torch.cdist(fake, real)
    return float((d <= r_real).any(1).double().mean()), float((d.T <= r_fake).any(1).double().mean())


def pr_cross_radii(real, fake, k=3):
    d = torch.cdist(fake, real)
    r_real, r_fake = d.T.kthvalue(k, 1).values, d.kthvalue(k, 1).values
    return (d <= r_real[None]).any(1).float().mean(), (d.T <= r_fake[None]).any(1).float().mean()


def pr_coverage_as_precision(real, fake, k=3):
    d = torch.cdist(fake, real)
    return (d <= _radii(real, k)[None]).any(0).float().mean(), pr_reference(real, fake, k)[1]


def pr_real_radii_for_recall(real, fake, k=3):
    d = torch.cdist(fake, real)
    return pr_reference(real, fake, k)[0], (d <= _radii(real, k)[None]).any(0).float().mean()


def pr_fake_radii_for_precision(real, fake, k=3):
    d = torch.cdist(fake, real)
    return (d <= _radii(fake, k)[:, None]).any(1).float().mean(), pr_reference(real, fake, k)[1]


def pr_nearest_ball_only(real, fake, k=3):
    d = torch.cdist(fake, real)
    r_real, r_fake = _radii(real, k), _radii(fake, k)
    nearest_real, nearest_fake = d.argmin(1), d.T.argmin(1)
    precision = (d.min(1).values <= r_real[nearest_real]).float().mean()
    recall = (d.T.min(1).values <= r_fake[nearest_fake]).float().mean()
    return precision, recall


@pytest.mark.parametrize("wrong, message", [
    (lambda r, f, k: pr_reference(r, f, k, swap=True), "swapped"),
    (lambda r, f, k: pr_reference(r, f, k, include_self=True), "counts the sample itself"),
    (pr_cross_radii, "own samples"),
    (pr_coverage_as_precision, "coverage"),
    (pr_real_radii_for_recall, "recall uses the real samples' radii"),
    (pr_fake_radii_for_precision, "precision uses the generated samples' radii"),
    (pr_nearest_ball_only, "any"),
    (lambda r, f, k: pr_reference(r, f, 3), "use the k argument"),
    (lambda r, f, k: pr_reference(r, f, k) if not torch.equal(r, f) else (1.0, 0.99), "its own manifold"),
])
def test_pr_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_precision_recall(wrong)


@pytest.mark.parametrize("right", [pr_reference, pr_loops, pr_topk], ids=["kthvalue", "loops", "topk"])
def test_pr_correct_alternatives_pass(right, capsys):
    check_precision_recall(right)
    assert capsys.readouterr().out.startswith("✓ check_precision_recall passed")


# --- Exercise 3: KID's unbiased MMD² -----------------------------------------------------------------------

def kernel(a, b, divide=True, degree=3, coef0=1.0):
    return ((a @ b.T) / (a.shape[1] if divide else 1) + coef0) ** degree


def mmd_matrix(x, y, **kw):
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = kernel(x, x, **kw), kernel(y, y, **kw), kernel(x, y, **kw)
    return ((k_xx.sum() - k_xx.trace()) / (m * (m - 1)) + (k_yy.sum() - k_yy.trace()) / (n * (n - 1))
            - 2 * k_xy.mean())


def mmd_triu(x, y):
    """Correct: each unordered pair once (upper triangle), times two."""
    m, n = len(x), len(y)
    k_xx, k_yy = torch.triu(kernel(x, x), diagonal=1), torch.triu(kernel(y, y), diagonal=1)
    return 2 * k_xx.sum() / (m * (m - 1)) + 2 * k_yy.sum() / (n * (n - 1)) - 2 * kernel(x, y).sum() / (m * n)


def mmd_loops(x, y):
    """Correct: the double sums written out, in float64."""
    x, y = x.double(), y.double()
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return xx + yy - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)


def mmd_masked(x, y):
    """Correct: zero the diagonal with a mask."""
    m, n = len(x), len(y)
    off_x, off_y = ~torch.eye(m, dtype=torch.bool), ~torch.eye(n, dtype=torch.bool)
    return kernel(x, x)[off_x].mean() + kernel(y, y)[off_y].mean() - 2 * kernel(x, y).mean()


def mmd_biased(x, y):
    return kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()


def mmd_wrong_normaliser(x, y):
    m, n = len(x), len(y)
    k_xx, k_yy = kernel(x, x), kernel(y, y)
    return (k_xx.sum() - k_xx.trace()) / m ** 2 + (k_yy.sum() - k_yy.trace()) / n ** 2 - 2 * kernel(x, y).mean()


def mmd_single_cross(x, y):
    m, n = len(x), len(y)
    k_xx, k_yy = kernel(x, x), kernel(y, y)
    return (k_xx.sum() - k_xx.trace()) / (m * (m - 1)) + (k_yy.sum() - k_yy.trace()) / (n * (n - 1)) - kernel(x, y).mean()


def mmd_same_size(x, y):
    m = len(x)
    k_xx, k_yy = kernel(x, x), kernel(y, y)
    return ((k_xx.sum() - k_xx.trace()) + (k_yy.sum() - k_yy.trace())) / (m * (m - 1)) - 2 * kernel(x, y).sum() / m ** 2


@pytest.mark.parametrize("wrong, message", [
    (mmd_biased, "diagonal terms"),
    (mmd_wrong_normaliser, r"m\(m − 1\) pairs"),
    (mmd_single_cross, "factor 2"),
    (lambda x, y: mmd_matrix(x, y, divide=False), "divides by the dimension"),
    (lambda x, y: mmd_matrix(x, y, degree=2), "not squared"),
    (lambda x, y: mmd_matrix(x, y, coef0=0.0), "constant term"),
    (lambda x, y: mmd_matrix(x, y).sqrt(), "no square root"),
    (mmd_same_size, "its own size"),
    (lambda x, y: mmd_matrix(x, y) if len(x) == 60 else torch.tensor(0.0), "take m, n and d from the inputs"),
])
def test_kid_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_kid(wrong)


@pytest.mark.parametrize("right", [mmd_matrix, mmd_triu, mmd_loops, mmd_masked],
                         ids=["matrix", "upper triangle", "loops", "mask"])
def test_kid_correct_alternatives_pass(right, capsys):
    check_kid(right)
    assert capsys.readouterr().out.startswith("✓ check_kid passed")
