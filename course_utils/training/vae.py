"""Notebook 01's VAE training and test-set ELBO, reused by notebook 02 for the CVAE."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data.mnist import make_loader
from ..losses import vae_loss
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
              optimizer: torch.optim.Optimizer | None = None, history: History | None = None) -> History:
    """Train a VAE (notebook 01) or, with ``conditional``, a CVAE called as ``model(x, y)`` (notebook 02)
    with Adam on ``loss_fn(logits, x, mu, logvar, beta)``.

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
    return train(model, loader, step, optimizer, epochs, device=device,
                 evaluate=evaluate if test_set is not None else None,
                 snapshot=snapshot if snapshot_z is not None else None, desc=desc, history=history)
