"""Notebook 07's and 08's recipes: the models build, train a few steps, sample, and load from the shipped files."""

import pytest
import torch
from conftest import random_digits

from course_utils import pretrained
from course_utils.recipes import all_recipes
from course_utils.recipes import nb07_evaluation as families
from course_utils.recipes import nb08_stylegan


def _digits(n: int = 3 * families.BATCH_SIZE):
    return random_digits(n)


@pytest.mark.parametrize("family", list(families.FAMILIES))
def test_family_trains_one_pass_and_samples(family):
    modules, optimizers = families.build(family, "cpu", seed=0)
    before = {k: v.clone() for k, v in modules["decoder" if family in ("vae", "cvae") else "G"].state_dict().items()}
    history = families.train_pass(family, modules, optimizers, _digits(), seed=0)
    steps = 3 if family in ("vae", "cvae", "gan") else 1                  # WGAN-GP: 5 critic steps per G step
    assert history.num_steps == steps
    after = modules["decoder" if family in ("vae", "cvae") else "G"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    sample = families.sampler(family, modules, seed=0)
    images = sample(20)
    assert images.shape == (20, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, sample(20))                                  # seeded
    assert not torch.allclose(sample(20, temperature=0.5), images)


def test_unknown_family_named():
    with pytest.raises(KeyError, match="unknown family"):
        families.build("flow")


def test_recipes_listed_and_shipped():
    recipes = all_recipes()
    names = [families.recipe_name(f, s) for f in families.FAMILIES for s in families.SEEDS] + [nb08_stylegan.NAME]
    assert set(names) <= set(recipes)
    listed = pretrained.manifest()
    total = 0
    for name in names:
        assert name in listed, f"{name} is not in pretrained/manifest.json"
        assert recipes[name].notebook in ("07", "08")
        total += listed[name]["bytes"]
    assert total <= 8 * 2**20, f"07–08's pretrained files take {total / 2**20:.2f} MiB (budget 8 MiB)"


def test_shipped_models_load_into_fresh_modules():
    for family in families.FAMILIES:
        modules, _ = families.build(family, "cpu", seed=0)
        key = "decoder" if family in ("vae", "cvae") else "G"
        found = pretrained.load(families.recipe_name(family, 0), {key: modules[key]})
        assert found.entry["notebook"] == "07"
        assert families.sampler(family, modules, 0)(4).shape == (4, 1, 28, 28)
    modules, _ = nb08_stylegan.build("cpu")
    found = pretrained.load(nb08_stylegan.NAME, {"G_ema": modules["G_ema"]})
    assert len(found.history.epochs["fd_avg"]) == len(found.history.snapshots) == nb08_stylegan.EPOCHS + 1
    with torch.no_grad():
        assert modules["G_ema"](torch.randn(2, nb08_stylegan.Z_DIM)).shape == (2, 3, 32, 32)
