"""Notebook 08's pretrained style-based generator on the 32×32 photos (Karras et al., 2019, Fig. 1b).

The same generator, discriminator, losses and settings as notebook 08's training cell: the course's
:class:`~course_utils.models.stylegan.StyleGenerator` (mapping network, AdaIN from learned affine styles,
noise inputs, style-mixing regularisation with probability 0.9), notebook 04's discriminator with spectral
norm and without BatchNorm, the non-saturating logistic loss (notebook 03), Adam(1e-3, β = (0, 0.99)) with
the mapping network at 0.01 × the learning rate, and a running average (EMA 0.99) of G's weights, which
is what is exported. An "epoch" is a block of ``ITERATIONS_PER_EPOCH`` iterations; after each block (and
before the first) the run logs the photo feature distance
(:func:`~course_utils.metrics.photo_feature_distance`) of the trained and of the averaged generator to
the test photos (``fd_raw``, ``fd_avg``, at ``iteration``) and keeps 16 images of the averaged generator.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..data import load_rgb32, make_loader
from ..losses import d_loss_bce, g_loss_nonsaturating
from ..metrics import photo_feature_distance
from ..models.dcgan import DCDiscriminator
from ..models.gan import gaussian_noise
from ..models.photo_features import photo_feature_network
from ..models.stylegan import StyleGenerator
from ..runs import Recipe, Run
from ..training import endless, gan_iteration, train_gan

NAME = "stylegan_photos32"
Z_DIM, W_DIM, MAPPING_LAYERS = 64, 64, 4
CHANNELS = (64, 64, 32, 16)
MIXING_PROB = 0.9
LR, BETAS, MAPPING_LR_MULT = 1e-3, (0.0, 0.99), 0.01
D_CONV_DIM = 16
EMA_DECAY = 0.99
BATCH_SIZE = 32
ITERATIONS_PER_EPOCH = 100
EPOCHS = 10                  # 1,000 iterations: twice notebook 08's quick budget
EVAL_SEED, SHOWN = 1, 16     # the fixed z and noise of the snapshots (as in the notebook), images kept per snapshot


def build(device: torch.device | str = "cpu", seed: int = 0):
    """``({"G", "D", "G_avg", "G_ema"}, {"g", "d"})``: ``G_avg`` is the :class:`AveragedModel` (with its
    counter, for an exact resume), ``G_ema`` its averaged generator (``G_avg.module``), the one exported."""
    torch.manual_seed(seed)
    G = StyleGenerator(Z_DIM, W_DIM, CHANNELS, mapping_layers=MAPPING_LAYERS, mixing_prob=MIXING_PROB,
                       mapping_lr_mult=MAPPING_LR_MULT).to(device)
    D = DCDiscriminator(D_CONV_DIM, spectral_norm=True, batch_norm=False).to(device)
    G_avg = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(EMA_DECAY)).eval()
    return ({"G": G, "D": D, "G_avg": G_avg, "G_ema": G_avg.module},
            {"g": torch.optim.Adam(G.param_groups(LR), betas=BETAS), "d": torch.optim.Adam(D.parameters(), LR, betas=BETAS)})


def _train_epoch(run: Run) -> None:
    G, D, G_avg = run.modules["G"], run.modules["D"], run.modules["G_avg"]
    device = next(G.parameters()).device
    train_set = load_rgb32("photos", train=True)
    test_images = load_rgb32("photos", train=False).tensors[0]
    network = photo_feature_network(device, verbose=False)
    g = torch.Generator().manual_seed(EVAL_SEED)
    eval_z = torch.randn(len(test_images), Z_DIM, generator=g).to(device)
    eval_noise = G.make_noise(len(test_images), torch.Generator().manual_seed(EVAL_SEED))
    history = run.history

    def snapshot(G, D):
        raw, averaged = G(eval_z, eval_noise).float().cpu(), G_avg(eval_z, eval_noise).float().cpu()
        history.log_epoch({"iteration": float(history.num_steps),
                           "fd_raw": photo_feature_distance(raw, test_images, network),
                           "fd_avg": photo_feature_distance(averaged, test_images, network)})
        return averaged[:SHOWN]

    def iteration_with_average(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_steps):
        out = gan_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_steps)
        G_avg.update_parameters(G)
        return out

    torch.manual_seed(run.epoch_seed())
    train_gan(G, D, run.optimizers["g"], run.optimizers["d"],
              endless(make_loader(train_set, BATCH_SIZE, seed=run.epoch_seed(), drop_last=True)),
              iterations=ITERATIONS_PER_EPOCH, noise=gaussian_noise(Z_DIM, device=device), d_loss=d_loss_bce,
              g_loss=g_loss_nonsaturating, iteration=iteration_with_average, desc=NAME, snapshot=snapshot,
              snapshot_every=ITERATIONS_PER_EPOCH, history=history)


def _describe(run: Run) -> str:
    fd = run.history.epochs["fd_avg"]
    return (f"the course's style-based generator (channels {'/'.join(map(str, CHANNELS))}, {MAPPING_LAYERS} mapping "
            f"layers, style mixing {MIXING_PROB}) against notebook 04's spectral-norm discriminator (conv_dim "
            f"{D_CONV_DIM}, no BatchNorm), non-saturating loss, Adam {LR} β = {BETAS} (mapping × {MAPPING_LR_MULT}), "
            f"{run.history.num_steps:,} iterations at batch {BATCH_SIZE} on the 1,020 training photos, seed {run.seed}, "
            f"in {run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s); exported: the "
            f"running average of G (EMA {EMA_DECAY}), photo feature distance to the 180 test photos "
            f"{fd[0]:.2f} (untrained) → {fd[-1]:.2f}.")


RECIPES = [Recipe(name=NAME, notebook="08", data="monet2photo's 1,020 training photos at 32×32 (test: its 180 test photos)",
                  epochs=EPOCHS, build=build, train_epoch=_train_epoch, describe=_describe, export=("G_ema",),
                  snapshots=True,
                  info=lambda run: {"iterations": run.history.num_steps, "fd_avg": run.history.epochs["fd_avg"][-1],
                                    "fd_raw": run.history.epochs["fd_raw"][-1], "batch_size": BATCH_SIZE})]
