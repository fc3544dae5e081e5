"""The variational autoencoder of notebook 01 (Kingma & Welling, 2014), reused by notebook 02.

Notebook 01 trains :func:`notebook01_vae` (an MLP encoder and decoder); its β sweep and notebooks 02 and 07
use the homework's convolutional encoder (:class:`ConvEncoder`), the default of :class:`VAE`."""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

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


class MLPEncoder(nn.Module):
    """q(z|x): Flatten → Linear(784 → 512) → ReLU → Linear(512 → 256) → ReLU → Linear(256 → 2·latent_dim).

    Shapes: ``[B, 1, 28, 28]`` → ``[B, 784]`` → ``(mu, logvar)``, each ``[B, latent_dim]`` (the two halves of
    the last layer's output). The encoder of notebook 01's 2-D VAE, the mirror image of :class:`MLPDecoder`;
    ``hidden`` sets the two hidden widths.
    """

    def __init__(self, latent_dim: int = 2, hidden: tuple[int, int] = (512, 256)) -> None:
        super().__init__()
        first, second = hidden
        self.features = nn.Sequential(
            nn.Flatten(),                                       # [B, 784]
            nn.Linear(28 * 28, first), nn.ReLU(),               # [B, 512]
            nn.Linear(first, second), nn.ReLU(),                # [B, 256]
        )
        self.head = nn.Linear(second, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.features(x)).chunk(2, dim=1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """p(x|z): Linear(latent_dim + extra_inputs → 256) → ReLU → Linear(256→512) → ReLU → Linear(512→784).

    Shapes: ``[B, latent_dim + extra_inputs]`` → Bernoulli logits ``[B, 1, 28, 28]`` (apply ``sigmoid``
    for pixels). ``extra_inputs`` > 0 takes a conditioning vector after z (notebook 02). ``hidden`` sets
    the two hidden widths: ``(256, 512)`` is the course's decoder, ``(32, 64)`` the homework's smaller one
    (notebook 01's β sweep).
    """

    def __init__(self, latent_dim: int = 2, extra_inputs: int = 0, hidden: tuple[int, int] = (256, 512)) -> None:
        super().__init__()
        first, second = hidden
        self.net = nn.Sequential(
            nn.Linear(latent_dim + extra_inputs, first), nn.ReLU(),
            nn.Linear(first, second), nn.ReLU(),
            nn.Linear(second, 28 * 28),
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


def notebook01_vae(latent_dim: int = 2) -> "VAE":
    """Notebook 01's VAE: :class:`MLPEncoder` (784 → 512 → 256 → 2·D) and :class:`MLPDecoder` (D → 256 → 512 →
    784), 1,068,820 parameters for a 2-D latent."""
    return VAE(MLPEncoder(latent_dim), MLPDecoder(latent_dim), latent_dim=latent_dim)


def transfer_parameters(source: nn.Module | Sequence[torch.Tensor], target: nn.Module,
                        agree: Callable[[], bool] | None = None, max_tries: int = 720) -> bool:
    """Copy ``source``'s parameters into ``target`` by shape, whatever their names.

    Parameters of ``target`` are filled, in its own order, with the ``source`` parameters of the same
    shape, taken in ``source``'s order first. With ``agree`` (a function that compares the two
    modules' outputs), the other orders of equal-shaped parameters are tried too (at most
    ``max_tries`` assignments) until ``agree()`` holds. This is how a network written another way
    (other attribute names, ``nn.Sequential`` or explicit layers) is compared with, or converted to,
    the course's reference network.

    Returns:
        True if the shapes match (and ``agree()`` held for one assignment); False otherwise, with the
        in-order assignment left in ``target`` (when the shapes match) for further diagnosis.
    """
    src = list(source.parameters()) if isinstance(source, nn.Module) else list(source)
    dst = list(target.parameters())
    if sorted(tuple(p.shape) for p in src) != sorted(tuple(p.shape) for p in dst):
        return False
    groups: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}
    for i, p in enumerate(dst):
        groups.setdefault(tuple(p.shape), ([], []))[0].append(i)
    for i, p in enumerate(src):
        groups[tuple(p.shape)][1].append(i)
    orders = [list(itertools.islice(itertools.permutations(sources), math.factorial(min(len(sources), 6))))
              for _, sources in groups.values()]

    def load(choice) -> None:
        with torch.no_grad():
            for (targets, _), sources in zip(groups.values(), choice):
                for t, s in zip(targets, sources):
                    dst[t].copy_(src[s])

    first = tuple(order[0] for order in orders)
    for tries, choice in enumerate(itertools.product(*orders)):
        if tries >= max_tries:
            break
        load(choice)
        if agree is None or agree():
            return True
    load(first)
    return False


def encoder_parameter_layouts(encoder: nn.Module, latent_dim: int) -> list[list[torch.Tensor]]:
    """The encoder's parameters as they are and, if it has two linear heads (one for mu, one for
    logvar: ``[D, F]`` weights and ``[D]`` biases, F = 288 for :class:`ConvEncoder`, 256 for
    :class:`MLPEncoder`) instead of one ``[2D, F]`` layer, merged into one head in both orders: the layouts
    to try against the reference encoder."""
    params = list(encoder.parameters())
    weights = [i for i, p in enumerate(params) if p.dim() == 2 and p.shape[0] == latent_dim]
    if len({tuple(params[i].shape) for i in weights}) != 1:
        weights = []
    biases = [i for i, p in enumerate(params) if tuple(p.shape) == (latent_dim,)]
    layouts = [params]
    if len(weights) == 2 and len(biases) == 2:
        rest = [p for i, p in enumerate(params) if i not in weights + biases]
        for order in ((0, 1), (1, 0)):
            layouts.append(rest + [torch.cat([params[weights[k]] for k in order]),
                                   torch.cat([params[biases[k]] for k in order])])
    return layouts


def as_reference_vae(model: nn.Module, latent_dim: int = 2) -> "VAE":
    """A copy of a trained VAE (any encoder/decoder with the architecture of :func:`notebook01_vae`, or of
    :class:`ConvEncoder` and :class:`MLPDecoder`, written in any style) as the course's :class:`VAE`, checked to
    compute the same encoder means, log-variances and decoder logits on random inputs (notebook 01 saves it
    this way, so that notebook 02 can load it whatever the layers were called).

    ``model`` needs ``encoder(x) -> (mu, logvar)`` and ``decoder(z) -> logits``. Raises ``ValueError``
    saying what differs if the architecture is neither reference.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=generator).to(device)
    z = torch.randn(4, latent_dim, generator=generator).to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        logits = model.decoder(z)
        for reference in (notebook01_vae(latent_dim).to(device), VAE(latent_dim=latent_dim).to(device)):
            def encoder_agrees() -> bool:
                ref_mu, ref_logvar = reference.encoder(x)
                return torch.allclose(ref_mu, mu, atol=1e-5) and torch.allclose(ref_logvar, logvar, atol=1e-5)

            ok_encoder = any(transfer_parameters(params, reference.encoder, encoder_agrees)
                             for params in encoder_parameter_layouts(model.encoder, latent_dim))
            if ok_encoder:
                break
        ok_decoder = transfer_parameters(model.decoder, reference.decoder,
                                         lambda: torch.allclose(reference.decoder(z), logits.reshape(4, 1, 28, 28),
                                                                atol=1e-5))
    model.train(was_training)
    if not (ok_encoder and ok_decoder):
        part = "encoder" if not ok_encoder else "decoder"
        raise ValueError(f"the {part} does not compute what the reference {part} of notebook 01 computes "
                         f"(layers {[tuple(p.shape) for p in getattr(model, part).parameters()]}); "
                         "build the architecture of the docstring, as check_encoder/check_decoder require.")
    return reference
