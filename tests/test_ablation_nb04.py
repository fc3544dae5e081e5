"""Notebook 04's helpers: run keys and per-run histories of an ablation grid, a discriminator's input-gradient
norms, BatchNorm removal, and the recipes' grid (names, keys) matching what the notebook looks up."""

import torch
from torch import nn

from course_utils.ablation import input_gradient_norms, run_ablation, run_history, run_key, without_batch_norm
from course_utils.models.dcgan import DCDiscriminator
from course_utils.recipes import nb04_dcgan
from course_utils.training import History


def test_run_key_is_canonical():
    assert run_key({"lr": 5e-4, "sn_d": True}, 1) == run_key({"sn_d": True, "lr": 0.0005}, 1)
    assert run_key({"lr": 5e-4}, 0) != run_key({"lr": 5e-4}, 1) != run_key({"lr": 5e-4})
    assert run_key({"lr": 5e-4}, 2).endswith(" seed=2")


def test_run_history_splits_a_grid():
    a, b = run_key({"lr": 1}, 0), run_key({"lr": 2}, 0)
    grid = History(steps={f"{a}/d_loss": [1.0, 2.0], f"{a}/g_loss": [3.0, 4.0], f"{b}/d_loss": [5.0]})
    assert run_history(grid, a).steps == {"d_loss": [1.0, 2.0], "g_loss": [3.0, 4.0]}
    assert run_history(grid, b).steps == {"d_loss": [5.0]}
    try:
        run_history(grid, run_key({"lr": 3}, 0))
    except KeyError as err:
        assert "no run" in str(err)
    else:
        raise AssertionError("an unknown run must raise KeyError")


def test_input_gradient_norms_of_a_linear_critic():
    torch.manual_seed(0)
    w = torch.randn(3 * 4 * 4)
    D = nn.Sequential(nn.Flatten(), nn.Linear(48, 1, bias=False))
    D[1].weight.data.copy_(w[None])
    D.train()
    norms = input_gradient_norms(D, torch.randn(10, 3, 4, 4), batch_size=4)
    assert norms.shape == (10,) and torch.allclose(norms, w.norm().expand(10), atol=1e-5)   # ∇x (w·x) = w
    assert D.training   # mode restored


def test_input_gradient_norms_are_per_image_in_eval_mode():
    torch.manual_seed(0)
    D = DCDiscriminator(4, spectral_norm=True)
    with torch.no_grad():
        for _ in range(3):
            D(torch.randn(8, 3, 32, 32))        # running statistics away from their initial values
    x = torch.randn(6, 3, 32, 32)
    together = input_gradient_norms(D, x)
    alone = torch.cat([input_gradient_norms(D, x[i:i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, rtol=1e-4, atol=1e-6)


def test_without_batch_norm_keeps_the_rest():
    D = DCDiscriminator(4, spectral_norm=True).eval()
    bare = without_batch_norm(D)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in bare.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3          # the original is unchanged
    assert sum(isinstance(m, nn.Conv2d) for m in bare.modules()) == 4
    assert bare(torch.randn(2, 3, 32, 32)).shape == (2, 1)


def test_ablation_recipe_grid_matches_the_notebooks_keys():
    runs = nb04_dcgan.ablation_runs()
    assert len(runs) == len(nb04_dcgan.ABLATION_ARMS) * 3 and {s for _, _, s in runs} == {0, 1, 2}
    base = dict(lr=5e-4, sn_g=True, sn_d=True, d_train_iters=1)       # notebook 04's BASE
    arms = nb04_dcgan.ABLATION_ARMS
    assert arms["lr=0.0005"] == base and arms["SN on D only"] == {**base, "sn_g": False}
    assert {**base, "lr": 2e-4} in arms.values() and {**base, "sn_g": False, "sn_d": False} in arms.values()
    modules, _ = nb04_dcgan._build_ablation(torch.device("cpu"), 0)
    assert "G " + run_key(base, 2) in modules and "D " + run_key({**base, "d_train_iters": 4}, 0) in modules


def test_run_ablation_passes_seeds_and_reports_spread():
    calls = []

    def train_one(lr, seed):
        calls.append((lr, seed))
        return History(steps={"d_loss": [0.0]}), torch.full((2, 3), float(seed))

    results = run_ablation({"a": {"lr": 1}, "b": {"lr": 1}}, train_one, seeds=[0, 1, 2], verbose=False,
                           score=lambda s: {"m": float(s.mean())})
    assert calls == [(1, 0), (1, 1), (1, 2)]                     # identical configs trained once per seed
    assert results["a"] is results["b"] and results["a"].scores["m"] == 1.0
    assert abs(results["a"].score_sd["m"] - 1.0) < 1e-9
