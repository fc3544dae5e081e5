"""Notebook 06: content metrics (edge correlation, SSIM), the λ_cycle = 0 comparison, exact resume with a pool
that owns its random generator, and generators exported into the pretrained folder."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import pretrained
from course_utils.cycle_ablation import ARMS, QUICK, arm_config, arm_key, colour_stats, content_scores, mean_sd, to_32
from course_utils.cyclegan_trainer import CycleGANConfig, CycleGANTrainer, load_generators
from course_utils.metrics import edge_correlation, sobel_magnitude, ssim
from course_utils.recipes import all_recipes

from test_trainer_ablation_metrics import TINY, monet, weights  # noqa: F401  (the tiny dataset fixture)


def _images(n=3, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(n, 3, size + 2, size + 2, generator=g) * 2 - 1, 3, stride=1)


def test_edge_correlation_and_ssim_see_structure_not_colour():
    x = _images()
    assert sobel_magnitude(x).shape == (3, 1, 22, 22)
    torch.testing.assert_close(edge_correlation(x, x), torch.ones(3))
    torch.testing.assert_close(edge_correlation(x, 0.5 * x + 0.2), torch.ones(3))   # brightness, contrast
    torch.testing.assert_close(ssim(x, x), torch.ones(3))
    other = _images(seed=1)
    assert edge_correlation(x, other).abs().max() < 0.5 and ssim(x, other).max() < 0.5
    noisy = x + 0.3 * torch.randn_like(x)
    assert (edge_correlation(x, noisy) > edge_correlation(x, other)).all()
    assert (ssim(x, noisy) > ssim(x, other)).all() and (ssim(x, noisy) < 1).all()
    flat = torch.zeros_like(x)
    assert torch.isfinite(edge_correlation(x, flat)).all() and torch.isfinite(ssim(flat, flat)).all()


def test_ssim_matches_the_formula_on_constant_images():
    """For constant images a, b the local variances vanish: SSIM = (2ab + c1) / (a² + b² + c1)."""
    a, b = torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), -0.4)
    c1 = (0.01 * 2) ** 2
    torch.testing.assert_close(ssim(a, b), torch.tensor([(2 * 0.2 * -0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1)]),
                               atol=1e-4, rtol=0)


def test_content_scores_of_the_identity_and_the_helpers():
    a, b = _images(4, 32), _images(5, 32, seed=2)
    s = content_scores(nn.Identity(), nn.Identity(), a, b)
    assert s["rec_a"] == 0 and s["rec_b"] == 0 and s["edges_ab"] == pytest.approx(1) and s["ssim_ab"] == pytest.approx(1)
    assert s["colour_gap"] == pytest.approx(float((colour_stats(a) - colour_stats(b)).abs().mean()))
    assert "fd" not in s                                   # only with a feature network
    assert to_32(torch.zeros(2, 3, 64, 64)).shape == (2, 3, 32, 32)
    assert mean_sd([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    no_cycle = arm_config(QUICK, "λ_cycle = 0", 2)
    assert (no_cycle.lambda_cycle, no_cycle.lambda_identity, no_cycle.seed, no_cycle.ngf) == (0.0, 0.0, 2, QUICK.ngf)
    assert [arm_key(arm, 1) for arm in ARMS] == ["full_s1", "no_cycle_s1"]


def test_the_comparison_recipe_lists_both_generators_of_six_runs():
    recipe = all_recipes()["cyclegan_cycle_ablation"]
    modules, optimizers = recipe.build(torch.device("cpu"), 0)
    assert recipe.epochs == 6 and optimizers == {} and len(modules) == 12
    assert "no_cycle_s2_G_BA" in modules and "full_s0_G_AB" in modules


class SeededPool:
    """The notebook's pool: its own random.Random(seed), whose state the trainer saves."""

    def __init__(self, size=50, seed=0):
        self.size, self.images, self.random = size, [], random.Random(seed)

    def rng(self):
        return self.random

    def query(self, images):
        out = []
        for image in images.detach().clone():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng().random() < 0.5:
                k = self.rng().randrange(self.size)
                out.append(self.images[k].clone())
                self.images[k] = image
            else:
                out.append(image)
        return torch.cat(out)


class GlobalRandomPool(SeededPool):
    """The old notebook pool: Python's global random, which no checkpoint restores."""

    def __init__(self, size=50, seed=0):
        super().__init__(size, seed)
        del self.random

    def rng(self):
        return random


def _train(monet, folder, pool, *, split):
    config = CycleGANConfig(**{**TINY, "pool_size": 2})
    random.seed(0)
    trainer = CycleGANTrainer(config, monet, checkpoint_dir=folder, image_pool=pool)
    if split:
        trainer.train(epochs=1)
        random.seed(12345)                          # another process after an interruption
        trainer = CycleGANTrainer(config, monet, checkpoint_dir=folder, image_pool=pool)
    trainer.train()
    return trainer


def test_resume_is_exact_with_a_pool_that_owns_its_generator(monet, tmp_path):  # noqa: F811
    straight = _train(monet, tmp_path / "a", SeededPool, split=False)
    resumed = _train(monet, tmp_path / "b", SeededPool, split=True)
    assert resumed.pool_a.random.getstate() == straight.pool_a.random.getstate()
    for x, y in zip(weights(straight), weights(resumed)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    # the same with Python's global random: the resumed run draws other images from its pools
    straight = _train(monet, tmp_path / "c", GlobalRandomPool, split=False)
    resumed = _train(monet, tmp_path / "d", GlobalRandomPool, split=True)
    assert any(not torch.equal(x, y) for x, y in zip(weights(straight), weights(resumed)))


def test_generators_exported_into_the_pretrained_folder_are_listed(monet, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(tmp_path))
    trainer = CycleGANTrainer(CycleGANConfig(**TINY), monet)
    trainer.train(epochs=1)
    path = trainer.export_generators(tmp_path / "tiny_cyclegan.pt", listing={"command": "python scripts/x.py",
                                                                             "trained": "1 epoch.", "data": "noise"})
    entry = pretrained.manifest(tmp_path)["tiny_cyclegan"]
    assert entry["sha256"] == pretrained.sha256(path) and entry["command"] == "python scripts/x.py"
    G_AB, _, info = load_generators(path)
    assert info["epochs"] == 1 and info["ngf"] == TINY["ngf"]
    monkeypatch.setenv("COURSE_MODE", "lecture")
    mine = {"G_AB": CycleGANTrainer(CycleGANConfig(**TINY), monet).model.G_AB}
    history = pretrained.train_or_load("tiny_cyclegan", mine, lambda: pytest.fail("lecture mode must not train"))
    assert len(history.steps["G"]) == 3
    torch.testing.assert_close(mine["G_AB"].state_dict()["model.1.weight"], G_AB.state_dict()["model.1.weight"])
