"""Notebook 05's recipes: the ring Ensembles build with one learning rate per member, train and log per-member
scores, and a member trained in the Ensemble matches the same network trained alone."""

import pytest
import torch

from course_utils.models.gan import MLPGenerator
from course_utils.recipes import all_recipes
from course_utils.recipes import nb05_wgan as recipes


@pytest.mark.parametrize("loss", ["gan", "clipping", "gp"])
def test_ring_build_and_train_log_every_member(loss):
    modules, optimizers = recipes.ring_build(loss, lrs=(1e-3, 2e-3), seeds=(0, 1))
    assert len(modules["G"]) == len(modules["D"]) == 4
    assert [g["lr"] for g in optimizers["g"].param_groups] == [1e-3, 2e-3, 1e-3, 2e-3]   # seed-major
    history = recipes.ring_train(loss, modules, optimizers, 4, every=2)
    assert history.num_steps == 4 and history.epochs["iteration"] == [0.0, 2.0, 4.0]
    for m in range(4):
        for key in ("modes", "high_quality", "reached", "estimate", "grad_norm"):
            assert len(history.epochs[f"{key}_{m}"]) == 3
    if loss == "clipping":
        assert all(p.abs().max() <= recipes.CLIP + 1e-7 for p in modules["D"].parameters())


def test_ring_scores_see_a_perfect_generator():
    modules, _ = recipes.ring_build("gp", lrs=(1e-4,), seeds=(0,))
    G = modules["G"]
    mixture = recipes.ring_mixture()
    with torch.no_grad():                       # a generator that outputs the modes' centres exactly
        member = G.members[0].net
        for layer in member:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_(), layer.bias.zero_()
        member[-1].bias.copy_(mixture.centers[0])
    scores = recipes.ring_scores(G, modules["D"])[0]
    assert scores["modes"] == 1 and scores["high_quality"] == 1.0 and scores["reached"] == 1


def test_single_lr_members_use_the_seeds_as_given():
    modules, _ = recipes.ring_build("gan", lrs=(1e-3,), seeds=(0, 1, 2))
    torch.manual_seed(1)
    alone = MLPGenerator(2, (2,), hidden=(128, 128), activation="relu", batch_norm=False, tanh_output=False)
    assert torch.equal(modules["G"].members[1].net[0].weight, alone.net[0].weight)


def test_ring_and_photo_recipes_registered():
    names = set(all_recipes())
    assert {f"ring_{k}" for k in recipes.RING_VARIANTS} <= names
    assert {f"ring_grid_{loss}{bn}" for loss in ("gan", "gp") for bn in ("", "_bn")} <= names
    assert {"wgan_clipping_photos", "wgan_gp_photos"} <= names
