import math

import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from course_utils.checkpoints import save_checkpoint
from course_utils.data import make_loader
from course_utils.data.toy2d import GaussianMixture2D, grid, ring
from course_utils.losses import d_loss_bce, g_loss_nonsaturating, g_loss_saturating
from course_utils.metrics import class_probabilities, mode_coverage, sample_quality, sharpness
from course_utils.models import CVAE, condition_on_label, one_hot
from course_utils.models.classifier import MNISTClassifier, accuracy, mnist_classifier
from course_utils.models.gan import MLPDiscriminator, MLPGenerator, PacDiscriminator, gaussian_noise
from course_utils.plotting import plot_image_rows, plot_steps, plot_toy_gan, save_gif, toy_gan_snapshot
from course_utils.training import (DivergenceError, discriminator_step, endless, evaluate_vae, generator_step,
                                   train_gan, train_vae)
from course_utils.widgets import latent_explorer


# --- CVAE -------------------------------------------------------------------------------------------

def test_one_hot_and_label_planes():
    assert one_hot(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    x = torch.rand(2, 1, 5, 5)
    out = condition_on_label(x, torch.tensor([1, 3]), num_classes=4)
    assert out.shape == (2, 5, 5, 5) and torch.equal(out[:, :1], x)
    assert out[0, 2].eq(1).all() and out[0, [1, 3, 4]].eq(0).all() and out[1, 4].eq(1).all()


def test_cvae_uses_the_label_and_trains_conditionally():
    torch.manual_seed(0)
    model = CVAE(latent_dim=2)
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6) % 10
    logits, mu, logvar = model(x, y)
    assert logits.shape == (6, 1, 28, 28) and mu.shape == logvar.shape == (6, 2)
    z = torch.zeros(6, 2)
    assert not torch.allclose(model.decode(z, y), model.decode(z, (y + 1) % 10))
    assert model.encode_means(x, y, batch_size=4).shape == (6, 2)
    data = TensorDataset(x, y)
    history = train_vae(model, data, epochs=1, batch_size=3, conditional=True, test_set=data,
                        snapshot_z=torch.zeros(10, 2), snapshot_labels=torch.arange(10))
    assert history.snapshots[-1][1].shape == (10, 1, 28, 28) and "test_elbo" in history.epochs
    metrics = evaluate_vae(model, data, conditional=True)
    assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction"] + metrics["kl"]))


# --- GAN pieces -------------------------------------------------------------------------------------

def test_gan_losses_match_their_formulas():
    real, fake = torch.randn(5, 1), torch.randn(5, 1)
    sig = torch.sigmoid
    assert torch.allclose(d_loss_bce(real, fake), -(sig(real).log().mean() + (1 - sig(fake)).log().mean()), atol=1e-5)
    assert torch.allclose(g_loss_nonsaturating(fake), -sig(fake).log().mean(), atol=1e-5)
    assert torch.allclose(g_loss_saturating(fake), (1 - sig(fake)).log().mean(), atol=1e-5)
    smooth = d_loss_bce(real, fake, real_label=0.9)
    assert not torch.allclose(smooth, d_loss_bce(real, fake))
    assert torch.isfinite(d_loss_bce(torch.tensor([[1e4]]), torch.tensor([[-1e4]])))


