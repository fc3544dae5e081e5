"""Notebook 03's recipes: the scores they record, and the shipped files (listed, within budget, loadable)."""

import pytest
import torch

from course_utils import pretrained
from course_utils.recipes import all_recipes
from course_utils.recipes import nb03_gan as r03


def test_ring_scores_keep_coverage_and_precision_apart():
    mixture = r03.ring_mixture()
    g = torch.Generator().manual_seed(0)
    exact = mixture.sample(800, g)
    assert r03.ring_scores(exact, mixture) == pytest.approx(
        {"modes_3sd": 8.0, "precision": 0.997, "modes_loose": 8.0, "within_loose": 1.0}, abs=0.01)
    smeared = exact + 0.2 * torch.randn(800, 2, generator=g)        # every mode visited, none precisely
    s = r03.ring_scores(smeared, mixture)
    assert s["modes_loose"] == 8 and s["within_loose"] > 0.9 and s["precision"] < 0.05
    collapsed = exact[(exact[:, 0] > 1.9)]                            # one mode only
    assert r03.ring_scores(collapsed, mixture)["modes_loose"] == 1


def test_dead_units_counts_units_never_active():
    G, _ = r03.cgan_models("relu", 0.1)
    inputs = r03.cgan_eval_inputs(200)
    assert r03.dead_units(G, inputs) < 0.5
    with torch.no_grad():
        G.net[1].bias.fill_(-100.0)                                   # the first BatchNorm's output is always < 0
    width = sum(m.num_features for m in G.net if isinstance(m, torch.nn.BatchNorm1d))
    assert r03.dead_units(G, inputs) >= G.net[1].num_features / width


def test_factorial_order_is_seed_major_and_complete():
    runs = r03.factorial_runs()
    assert len(runs) == 2 * len(r03.SEEDS) == all_recipes()["cgan03_factorial"].epochs
    assert [s for _, s in runs[:2]] == [0] * 2 and len(set(runs)) == len(runs)
    assert {(a, m) for a, _ in runs for m in r03.MOMENTA} == set(r03.CORNERS)


def test_shadow_statistics_equal_a_run_at_the_other_momentum():
    import copy
    torch.manual_seed(0)
    G, _ = r03.cgan_models("relu", 0.2)
    other = copy.deepcopy(G)
    for m in other.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.momentum = 0.01
    shadow = r03.ShadowRunningStats(G, 0.01)
    for _ in range(4):
        z, y = r03.cgan_eval_inputs(32)
        G(z, y), other(z, y)
    shadow.remove()
    kept = shadow.apply(G)
    for a, b in zip(other.modules(), kept.modules()):
        if isinstance(a, torch.nn.BatchNorm1d):
            assert torch.allclose(a.running_mean, b.running_mean) and torch.allclose(a.running_var, b.running_var)
            assert b.momentum == 0.01


def test_recipes_shipped_within_budget_and_loadable():
    listed = pretrained.manifest()
    names = [n for n, rec in all_recipes().items() if rec.notebook == "03"]
    assert len(names) == 3 * 3 + 2
    assert sum(listed[n]["bytes"] for n in names) <= 5 * 2**20         # the per-notebook budget
    G, _ = r03.toy_models(2)
    found = pretrained.load(r03.ring_name("pacgan2", 0), {"G": G})
    assert len(found.history.epochs["modes_loose"]) == r03.TOY_BLOCKS + 1
    shown = {name: r03.cgan_models(a, m)[0] for (a, m), name in r03.CORNERS.items() if name in ("simple", "rich")}
    found = pretrained.load("cgan03_factorial", shown)
    assert len(found.history.epochs["label_accuracy"]) == 2 * len(r03.factorial_runs())
    G = r03.MLPGenerator(r03.NOISE_DIM, (1, 28, 28))
    found = pretrained.load("gan03_mnist", {"G": G})
    assert found.history.num_steps == r03.GAN_ITERATIONS and len(found.history.snapshots) == 11
