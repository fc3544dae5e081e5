"""CycleGAN trainer (checkpoints, exact resume, exported generators), the training and benchmark scripts,
32×32 RGB datasets, the sliced Wasserstein distance, the ablation helper and the GAN/WGAN iterations."""

import math

import pytest
import torch
from torch import nn

from course_utils.ablation import plot_ablation, run_ablation
from course_utils.cyclegan_trainer import CycleGANConfig, CycleGANTrainer, load_generators
from course_utils.data import DatasetNotFoundError, load_rgb32
from course_utils.losses import gradient_penalty, lsgan_d_loss, lsgan_g_loss, wgan_critic_loss, wgan_generator_loss
from course_utils.metrics import sliced_wasserstein
from course_utils.models.gan import gaussian_noise
from course_utils.training import History, gan_iteration, train_gan, wgan_iteration
from conftest import load_script, tiny_monet2photo

@pytest.fixture
def monet(tmp_path, monkeypatch):
    """A tiny monet2photo in COURSE_DATA_DIR: 6 training and 3 test images per domain, 40×44 pixels."""
    data = tmp_path / "data"
    tiny_monet2photo(data)
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    return data / "monet2photo"


TINY = dict(crop_size=32, ngf=4, n_blocks=1, ndf=4, n_epochs=1, n_epochs_decay=2, iterations_per_epoch=3)


def weights(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_resumed_training_equals_uninterrupted_training(monet, tmp_path):
    straight = CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path / "a")
    straight.train()
    assert straight.epoch == 3 and len(straight.history.steps["G"]) == 9
    assert [epoch for epoch, _ in straight.history.snapshots] == [0, 1, 2, 3]
    assert straight.history.epochs["lr"] == pytest.approx([2e-4 * 2 / 3, 2e-4 / 3, 0.0])

    first = CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path / "b")
    first.train(epochs=1)
    assert (tmp_path / "b" / "last.pt").is_file() and not list((tmp_path / "b").glob("*.tmp*"))
    resumed = CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path / "b")
    assert resumed.epoch == 1 and len(resumed.history.steps["G"]) == 3
    resumed.train()
    for a, b in zip(weights(straight), weights(resumed)):
        torch.testing.assert_close(a, b)
    assert resumed.history.steps["G"] == pytest.approx(straight.history.steps["G"])


def test_resume_refuses_other_settings_and_fresh_start_ignores_the_checkpoint(monet, tmp_path):
    CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path).train(epochs=1)
    with pytest.raises(ValueError, match="ngf"):
        CycleGANTrainer(CycleGANConfig(**{**TINY, "ngf": 8}), monet, checkpoint_dir=tmp_path)
    longer = CycleGANTrainer(CycleGANConfig(**{**TINY, "n_epochs_decay": 5}), monet, checkpoint_dir=tmp_path)
    assert longer.epoch == 1                                   # a longer schedule may continue a run
    assert CycleGANTrainer(CycleGANConfig(**TINY), monet, checkpoint_dir=tmp_path, resume=False).epoch == 0
    assert (tmp_path / "previous.pt").is_file() and not (tmp_path / "last.pt").exists()   # the old run is kept


def test_config_validation():
    with pytest.raises(ValueError, match="multiple of 4"):
        CycleGANConfig(crop_size=30)
    assert CycleGANConfig(crop_size=256).load_size == 286
    assert CycleGANConfig(crop_size=128).load_size == 143


def test_exported_generators_are_small_and_translate_like_the_originals(monet, tmp_path):
    trainer = CycleGANTrainer(CycleGANConfig(**TINY), monet)
    trainer.train(epochs=1)
    path = trainer.export_generators(tmp_path / "g.pt", preset="test")
    G_AB, G_BA, info = load_generators(path)
    assert info["ngf"] == 4 and info["epochs"] == 1 and info["preset"] == "test"
    state = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state["modules"]["G_AB"].values() if v.is_floating_point())
    assert state["history"]["steps"]["G"].shape == (3,)   # the losses travel with the weights (no images)
    x = trainer.fixed_a
    with torch.no_grad():
        torch.testing.assert_close(G_AB(x), trainer.model.G_AB.eval()(x), atol=2e-2, rtol=0)
    with pytest.raises(FileNotFoundError, match="train_cyclegan.py"):
        load_generators(tmp_path / "missing.pt")
    checkpoint = trainer.save(tmp_path / "last.pt")
    with pytest.raises(ValueError, match="resume=True"):
        load_generators(checkpoint)


