"""Self-checks for notebook 07 (evaluating generative models: Fréchet distance, k-NN precision/recall, KID)."""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..metrics.distances import frechet_distance, gaussian_statistics, polynomial_mmd2, sqrtm_psd
from ..metrics.manifold import precision_recall
from ._core import CheckError, call, expect, passed

# ---------------------------------------------------------------------------------------------------------
# shared helpers


def _scalar(name: str, value: Any) -> float:
    """A Python float from a float, an int or a one-element tensor; a clear error otherwise."""
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1, f"{name} should be one number, got a tensor of shape {list(value.shape)}.")
        value = value.detach().double().item()
    expect(isinstance(value, (int, float)), f"{name} should be a number, got {type(value).__name__}.")
    return float(value)


def _near(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(b), 1e-12)


# ---------------------------------------------------------------------------------------------------------
# Exercise 1: the Fréchet distance


def _gaussian_features(n: int, d: int, seed: int, shift: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing + shift * torch.linspace(-1, 1, d)


def _fd_parts(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    sa, sb = gaussian_statistics(a), gaussian_statistics(b)
    root_a, root_b = sqrtm_psd(sa.cov), sqrtm_psd(sb.cov)
    return {"mean2": (sa.mean - sb.mean).pow(2).sum(), "mean": (sa.mean - sb.mean).norm(), "tr_a": torch.trace(sa.cov),
            "tr_b": torch.trace(sb.cov), "cross": sqrtm_psd(root_a @ sb.cov @ root_a).trace(),
            "roots": torch.trace(root_a @ root_b),
            "diag": (sa.cov.diagonal() * sb.cov.diagonal()).sqrt().sum(),
            "elementwise": (sa.cov @ sb.cov).clamp_min(0).sqrt().trace()}


def check_frechet_distance(frechet_distance_fn: Callable) -> None:
    """``frechet_distance_fn(features_a [N, d], features_b [M, d])`` → ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½)."""
    a, b = _gaussian_features(3000, 6, seed=0, shift=0.0), _gaussian_features(2500, 6, seed=1, shift=1.0)
    got = _scalar("frechet_distance(a, b)", call(frechet_distance_fn, a.float(), b.float(), name="frechet_distance"))
    want, p = frechet_distance(a, b), _fd_parts(a, b)
    expect(got == got, "frechet_distance returned NaN: a square root of a matrix with negative entries, taken entry "
                       "by entry? The matrix square root comes from an eigendecomposition (torch.linalg.eigh of a "
                       "symmetric matrix), not from torch.sqrt.")
    base = p["tr_a"] + p["tr_b"]
    mistakes = {
        "the cross term has the wrong sign: it is −2 Tr(Σa^½ Σb Σa^½)^½, which makes the distance 0 for equal "
        "Gaussians": p["mean2"] + base + 2 * p["cross"],
        "the cross term lacks its factor 2: Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)": p["mean2"] + base - p["cross"],
        "the mean term is missing: add ‖μa − μb‖², the squared distance between the feature means": base - 2 * p["cross"],
        "the mean term must be squared: ‖μa − μb‖², not ‖μa − μb‖": p["mean"] + base - 2 * p["cross"],
        "you multiplied the square roots, Σa^½ Σb^½: (Σa Σb)^½ equals that only when the covariances commute; "
        "take the square root of Σa^½ Σb Σa^½ itself": p["mean2"] + base - 2 * p["roots"],
        "you used only the variances (the diagonals of Σa and Σb): features are correlated, so use the full "
        "covariance matrices": p["mean2"] + base - 2 * p["diag"],
        "you took an elementwise square root of the product Σa Σb: a matrix square root is not torch.sqrt; use an "
        "eigendecomposition (torch.linalg.eigh) of the symmetric Σa^½ Σb Σa^½": p["mean2"] + base - 2 * p["elementwise"],
    }
    for message, value in mistakes.items():
        if _near(got, float(value), 1e-3) and not _near(got, want, 1e-3):
            raise CheckError(f"frechet_distance(a, b) = {got:.4f}, expected {want:.4f}: {message}.")
    expect(_near(got, want, 2e-3),
           f"frechet_distance(a, b) = {got:.4f}, expected {want:.4f} (relative error {abs(got - want) / want:.1e}). "
           "Fit a Gaussian to each set: means over the samples (dim 0) and covariances of the features "
           "(torch.cov(features.T), [d, d]), then ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½).")
    same = _scalar("frechet_distance(a, a)", call(frechet_distance_fn, a.float(), a.float(), name="frechet_distance"))
    expect(abs(same) < 1e-3 * want, f"frechet_distance(a, a) = {same:.4g}: the distance of a set to itself must be 0.")
    swapped = _scalar("frechet_distance(b, a)", call(frechet_distance_fn, b.float(), a.float(), name="frechet_distance"))
    expect(_near(swapped, want, 2e-3), f"frechet_distance(b, a) = {swapped:.4f} but frechet_distance(a, b) = {got:.4f}: "
                                       "the distance is symmetric.")
    passed("check_frechet_distance", f"FD = {want:.4f} between two samples of 6-D Gaussians")


# ---------------------------------------------------------------------------------------------------------
# Exercise 2: k-NN precision and recall


def _pr_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 4, generator=g)
    fake = torch.cat([0.6 * torch.randn(220, 4, generator=g) + 0.5,       # concentrated near part of the data
                      2.5 * torch.randn(80, 4, generator=g)])             # and some far off it
    return real, fake


def _pr_mistakes(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, tuple[float, float]]:
    d_fr, d_rr, d_ff = torch.cdist(fake, real), torch.cdist(real, real), torch.cdist(fake, fake)
    r_real, r_fake = d_rr.kthvalue(k + 1, 1).values, d_ff.kthvalue(k + 1, 1).values
    self_real, self_fake = d_rr.kthvalue(k, 1).values, d_ff.kthvalue(k, 1).values
    cross_real, cross_fake = d_fr.T.kthvalue(k, 1).values, d_fr.kthvalue(k, 1).values
    nearest = d_fr.argmin(1)

    def pr(rr, rf):
        return (float((d_fr <= rr[None]).any(1).float().mean()), float((d_fr.T <= rf[None]).any(1).float().mean()))

    p, r = pr(r_real, r_fake)
    return {
        "precision and recall are swapped: precision asks whether the *generated* samples lie on the real manifold "
        "(fidelity), recall whether the *real* ones lie on the generated manifold (diversity)": (r, p),
        "the k-th neighbour counts the sample itself: its distance to itself is 0, so the k-th nearest *other* "
        "sample is the (k + 1)-th smallest distance (kthvalue(k + 1) or topk(k + 1))": pr(self_real, self_fake),
        "the radii must come from each set's own samples: a real sample's radius is its distance to the k-th "
        "nearest *real* sample, a generated one's to the k-th nearest *generated* sample": pr(cross_real, cross_fake),
        "a sample is on the manifold if it lies inside *any* ball, not only inside the ball of its nearest "
        "neighbour": (float((d_fr.gather(1, nearest[:, None]).flatten() <= r_real[nearest]).float().mean()),
                      float((d_fr.T.gather(1, d_fr.T.argmin(1)[:, None]).flatten()
                             <= r_fake[d_fr.T.argmin(1)]).float().mean())),
        "you counted the real balls that hold a generated sample (that is coverage, Naeem et al. 2020): precision "
        "is the share of generated samples that fall in at least one real ball":
            (float((d_fr <= r_real[None]).any(0).float().mean()), r),
        "recall uses the real samples' radii (that is coverage, Naeem et al. 2020): recall asks whether each real "
        "sample falls inside a ball around a generated sample, whose radius is that generated sample's k-NN "
        "distance among the generated ones": (p, float((d_fr <= r_real[None]).any(0).float().mean())),
        "precision uses the generated samples' radii: a generated sample is on the real manifold if it falls inside "
        "the ball of a real sample, whose radius is that real sample's k-NN distance among the reals":
            (float((d_fr <= r_fake[:, None]).any(1).float().mean()), r),
    }


def _pair(name: str, value: Any) -> tuple[float, float]:
    expect(isinstance(value, (tuple, list)) and len(value) == 2,
           f"{name} should return a pair (precision, recall), got {type(value).__name__}.")
    return _scalar(f"{name}[0] (precision)", value[0]), _scalar(f"{name}[1] (recall)", value[1])


def check_precision_recall(precision_recall_fn: Callable) -> None:
    """``precision_recall_fn(real [N, d], fake [M, d], k)`` → (precision, recall) of Kynkäänniemi et al. (2019)."""
    real, fake = _pr_data()
    got = _pair("precision_recall(real, fake, k=3)", call(precision_recall_fn, real, fake, 3, name="precision_recall"))
    want = precision_recall(real, fake, 3)
    if max(abs(g - w) for g, w in zip(got, want)) > 1e-6:
        for message, value in _pr_mistakes(real, fake, 3).items():
            if max(abs(g - v) for g, v in zip(got, value)) <= 1e-6:
                raise CheckError(f"precision_recall(real, fake, k=3) = ({got[0]:.4f}, {got[1]:.4f}), expected "
                                 f"({want[0]:.4f}, {want[1]:.4f}): {message}.")
        raise CheckError(f"precision_recall(real, fake, k=3) = ({got[0]:.4f}, {got[1]:.4f}), expected "
                         f"({want[0]:.4f}, {want[1]:.4f}). Radius of each sample: distance to its k-th nearest "
                         "neighbour in its own set; precision: share of fakes within some real ball; recall: share "
                         "of reals within some fake ball (torch.cdist gives all distances).")
    got5, want5 = _pair("precision_recall(..., k=5)", call(precision_recall_fn, real, fake, 5, name="precision_recall")), \
        precision_recall(real, fake, 5)
    expect(max(abs(g - w) for g, w in zip(got5, want5)) <= 1e-6,
           f"with k=5 you return ({got5[0]:.4f}, {got5[1]:.4f}), expected ({want5[0]:.4f}, {want5[1]:.4f}): use the k "
           "argument for the neighbour whose distance is the radius.")
    same = _pair("precision_recall(real, real)", call(precision_recall_fn, real, real.clone(), 3, name="precision_recall"))
    expect(same == (1.0, 1.0), f"precision_recall(real, real) = {same}: a set lies on its own manifold, so both must be 1 "
                               "(a sample on a ball's boundary is inside: use <=).")
    passed("check_precision_recall", f"precision {want[0]:.3f}, recall {want[1]:.3f} with k = 3")


# ---------------------------------------------------------------------------------------------------------
# Exercise 3: KID's unbiased MMD²


def _kernel_sums(x: torch.Tensor, y: torch.Tensor, kernel: Callable) -> dict[str, torch.Tensor]:
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return {"xx": k_xx.sum() - k_xx.diagonal().sum(), "yy": k_yy.sum() - k_yy.diagonal().sum(), "xy": k_xy.sum(),
            "dx": k_xx.diagonal().sum(), "dy": k_yy.diagonal().sum(), "m": m, "n": n}


def _unbiased(s: dict, cross: float = 2.0) -> float:
    m, n = s["m"], s["n"]
    return float(s["xx"] / (m * (m - 1)) + s["yy"] / (n * (n - 1)) - cross * s["xy"] / (m * n))


def check_kid(mmd2_fn: Callable) -> None:
    """``mmd2_fn(x [m, d], y [n, d])`` → the unbiased MMD² with KID's kernel k(x, y) = (xᵀy / d + 1)³."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 8, generator=g, dtype=torch.float64)
    y = 1.3 * torch.randn(45, 8, generator=g, dtype=torch.float64) + 0.4
    got = _scalar("mmd2_unbiased(x, y)", call(mmd2_fn, x.float(), y.float(), name="mmd2_unbiased"))
    want = polynomial_mmd2(x, y)
    d = x.shape[1]
    cubic = _kernel_sums(x, y, lambda a, b: (a @ b.T / d + 1) ** 3)
    m, n = cubic["m"], cubic["n"]
    mistakes = {
        "the diagonal terms k(x_i, x_i) are included (mean of the whole kernel matrix): that estimator is biased "
        "upwards; leave out i = j and divide by m(m − 1)":
            float((cubic["xx"] + cubic["dx"]) / m ** 2 + (cubic["yy"] + cubic["dy"]) / n ** 2 - 2 * cubic["xy"] / (m * n)),
        "the diagonal is left out but the sum is divided by m²: there are m(m − 1) pairs i ≠ j":
            float(cubic["xx"] / m ** 2 + cubic["yy"] / n ** 2 - 2 * cubic["xy"] / (m * n)),
        "the cross term lacks its factor 2: − 2/(mn) Σ k(x_i, y_j)": _unbiased(cubic, cross=1.0),
        "the kernel divides by the dimension: k(x, y) = (xᵀy / d + 1)³": _unbiased(_kernel_sums(x, y, lambda a, b: (a @ b.T + 1) ** 3)),
        "the kernel is cubic: k(x, y) = (xᵀy / d + 1)³, not squared": _unbiased(_kernel_sums(x, y, lambda a, b: (a @ b.T / d + 1) ** 2)),
        "the kernel has a constant term: k(x, y) = (xᵀy / d + 1)³": _unbiased(_kernel_sums(x, y, lambda a, b: (a @ b.T / d) ** 3)),
        "KID is MMD² itself: no square root": want ** 0.5 if want > 0 else float("nan"),
        "each set's mean needs its own size: m(m − 1) for the x pairs, n(n − 1) for the y pairs, mn for the cross "
        "pairs": float(cubic["xx"] / (m * (m - 1)) + cubic["yy"] / (m * (m - 1)) - 2 * cubic["xy"] / (m * m)),
    }
    for message, value in mistakes.items():
        if value == value and _near(got, value, 1e-4) and not _near(got, want, 1e-4):
            raise CheckError(f"mmd2_unbiased(x, y) = {got:.5f}, expected {want:.5f}: {message}.")
    expect(_near(got, want, 1e-4),
           f"mmd2_unbiased(x, y) = {got:.5f}, expected {want:.5f}. With K_xy = (x yᵀ / d + 1)³: the mean of K_xx and "
           "K_yy over i ≠ j, minus twice the mean of K_xy.")
    x2, y2 = torch.randn(15, 8, generator=g), torch.randn(25, 8, generator=g)
    again = _scalar("mmd2_unbiased(x2, y2)", call(mmd2_fn, x2, y2, name="mmd2_unbiased"))
    expect(_near(again, polynomial_mmd2(x2, y2), 1e-3),
           f"mmd2_unbiased on sets of 15 and 25 samples returns {again:.5f}, expected {polynomial_mmd2(x2, y2):.5f}: "
           "take m, n and d from the inputs, not from the first example.")
    passed("check_kid", f"unbiased MMD² = {want:.5f} with the cubic kernel")
