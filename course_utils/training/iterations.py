"""Whole GAN iterations for :func:`~course_utils.training.gan.train_gan`'s ``iteration=``: notebook 04's
``d_train_iters`` iteration and notebook 05's WGAN (weight clipping or gradient penalty)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..losses import clip_weights


def gan_iteration(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, batches,
                  noise: Callable, d_loss: Callable, g_loss: Callable, d_train_iters: int = 1) -> dict[str, torch.Tensor]:
    """One GAN iteration with ``d_train_iters`` discriminator updates, each on a fresh real batch
    ``(x, ...)`` from ``batches`` and fresh detached fakes, then one generator update on fresh fakes
    (notebook 04; any losses on D's raw outputs, e.g. LSGAN's). Returns the last ``d_loss`` and ``g_loss``."""
    for _ in range(d_train_iters):
        x = next(batches)[0]
        with torch.no_grad():
            fake = G(*noise(len(x)))
        loss_d = d_loss(D(x), D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    loss_g = g_loss(D(G(*noise(len(x)))))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"d_loss": loss_d, "g_loss": loss_g}


def wgan_iteration(critic_loss: Callable, generator_loss: Callable, *, clip: float | None = None,
                   penalty: Callable | None = None, clip_fn: Callable = clip_weights) -> Callable:
    """Build a WGAN iteration for :func:`train_gan` (Arjovsky et al., 2017, Algorithm 1; with ``penalty``,
    Gulrajani et al., 2017, Algorithm 1).

    Per iteration: ``n_critic`` (``train_gan``'s ``d_steps``) critic updates on fresh real batches, each
    minimising ``critic_loss(f(x), f(G(z)))`` (+ ``penalty(f, x, G(z))``), followed by
    ``clip_fn(f, clip)`` if ``clip`` (default :func:`~course_utils.losses.clip_weights`); then one
    generator update on ``generator_loss(f(G(z)))``.
    Logs ``wasserstein`` (the critic's estimate E f(x) − E f(G(z)) at its last step), ``critic_loss``,
    ``gp`` (0 without a penalty) and ``g_loss``.
    """
    def iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, n_critic):
        for _ in range(n_critic):
            x = next(batches)[0]
            with torch.no_grad():
                fake = G(*noise(len(x)))
            real_scores, fake_scores = D(x), D(fake)
            loss = critic_loss(real_scores, fake_scores)
            gp = penalty(D, x, fake) if penalty is not None else torch.zeros((), device=x.device)
            opt_d.zero_grad(set_to_none=True)
            (loss + gp).backward()
            opt_d.step()
            if clip is not None:
                clip_fn(D, clip)
        g = generator_loss(D(G(*noise(len(x)))))
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
        return {"wasserstein": real_scores.detach().float().mean() - fake_scores.detach().float().mean(),
                "critic_loss": loss, "gp": gp, "g_loss": g}
    return iteration
