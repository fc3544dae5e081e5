r"""Fidelity and diversity as two numbers: k-NN precision/recall and density/coverage.

Each set of features ``[N, d]`` is turned into a *manifold estimate*: the union of balls around its samples,
each ball reaching the sample's k-th nearest neighbour within its own set (the sample itself not counted).
"""

from __future__ import annotations

import torch

from .distances import _as_features


def kth_neighbour_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each sample ``[N, d]`` to its k-th nearest neighbour in the same set, itself excluded
    (the 0-th neighbour is the sample at distance 0). Returns ``[N]``."""
    x = _as_features("features", features)
    return _radii(_pairwise(x, x), k)


def _radii(distances: torch.Tensor, k: int) -> torch.Tensor:
    """:func:`kth_neighbour_radii` from a set's own distance matrix ``[N, N]`` (to reuse it for several k)."""
    if not 1 <= k < len(distances):
        raise ValueError(f"k = {k} needs at least k + 1 = {k + 1} samples and k ≥ 1; got {len(distances)} samples.")
    return distances.kthvalue(k + 1, dim=1).values


def _pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``[N, M]`` in float64, so that a distance and a radius computed from the same pair
    of samples agree (float32 rounding would break ties between a sample and its own neighbours)."""
    return torch.cdist(a.double(), b.double())


def _inside(distances: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """``distances[i, j] <= radii[j]``, with a relative slack of 1e-9 for round-off: the distance from a to b and
    from b to a can differ in the last bit, and a neighbour exactly on a ball's boundary belongs to it."""
    return distances <= radii[None, :] * (1 + 1e-9)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, *,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al., 2019, eq. 1–2; k = 3 as in the paper).

    precision = share of generated samples inside the real manifold (some real :math:`\phi_r` with
    :math:`\lVert\phi_g - \phi_r\rVert \le` the k-NN radius of :math:`\phi_r` among the reals): fidelity.
    recall = share of real samples inside the generated manifold (radii from the fakes among themselves):
    diversity. ``real`` ``[N, d]``, ``fake`` ``[M, d]``; ``real_radii`` ``[N]`` may be passed to reuse them.
    """
    real, fake = _as_features("real", real), _as_features("fake", fake)
    r_real = kth_neighbour_radii(real, k) if real_radii is None else real_radii
    r_fake = kth_neighbour_radii(fake, k)
    d = _pairwise(fake, real)                                   # [M, N]
    precision = _inside(d, r_real).any(dim=1).float().mean()
    recall = _inside(d.T, r_fake).any(dim=1).float().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5, *,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    r"""Density and coverage (Naeem et al., 2020, eq. 3–4; k = 5 as in the paper), both from real balls only,
    so that outliers among the reals or the fakes inflate neither:

    .. math:: \text{density} = \frac{1}{kM}\sum_j \sum_i 1[\phi_g^j \in B(\phi_r^i, r_i)], \qquad
              \text{coverage} = \frac{1}{N}\sum_i 1[\exists j: \phi_g^j \in B(\phi_r^i, r_i)].

    Density is about 1 when fakes are distributed like the reals (it can exceed 1); coverage is the share of
    real balls that hold at least one fake. ``real`` ``[N, d]``, ``fake`` ``[M, d]``.
    """
    real, fake = _as_features("real", real), _as_features("fake", fake)
    r_real = kth_neighbour_radii(real, k) if real_radii is None else real_radii
    inside = _inside(_pairwise(fake, real), r_real)        # [M, N]
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(dim=0).float().mean()
    return float(density), float(coverage)
