"""The variational autoencoder of notebook 01 (Kingma & Welling, 2014), reused by notebook 02."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Draw z ~ N(mu, diag(exp(logvar))) as a differentiable function of mu and logvar.

    Kingma & Welling (2014) eq. 4 and section 2.4: :math:`z = \mu + \sigma \odot \varepsilon`,
    :math:`\varepsilon \sim N(0, I)`, :math:`\sigma = \exp(\tfrac12 \log\sigma^2)`.

    Args:
        mu, logvar: ``[B, D]``.
    Returns:
        ``[B, D]`` samples; gradients flow to both ``mu`` and ``logvar``.
    """
    std = torch.exp(0.5 * logvar)
    return mu + std * torch.randn_like(std)


class ConvEncoder(nn.Module):
    """q(z|x): three 3×3 convs (16, 32, 32 channels), each + ReLU + 2×2 max-pool, then a linear layer.

    Shapes: ``[B, 1 + extra_channels, 28, 28]`` → 28 → 14 → 7 → 3 pixels → ``(mu, logvar)``, each
    ``[B, latent_dim]``. ``extra_channels`` > 0 takes conditioning planes beside the image (notebook 02).
    """

    def __init__(self, latent_dim: int = 2, extra_channels: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1 + extra_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 16, 14, 14]
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 32, 7, 7]
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 32, 3, 3]
            nn.Flatten(),                                                  # [B, 288]
        )
        self.head = nn.Linear(32 * 3 * 3, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.features(x)).chunk(2, dim=1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """p(x|z): Linear(latent_dim + extra_inputs → 256) → ReLU → Linear(256→512) → ReLU → Linear(512→784).

    Shapes: ``[B, latent_dim + extra_inputs]`` → Bernoulli logits ``[B, 1, 28, 28]`` (apply ``sigmoid``
    for pixels). ``extra_inputs`` > 0 takes a conditioning vector after z (notebook 02).
    """

    def __init__(self, latent_dim: int = 2, extra_inputs: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim + extra_inputs, 256), nn.ReLU(),
            nn.Linear(256, 512), nn.ReLU(),
            nn.Linear(512, 28 * 28),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


class VAE(nn.Module):
    """Encoder + reparameterized sample + decoder.

    ``forward(x)``: ``[B, 1, 28, 28]`` → ``(logits [B, 1, 28, 28], mu [B, D], logvar [B, D])``.
    Any encoder/decoder with those shapes plugs in; so does a ``reparameterize`` function (the
    notebook passes the students' own).
    """

    def __init__(self, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 latent_dim: int = 2,
                 reparameterize: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = reparameterize) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = encoder if encoder is not None else ConvEncoder(latent_dim)
        self.decoder = decoder if decoder is not None else MLPDecoder(latent_dim)
        self.reparameterize = reparameterize

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x)
        z = self.reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def encode_means(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The encoder means mu(x), ``[N, latent_dim]`` on the CPU, for ``[N, 1, 28, 28]`` images."""
        self.eval()
        device = next(self.parameters()).device
        return torch.cat([self.encoder(images[i:i + batch_size].to(device))[0].float().cpu()
                          for i in range(0, len(images), batch_size)])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``[n, 1, 28, 28]`` in [0, 1]: z ~ N(0, I) through the decoder."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decoder(z))
