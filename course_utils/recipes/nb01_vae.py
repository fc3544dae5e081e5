"""Notebook 01's pretrained VAEs on MNIST: the 2-D VAE it trains, and its β sweep (three β × three seeds).

Kingma & Welling 2014: the negative ELBO (Eq. 10) with the Bernoulli decoder, Adam, one z sample per image;
the β-VAE objective of Higgins et al. 2017 (Eq. 4) for the sweep. Learning rate: half a cosine from ``LR``
to 0 over the run (Loshchilov & Hutter 2017, SGDR, Eq. 5 without restarts).

* ``vae_mnist_2d``: :func:`~course_utils.models.vae.notebook01_vae` (MLP encoder 784 → 512 → 256 → 2·2, MLP
  decoder 2 → 256 → 512 → 784), the cosine stepped after every minibatch, as the notebook trains it;
* ``vae_2d_beta{0p5,1,4}_seed{0,1,2}``: the sweep's smaller networks (:func:`sweep_vae`: hidden layers of
  32 and 64 units in the encoder and in the decoder, the homework's decoder widths), the cosine stepped
  once per epoch. Only epoch-level numbers are kept in their history, so that nine of them ship in 1.5 MiB.
"""

from __future__ import annotations

import math

import torch

from ..data import load_mnist
from ..models import VAE, MLPDecoder, MLPEncoder, notebook01_vae
from ..runs import Recipe, Run
from ..training import History, train_vae

LATENT_DIM = 2
BATCH_SIZE = 128
LR = 1e-3
EPOCHS = 16
SNAPSHOT_SEED = 0          # the notebook's fixed_z: torch.randn(16, 2) from a generator seeded with SEED = 0

SWEEP_HIDDEN = (32, 64)    # the homework's decoder widths, in the encoder (784 → 32 → 64) and decoder (2 → 32 → 64)
SWEEP_BETAS = (0.5, 1.0, 4.0)
SWEEP_SEEDS = (0, 1, 2)
SWEEP_EPOCHS = 10


def sweep_vae(latent_dim: int = LATENT_DIM) -> VAE:
    """The β sweep's VAE: MLP encoder 784 → 32 → 64 → 2·D and MLP decoder D → 32 → 64 → 784 (80,660 parameters
    for D = 2)."""
    return VAE(MLPEncoder(latent_dim, hidden=SWEEP_HIDDEN), MLPDecoder(latent_dim, hidden=SWEEP_HIDDEN),
               latent_dim=latent_dim)


def sweep_name(beta: float, seed: int) -> str:
    """The pretrained model's name, e.g. ``vae_2d_beta0p5_seed1``."""
    return f"vae_2d_beta{beta:g}_seed{seed}".replace(".", "p")


def cosine_lr(epoch: int, epochs: int, lr: float = LR) -> float:
    """The learning rate of epoch ``epoch`` (0-based) of ``epochs``: half a cosine from ``lr`` towards 0."""
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def snapshot_codes() -> torch.Tensor:
    """``[16, 2]`` the fixed latent codes decoded after every epoch (the notebook's ``fixed_z``)."""
    return torch.randn(16, LATENT_DIM, generator=torch.Generator().manual_seed(SNAPSHOT_SEED))


def _build(device: torch.device, seed: int):
    torch.manual_seed(seed)
    model = notebook01_vae(LATENT_DIM).to(device)
    return {"model": model}, {"adam": torch.optim.Adam(model.parameters(), lr=LR)}


def _train_epoch(run: Run) -> None:
    model = run.parallel("model")            # DistributedDataParallel under torchrun, the model itself otherwise
    train_vae(model, run.shard(load_mnist(train=True), BATCH_SIZE), epochs=1, batch_size=BATCH_SIZE, lr=LR,
              optimizer=run.optimizers["adam"], lr_schedule="cosine", schedule_epochs=EPOCHS,
              history=run.history, test_set=load_mnist(train=False), snapshot_z=snapshot_codes(),
              seed=run.epoch_seed(), desc="vae_mnist_2d")


def _describe(run: Run) -> str:
    elbo = run.history.epochs["test_elbo"][-1]
    return (f"notebook 01's VAE (MLP encoder 784-512-256, decoder 256-512, latent_dim {LATENT_DIM}), {run.epoch} "
            f"epochs of the 60,000 training digits, batch {BATCH_SIZE}, Adam lr {LR} with a cosine decay to 0, "
            f"seed {run.seed}, in {run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s); "
            f"test ELBO {elbo:.1f} nats per image.")


def _sweep_recipe(beta: float, seed: int) -> Recipe:
    def build(device: torch.device, seed: int):
        torch.manual_seed(seed)
        model = sweep_vae().to(device)
        return {"model": model}, {"adam": torch.optim.Adam(model.parameters(), lr=LR)}

    def train_epoch(run: Run) -> None:
        optimizer = run.optimizers["adam"]
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(run.epoch, SWEEP_EPOCHS)
        epoch = train_vae(run.modules["model"], load_mnist(train=True), epochs=1, batch_size=BATCH_SIZE,
                          beta=beta, optimizer=optimizer, history=History(), test_set=load_mnist(train=False),
                          seed=run.epoch_seed(), desc=sweep_name(beta, seed))
        for key, values in epoch.epochs.items():          # epoch-level numbers only: a small file
            run.history.epochs.setdefault(key, []).extend(values)

    def describe(run: Run) -> str:
        elbo, kl = run.history.epochs["test_elbo"][-1], run.history.epochs["test_kl"][-1]
        return (f"notebook 01's β-sweep VAE (β = {beta:g}; MLP encoder 784-32-64, decoder 32-64, latent_dim "
                f"{LATENT_DIM}), {run.epoch} epochs of the 60,000 training digits, batch {BATCH_SIZE}, Adam lr {LR} "
                f"with a per-epoch cosine decay, seed {run.seed}, in {run.history.seconds / 60:.1f} min on "
                f"{torch.get_num_threads()} CPU thread(s); test ELBO (β = 1) {elbo:.1f} nats, KL {kl:.2f} nats.")

    return Recipe(name=sweep_name(beta, seed), notebook="01",
                  data="MNIST (60,000 training digits; ELBO on the 10,000 test digits)", epochs=SWEEP_EPOCHS,
                  build=build, train_epoch=train_epoch, describe=describe, export=("model",), seed=seed,
                  info=lambda run: {"test_elbo": run.history.epochs["test_elbo"][-1],
                                    "test_kl": run.history.epochs["test_kl"][-1], "beta": beta,
                                    "epochs": run.epoch, "latent_dim": LATENT_DIM})


RECIPES = [Recipe(name="vae_mnist_2d", notebook="01", data="MNIST (60,000 training digits; ELBO on the 10,000 test digits)",
                  epochs=EPOCHS, build=_build, train_epoch=_train_epoch, describe=_describe, export=("model",), parallel=True,
                  snapshots=True,
                  info=lambda run: {"test_elbo": run.history.epochs["test_elbo"][-1], "epochs": run.epoch,
                                    "latent_dim": LATENT_DIM})] + \
    [_sweep_recipe(beta, seed) for beta in SWEEP_BETAS for seed in SWEEP_SEEDS]
