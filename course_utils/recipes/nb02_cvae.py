"""Notebook 02's pretrained models: the 2-D CVAE and, at the same budget, the 2-D VAE it is compared with.

* ``cvae``: Sohn, Lee & Yan 2015 (eq. 4, prior N(0, I)): :class:`~course_utils.models.CVAE`, notebook 02's
  convolutional encoder with 10 label planes beside the image and the MLP decoder on ``[z, one_hot(y)]``;
* ``vae``: Kingma & Welling 2014 (eq. 10): notebook 01's convolutional encoder and MLP decoder
  (:class:`~course_utils.models.VAE` with its parts built explicitly, so a change of the VAE's defaults cannot
  change what these files hold).

Both: latent dimension 2, the negative ELBO with the Bernoulli decoder, one z sample per image, Adam lr 1e-3,
batch 128, ``EPOCHS`` passes over the 60,000 training digits (notebook 02's ``quick`` budget), seeds 0, 1, 2.
Notebook 02 loads ``nb02_cvae_seed0`` in lecture mode in place of its own training, and all six models in
quick and lecture mode for section 4's comparison over three seeds (it trains them itself in smoke and full).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data import load_mnist
from ..models import CVAE, VAE, ConvEncoder, MLPDecoder
from ..runs import Recipe, Run
from ..training import History, train_vae

LATENT_DIM, NUM_CLASSES, BATCH_SIZE, LR = 2, 10, 128, 1e-3
EPOCHS = 8                     # passes over the 60,000 training digits (469 minibatches each)
SEEDS = (0, 1, 2)
FAMILIES = {"vae": "VAE", "cvae": "CVAE"}


def recipe_name(family: str, seed: int) -> str:
    """The pretrained model's name, e.g. ``nb02_cvae_seed0``."""
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    return f"nb02_{family}_seed{seed}"


def build(family: str, device: torch.device | str = "cpu", seed: int = 0
          ) -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer]]:
    """A fresh, seeded ``{"model": ...}`` of ``family`` (``"vae"`` or ``"cvae"``) and its Adam."""
    recipe_name(family, seed)
    torch.manual_seed(seed)
    if family == "cvae":
        model: nn.Module = CVAE(LATENT_DIM, NUM_CLASSES)
    else:
        model = VAE(encoder=ConvEncoder(LATENT_DIM), decoder=MLPDecoder(LATENT_DIM), latent_dim=LATENT_DIM)
    model = model.to(device)
    return {"model": model}, {"adam": torch.optim.Adam(model.parameters(), lr=LR)}


def train(family: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
          train_set: TensorDataset, *, epochs: int, seed: int, test_set: TensorDataset | None = None,
          history: History | None = None, first_epoch: int = 0) -> History:
    """``epochs`` passes over ``train_set`` (images ``[N, 1, 28, 28]`` in [0, 1], labels ``[N]``), epoch ``e``
    seeded by ``seed * 100_003 + e * 1_009`` (data order and z samples, as :meth:`Run.epoch_seed` seeds the
    recipe's epochs), with the test ELBO after each epoch if ``test_set``. The CVAE's history keeps the decoded
    ``z = 0`` with labels 0–9 after every epoch (``[10, 1, 28, 28]``)."""
    history = history if history is not None else History()
    conditional = family == "cvae"
    snapshot = dict(snapshot_z=torch.zeros(NUM_CLASSES, LATENT_DIM), snapshot_labels=torch.arange(NUM_CLASSES)) \
        if conditional else {}
    for epoch in range(first_epoch, first_epoch + epochs):
        train_vae(modules["model"], train_set, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizers["adam"],
                  history=history, test_set=test_set, conditional=conditional, seed=seed * 100_003 + epoch * 1_009,
                  desc=FAMILIES[family], **snapshot)
    modules["model"].eval()
    return history


def _recipe(family: str, seed: int) -> Recipe:
    def _build(device: torch.device, s: int):
        return build(family, device, s)

    def _train_epoch(run: Run) -> None:           # epoch run.epoch, seeded as Run.epoch_seed() seeds it
        train(family, run.modules, run.optimizers, load_mnist(train=True), epochs=1, seed=run.seed,
              test_set=load_mnist(train=False), history=run.history, first_epoch=run.epoch)

    def _describe(run: Run) -> str:
        what = {"cvae": "the course's CVAE (conv encoder with 10 label planes, MLP decoder 2+10-256-512-784)",
                "vae": "notebook 01's VAE (conv encoder, MLP decoder 2-256-512-784)"}[family]
        elbo = run.history.epochs["test_elbo"][-1]
        return (f"{what}, latent_dim {LATENT_DIM}, {run.epoch} epochs of the 60,000 training digits, batch "
                f"{BATCH_SIZE}, Adam lr {LR}, seed {run.seed}, in {run.history.seconds / 60:.1f} min on "
                f"{torch.get_num_threads()} CPU thread(s); test ELBO {elbo:.1f} nats per image.")

    return Recipe(name=recipe_name(family, seed), notebook="02", seed=seed, epochs=EPOCHS,
                  data="MNIST (60,000 training digits; ELBO on the 10,000 test digits)", build=_build,
                  train_epoch=_train_epoch, describe=_describe, export=("model",), snapshots=family == "cvae",
                  info=lambda run: {"family": family, "seed": run.seed, "epochs": run.epoch,
                                    "latent_dim": LATENT_DIM, "test_elbo": run.history.epochs["test_elbo"][-1]})


RECIPES = [_recipe(family, seed) for family in FAMILIES for seed in SEEDS]
