import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from torch.utils.data import TensorDataset

from course_utils.checkpoints import load_checkpoint, save_checkpoint
from course_utils.data import make_loader
from course_utils.models import VAE
from course_utils.plotting import (latent_grid, plot_curves, plot_history, plot_latent_scatter, plot_manifold,
                                   plot_reconstructions, plot_snapshots, show_images)
from course_utils.training import DivergenceError, History, check_finite, evaluate_vae, train, train_vae
from course_utils.widgets import latent_explorer


def blobs(n=64):
    """Tiny 'images': bright top half for class 0, bright bottom half for class 1."""
    labels = torch.arange(n) % 2
    images = torch.zeros(n, 1, 28, 28)
    images[labels == 0, :, :14] = 1.0
    images[labels == 1, :, 14:] = 1.0
    return TensorDataset(images, labels)


def test_train_vae_learns_records_history_and_snapshots():
    torch.manual_seed(0)
    model = VAE(latent_dim=2)
    data = blobs()
    z = torch.zeros(3, 2)
    history = train_vae(model, data, epochs=3, batch_size=16, test_set=data, snapshot_z=z)
    assert len(history.epochs["loss"]) == 3 and len(history.steps["loss"]) == 12
    assert history.epochs["loss"][-1] < history.epochs["loss"][0]
    assert set(history.epochs) >= {"reconstruction", "kl", "test_elbo", "test_kl"}
    assert [epoch for epoch, _ in history.snapshots] == [0, 1, 2, 3]
    assert history.snapshots[0][1].shape == (3, 1, 28, 28)
    assert history.seconds > 0


def test_evaluate_vae_is_deterministic_and_consistent():
    model, data = VAE(latent_dim=2), blobs(32)
    first, again = evaluate_vae(model, data, batch_size=10), evaluate_vae(model, data, batch_size=10)
    assert first == again
    assert first["elbo"] == pytest.approx(-(first["reconstruction"] + first["kl"]))
    state = torch.random.get_rng_state()
    evaluate_vae(model, data)
    assert torch.equal(state, torch.random.get_rng_state())  # training randomness is untouched


def test_nan_loss_stops_training_naming_the_loss_and_step():
    model = torch.nn.Linear(1, 1)
    loader = make_loader(TensorDataset(torch.ones(8, 1)), 2)
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        out = model(batch[0]).mean()
        return {"loss": out * (float("nan") if calls["n"] == 3 else 1.0), "aux": out}

    with pytest.raises(DivergenceError, match=r"loss 'loss' became nan at step 3"):
        train(model, loader, loss_fn, torch.optim.SGD(model.parameters(), 0.1), epochs=1)
    with pytest.raises(DivergenceError, match="'kl' became inf at step 9"):
        check_finite({"loss": torch.tensor(1.0), "kl": torch.tensor(float("inf"))}, 9)


def test_train_continues_a_history():
    model = torch.nn.Linear(1, 1)
    loader = make_loader(TensorDataset(torch.ones(4, 1)), 2)
    loss_fn = lambda m, b: {"loss": m(b[0]).pow(2).mean()}  # noqa: E731
    opt = torch.optim.SGD(model.parameters(), 0.1)
    history = train(model, loader, loss_fn, opt, epochs=1)
    train(model, loader, loss_fn, opt, epochs=2, history=history)
    assert len(history.epochs["loss"]) == 3 and len(history.steps["loss"]) == 6


def test_checkpoint_roundtrip_and_missing(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint(model, "unit", test_elbo=-150.5)
    other = torch.nn.Linear(3, 2)
    assert load_checkpoint(other, "unit") == {"test_elbo": -150.5}
    assert torch.equal(other.weight, model.weight)
    assert path.parent.name == "checkpoints" and not list(path.parent.glob("*.tmp*"))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(other, tmp_path / "nope.pt")


def _labelled(fig: Figure) -> list[plt.Axes]:
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes and (fig._suptitle is not None or all(ax.get_title() for ax in axes))
    return axes


def test_image_figures_have_titles():
    images = torch.rand(10, 1, 28, 28)
    fig = show_images(images, nrow=5, title="digits")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "digits"
    fig = plot_reconstructions(images[:4], images[:4])
    assert fig._suptitle.get_text() and [ax.get_ylabel() for ax in fig.axes] == ["input", "reconstruction"]
    fig = plot_snapshots([(0, images[:4]), (1, images[:4])])
    assert [ax.get_ylabel() for ax in fig.axes] == ["epoch 0", "epoch 1"]
    show_images(torch.rand(4, 3, 8, 8) * 2 - 1, title="rgb in [-1, 1]")


def test_history_curves_and_generic_curves_have_labels_and_legends():
    history = History()
    for step in range(6):
        history.log_step({"loss": 10.0 - step, "kl": 1.0})
    history.log_epoch({"loss": 8.5, "kl": 1.0})
    history.log_epoch({"loss": 5.5, "kl": 1.0})
    ax = _labelled(plot_history(history, ["loss", "kl"], title="t"))[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss", "kl"]
    ax = plot_curves([1, 10], {"a": [1, 2], "b": [3, 4]}, title="c", xlabel="x", ylabel="y", logx=True).axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 2


def test_latent_scatter_has_one_legend_entry_per_class():
    fig = plot_latent_scatter(torch.randn(30, 2), torch.arange(30) % 3, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$" and ax.get_title()


def test_latent_grid_spans_the_range_top_row_first():
    grid = latent_grid([-1, -2], [1, 2], n=3)
    assert grid.shape == (9, 2)
    assert grid[0].tolist() == [-1, 2] and grid[2].tolist() == [1, 2] and grid[-1].tolist() == [1, -2]


def test_manifold_decodes_every_grid_point():
    seen = []

    def decode(z):
        seen.append(z.shape)
        return torch.rand(len(z), 1, 28, 28)

    fig = plot_manifold(decode, [-1, -1], [1, 1], n=4)
    assert seen == [torch.Size([16, 2])]
    ax = fig.axes[0]
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_xlabel() == "$z_1$"


def test_latent_explorer_has_two_sliders_that_decode():
    decoded = []

    def decode(z):
        decoded.append(z.tolist())
        return torch.rand(1, 1, 28, 28)

    widget = latent_explorer(decode, [-2, -1], [2, 1])
    sliders = [c for c in widget.children if isinstance(c, ipywidgets.FloatSlider)]
    assert [s.description for s in sliders] == ["z1", "z2"]
    assert (sliders[0].min, sliders[0].max) == (-2, 2)
    sliders[0].value = 1.0
    assert decoded and decoded[-1][0][0] == pytest.approx(1.0, abs=0.1)


def test_training_package_keeps_every_name_importable_from_course_utils_training():
    import course_utils.training as training
    names = ["DivergenceError", "DivergenceGuard", "History", "LossFn", "_autocast", "check_finite", "cyclegan_step",
             "discriminator_step", "endless", "evaluate_vae", "gan_iteration", "generator_step", "train", "train_gan",
             "train_vae", "wgan_iteration"]
    assert all(hasattr(training, name) for name in names)
    assert {m for m in ("history", "guards", "loop", "vae", "gan", "iterations", "cyclegan")
            if hasattr(training, m)} == {"history", "guards", "loop", "vae", "gan", "iterations", "cyclegan"}


def test_no_import_cycle_between_image_folders_and_monet2photo():
    import ast
    from pathlib import Path

    import course_utils.data.monet2photo as m2p
    imported = {node.module for node in ast.walk(ast.parse(Path(m2p.__file__).read_text()))
                if isinstance(node, ast.ImportFrom)}
    assert "images" not in imported and "imagefiles" in imported
