"""Loss functions of the course, each with the paper and equation it follows.

Defined in notebook 01: :func:`kl_divergence`, :func:`bernoulli_nll`, :func:`bernoulli_entropy`, :func:`vae_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL(N(mu, diag(exp(logvar))) || N(0, I)) per example, in nats.

    Kingma & Welling (2014), "Auto-Encoding Variational Bayes", appendix B:
    :math:`\mathrm{KL} = \tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1)`.

    Args:
        mu, logvar: ``[B, D]`` mean and log-variance of the approximate posterior q(z|x).
    Returns:
        ``[B]``: one KL value per example (summed over the D latent dimensions).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""-log p(x|z) for a Bernoulli decoder, per example: binary cross-entropy summed over pixels.

    With :math:`p = \mathrm{sigmoid}(\text{logits})`,
    :math:`-\log p(x|z) = -\sum_i [x_i \log p_i + (1-x_i)\log(1-p_i)]` (Kingma & Welling 2014, C.1).
    Computed from logits (``binary_cross_entropy_with_logits``), which is stable where p saturates.

    Args:
        logits: ``[B, ...]`` decoder outputs before the sigmoid; x: ``[B, ...]`` targets in [0, 1].
    Returns:
        ``[B]``: nats per example.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def bernoulli_entropy(x: torch.Tensor) -> torch.Tensor:
    r"""The binary entropy of soft targets, per example: the floor below which the summed BCE cannot fall.

    For a target :math:`x_i \in [0, 1]` the binary cross-entropy :math:`-[x_i \log p_i + (1-x_i)\log(1-p_i)]`
    is smallest at :math:`p_i = x_i`, where it equals :math:`H(x_i) = -x_i\log x_i - (1-x_i)\log(1-x_i)`
    (Gibbs' inequality). It is 0 for binary pixels and positive for grey ones, so on soft MNIST the
    reconstruction term of :func:`vae_loss` is at least :math:`\sum_i H(x_i)` whatever the decoder:
    the Bernoulli "likelihood" of a grey image is not a normalised density (Loaiza-Ganem & Cunningham,
    2019, "The continuous Bernoulli", sec. 1).

    Args:
        x: ``[B, ...]`` targets in [0, 1].
    Returns:
        ``[B]``: nats per example (``0 log 0 = 0``).
    """
    x = x.float()
    return -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).flatten(1).sum(dim=1)


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The negative ELBO (β-VAE when ``beta != 1``), averaged over the batch.

    :math:`\mathcal{L} = \mathbb{E}_q[-\log p(x|z)] + \beta\,\mathrm{KL}(q(z|x)\,\|\,p(z))`,
    Kingma & Welling (2014) eq. 10 with one sample of z; Higgins et al. (2017) eq. 4 for β.

    Args:
        logits: ``[B, 1, 28, 28]`` decoder logits; x: ``[B, 1, 28, 28]`` images in [0, 1];
        mu, logvar: ``[B, D]``; beta: weight of the KL term.
    Returns:
        ``(loss, reconstruction, kl)``: three scalars, each a mean over the batch (nats per image).
    """
    recon = bernoulli_nll(logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return recon + beta * kl, recon, kl


# --- GANs (notebook 03) -----------------------------------------------------------------------------

def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    r"""The discriminator's loss: binary cross-entropy with real → 1 and fake → 0, on logits.

    Goodfellow et al. (2014), eq. 1: D maximises :math:`\mathbb{E}[\log D(x)] + \mathbb{E}[\log(1 - D(G(z)))]`;
    this returns the negated, batch-averaged sum. ``real_label < 1`` is one-sided label smoothing
    (Salimans et al., 2016, sec. 3.4).

    Args:
        real_logits: ``[B, 1]`` (or ``[B]``) D's logits on real data; fake_logits: likewise on G's samples.
    Returns:
        A scalar.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r""":math:`-\mathbb{E}[\log D(G(z))]` on logits: the generator loss used in practice (Goodfellow et al., 2014,
    sec. 3), whose gradient stays large while D rejects the samples. ``[B, 1]`` logits → scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathbb{E}[\log(1 - D(G(z)))]` on logits: the minimax generator loss of eq. 1, which saturates
    (its gradient vanishes) when D confidently rejects the samples. ``[B, 1]`` logits → scalar."""
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


# --- CycleGAN (notebook 06) -------------------------------------------------------------------------

def lsgan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    r"""Least-squares GAN loss (Mao et al., 2017) as CycleGAN uses it (Zhu et al., 2017, eq. 1 with the
    LSGAN objective of sec. 4): :math:`\mathbb{E}[(D(\cdot) - t)^2]` with target t = 1 for real, 0 for fake.

    Args:
        prediction: D's raw outputs, any shape (``[B, 1, h, w]`` for a PatchGAN: one per patch).
    Returns:
        A scalar: the mean over all outputs.
    """
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.mse_loss(prediction, target)


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    r"""Cycle-consistency (Zhu et al., 2017, eq. 2): :math:`\lVert F(G(x)) - x\rVert_1`, averaged over pixels.
    Also the identity loss :math:`\lVert G(y) - y\rVert_1` (sec. 5.2) with ``reconstructed = G(y)``.
    ``[B, C, H, W]`` twice → scalar."""
    return F.l1_loss(reconstructed, real)


def lsgan_d_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    r"""LSGAN discriminator loss (Mao et al., 2017, eq. 2 with a = 0, b = 1):
    :math:`\tfrac12\mathbb{E}[(D(x) - 1)^2] + \tfrac12\mathbb{E}[D(G(z))^2]`. Raw D outputs (no sigmoid) → scalar.
    Also the halved discriminator loss of CycleGAN."""
    return 0.5 * (lsgan_loss(real_outputs, True) + lsgan_loss(fake_outputs, False))


def lsgan_g_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    r"""LSGAN generator loss (Mao et al., 2017, eq. 2 with c = 1): :math:`\tfrac12\mathbb{E}[(D(G(z)) - 1)^2]`."""
    return 0.5 * lsgan_loss(fake_outputs, True)


# --- Wasserstein GAN (notebook 05) --------------------------------------------------------------------

def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The critic minimises :math:`\mathbb{E}[f(G(z))] - \mathbb{E}[f(x)]` (Arjovsky et al., 2017, Algorithm 1),
    the negative of its estimate of :math:`W_1(p_\text{data}, p_g)`. Raw scores (no sigmoid) → scalar."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r""":math:`-\mathbb{E}[f(G(z))]` (Arjovsky et al., 2017, Algorithm 1). Raw scores → scalar."""
    return -fake_scores.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    r"""WGAN-GP's penalty (Gulrajani et al., 2017, Algorithm 1):
    :math:`\lambda\,\mathbb{E}_{\hat x}\big[(\lVert\nabla_{\hat x} f(\hat x)\rVert_2 - 1)^2\big]` on random
    interpolates :math:`\hat x = \epsilon x + (1 - \epsilon)\tilde x`, :math:`\epsilon \sim U[0, 1]` per sample.
    ``create_graph=True`` so that the penalty itself is differentiated when the critic is updated.
    ``real``, ``fake``: ``[B, ...]`` → scalar. :math:`\epsilon` is drawn on ``real``'s device (no host copy,
    so the step can run in a CUDA graph), or from ``generator`` (a CPU generator) and copied there."""
    shape = (real.shape[0], *([1] * (real.dim() - 1)))
    eps = (torch.rand(shape, device=real.device, dtype=real.dtype) if generator is None
           else torch.rand(shape, generator=generator).to(real))
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def clip_weights(module, clip: float = 0.01) -> None:
    """WGAN's weight clipping (Arjovsky et al., 2017): every parameter into ``[-clip, clip]``, in place."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip, clip)
