"""Notebook 07's pretrained MNIST models: four families × three seeds at one data budget.

The families of notebook 07's comparison, all with the same generator/decoder shape — an MLP
``z [B, D] → 128 → 256 → 784`` (Bernoulli logits for the VAEs, ``tanh`` pixels in [-1, 1] for the GANs):

* ``vae``: Kingma & Welling 2014, the negative ELBO (Eq. 10), the course's convolutional encoder (`ConvEncoder`);
* ``cvae``: Sohn et al. 2015 (Eq. 4), notebook 02's encoder (label planes beside the image), the one-hot label
  after z in the decoder;
* ``gan``: Goodfellow et al. 2014 with the non-saturating generator loss (notebook 03's MLP discriminator);
* ``wgan_gp``: Gulrajani et al. 2017, Algorithm 1 (λ = 10, five critic updates per generator update).

The budget is the same number of real minibatches for every family (``EPOCHS`` passes over the 60,000
training digits in minibatches of ``BATCH_SIZE``): one update per minibatch for the VAEs, one D and one G
update for the GAN, and for WGAN-GP five critic updates per generator update, so its generator is updated
a fifth as often. Only the sampling half is exported (``decoder`` / ``G``): that is all notebook 07 uses.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data import load_mnist, make_loader
from ..losses import d_loss_bce, g_loss_nonsaturating, gradient_penalty, wgan_critic_loss, wgan_generator_loss
from ..models import CVAE, VAE
from ..models.gan import MLPDiscriminator, MLPGenerator, gaussian_noise
from ..runs import Recipe, Run
from ..training import History, endless, train_gan, train_vae, wgan_iteration

LATENT_DIM, NOISE_DIM, BATCH_SIZE = 16, 64, 64
HIDDEN = (128, 256)            # the generator's / decoder's hidden widths (the same for all four families)
N_CRITIC = 5
EPOCHS = 1                     # passes over the 60,000 training digits (937 minibatches)
SEEDS = (0, 1, 2)
FAMILIES = {"vae": "VAE", "cvae": "CVAE", "gan": "GAN", "wgan_gp": "WGAN-GP"}


def recipe_name(family: str, seed: int) -> str:
    """The pretrained model's name, e.g. ``mnist_gan_seed0``."""
    return f"mnist_{family}_seed{seed}"


def _decoder(extra_inputs: int = 0) -> nn.Module:
    # p(x|z): [B, D (+ 10)] → logits [B, 1, 28, 28]; MLPGenerator without BatchNorm and tanh is exactly that MLP
    return MLPGenerator(LATENT_DIM + extra_inputs, (1, 28, 28), hidden=HIDDEN, activation="relu", batch_norm=False,
                        tanh_output=False)


def build(family: str, device: torch.device | str = "cpu", seed: int = 0
          ) -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer]]:
    """Fresh modules and optimisers of ``family`` (seeded): ``{"model", "decoder"}`` for the VAEs (the decoder
    is ``model.decoder``), ``{"G", "D"}`` for the GANs."""
    torch.manual_seed(seed)
    if family in ("vae", "cvae"):
        if family == "vae":
            model = VAE(decoder=_decoder(), latent_dim=LATENT_DIM)
        else:
            model = CVAE(LATENT_DIM)
            model.decoder = _decoder(extra_inputs=model.num_classes)
        model = model.to(device)
        return {"model": model, "decoder": model.decoder}, {"adam": torch.optim.Adam(model.parameters(), lr=1e-3)}
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    G = MLPGenerator(NOISE_DIM, (1, 28, 28), hidden=HIDDEN).to(device)
    D = MLPDiscriminator((1, 28, 28), hidden=(512, 256)).to(device)
    betas = (0.5, 0.9) if family == "wgan_gp" else (0.5, 0.999)   # Gulrajani et al.; Radford et al.
    return {"G": G, "D": D}, {"g": torch.optim.Adam(G.parameters(), 2e-4, betas=betas),
                              "d": torch.optim.Adam(D.parameters(), 2e-4, betas=betas)}