def test_mlp_generator_and_discriminator_shapes():
    G = MLPGenerator(8, (1, 28, 28), hidden=(16, 32))
    x = G(torch.randn(4, 8))
    assert x.shape == (4, 1, 28, 28) and x.abs().max() < 1
    D = MLPDiscriminator((1, 28, 28), hidden=(16,), dropout=0.3)
    assert D(x).shape == (4, 1)
    cG, cD = MLPGenerator(8, (2,), num_classes=3, tanh_output=False, bn_momentum=0.2), MLPDiscriminator((2,), num_classes=3)
    y = torch.tensor([0, 1, 2, 1])
    points = cG(torch.randn(4, 8), y)
    assert points.shape == (4, 2) and cD(points, y).shape == (4, 1)
    assert [m.momentum for m in cG.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [0.2, 0.2, 0.2]
    pac = PacDiscriminator((2,), pack=4, hidden=(8,))
    assert pac(torch.randn(8, 2)).shape == (2, 1)


def test_gaussian_noise_with_and_without_labels():
    z, = gaussian_noise(5)(3)
    assert z.shape == (3, 5)
    z, y = gaussian_noise(5, num_classes=10)(4, torch.Generator().manual_seed(0))
    assert z.shape == (4, 5) and y.dtype == torch.int64 and 0 <= y.min() and y.max() < 10


def _toy_gan(num_classes=0):
    torch.manual_seed(0)
    G = MLPGenerator(2, (2,), hidden=(16,), num_classes=num_classes, batch_norm=False, tanh_output=False)
    D = MLPDiscriminator((2,), hidden=(16,), num_classes=num_classes)
    return G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)


def test_steps_update_only_their_own_player():
    G, D, opt_g, opt_d = _toy_gan()
    g_before = [p.clone() for p in G.parameters()]
    out = discriminator_step(G, D, opt_d, (torch.randn(8, 2),), (torch.randn(8, 2),), d_loss_bce)
    assert set(out) == {"d_loss", "D(x)", "D(G(z))"}
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    d_before = [p.clone() for p in D.parameters()]
    generator_step(G, D, opt_g, (torch.randn(8, 2),), g_loss_nonsaturating)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_train_gan_counts_d_steps_logs_and_snapshots():
    G, D, opt_g, opt_d = _toy_gan()
    calls = {"d": 0}

    def counting_d_step(*args):
        calls["d"] += 1
        return discriminator_step(*args)

    mixture = ring()
    history = train_gan(G, D, opt_g, opt_d, mixture.batches(16), iterations=10, noise=gaussian_noise(2),
                        d_loss=d_loss_bce, g_loss=g_loss_nonsaturating, d_steps=3, d_step=counting_d_step,
                        snapshot=lambda G, D: G(torch.zeros(4, 2)), snapshot_every=5)
    assert calls["d"] == 30 and len(history.steps["g_loss"]) == 10 and len(history.steps["d_loss"]) == 10
    assert [i for i, _ in history.snapshots] == [0, 5, 10]
    assert G.training and D.training
    train_gan(G, D, opt_g, opt_d, mixture.batches(16), iterations=2, noise=gaussian_noise(2), d_loss=d_loss_bce,
              g_loss=g_loss_nonsaturating, history=history)
    assert len(history.steps["g_loss"]) == 12


def test_train_gan_conditional_and_nan_guard():
    G, D, opt_g, opt_d = _toy_gan(num_classes=3)
    data = TensorDataset(torch.randn(32, 2), torch.arange(32) % 3)
    train_gan(G, D, opt_g, opt_d, endless(make_loader(data, 8)), iterations=3, noise=gaussian_noise(2, 3),
              d_loss=d_loss_bce, g_loss=g_loss_nonsaturating)
    bad = lambda logits: logits.mean() * float("nan")  # noqa: E731
    with pytest.raises(DivergenceError, match="'g_loss' became nan at step 1"):
        train_gan(G, D, opt_g, opt_d, endless(make_loader(data, 8)), iterations=3, noise=gaussian_noise(2, 3),
                  d_loss=d_loss_bce, g_loss=bad)


def _run_toy(sync_every: int, iterations: int = 11, **kwargs):
    G, D, opt_g, opt_d = _toy_gan()
    history = train_gan(G, D, opt_g, opt_d, ring().batches(16, seed=0), iterations=iterations,
                        noise=gaussian_noise(2), d_loss=d_loss_bce, g_loss=g_loss_nonsaturating,
                        snapshot=lambda G, D: G(torch.zeros(2, 2)), snapshot_every=5, sync_every=sync_every, **kwargs)
    return history, torch.cat([p.detach().flatten() for p in G.parameters()])


