r"""Monte-Carlo gradient estimators of :math:`\nabla_\mu \mathbb{E}_{z\sim N(\mu,\sigma^2)}[f(z)]` (notebook 01).

Both return a differentiable-free estimate for one scalar parameter ``mu``. Mohamed et al. (2020),
"Monte Carlo Gradient Estimation in Machine Learning", sections 4 (score function) and 5 (pathwise).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.distributions import Normal

Objective = Callable[[torch.Tensor], torch.Tensor]


def score_function_grad(f: Objective, mu: float, sigma: float, n_samples: int) -> torch.Tensor:
    r"""REINFORCE / score-function estimate (Williams, 1992):
    :math:`\frac1N\sum_n f(z_n)\,\nabla_\mu \log q(z_n)`, :math:`z_n \sim N(\mu, \sigma^2)`.

    Only the values of ``f`` are used, so ``f`` need not be differentiable.

    Args:
        f: maps ``[N]`` samples to ``[N]`` values; mu, sigma: the Gaussian's parameters.
    Returns:
        A 0-d tensor: the gradient estimate.
    """
    mu_t = torch.tensor(float(mu), requires_grad=True)
    q = Normal(mu_t, float(sigma))
    z = q.sample((n_samples,))                                # [N], no gradient through the sample
    surrogate = (f(z).detach() * q.log_prob(z)).mean()         # its gradient is the estimator
    (grad,) = torch.autograd.grad(surrogate, mu_t)
    return grad


def reparam_grad(f: Objective, mu: float, sigma: float, n_samples: int) -> torch.Tensor:
    r"""Pathwise / reparameterization estimate (Kingma & Welling, 2014):
    :math:`\frac1N\sum_n \nabla_\mu f(\mu + \sigma\varepsilon_n)`, :math:`\varepsilon_n \sim N(0, 1)`.

    Args:
        f: differentiable, maps ``[N]`` samples to ``[N]`` values; mu, sigma: the Gaussian's parameters.
    Returns:
        A 0-d tensor: the gradient estimate.
    """
    mu_t = torch.tensor(float(mu), requires_grad=True)
    z = mu_t + float(sigma) * torch.randn(n_samples)          # [N], differentiable in mu
    (grad,) = torch.autograd.grad(f(z).mean(), mu_t)
    return grad


def estimator_variance(estimator: Callable[..., torch.Tensor], f: Objective, mu: float, sigma: float,
                       sample_sizes: list[int], repeats: int = 200, seed: int = 0) -> torch.Tensor:
    """Empirical variance of ``estimator`` over ``repeats`` independent runs, for each sample size.

    Returns:
        ``[len(sample_sizes)]`` variances (unbiased, over the repeats).
    """
    torch.manual_seed(seed)
    variances = []
    for n in sample_sizes:
        grads = torch.stack([estimator(f, mu, sigma, n) for _ in range(repeats)])
        variances.append(grads.var())
    return torch.stack(variances)