def train_pass(family: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               train_set: TensorDataset, *, seed: int, history: History | None = None,
               test_set: TensorDataset | None = None) -> History:
    """One pass over ``train_set`` (images ``[N, 1, 28, 28]`` in [0, 1], labels ``[N]``) in minibatches of
    ``BATCH_SIZE``: the unit of the data budget. Data order and noise are seeded by ``seed``."""
    history = history if history is not None else History()
    desc = FAMILIES[family]
    if family in ("vae", "cvae"):
        return train_vae(modules["model"], train_set, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizers["adam"],
                         history=history, conditional=family == "cvae", seed=seed, test_set=test_set, desc=desc)
    torch.manual_seed(seed)
    G, D = modules["G"], modules["D"]
    device = next(G.parameters()).device
    signed = TensorDataset(train_set.tensors[0] * 2 - 1)                 # [-1, 1] for tanh
    loader = make_loader(signed, BATCH_SIZE, seed=seed, drop_last=True)
    batches, noise = endless(loader), gaussian_noise(NOISE_DIM, device=device)
    if family == "wgan_gp":
        train_gan(G, D, optimizers["g"], optimizers["d"], batches, iterations=max(1, len(loader) // N_CRITIC),
                  noise=noise, d_loss=None, g_loss=None, d_steps=N_CRITIC, desc=desc, history=history,
                  iteration=wgan_iteration(wgan_critic_loss, wgan_generator_loss, penalty=gradient_penalty))
    else:
        train_gan(G, D, optimizers["g"], optimizers["d"], batches, iterations=len(loader), noise=noise,
                  d_loss=d_loss_bce, g_loss=g_loss_nonsaturating, desc=desc, history=history)
    G.eval()
    return history


def sampler(family: str, modules: dict[str, nn.Module], seed: int) -> Callable[[int, float], torch.Tensor]:
    """``sample(n, temperature=1.0)`` → ``[n, 1, 28, 28]`` images in [0, 1] on the CPU: z ~ N(0, temperature² I)
    (seeded by ``seed``) through the decoder (pixel means σ(logits); the CVAE with ten equally frequent labels)
    or the generator."""
    net = modules["decoder"] if family in ("vae", "cvae") else modules["G"]
    net.eval()
    device = next(net.parameters()).device
    dim = LATENT_DIM if family in ("vae", "cvae") else NOISE_DIM

    @torch.no_grad()
    def sample(n: int, temperature: float = 1.0) -> torch.Tensor:
        z = temperature * torch.randn(n, dim, generator=torch.Generator().manual_seed(1000 + seed))
        if family == "cvae":
            labels = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
            return torch.sigmoid(net(torch.cat([z, labels], dim=1).to(device))).float().cpu()
        if family == "vae":
            return torch.sigmoid(net(z.to(device))).float().cpu()
        return ((net(z.to(device)) + 1) / 2).float().cpu()
    return sample


def _recipe(family: str, seed: int) -> Recipe:
    def _build(device: torch.device, s: int):
        return build(family, device, s)

    def _train_epoch(run: Run) -> None:
        done = run.history.num_steps
        train_pass(family, run.modules, run.optimizers, load_mnist(train=True), seed=run.epoch_seed(),
                   history=run.history)
        if family in ("gan", "wgan_gp"):     # per-epoch means of the step values (train_vae logs its own)
            run.history.log_epoch({k: sum(v[done:]) / max(1, len(v) - done) for k, v in run.history.steps.items()})

    def _describe(run: Run) -> str:
        updates = run.history.num_steps
        what = {"vae": f"a VAE (the course's conv encoder ConvEncoder, MLP decoder {LATENT_DIM}-128-256-784), Adam lr 1e-3",
                "cvae": f"a CVAE (notebook 02's conv encoder with label planes, MLP decoder {LATENT_DIM}+10-128-256-784 "
                        "with the one-hot label), Adam lr 1e-3",
                "gan": f"an MLP GAN (G {NOISE_DIM}-128-256-784 with BatchNorm, D 784-512-256-1), non-saturating loss, "
                       "Adam 2e-4, β = (0.5, 0.999)",
                "wgan_gp": f"an MLP WGAN-GP (G {NOISE_DIM}-128-256-784 with BatchNorm, critic 784-512-256-1), λ = 10, "
                           f"{N_CRITIC} critic updates per generator update, Adam 2e-4, β = (0.5, 0.9)"}[family]
        return (f"{what}, batch {BATCH_SIZE}, {run.epoch} pass(es) over the 60,000 training digits "
                f"({updates:,} {'updates' if family in ('vae', 'cvae') else 'generator updates'}), seed {run.seed}, "
                f"in {run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s).")

    return Recipe(name=recipe_name(family, seed), notebook="07", seed=seed, epochs=EPOCHS,
                  data="MNIST (the 60,000 training digits)", build=_build, train_epoch=_train_epoch,
                  describe=_describe, export=("decoder",) if family in ("vae", "cvae") else ("G",),
                  info=lambda run: {"family": family, "seed": run.seed, "epochs": run.epoch,
                                    "updates": run.history.num_steps})


RECIPES = [_recipe(family, seed) for family in FAMILIES for seed in SEEDS]
