"""Self-checks for notebook 05 (Wasserstein GAN: critic and generator losses, clipping, gradient penalty)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..losses import wgan_critic_loss, wgan_generator_loss
from ._core import CheckError, call, close, expect, expect_close, expect_tensor, passed


def check_wgan_losses(critic_loss: Callable, generator_loss: Callable) -> None:
    """``critic_loss(real_scores, fake_scores)`` and ``generator_loss(fake_scores)`` on raw scores ``[B, 1]``."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 1, generator=g) + 1, torch.randn(16, 1, generator=g) - 1
    got = call(critic_loss, real, fake)
    expect_tensor("critic_loss(...)", got, shape=(), hint="Average over the batch: return a scalar.")
    want = wgan_critic_loss(real, fake)
    if close(got, -want):
        raise CheckError("critic_loss has the wrong sign: the critic *maximises* E f(x) − E f(G(z)), so it "
                         "minimises E f(G(z)) − E f(x).")
    if close(got, wgan_critic_loss(torch.sigmoid(real), torch.sigmoid(fake))) or \
            close(got, wgan_critic_loss(torch.log(torch.sigmoid(real)), torch.log(torch.sigmoid(fake)))):
        raise CheckError("critic_loss applies a sigmoid or a log: the critic's scores are used raw, no probabilities.")
    expect_close("critic_loss", got, want, hint="critic_loss = mean(f(G(z))) − mean(f(x)).")
    got_g = call(generator_loss, fake)
    expect_tensor("generator_loss(...)", got_g, shape=())
    if close(got_g, -wgan_generator_loss(fake)):
        raise CheckError("generator_loss has the wrong sign: G wants the critic to score its samples high, "
                         "so it minimises −mean(f(G(z))).")
    expect_close("generator_loss", got_g, wgan_generator_loss(fake), hint="generator_loss = −mean(f(G(z))).")
    passed("check_wgan_losses")


def check_clip_weights(clip_weights: Callable) -> None:
    """``clip_weights(module, clip)``: every parameter of ``module`` into ``[-clip, clip]``, in place."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(0.1).add_(torch.randn_like(p) * 0.02)
    params = list(critic.parameters())
    before = [p.detach().clone() for p in params]
    call(clip_weights, critic, 0.01)
    expect(all(a is b for a, b in zip(params, critic.parameters())),
           "clip_weights replaced the parameters: clamp them in place (p.clamp_), inside torch.no_grad().")
    for name, (p, old) in zip([n for n, _ in critic.named_parameters()], zip(critic.parameters(), before)):
        expect(bool(p.abs().max() <= 0.01 + 1e-9), f"{name} still has values up to {p.abs().max():.4f} > 0.01.")
        expect_close(f"{name} after clipping", p, old.clamp(-0.01, 0.01),
                     hint="Values inside [-c, c] stay as they are; only those outside are set to ±c.")
    call(clip_weights, critic, 0.005)
    expect(all(bool(p.abs().max() <= 0.005 + 1e-9) for p in critic.parameters()), "use the clip argument, not 0.01.")
    passed("check_clip_weights")


class _Linear(nn.Module):
    """f(x) = w · flatten(x) + b: its gradient is w everywhere, so the penalty is λ(‖w‖ − 1)² exactly."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w[:, None] + 0.3


class _HalfSquare(nn.Module):
    """f(x) = ½‖x‖²: its gradient at x̂ is x̂ itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(1, keepdim=True)


def check_gradient_penalty(gradient_penalty: Callable) -> None:
    """``gradient_penalty(critic, real, fake, weight=10.0)``: λ E[(‖∇f(x̂)‖₂ − 1)²] on random interpolates."""
    torch.manual_seed(0)
    w = torch.randn(3 * 4 * 4)
    w = 2.5 * w / w.norm()                               # ‖w‖ = 2.5 → penalty 10 · 1.5² = 22.5
    critic = _Linear(w.clone())
    real, fake = torch.randn(32, 3, 4, 4), torch.randn(32, 3, 4, 4)
    got = call(gradient_penalty, critic, real, fake)
    expect_tensor("gradient_penalty(linear critic, ...)", got, shape=(), hint="Average over the batch.")
    if close(got, torch.tensor(10 * (2.5 ** 2 - 1) ** 2)) or close(got, torch.tensor(10 * (2.5 ** 2 - 1))):
        raise CheckError("you penalised the squared norm ‖∇f‖²: take the norm itself, (‖∇f(x̂)‖₂ − 1)².")
    if close(got, torch.tensor(1.5 ** 2)):
        raise CheckError("the penalty lacks its weight: multiply by λ (weight=10 by default).")
    expect_close("the penalty of f(x) = w·x with ‖w‖ = 2.5, λ = 10", got, torch.tensor(22.5), rtol=1e-3,
                 hint="The gradient of a linear critic is w at every x̂, so the penalty must be 10·(2.5 − 1)² = 22.5. "
                      "Flatten each sample's gradient before taking its 2-norm: grad.flatten(1).norm(2, dim=1).")
    try:
        got.backward()
    except RuntimeError:
        raise CheckError("the penalty cannot be differentiated with respect to the critic's weights: call "
                         "torch.autograd.grad(..., create_graph=True) so that the penalty itself has a graph.") from None
    expect(critic.w.grad is not None and bool(critic.w.grad.abs().sum() > 0),
           "the penalty passes no gradient to the critic's weights: call torch.autograd.grad(..., create_graph=True).")
    expect_close("d penalty / d w", critic.w.grad, 2 * 10 * 1.5 * w / 2.5, rtol=1e-3,
                 hint="With create_graph=True the penalty is differentiable in the critic's weights: 2λ(‖w‖ − 1) w/‖w‖.")
    expect_close("gradient_penalty(..., weight=1)", call(gradient_penalty, _Linear(w.clone()), real, fake, weight=1.0),
                 torch.tensor(2.25), rtol=1e-3, hint="Use the weight argument.")

    a = 3.0                                              # real = +a·e, fake = −a·e: ‖x̂‖ = a|2ε − 1|
    e = torch.zeros(20_000, 2)
    e[:, 0] = 1
    value = float(call(gradient_penalty, _HalfSquare(), a * e, -a * e, weight=1.0).detach())
    if abs(value - (a - 1) ** 2) < 0.05:
        raise CheckError("the penalty is taken at the real samples only: interpolate x̂ = ε·x + (1 − ε)·G(z) "
                         "with ε ~ U[0, 1] drawn per sample.")
    expect(abs(value - (a * a / 3 - a + 1)) < 0.1,
           f"with f(x) = ½‖x‖², x = 3e and G(z) = −3e the penalty with λ = 1 should average "
           f"E[(3|2ε − 1| − 1)²] = 1.0 over ε ~ U[0, 1], got {value:.3f}: draw one ε per sample, "
           "torch.rand(B, 1, ..., 1), and interpolate x̂ = ε·x + (1 − ε)·G(z).")
    passed("check_gradient_penalty", "10·(‖w‖ − 1)² = 22.5 for ‖w‖ = 2.5, and E over random interpolates")
