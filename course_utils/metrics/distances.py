r"""Distances between two sets of features: the Fréchet distance (FID's formula) and the kernel distance (KID).

Both compare a set of real features ``[N, d]`` with a set of generated ones ``[M, d]`` taken from the same
feature network (notebook 07): the MNIST classifier's penultimate layer, the photo network's, or Inception-v3's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _as_features(name: str, features: torch.Tensor, min_rows: int = 2) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a feature matrix [N, d], got {shape}: flatten each sample first "
                         "(features.flatten(1)).")
    if len(features) < min_rows:
        raise ValueError(f"{name} has {len(features)} rows; at least {min_rows} samples are needed.")
    if not bool(torch.isfinite(features).all()):
        raise ValueError(f"{name} contains NaN or inf: check the samples (a diverged model) before scoring them.")
    return features.detach().double().cpu()


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    r"""The symmetric square root :math:`A^{1/2}` of a symmetric positive semi-definite ``[d, d]`` matrix, by
    its eigendecomposition :math:`A = Q \Lambda Q^\top`, :math:`A^{1/2} = Q \Lambda^{1/2} Q^\top` (eigenvalues
    that rounding makes slightly negative are set to 0). Returns ``[d, d]``, symmetric, real."""
    matrix = 0.5 * (matrix + matrix.T)
    eigenvalues, vectors = torch.linalg.eigh(matrix)
    return (vectors * eigenvalues.clamp_min(0).sqrt()) @ vectors.T


@dataclass
class GaussianStatistics:
    """Mean ``[d]`` and covariance ``[d, d]`` (float64) of ``count`` features.

    With fewer samples than dimensions the covariance has rank < d and is kept as a *factor*: the centred
    features over √(N − 1), ``[N, d]``, with Σ = factorᵀ factor (the ``[d, d]`` matrix is formed only if asked
    for). ``sqrt_cov`` is computed once, when needed.
    """

    mean: torch.Tensor
    count: int
    _cov: torch.Tensor | None = None
    factor: torch.Tensor | None = None
    _sqrt: torch.Tensor | None = None

    @property
    def cov(self) -> torch.Tensor:
        if self._cov is None:
            self._cov = self.factor.T @ self.factor
        return self._cov

    @property
    def trace(self) -> torch.Tensor:
        return self.factor.pow(2).sum() if self._cov is None else torch.trace(self._cov)

    @property
    def sqrt_cov(self) -> torch.Tensor:
        if self._sqrt is None:
            self._sqrt = sqrtm_psd(self.cov)
        return self._sqrt


def gaussian_statistics(features: torch.Tensor) -> GaussianStatistics:
    """Sample mean and unbiased covariance (divisor N − 1, as ``numpy.cov`` in the reference FID code) of
    ``features`` ``[N, d]``."""
    x = _as_features("features", features)
    mean = x.mean(0)
    factor = (x - mean) / (len(x) - 1) ** 0.5
    if len(x) < x.shape[1]:
        return GaussianStatistics(mean, len(x), factor=factor)
    return GaussianStatistics(mean, len(x), _cov=factor.T @ factor)


def trace_sqrt_product(a: GaussianStatistics, b: GaussianStatistics) -> torch.Tensor:
    r""":math:`\operatorname{Tr}(\Sigma_a \Sigma_b)^{1/2}`, the sum of the square roots of the eigenvalues of
    :math:`\Sigma_a\Sigma_b` (real and non-negative), always from a *symmetric* matrix with the same eigenvalues:

    * :math:`\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}` ``[d, d]`` when both sets have at least d samples;
    * :math:`F_b \Sigma_a F_b^\top` ``[N_b, N_b]`` when :math:`\Sigma_b = F_b^\top F_b` has a factor with
      :math:`N_b < d` rows (and :math:`G G^\top`, :math:`G = F_b F_a^\top`, when both have one), which costs
      :math:`N^2 d` instead of :math:`d^3`."""
    if a.factor is not None and (b.factor is None or len(a.factor) < len(b.factor)):
        a, b = b, a                                        # the smaller factor, if any, is b's
    if b.factor is not None:
        inner = b.factor @ a.factor.T if a.factor is not None else None     # [N_b, N_a]
        middle = inner @ inner.T if inner is not None else b.factor @ a.cov @ b.factor.T
    else:
        middle = a.sqrt_cov @ b.cov @ a.sqrt_cov
    return torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp_min(0).sqrt().sum()


def frechet_distance_from_statistics(a: GaussianStatistics, b: GaussianStatistics) -> float:
    r"""Fréchet (2-Wasserstein) distance between :math:`N(\mu_a, \Sigma_a)` and :math:`N(\mu_b, \Sigma_b)`
    (Dowson & Landau, 1982; Heusel et al., 2017, "GANs trained by a two time-scale update rule ...", eq. 6):

    .. math:: d^2 = \lVert \mu_a - \mu_b \rVert_2^2 + \operatorname{Tr}\big(\Sigma_a + \Sigma_b
              - 2\,(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}\big).

    The trace of the square root is taken from a symmetric matrix (:func:`trace_sqrt_product`), whose eigenvalues
    are real and non-negative: no complex round-off as with ``scipy.linalg.sqrtm`` of the non-symmetric product.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"features of different sizes: {a.mean.shape[0]} vs {b.mean.shape[0]} dimensions.")
    value = (a.mean - b.mean).pow(2).sum() + a.trace + b.trace - 2 * trace_sqrt_product(a, b)
    return float(value.clamp_min(0))


