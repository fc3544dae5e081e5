"""Notebook 06's λ_cycle = 0 comparison for lecture mode: the generators of both arms of
:mod:`course_utils.cycle_ablation` (full loss and λ_cycle = 0), three seeds each, at the comparison's
``quick`` settings, so that lecture mode shows the same runs the quick notebook trains.

One "epoch" of this recipe is one whole run (an arm and a seed, :data:`RUNS`), trained from scratch by
:func:`~course_utils.cycle_ablation.train_arm`; the checkpoint after each run makes the recipe resumable run by
run. The history keeps each run's per-step and per-epoch losses under ``"<run> <loss>"`` (no images).
(The main model of notebook 06, ``cyclegan_monet2photo_small``, comes from ``scripts/train_cyclegan.py``.)
"""

from __future__ import annotations

import torch

from ..cycle_ablation import ARMS, QUICK, SEEDS, arm_key, train_arm
from ..models.cyclegan import ResnetGenerator
from ..runs import Recipe, Run

NAME = "cyclegan_cycle_ablation"
RUNS = [(arm, seed) for arm in ARMS for seed in SEEDS]


def _build(device: torch.device, seed: int):
    modules = {}
    for arm, s in RUNS:
        for g in ("G_AB", "G_BA"):
            modules[f"{arm_key(arm, s)}_{g}"] = ResnetGenerator(ngf=QUICK.ngf, n_blocks=QUICK.n_blocks).to(device)
    return modules, {}


def _train_epoch(run: Run) -> None:
    from ..data.monet2photo import monet2photo_root

    arm, seed = RUNS[run.epoch]
    key = arm_key(arm, seed)
    device = next(next(iter(run.modules.values())).parameters()).device
    trainer = train_arm(QUICK, monet2photo_root(), arm, seed, device=device, desc=f"{NAME}: {arm}, seed {seed}")
    for g in ("G_AB", "G_BA"):
        run.modules[f"{key}_{g}"].load_state_dict(getattr(trainer.model, g).state_dict())
    for name, values in trainer.history.steps.items():
        run.history.steps[f"{key} {name}"] = list(values)
    for name, values in trainer.history.epochs.items():
        run.history.epochs[f"{key} {name}"] = list(values)
    run.extra[f"{key} seconds"] = trainer.history.seconds
    run.extra["paintings"], run.extra["photos"] = len(trainer.dataset.a), len(trainer.dataset.b)


def _describe(run: Run) -> str:
    iterations = QUICK.total_epochs * QUICK.iterations_per_epoch
    return (f"{len(RUNS)} CycleGANs (full loss and λ_cycle = 0, seeds {', '.join(map(str, SEEDS))}), each "
            f"{iterations} iterations at {QUICK.crop_size} px (ngf {QUICK.ngf}, {QUICK.n_blocks} residual blocks, "
            f"ndf {QUICK.ndf}; {QUICK.n_epochs} epoch at lr {QUICK.lr:g}, {QUICK.n_epochs_decay} of linear decay), "
            f"the settings of notebook 06's quick mode, in {run.history.seconds / 60:.1f} min on "
            f"{torch.get_num_threads()} CPU thread(s).")


RECIPES = [Recipe(name=NAME, notebook="06", data="monet2photo (the training paintings and photos found at run time)",
                  epochs=len(RUNS), build=_build, train_epoch=_train_epoch, describe=_describe,
                  info=lambda run: {"runs": [arm_key(a, s) for a, s in RUNS], "crop_size": QUICK.crop_size,
                                    "ngf": QUICK.ngf, "n_blocks": QUICK.n_blocks, "ndf": QUICK.ndf,
                                    "iterations": QUICK.total_epochs * QUICK.iterations_per_epoch,
                                    "paintings": run.extra.get("paintings"), "photos": run.extra.get("photos")})]
