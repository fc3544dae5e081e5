"""The conditional VAE of notebook 02 (Sohn et al., 2015): 01's VAE with the label given to both halves."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .vae import ConvEncoder, MLPDecoder, reparameterize


def one_hot(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``[B]`` integer labels → ``[B, num_classes]`` float one-hot vectors."""
    return F.one_hot(labels.long(), num_classes).float()


def condition_on_label(x: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Append the one-hot label to an image as constant planes: ``[B, C, H, W]`` → ``[B, C + num_classes, H, W]``.

    Plane k is all ones for images of class k and all zeros otherwise, so a convolutional encoder sees
    the label at every position (the "concatenate the label to the input" of a CVAE, for images).
    """
    planes = one_hot(labels, num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, planes], dim=1)


class CVAE(nn.Module):
    """q(z|x, y) and p(x|z, y): the encoder sees the image with label planes, the decoder sees [z, one_hot(y)].

    ``forward(x, y)``: ``[B, 1, 28, 28], [B]`` → ``(logits [B, 1, 28, 28], mu [B, D], logvar [B, D])``.
    Sohn, Lee & Yan (2015), "Learning Structured Output Representation using Deep Conditional
    Generative Models", eq. 4 (with the prior p(z|y) fixed to N(0, I), as in Kingma et al., 2014, M2).
    """

    def __init__(self, latent_dim: int = 2, num_classes: int = 10,
                 reparameterize: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = reparameterize) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.encoder = ConvEncoder(latent_dim, extra_channels=num_classes)
        self.decoder = MLPDecoder(latent_dim, extra_inputs=num_classes)
        self.reparameterize = reparameterize

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(condition_on_label(x, y, self.num_classes))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, 1, 28, 28]`` for codes ``[B, D]`` and labels ``[B]``."""
        return self.decoder(torch.cat([z, one_hot(y, self.num_classes).to(z.dtype)], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar

    @torch.no_grad()
    def encode_means(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The encoder means ``[N, D]`` (on the CPU) of images ``[N, 1, 28, 28]`` with their labels ``[N]``."""
        self.eval()
        device = next(self.parameters()).device
        return torch.cat([self.encode(images[i:i + batch_size].to(device), labels[i:i + batch_size].to(device))[0]
                          .float().cpu() for i in range(0, len(images), batch_size)])
