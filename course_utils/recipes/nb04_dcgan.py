"""Notebook 04's pretrained models: the DCGAN with spectral norm on the 32×32 photos, and the ablation grid.

``dcgan_photos``: the course's :class:`~course_utils.models.DCGenerator` / :class:`~course_utils.models.DCDiscriminator`
(Radford et al., 2016) with spectral norm on every conv (Miyato et al., 2018), LSGAN losses (Mao et al., 2017,
eq. 2 with the 0-1 coding), Adam, one D step per G step: the notebook's main run, trained longer. One recipe
"epoch" is a block of :data:`BLOCK` iterations.

``dcgan_ablation``: every arm of the notebook's ablation (:data:`ABLATION_ARMS`) for each of
:data:`ABLATION_SEEDS`, at the notebook's quick-mode size, one run per recipe "epoch". Each run's G and D are
exported under :func:`course_utils.ablation.run_key` ``(config, seed)`` (``"G " + key``, ``"D " + key``), and its
losses in the one history as ``key + "/d_loss"`` and ``key + "/g_loss"`` (:func:`course_utils.ablation.run_history`).
"""

from __future__ import annotations

import torch

from ..ablation import run_key
from ..data import load_rgb32, make_loader
from ..losses import lsgan_d_loss, lsgan_g_loss
from ..models.dcgan import DCDiscriminator, DCGenerator
from ..models.gan import gaussian_noise
from ..runs import Recipe, Run
from ..runtime import seed_everything
from ..training import endless, gan_iteration, train_gan

NOISE_SIZE = 100
BETAS = (0.5, 0.999)

# the main model: the notebook's quick-mode networks, trained for BLOCKS × BLOCK iterations
CONV_DIM, BATCH_SIZE, LR = 32, 64, 2e-4
BLOCK, BLOCKS = 250, 8
SNAPSHOT_EVERY = 500

# the ablation: the notebook's quick-mode sizes and arms (keep in step with notebook 04's settings cell)
ABLATION_CONV_DIM, ABLATION_BATCH, ABLATION_ITERATIONS = 8, 32, 400
ABLATION_SEEDS = (0, 1, 2)
ABLATION_BASE = dict(lr=5e-4, sn_g=True, sn_d=True, d_train_iters=1)
ABLATION_ARMS = {
    **{f"lr={lr:g}": {**ABLATION_BASE, "lr": lr} for lr in (0.1, 0.01, 0.001, 0.0005, 0.0002)},
    "SN off": {**ABLATION_BASE, "sn_g": False, "sn_d": False},
    "SN on D only": {**ABLATION_BASE, "sn_g": False},
    **{f"d_train_iters={k}": {**ABLATION_BASE, "d_train_iters": k} for k in (2, 4)},
}


def _train_photos():
    return load_rgb32("photos", train=True)


# ---------------------------------------------------------------- the main model
def _build_main(device: torch.device, seed: int):
    seed_everything(seed)
    G = DCGenerator(NOISE_SIZE, CONV_DIM, spectral_norm=True).to(device)
    D = DCDiscriminator(CONV_DIM, spectral_norm=True).to(device)
    return ({"G": G, "D": D}, {"G": torch.optim.Adam(G.parameters(), LR, betas=BETAS),
                                "D": torch.optim.Adam(D.parameters(), LR, betas=BETAS)})


def _train_main_block(run: Run) -> None:
    G, D = run.modules["G"], run.modules["D"]
    device = next(G.parameters()).device
    fixed_z = torch.randn(36, NOISE_SIZE, generator=torch.Generator().manual_seed(run.seed)).to(device)
    torch.manual_seed(run.epoch_seed(1))
    batches = endless(make_loader(_train_photos(), BATCH_SIZE, seed=run.epoch_seed(), drop_last=True))
    train_gan(G, D, run.optimizers["G"], run.optimizers["D"], batches, iterations=BLOCK,
              noise=gaussian_noise(NOISE_SIZE, device=device), d_loss=lsgan_d_loss, g_loss=lsgan_g_loss,
              iteration=gan_iteration, d_steps=1, snapshot=lambda G, D: G(fixed_z).float().cpu(),
              snapshot_every=SNAPSHOT_EVERY, history=run.history, desc=f"dcgan_photos block {run.epoch + 1}")