@pytest.mark.parametrize("sync_every", [4, 50])
def test_train_gan_reading_values_every_k_steps_changes_nothing(sync_every):
    (every, weights), (batched, batched_weights) = _run_toy(1), _run_toy(sync_every)
    assert batched.steps == every.steps and len(every.steps["g_loss"]) == 11
    assert torch.equal(batched_weights, weights)
    assert [i for i, _ in batched.snapshots] == [0, 5, 10]


def test_train_gan_guard_names_the_first_bad_step_when_reading_every_k_steps():
    calls = {"g": 0}

    def nan_from_step_6(logits):
        calls["g"] += 1
        return g_loss_nonsaturating(logits) * (float("nan") if calls["g"] >= 6 else 1.0)
    with pytest.raises(DivergenceError, match="'g_loss' became nan at step 6"):
        train_gan(*_toy_gan(), ring().batches(16, seed=0), iterations=20, noise=gaussian_noise(2),
                  d_loss=d_loss_bce, g_loss=nan_from_step_6, sync_every=4)
    assert calls["g"] == 8   # stopped at the next read, after step 8
    with pytest.raises(ValueError, match="sync_every"):
        _run_toy(0)


def test_train_gan_reads_python_floats_that_a_step_returns():
    G, D, opt_g, opt_d = _toy_gan()

    def float_d_step(*args):
        return {k: float(v.detach()) for k, v in discriminator_step(*args).items()}
    history = train_gan(G, D, opt_g, opt_d, ring().batches(16, seed=0), iterations=3, noise=gaussian_noise(2),
                        d_loss=d_loss_bce, g_loss=g_loss_nonsaturating, d_step=float_d_step, sync_every=2)
    assert len(history.steps["d_loss"]) == 3 and all(isinstance(v, float) for v in history.steps["g_loss"])


def test_train_gan_reads_mixed_dtypes_exactly_in_one_transfer():
    """bfloat16 scores beside float32 losses (a step run under autocast): read together, each value exact."""
    from course_utils.training.history import read_values
    values = {"loss": torch.tensor(1 / 3), "D(x)": torch.tensor(0.7, dtype=torch.bfloat16)}
    [(step, read)] = read_values([(1, values)])
    assert step == 1 and read == {"loss": float(values["loss"]), "D(x)": float(values["D(x)"])}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_scores_with_the_weights_of_after_an_optimiser_step():
    """Autocast caches a bfloat16 copy of each weight for the whole block; _autocast turns the cache off, so a
    WGAN iteration's second critic step (inside the same block) sees the first step's update."""
    from course_utils.training import _autocast
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(8, 1).cuda(), torch.randn(4, 8, device="cuda")
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    with _autocast(torch.device("cuda"), True):
        before = layer(x)
        before.sum().backward()
        optimizer.step()
        after = layer(x)
    assert not torch.equal(before, after)


# --- data, metrics, classifier ----------------------------------------------------------------------

def test_mixtures():
    r = ring(8, radius=2.0)
    assert r.centers.shape == (8, 2) and torch.allclose(r.centers.norm(dim=1), torch.full((8,), 2.0))
    g = grid(5, spacing=1.0)
    assert g.centers.shape == (25, 2) and g.centers.min() == -2 and g.centers.max() == 2
    batch, = next(r.batches(64, seed=1))
    again, = next(r.batches(64, seed=1))
    assert batch.shape == (64, 2) and torch.equal(batch, again)


def test_mode_coverage_counts_modes_and_quality():
    mixture = GaussianMixture2D(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), std=0.1)
    on_two = torch.cat([torch.zeros(50, 2), torch.tensor([[10.0, 0.0]]).repeat(50, 1)])
    assert mode_coverage(on_two, mixture) == {"modes_covered": 2, "high_quality": 1.0}
    far = torch.full((100, 2), 5.0)
    assert mode_coverage(far, mixture) == {"modes_covered": 0, "high_quality": 0.0}


