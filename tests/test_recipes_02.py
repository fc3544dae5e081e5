"""Notebook 02's recipes: the VAE and CVAE build, train epoch by epoch as the recipes do, and load from the shipped files."""

import pytest
import torch
from conftest import random_digits

from course_utils import pretrained
from course_utils.models import CVAE, VAE
from course_utils.recipes import all_recipes
from course_utils.recipes import nb02_cvae as comparison


def _digits(n: int = 2 * comparison.BATCH_SIZE):
    return random_digits(n)


@pytest.mark.parametrize("family", list(comparison.FAMILIES))
def test_family_builds_seeded_and_trains(family):
    modules, optimizers = comparison.build(family, "cpu", seed=1)
    model = modules["model"]
    assert isinstance(model, CVAE if family == "cvae" else VAE) and model.latent_dim == 2
    again, _ = comparison.build(family, "cpu", seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again["model"].state_dict().values()))
    history = comparison.train(family, modules, optimizers, _digits(), epochs=1, seed=1, test_set=_digits(64))
    assert history.num_steps == 2 and len(history.epochs["test_elbo"]) == 1
    if family == "cvae":                  # decoded z = 0 with labels 0-9, before training and after the epoch
        assert [e for e, _ in history.snapshots] == [0, 1] and history.snapshots[-1][1].shape == (10, 1, 28, 28)
    assert not model.training


def test_training_epoch_by_epoch_equals_one_call():
    """The recipe trains one epoch per call (resumable); the notebook trains all epochs at once: same weights."""
    whole, whole_opt = comparison.build("cvae", "cpu", seed=2)
    comparison.train("cvae", whole, whole_opt, _digits(), epochs=2, seed=2)
    parts, parts_opt = comparison.build("cvae", "cpu", seed=2)
    history = comparison.train("cvae", parts, parts_opt, _digits(), epochs=1, seed=2)
    comparison.train("cvae", parts, parts_opt, _digits(), epochs=1, seed=2, history=history, first_epoch=1)
    for a, b in zip(whole["model"].state_dict().values(), parts["model"].state_dict().values()):
        torch.testing.assert_close(a, b)


def test_unknown_family_named():
    with pytest.raises(KeyError, match="unknown family"):
        comparison.build("flow")


def test_recipes_listed_shipped_and_loadable():
    recipes, listed = all_recipes(), pretrained.manifest()
    total = 0
    for family in comparison.FAMILIES:
        for seed in comparison.SEEDS:
            name = comparison.recipe_name(family, seed)
            assert recipes[name].notebook == "02" and recipes[name].seed == seed
            assert name in listed, f"{name} is not in pretrained/manifest.json"
            total += listed[name]["bytes"]
        modules, _ = comparison.build(family, "cpu", seed=0)
        found = pretrained.load(comparison.recipe_name(family, 0), modules)
        assert found.info["epochs"] == comparison.EPOCHS
        x, y = _digits(4).tensors
        out = modules["model"](x, y) if family == "cvae" else modules["model"](x)
        assert out[0].shape == (4, 1, 28, 28)
    assert total <= 7.5 * 2**20, f"02's pretrained files take {total / 2**20:.2f} MiB"
