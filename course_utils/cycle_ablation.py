"""Why CycleGAN needs its cycle loss (notebook 06; seed 004 P5a): the same networks trained with the full loss
and with λ_cycle = 0 (then the identity term, weighted λ_identity·λ_cycle, is 0 too: a plain pair of LSGANs),
over several seeds, and scored for what the translation keeps of its input.

:data:`ARMS` names the two settings, :func:`arm_config` makes one run's configuration, :func:`train_arm` trains
it with :class:`~course_utils.cyclegan_trainer.CycleGANTrainer`, and :func:`content_scores` measures, on test
images: the reconstruction error of A → B → A and B → A → B (L1), the edge correlation and SSIM between each
input and its translation (:mod:`course_utils.metrics.content`), the gap between the translations' colour
statistics and the real photos', and the feature distance of notebook 07 between the translations and real
photos (:func:`~course_utils.metrics.photo_feature_distance`, at 32×32).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .cyclegan_trainer import CycleGANConfig, CycleGANTrainer
from .metrics.content import edge_correlation as reference_edge_correlation
from .metrics.content import ssim

ARMS: dict[str, dict[str, float]] = {
    "full loss": {"lambda_cycle": 10.0, "lambda_identity": 0.5},
    "λ_cycle = 0": {"lambda_cycle": 0.0, "lambda_identity": 0.0},
}
SEEDS = (0, 1, 2)
# The comparison's networks and budget (quick and lecture mode): ngf 16, 3 residual blocks, 32×32 crops,
# 2 epochs of 200 iterations (the second at half the learning rate).
QUICK = CycleGANConfig(crop_size=32, ngf=16, n_blocks=3, ndf=16, n_epochs=1, n_epochs_decay=1,
                       iterations_per_epoch=200)
SMOKE = CycleGANConfig(crop_size=32, ngf=4, n_blocks=1, ndf=4, n_epochs=1, n_epochs_decay=0,
                       iterations_per_epoch=3)
METRICS = {   # key: (label, lower is better)
    "rec_a": ("A→B→A L1", True), "rec_b": ("B→A→B L1", True),
    "edges_ab": ("edge corr. a, G_AB(a)", False), "ssim_ab": ("SSIM a, G_AB(a)", False),
    "edges_ba": ("edge corr. b, G_BA(b)", False),
    "colour_gap": ("colour gap to photos", True), "fd": ("feature distance to photos", True),
}


def arm_key(arm: str, seed: int) -> str:
    """A name for one run, usable as a module key: ``"full_s0"``, ``"no_cycle_s2"``."""
    return f"{'full' if ARMS[arm]['lambda_cycle'] else 'no_cycle'}_s{seed}"


def arm_config(base: CycleGANConfig, arm: str, seed: int) -> CycleGANConfig:
    """``base`` with ``arm``'s λs and ``seed`` (initialisation, data order, crops, pools)."""
    return dataclasses.replace(base, seed=seed, **ARMS[arm])


def train_arm(base: CycleGANConfig, root: Path, arm: str, seed: int, *, device: torch.device | str = "cpu",
              desc: str | None = None, **trainer_options) -> CycleGANTrainer:
    """Train one run of the comparison from scratch (no checkpoint) and return its trainer.
    ``trainer_options`` go to :class:`CycleGANTrainer` (``step``, ``image_pool``, ``generator``, ...)."""
    torch.manual_seed(seed)
    trainer = CycleGANTrainer(arm_config(base, arm, seed), root, device=device, checkpoint_dir=None,
                              **trainer_options)
    trainer.train(desc=desc or f"{arm}, seed {seed}")
    return trainer


def colour_stats(images: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation over a set of images ``[N, 3, H, W]``: ``[6]``."""
    x = images.float().transpose(0, 1).flatten(1)
    return torch.cat([x.mean(1), x.std(1)])


@torch.no_grad()
def content_scores(G_AB: nn.Module, G_BA: nn.Module, a: torch.Tensor, b: torch.Tensor, *,
                   photos: torch.Tensor | None = None, feature_network: nn.Module | None = None,
                   edge_correlation: Callable = reference_edge_correlation) -> dict[str, float]:
    """Scores of one pair of generators on test paintings ``a`` and photos ``b`` ``[N, 3, H, W]`` in [-1, 1].

    Keys of :data:`METRICS`: ``rec_a`` = mean |G_BA(G_AB(a)) − a|, ``rec_b`` likewise; ``edges_ab`` / ``ssim_ab``:
    mean edge correlation / SSIM between each painting and its translation, ``edges_ba`` for the photos;
    ``colour_gap``: mean |colour statistics of G_AB(a) − those of ``photos``| (default ``b``); ``fd``: the photo
    feature distance between G_AB(a) and ``photos`` at 32×32 (only with a ``feature_network``).
    """
    from .metrics import photo_feature_distance

    for g in (G_AB, G_BA):
        g.eval()
    photos = b if photos is None else photos
    fake_b, fake_a = G_AB(a), G_BA(b)
    rec_a, rec_b = G_BA(fake_b), G_AB(fake_a)
    scores = {"rec_a": float(F.l1_loss(rec_a, a)), "rec_b": float(F.l1_loss(rec_b, b)),
              "edges_ab": float(edge_correlation(a, fake_b).mean()), "ssim_ab": float(ssim(a, fake_b).mean()),
              "edges_ba": float(edge_correlation(b, fake_a).mean()),
              "colour_gap": float((colour_stats(fake_b) - colour_stats(photos)).abs().mean())}
    if feature_network is not None:
        scores["fd"] = photo_feature_distance(to_32(fake_b), to_32(photos), feature_network)
    return scores


def to_32(images: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` → ``[N, 3, 32, 32]`` (area average), the photo feature network's input size."""
    return images if images.shape[-1] == 32 else F.interpolate(images.float(), size=(32, 32), mode="area")


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1) of a few numbers (sd 0 for one)."""
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0