class _Oracle(torch.nn.Module):
    """A 'classifier' that reads the class from the first pixel (class k ↔ value k / 10)."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        k = (x[:, 0, 0, 0] * 10).round().long().clamp(0, 9)
        return torch.nn.functional.one_hot(k, 10).float() * 20


def test_sample_quality_with_a_known_classifier():
    images = torch.zeros(20, 1, 28, 28)
    images[:, 0, 0, 0] = (torch.arange(20) % 4) / 10
    result = sample_quality(_Oracle(), images, labels=torch.arange(20) % 4)
    assert result == {"classes_covered": 4, "confident": 1.0, "label_accuracy": 1.0}
    assert class_probabilities(_Oracle(), images * 2 - 1).shape == (20, 10)  # [-1, 1] input is rescaled
    assert sample_quality(_Oracle(), images, labels=torch.zeros(20, dtype=torch.long))["label_accuracy"] == 0.25


def test_sharpness_prefers_sharp_images():
    sharp = (torch.rand(8, 1, 28, 28) > 0.5).float()
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1)
    assert sharpness(sharp) > sharpness(blurred) > 0


def test_classifier_shapes_accuracy_and_cached_loading(capsys):
    model = MNISTClassifier()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert accuracy(_Oracle(), torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)) == 1.0
    save_checkpoint(model, "mnist_classifier", test_accuracy=0.5, epochs=0, seconds=0.0)
    loaded = mnist_classifier()
    assert "(loaded from the cache): test accuracy 50.00 %" in capsys.readouterr().out
    assert not loaded.training and torch.equal(loaded.net[0].weight, model.net[0].weight)


# --- plots and widgets ------------------------------------------------------------------------------

def test_image_rows_steps_and_toy_plots(tmp_path):
    fig = plot_image_rows({"a": torch.rand(4, 1, 8, 8), "b": torch.rand(4, 1, 8, 8)}, title="t",
                          col_labels=list("wxyz"))
    assert [ax.get_ylabel() for ax in fig.axes] == ["a", "b"] and fig.axes[0].get_title() == "t"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("wxyz")
    from course_utils.training import History
    history = History()
    for i in range(30):
        history.log_step({"d_loss": 1.0 + i, "g_loss": 2.0})
    ax = plot_steps(history, ["d_loss", "g_loss"], title="losses", smooth=5).axes[0]
    assert ax.get_xlabel() == "iteration" and len(ax.get_legend().get_texts()) == 2
    G, D, _, _ = _toy_gan()
    with torch.no_grad():
        snap = toy_gan_snapshot(G, D, torch.randn(10, 2), resolution=20)
    assert snap["fake"].shape == (10, 2) and snap["surface"].shape == (20, 20)
    assert 0 <= snap["surface"].min() and snap["surface"].max() <= 1
    fig = plot_toy_gan([(0, snap), (5, snap)], torch.randn(30, 2), title="toy", columns=2)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["iteration 0", "iteration 5"]


def test_save_gif_writes_all_frames_atomically(tmp_path):
    frames = [(i, torch.rand(4, 1, 8, 8) * 2 - 1) for i in range(3)]
    path = save_gif(frames, tmp_path / "sub" / "anim.gif", nrow=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    assert [p.name for p in path.parent.iterdir()] == ["anim.gif"]


def test_latent_explorer_with_a_label_menu():
    seen = []

    def decode(z, label):
        seen.append(label)
        return torch.rand(1, 1, 28, 28)

    widget = latent_explorer(decode, [-1, -1], [1, 1], labels=["zero", "one"])
    menu = [c for c in widget.children if c.__class__.__name__ == "Dropdown"][0]
    menu.value = 1
    assert seen[-1] == 1 and math.isclose(widget.children[0].max, 1.0)