def frechet_distance(features_a: torch.Tensor | GaussianStatistics, features_b: torch.Tensor | GaussianStatistics) -> float:
    r"""Fréchet distance between Gaussians fitted to two feature sets ``[N, d]`` and ``[M, d]`` (either may be
    given as :class:`GaussianStatistics` to reuse a reference's). With Inception-v3 pool features this is FID
    (Heusel et al., 2017, eq. 6); see :func:`frechet_distance_from_statistics`. Lower is better; biased
    upwards at small N (notebook 07 measures it), so compare values only at the same N."""
    a = features_a if isinstance(features_a, GaussianStatistics) else gaussian_statistics(features_a)
    b = features_b if isinstance(features_b, GaussianStatistics) else gaussian_statistics(features_b)
    return frechet_distance_from_statistics(a, b)


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0) -> torch.Tensor:
    r"""KID's kernel (Bińkowski et al., 2018, "Demystifying MMD GANs", sec. 4):
    :math:`k(x, y) = (x^\top y / d + c)^3`, ``[N, d], [M, d]`` → ``[N, M]``."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased_from_kernels(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> torch.Tensor:
    r"""The unbiased estimator of MMD² (Gretton et al., 2012, eq. 3) from kernel matrices ``[m, m]``,
    ``[n, n]``, ``[m, n]``: the within-set means leave out the diagonal :math:`k(x_i, x_i)`,

    .. math:: \frac{1}{m(m-1)}\sum_{i \ne j} k(x_i, x_j) + \frac{1}{n(n-1)}\sum_{i \ne j} k(y_i, y_j)
              - \frac{2}{mn}\sum_{i, j} k(x_i, y_j),

    so its expectation is exactly MMD² (0 for identical distributions; single values may be negative)."""
    m, n = len(k_xx), len(k_yy)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² with the cubic polynomial kernel between ``[m, d]`` and ``[n, d]`` features: one KID
    subset (Bińkowski et al., 2018, sec. 4)."""
    x, y = _as_features("x", x), _as_features("y", y)
    return float(mmd2_unbiased_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)))


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, *, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    r"""KID (Bińkowski et al., 2018, sec. 4): the unbiased MMD² with the cubic polynomial kernel, averaged over
    ``num_subsets`` random subsets of ``min(subset_size, N, M)`` samples from each set, as in the authors' code.

    ``real`` ``[N, d]``, ``fake`` ``[M, d]``. Returns ``(mean, standard deviation over subsets)``. Unlike the
    Fréchet distance its expectation does not depend on the sample size. The three kernel matrices are computed
    once for all samples; the subsets are sums over them (:func:`subset_mmd2`).
    """
    x, y = _as_features("real", real), _as_features("fake", fake)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"features of different sizes: {x.shape[1]} vs {y.shape[1]} dimensions.")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    values = subset_mmd2(k_xx, k_yy, k_xy, num_subsets=num_subsets, subset_size=subset_size, seed=seed)
    return float(values.mean()), float(values.std()) if len(values) > 1 else 0.0


def _subset_masks(n: int, size: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random subsets of ``size`` out of ``n`` samples, as 0/1 rows ``[count, n]`` (float64)."""
    masks = torch.zeros(count, n, dtype=torch.float64)
    for row in masks:
        row[torch.randperm(n, generator=generator)[:size]] = 1.0
    return masks


def subset_mmd2(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor, *, num_subsets: int, subset_size: int,
                seed: int = 0) -> torch.Tensor:
    r"""Unbiased MMD² (:func:`mmd2_unbiased_from_kernels`) on ``num_subsets`` random subsets of
    ``min(subset_size, N, M)`` samples of each set, from the full kernel matrices ``[N, N]``, ``[M, M]``,
    ``[N, M]``. With 0/1 subset indicators :math:`s`, a subset's sum :math:`\sum_{i, j \in S} K_{ij}` is
    :math:`s^	op K s`, so all subsets take two matrix products and nothing is copied. Returns ``[num_subsets]``."""
    n, m = len(k_xx), len(k_yy)
    size = min(subset_size, n, m)
    generator = torch.Generator().manual_seed(seed)
    s_x, s_y = _subset_masks(n, size, num_subsets, generator), _subset_masks(m, size, num_subsets, generator)
    within_x = ((s_x @ k_xx) * s_x).sum(1) - s_x @ k_xx.diagonal()
    within_y = ((s_y @ k_yy) * s_y).sum(1) - s_y @ k_yy.diagonal()
    cross = ((s_x @ k_xy) * s_y).sum(1)
    return within_x / (size * (size - 1)) + within_y / (size * (size - 1)) - 2 * cross / (size * size)
