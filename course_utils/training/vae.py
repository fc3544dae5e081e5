"""Notebook 01's VAE training and test-set ELBO, reused by notebook 02 for the CVAE."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data.mnist import make_loader
from ..losses import bernoulli_nll, vae_loss
from .history import History
from .loop import train


@torch.no_grad()
def evaluate_vae(model: nn.Module, dataset: TensorDataset, *, batch_size: int = 1000, seed: int = 0,
                 conditional: bool = False) -> dict[str, float]:
    """Test-set ELBO terms in nats per image (β = 1, one z sample per image, seeded).

    ``conditional``: the model is called as ``model(x, y)`` (a CVAE) instead of ``model(x)``.
    Returns ``{"elbo": ..., "reconstruction": ..., "kl": ...}`` with ELBO = -(reconstruction + KL).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = {"reconstruction": 0.0, "kl": 0.0}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, y in make_loader(dataset, batch_size, shuffle=False):
            x, y = x.to(device), y.to(device)
            logits, mu, logvar = model(x, y) if conditional else model(x)
            _, recon, kl = vae_loss(logits.float(), x, mu.float(), logvar.float())
            totals["reconstruction"] += float(recon) * len(x)
            totals["kl"] += float(kl) * len(x)
    model.train(was_training)
    result = {name: total / len(dataset) for name, total in totals.items()}
    return {"elbo": -(result["reconstruction"] + result["kl"]), **result}


def train_vae(model: nn.Module, train_set: TensorDataset, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
              beta: float = 1.0, loss_fn: Callable = vae_loss, test_set: TensorDataset | None = None,
              snapshot_z: torch.Tensor | None = None, snapshot_labels: torch.Tensor | None = None,
              conditional: bool = False, seed: int = 0, desc: str = "VAE",
              optimizer: torch.optim.Optimizer | None = None, history: History | None = None,
              lr_schedule: str = "constant", schedule_epochs: int | None = None) -> History:
    """Train a VAE (notebook 01) or, with ``conditional``, a CVAE called as ``model(x, y)`` (notebook 02)
    with Adam on ``loss_fn(logits, x, mu, logvar, beta)``.

    ``lr_schedule``: ``"constant"`` keeps ``lr``; ``"cosine"`` lowers it after every step along half a
    cosine, from ``lr`` to 0 at the last step of ``schedule_epochs`` epochs (default ``epochs``; Loshchilov &
    Hutter, 2017, SGDR, eq. 5 without restarts), counting the steps already in ``history`` when a run is
    continued epoch by epoch.

    ``test_set`` adds the test ELBO (``test_elbo``) to every epoch; ``snapshot_z`` (``[K, D]`` fixed
    latent codes, with ``snapshot_labels`` ``[K]`` for a CVAE) stores the decoded images
    ``[K, 1, 28, 28]`` after every epoch. Pass ``optimizer`` and ``history`` to continue a run epoch by
    epoch (the resumable scripts do: :mod:`course_utils.runs`); by default a fresh Adam(``lr``) and History.
    """
    device = next(model.parameters()).device

    def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits, mu, logvar = model(x, y) if conditional else model(x)
        loss, recon, kl = loss_fn(logits.float(), x, mu.float(), logvar.float(), beta)
        return {"loss": loss, "reconstruction": recon, "kl": kl}

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {f"test_{k}": v for k, v in evaluate_vae(m, test_set, conditional=conditional).items()}

    def snapshot(m: nn.Module) -> torch.Tensor:
        z = snapshot_z.to(device)
        logits = m.decode(z, snapshot_labels.to(device)) if conditional else m.decoder(z)
        return torch.sigmoid(logits).float()

    optimizer = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(train_set, batch_size, shuffle=True, seed=seed)
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule={lr_schedule!r} is not one of 'constant', 'cosine'.")
    scheduler = None
    if lr_schedule == "cosine":
        total = (schedule_epochs or epochs) * len(loader)
        done = history.num_steps if history is not None else 0
        for group in optimizer.param_groups:
            group["initial_lr"] = lr
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * min(done + k, total) / total)))
    return train(model, loader, step, optimizer, epochs, device=device,
                 evaluate=evaluate if test_set is not None else None,
                 snapshot=snapshot if snapshot_z is not None else None, desc=desc, history=history,
                 scheduler=scheduler)


def _device_of(function: Callable, default: torch.device) -> torch.device:
    """The device of the parameters of the module ``function`` is a method of (or is), else ``default``."""
    owner = function if isinstance(function, nn.Module) else getattr(function, "__self__", None)
    if isinstance(owner, nn.Module):
        for parameter in owner.parameters():
            return parameter.device
    return torch.device(default)


@torch.no_grad()
def importance_weighted_bound(encode: Callable, decode: Callable, images: torch.Tensor,
                              labels: torch.Tensor | None = None, *, k: int = 100, batch_size: int = 100,
                              seed: int = 0, device: torch.device | str | None = None) -> torch.Tensor:
    r"""The importance-weighted lower bound of each image's log-likelihood (Burda et al., 2016, IWAE, eq. 8).

    :math:`\mathcal{L}_k(x) = \log \frac1k \sum_{j=1}^k \frac{p(x \mid z_j)\, p(z_j)}{q(z_j \mid x)}`,
    :math:`z_j \sim q(z \mid x)`, with a Bernoulli decoder :math:`\log p(x \mid z) = -\sum_i \mathrm{BCE}`,
    the prior :math:`N(0, I)` and a diagonal Gaussian :math:`q`. :math:`\mathcal{L}_1` is the ELBO (in
    expectation), :math:`\mathcal{L}_k` grows with ``k`` and tends to :math:`\log p(x)` (Burda et al.,
    theorem 1): a tighter bound than the ELBO for comparing models. On soft (non-binary) images the
    Bernoulli term is not normalised, so this bounds the same unnormalised objective the ELBO does.

    Args:
        encode: ``encode(x) -> (mu, logvar)``, each ``[b, D]`` (``encode(x, y)`` when ``labels`` are given).
        decode: ``decode(z) -> logits [b, ...]`` (``decode(z, y)`` with labels).
        images: ``[N, ...]`` in [0, 1]; labels: ``[N]`` or None (a conditional model, ``log p(x | y)``).
        k: importance samples per image; batch_size: images per forward pass (``k * batch_size`` decodes).
        seed: seeds the samples of z (the global RNG is left as it was).
        device: where to compute; default: the device of ``encode``'s (or ``decode``'s) module, else the images'.
    Returns:
        ``[N]`` bounds in nats per image, on the CPU.
    """
    if device is None:
        device = _device_of(encode, _device_of(decode, images.device))
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        b = len(x)
        y = None if labels is None else labels[i:i + batch_size].to(device)
        mu, logvar = encode(x) if y is None else encode(x, y)
        mu, logvar = mu.float(), logvar.float()
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, *mu.shape, generator=generator).to(device)          # [k, b, D]
        z = mu + std * eps                                                        # [k, b, D]
        flat = z.reshape(k * b, -1)
        logits = decode(flat) if y is None else decode(flat, y.repeat(k))         # [k*b, ...]
        target = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:]).float()
        log_px_z = -bernoulli_nll(logits.float(), target).view(k, b)              # [k, b]
        log_pz = (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(-1)             # [k, b]
        log_qz = (-0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi))).sum(-1)   # [k, b]
        out.append((torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)).cpu())
    return torch.cat(out)