def test_training_script_trains_resumes_and_exports(monet, tmp_path, capsys):
    script = load_script("train_cyclegan")
    args = ["--preset", "smoke", "--checkpoint-dir", str(tmp_path / "run"), "--device", "cpu"]
    assert script.main(args + ["--n-epochs", "1", "--n-epochs-decay", "0"]) == 0
    assert script.main(args + ["--export", str(tmp_path / "g.pt")]) == 0
    out = capsys.readouterr().out
    assert "starting at epoch 0 of 1" in out and "starting at epoch 1 of 2" in out
    assert load_generators(tmp_path / "g.pt")[2]["epochs"] == 2
    assert script.main(args + ["--fresh"]) == 0
    assert (tmp_path / "run" / "previous.pt").is_file()


def test_rgb32_photos_and_padded_mnist(monet, monkeypatch):
    photos = load_rgb32("photos").tensors[0]
    assert photos.shape == (6, 3, 32, 32) and photos.min() >= -1 and photos.max() <= 1
    assert load_rgb32("photos", train=False, limit=2).tensors[0].shape == (2, 3, 32, 32)

    digits, digit_labels = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
    monkeypatch.setattr("course_utils.data.images.load_mnist",
                        lambda train, limit=None: torch.utils.data.TensorDataset(digits[:limit], digit_labels[:limit]))
    images, labels = load_rgb32("mnist").tensors
    assert images.shape == (64, 3, 32, 32)
    assert torch.equal(images[:, 0], images[:, 2])                     # grey: the same digit in every channel
    assert torch.all(images[:, :, :2] == -1) and torch.all(images[:, :, :, -2:] == -1)   # padded with background
    torch.testing.assert_close(images[:, 0:1, 2:30, 2:30], digits * 2 - 1)
    assert torch.equal(labels, digit_labels)
    with pytest.raises(ValueError, match="photos, mnist, cifar10"):
        load_rgb32("imagenet")


def test_missing_photos_give_the_dataset_message(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("course_utils.data.monet2photo.default_data_dir", lambda: tmp_path)
    monkeypatch.setattr("course_utils.data.monet2photo.URLS", [])
    with pytest.raises(DatasetNotFoundError, match="COURSE_DATA_DIR"):
        load_rgb32("photos")


def test_cifar10_offline_says_where_to_put_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("Dataset not found or corrupted.")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("torchvision.datasets.CIFAR10", offline)
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        load_rgb32("cifar10")


def test_sliced_wasserstein():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, 4, 4, generator=g)
    assert sliced_wasserstein(x, x) == 0
    shift = torch.randn(3, 4, 4, generator=g)
    theta = torch.nn.functional.normalize(torch.randn(48, 512, generator=torch.Generator().manual_seed(0)), dim=0)
    expected = float((shift.flatten() @ theta).abs().mean())            # a shift moves every projection by θ·s
    assert sliced_wasserstein(x, x + shift) == pytest.approx(expected, rel=1e-4)
    y = torch.randn(200, 3, 4, 4, generator=g) * 2
    assert sliced_wasserstein(x, y) == pytest.approx(sliced_wasserstein(y, x), rel=1e-6)
    assert sliced_wasserstein(x, y) > sliced_wasserstein(x, torch.randn(200, 3, 4, 4, generator=g))
    with pytest.raises(ValueError, match="different sizes"):
        sliced_wasserstein(x, torch.randn(10, 5))


def test_run_ablation_trains_each_distinct_configuration_once(capsys):
    calls = []

    def train_one(lr, sn):
        calls.append((lr, sn))
        history = History()
        for i in range(40):
            history.log_step({"d_loss": 1 / (i + 1) + lr, "g_loss": 2.0})
        return history, torch.rand(8, 3, 4, 4) * 2 - 1

    base = {"lr": 0.1, "sn": True}
    results = run_ablation({"base": base, "no SN": {**base, "sn": False}, "base again": dict(base)}, train_one,
                           score=lambda samples: {"mean": float(samples.mean())})
    assert calls == [(0.1, True), (0.1, False)]
    assert results["base"] is results["base again"] and "mean" in results["no SN"].scores
    assert len(capsys.readouterr().out.splitlines()) == 2
    fig = plot_ablation(results, title="test", num_images=8, nrow=4)
    assert len(fig.axes) == 6 and fig.axes[3].get_ylim()[0] == 0.0


