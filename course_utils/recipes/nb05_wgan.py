"""Notebook 05's pretrained photo WGANs: notebook 04's DCGAN generator against a critic of the same shape, trained
on the 32×32 photos with weight clipping (Arjovsky et al., 2017, Algorithm 1: RMSprop lr 5e-5, c = 0.01,
n_critic = 5, BatchNorm in the critic) and with the gradient penalty (Gulrajani et al., 2017, Algorithm 1:
Adam lr 1e-4, β = (0, 0.9), λ = 10, n_critic = 5, no BatchNorm in the critic).

One "epoch" is a block of :data:`ITERATIONS_PER_EPOCH` generator updates. After every block the history gets
the iteration, the Fréchet distance in the course's photo features (:func:`~course_utils.metrics.photo_feature_distance`,
notebook 07) and the pixel SWD of samples from fixed noise against the held-out test photos, so that notebook 05
can put the critic's estimate (logged every iteration) beside an independent quality measure without training.
"""

from __future__ import annotations

import torch

from ..data import load_rgb32, make_loader
from ..losses import clip_weights, gradient_penalty, wgan_critic_loss, wgan_generator_loss
from ..metrics import frechet_distance, photo_features, sliced_wasserstein
from ..models.dcgan import DCDiscriminator, DCGenerator
from ..models.gan import gaussian_noise
from ..runs import Recipe, Run
from ..training import endless, train_gan, wgan_iteration

NOISE_SIZE, CONV_DIM, BATCH_SIZE, N_CRITIC = 100, 16, 32, 5     # notebook 05's quick settings
CLIP, CLIP_LR = 0.01, 5e-5
GP_WEIGHT, GP_LR, GP_BETAS = 10.0, 1e-4, (0.0, 0.9)
ITERATIONS_PER_EPOCH = 100
EPOCHS = 4                                                       # 400 generator updates, as quick mode
EVAL_SEED = 1

_cache: dict = {}


def _data():
    """Training photos, test photos and their photo features (computed once per process)."""
    if not _cache:
        test = load_rgb32("photos", train=False).tensors[0]
        _cache.update(train=load_rgb32("photos", train=True), test=test, test_features=photo_features(test))
    return _cache


def _build(variant: str):
    def build(device: torch.device, seed: int):
        torch.manual_seed(seed)
        G = DCGenerator(NOISE_SIZE, CONV_DIM).to(device)
        D = DCDiscriminator(CONV_DIM, batch_norm=variant == "clipping").to(device)
        if variant == "clipping":
            opts = {"g": torch.optim.RMSprop(G.parameters(), CLIP_LR), "d": torch.optim.RMSprop(D.parameters(), CLIP_LR)}
        else:
            opts = {k: torch.optim.Adam(m.parameters(), GP_LR, betas=GP_BETAS) for k, m in (("g", G), ("d", D))}
        return {"generator": G, "critic": D}, opts
    return build


def score_generator(G: torch.nn.Module, test: torch.Tensor, test_features: torch.Tensor) -> dict[str, float]:
    """FD (photo features) and SWD of ``len(test)`` samples of ``G`` from the fixed evaluation noise."""
    device = next(G.parameters()).device
    z = torch.randn(len(test), NOISE_SIZE, generator=torch.Generator().manual_seed(EVAL_SEED)).to(device)
    was_training = G.training
    G.eval()
    with torch.no_grad():
        samples = G(z).float().cpu()
    G.train(was_training)
    return {"fd": frechet_distance(photo_features(samples), test_features), "swd": sliced_wasserstein(samples, test)}


def _log_scores(run: Run, iteration: int) -> None:
    data = _data()
    scores = score_generator(run.modules["generator"], data["test"], data["test_features"])
    run.history.log_epoch({"iteration": float(iteration), "fd": scores["fd"], "swd": scores["swd"]})


def _train_epoch(variant: str):
    def train_epoch(run: Run) -> None:
        data = _data()
        G, D = run.modules["generator"], run.modules["critic"]
        device = next(G.parameters()).device
        if run.epoch == 0:
            _log_scores(run, 0)
        if variant == "clipping":
            step = wgan_iteration(wgan_critic_loss, wgan_generator_loss, clip=CLIP, clip_fn=clip_weights)
        else:
            step = wgan_iteration(wgan_critic_loss, wgan_generator_loss,
                                  penalty=lambda f, x, fake: gradient_penalty(f, x, fake, GP_WEIGHT))
        batches = endless(make_loader(data["train"], BATCH_SIZE, seed=run.epoch_seed(), drop_last=True))
        train_gan(G, D, run.optimizers["g"], run.optimizers["d"], batches, iterations=ITERATIONS_PER_EPOCH,
                  noise=gaussian_noise(NOISE_SIZE, device=device), d_loss=wgan_critic_loss, g_loss=wgan_generator_loss,
                  iteration=step, d_steps=N_CRITIC, history=run.history, desc=f"wgan_{variant}_photos")
        _log_scores(run, (run.epoch + 1) * ITERATIONS_PER_EPOCH)
    return train_epoch


def _describe(variant: str):
    settings = (f"RMSprop lr {CLIP_LR}, weight clipping c = {CLIP}, BatchNorm in the critic" if variant == "clipping"
                else f"Adam lr {GP_LR}, betas {GP_BETAS}, gradient penalty λ = {GP_WEIGHT:g}, no BatchNorm in the critic")

    def describe(run: Run) -> str:
        e = run.history.epochs
        return (f"DCGenerator/DCDiscriminator (conv_dim {CONV_DIM}, noise {NOISE_SIZE}), {run.epoch * ITERATIONS_PER_EPOCH} "
                f"generator updates with n_critic {N_CRITIC} at batch {BATCH_SIZE}, {settings}, seed {run.seed}, in "
                f"{run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s); FD (photo features) "
                f"to the test photos {e['fd'][0]:.2f} (untrained) → {e['fd'][-1]:.2f}.")
    return describe


def _info(run: Run) -> dict:
    e = run.history.epochs
    return {"iterations": run.epoch * ITERATIONS_PER_EPOCH, "conv_dim": CONV_DIM, "fd": e["fd"][-1], "swd": e["swd"][-1],
            "seconds": round(run.history.seconds)}


DATA = "the 32×32 photos of monet2photo (1,020 training photos; scored against the 180 test photos)"
RECIPES = [Recipe(name=f"wgan_{variant}_photos", notebook="05", data=DATA, epochs=EPOCHS, build=_build(variant),
                  train_epoch=_train_epoch(variant), describe=_describe(variant), export=("generator", "critic"),
                  info=_info)
           for variant in ("clipping", "gp")]