def _describe_main(run: Run) -> str:
    iterations = run.history.num_steps
    return (f"DCGAN with spectral norm on G and D (conv_dim {CONV_DIM}), LSGAN losses, {iterations:,} iterations "
            f"of batch {BATCH_SIZE} ({iterations * BATCH_SIZE / 1020:.0f} epochs of the 1,020 training photos), "
            f"Adam lr {LR} betas {BETAS}, one D step per G step, seed {run.seed}, in {run.history.seconds / 60:.0f} min "
            f"on {torch.get_num_threads()} CPU thread(s) of a shared machine.")


# ---------------------------------------------------------------- the ablation grid
def ablation_runs() -> list[tuple[str, dict, int]]:
    """Every (arm name, config, seed) of the ablation, in training order."""
    return [(name, config, seed) for name, config in ABLATION_ARMS.items() for seed in ABLATION_SEEDS]


def ablation_networks(config: dict, device: torch.device | str = "cpu") -> tuple[DCGenerator, DCDiscriminator]:
    return (DCGenerator(NOISE_SIZE, ABLATION_CONV_DIM, config["sn_g"]).to(device),
            DCDiscriminator(ABLATION_CONV_DIM, config["sn_d"]).to(device))


def _build_ablation(device: torch.device, seed: int):
    modules = {}
    for _, config, run_seed in ablation_runs():
        G, D = ablation_networks(config, device)
        modules["G " + run_key(config, run_seed)], modules["D " + run_key(config, run_seed)] = G, D
    return modules, {}


def _train_ablation_run(run: Run) -> None:
    """The notebook's ``train_one(**config, seed=seed)`` with the reference networks: seeded init, loader and noise."""
    name, config, seed = ablation_runs()[run.epoch]
    key = run_key(config, seed)
    device = next(run.modules["G " + key].parameters()).device
    seed_everything(seed)
    G, D = ablation_networks(config, device)      # fresh initialisation from the seed, as in the notebook
    history = train_gan(G, D, torch.optim.Adam(G.parameters(), config["lr"], betas=BETAS),
                        torch.optim.Adam(D.parameters(), config["lr"], betas=BETAS),
                        endless(make_loader(_train_photos(), ABLATION_BATCH, seed=seed, drop_last=True)),
                        iterations=ABLATION_ITERATIONS, noise=gaussian_noise(NOISE_SIZE, device=device),
                        d_loss=lsgan_d_loss, g_loss=lsgan_g_loss, iteration=gan_iteration,
                        d_steps=config["d_train_iters"], desc=f"{name}, seed {seed}")
    run.modules["G " + key].load_state_dict(G.state_dict())
    run.modules["D " + key].load_state_dict(D.state_dict())
    for k, values in history.steps.items():
        run.history.steps[f"{key}/{k}"] = list(values)
    run.history.epochs.setdefault("seconds", []).append(history.seconds)


def _describe_ablation(run: Run) -> str:
    return (f"{len(ABLATION_ARMS)} ablation arms × seeds {list(ABLATION_SEEDS)}, each a DCGAN (conv_dim "
            f"{ABLATION_CONV_DIM}, batch {ABLATION_BATCH}) trained {ABLATION_ITERATIONS} iterations with LSGAN losses "
            f"and Adam betas {BETAS} (the notebook's quick-mode ablation), {run.epoch} runs in "
            f"{run.history.seconds / 60:.0f} min on {torch.get_num_threads()} CPU thread(s) of a shared machine.")


PHOTOS = "monet2photo photos (domain B), the 1,020 training photos at 32×32"
RECIPES = [
    Recipe(name="dcgan_photos", notebook="04", data=PHOTOS, epochs=BLOCKS, build=_build_main,
           train_epoch=_train_main_block, describe=_describe_main, export=("G", "D"), snapshots=True,
           info=lambda run: {"iterations": run.history.num_steps, "conv_dim": CONV_DIM, "batch_size": BATCH_SIZE,
                             "lr": LR}),
    Recipe(name="dcgan_ablation", notebook="04", data=PHOTOS, epochs=len(ABLATION_ARMS) * len(ABLATION_SEEDS),
           build=_build_ablation, train_epoch=_train_ablation_run, describe=_describe_ablation,
           info=lambda run: {"runs": run.epoch, "conv_dim": ABLATION_CONV_DIM, "batch_size": ABLATION_BATCH,
                             "iterations": ABLATION_ITERATIONS, "seeds": list(ABLATION_SEEDS)}),
]