def test_run_ablation_with_seeds_reports_mean_and_spread(capsys):
    calls = []

    def train_one(lr, seed):
        calls.append((lr, seed))
        history = History()
        history.log_step({"d_loss": lr, "g_loss": 1.0})
        return history, torch.full((4, 3, 4, 4), float(seed))

    results = run_ablation({"a": {"lr": 0.1}, "b": {"lr": 0.2}, "a again": {"lr": 0.1}}, train_one,
                           score=lambda samples: {"value": float(samples.mean())}, seeds=[0, 1, 2])
    assert calls == [(0.1, 0), (0.1, 1), (0.1, 2), (0.2, 0), (0.2, 1), (0.2, 2)]
    assert results["a"].scores == {"value": 1.0} and results["a"].score_sd == {"value": pytest.approx(1.0)}
    assert [s["value"] for s in results["b"].seed_scores] == [0.0, 1.0, 2.0] and results["a again"] is results["a"]
    assert float(results["a"].samples.mean()) == 0.0          # the first seed's samples
    assert "value 1 ± 1" in capsys.readouterr().out


def toy_pair():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    return G, D


def batches():
    g = torch.Generator().manual_seed(0)
    while True:
        yield (torch.randn(16, 2, generator=g) + 3,)


def test_train_gan_runs_a_custom_iteration_with_d_steps():
    G, D = toy_pair()
    seen = []

    def iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_steps):
        seen.append(d_steps)
        return gan_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_steps)

    history = train_gan(G, D, torch.optim.SGD(G.parameters(), 0.01), torch.optim.SGD(D.parameters(), 0.01), batches(),
                        iterations=5, noise=gaussian_noise(2), d_loss=lsgan_d_loss, g_loss=lsgan_g_loss, d_steps=3,
                        iteration=iteration)
    assert seen == [3] * 5 and len(history.steps["d_loss"]) == 5 and set(history.steps) == {"d_loss", "g_loss"}


@pytest.mark.parametrize("clip, penalty", [(0.01, None), (None, gradient_penalty)])
def test_wgan_iteration(clip, penalty):
    G, D = toy_pair()
    step = wgan_iteration(wgan_critic_loss, wgan_generator_loss, clip=clip, penalty=penalty)
    history = train_gan(G, D, torch.optim.RMSprop(G.parameters(), 5e-5), torch.optim.RMSprop(D.parameters(), 5e-5),
                        batches(), iterations=4, noise=gaussian_noise(2), d_loss=None, g_loss=None, d_steps=5,
                        iteration=step)
    assert set(history.steps) == {"wasserstein", "critic_loss", "gp", "g_loss"}
    assert history.steps["wasserstein"] == pytest.approx([-c for c in history.steps["critic_loss"]])
    if clip:
        assert all(p.abs().max() <= clip for p in D.parameters()) and history.steps["gp"] == [0.0] * 4
    else:
        assert all(gp > 0 for gp in history.steps["gp"])


def test_benchmark_table_is_written_between_the_markers(tmp_path, monkeypatch):
    bench = load_script("benchmark")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.START}\nold\n{bench.END}\n{bench.PROFILE_START}\n{bench.PROFILE_END}\n"
                      f"{bench.LEVERS_START}\n{bench.LEVERS_END}\noutro\n")
    monkeypatch.setattr(bench, "README", readme)
    bench.write_readme({"CPU x": {"cases": {"case 1": {"float32": 1.5}, "case 2": {"float32": 0.0123}}}})
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro") and text.rstrip().endswith("outro")
    assert "| CPU x | case 1 | 1.50 s |  |  |" in text and "| CPU x | case 2 | 12.3 ms |" in text
    times = bench.run(["dcgan"], torch.device("cpu"), warmup=0, repeats=1)
    assert set(times) == {name for name, _ in bench.CASES["dcgan"]}
    assert all(math.isfinite(t["float32"]) for t in times.values())
