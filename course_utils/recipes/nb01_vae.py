"""Notebook 01's pretrained VAE: the course's 2-D VAE (:class:`~course_utils.models.VAE`) on MNIST.

Kingma & Welling 2014: the negative ELBO (Eq. 10) with the Bernoulli decoder, Adam, one z sample per image.
"""

from __future__ import annotations

import torch

from ..data import load_mnist
from ..models import VAE
from ..runs import Recipe, Run
from ..training import train_vae

LATENT_DIM = 2
BATCH_SIZE = 128
LR = 1e-3
EPOCHS = 30


def _build(device: torch.device, seed: int):
    torch.manual_seed(seed)
    model = VAE(latent_dim=LATENT_DIM).to(device)
    return {"model": model}, {"adam": torch.optim.Adam(model.parameters(), lr=LR)}


def _train_epoch(run: Run) -> None:
    model = run.parallel("model")            # DistributedDataParallel under torchrun, the model itself otherwise
    train_vae(model, run.shard(load_mnist(train=True), BATCH_SIZE), epochs=1, batch_size=BATCH_SIZE,
              optimizer=run.optimizers["adam"],
              history=run.history, test_set=load_mnist(train=False), seed=run.epoch_seed(), desc="vae_mnist_2d")


def _describe(run: Run) -> str:
    elbo = run.history.epochs["test_elbo"][-1]
    return (f"the course's VAE (latent_dim {LATENT_DIM}), {run.epoch} epochs of the 60,000 training digits, "
            f"batch {BATCH_SIZE}, Adam lr {LR}, seed {run.seed}, in {run.history.seconds / 60:.1f} min on "
            f"{torch.get_num_threads()} CPU thread(s); test ELBO {elbo:.1f} nats per image.")


RECIPES = [Recipe(name="vae_mnist_2d", notebook="01", data="MNIST (60,000 training digits; ELBO on the 10,000 test digits)",
                  epochs=EPOCHS, build=_build, train_epoch=_train_epoch, describe=_describe, export=("model",), parallel=True,
                  info=lambda run: {"test_elbo": run.history.epochs["test_elbo"][-1], "epochs": run.epoch,
                                    "latent_dim": LATENT_DIM})]
