"""Notebook 03's pretrained GANs: the ring comparison, the MNIST GAN and the conditional-GAN 2 × 2.

Goodfellow et al. 2014 (eq. 1) with the non-saturating generator loss (sec. 3), Adam as in Radford et al. 2016.

* ``ring03_<arm>_seed<s>`` (arms :data:`ARMS`, seeds 0–2): 2-D MLPs on eight Gaussians on a ring, 4,000
  iterations: a plain GAN at batch 256, the same GAN at batch 512 (as many points per D step as PacGAN sees),
  and PacGAN-2 (Lin et al. 2018: D judges two samples at once; 512 points, 256 decisions). After every block of
  200 iterations the history gets the scores of :func:`ring_scores` on fixed noise; only ``G`` is shipped.
* ``gan03_mnist``: notebook 03's MLP generator (100-256-512-1024-784, BatchNorm, LeakyReLU) and discriminator
  (784-512-256-1), 5,000 iterations at batch 128 on the 60,000 training digits, with 16 fixed-noise snapshots
  every 500 iterations; only ``G`` is shipped.
* ``cgan03_factorial``: conditional GANs (Mirza & Osindero 2014; the one-hot label concatenated to G's noise and
  D's input) in a 2 × 2 design, activation (ReLU / LeakyReLU(0.2)) × BatchNorm momentum (PyTorch 0.01 = Keras'
  default 0.99 / PyTorch 0.2 = Keras 0.8), over seeds 0–2: one "epoch" is one training per activation and seed,
  which gives both momenta (:class:`ShadowRunningStats`). After each run the history gets
  :func:`score_cgan`'s measurements; the seed-0 generators of the two corners the notebook shows ("simple": ReLU,
  0.01; "rich": LeakyReLU, 0.2) are shipped.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data import load_mnist, make_loader
from ..data.toy2d import GaussianMixture2D, ring
from ..losses import d_loss_bce, g_loss_nonsaturating
from ..metrics import mode_coverage, sample_quality
from ..models.gan import MLPDiscriminator, MLPGenerator, PacDiscriminator, gaussian_noise
from ..runs import Recipe, Run
from ..training import History, endless, train_gan

# --- the ring (section 4) ----------------------------------------------------------------------------------
TOY_NOISE_DIM, TOY_BATCH, TOY_LR, BETAS = 2, 256, 1e-3, (0.5, 0.999)
TOY_HIDDEN = (128, 128)
TOY_ITERATIONS, TOY_BLOCKS = 4000, 20
LOOSE_RADIUS = 0.5            # half the spacing of neighbouring modes is 2 sin(π/8) ≈ 0.77
ARMS = {"gan": dict(pack=1, batch=TOY_BATCH), "gan_batch512": dict(pack=1, batch=2 * TOY_BATCH),
        "pacgan2": dict(pack=2, batch=2 * TOY_BATCH)}    # batch: real (and generated) points per D step
ARM_LABELS = {"gan": "GAN", "gan_batch512": "GAN, batch 512", "pacgan2": "PacGAN-2"}
SEEDS = (0, 1, 2)

# --- MNIST (sections 5 and 6) ------------------------------------------------------------------------------
NOISE_DIM, BATCH_SIZE, LR = 100, 128, 2e-4
GAN_ITERATIONS, GAN_BLOCK, SNAPSHOT_EVERY, N_SNAPSHOT = 5000, 1000, 500, 16
CGAN_G_HIDDEN, CGAN_D_HIDDEN = (64, 128, 256), (512, 256)
CGAN_ITERATIONS = 4000
CORNERS = {("relu", 0.01): "simple", ("relu", 0.2): "relu-0.2",
           ("leaky_relu", 0.01): "leaky-0.01", ("leaky_relu", 0.2): "rich"}
N_SCORED = 5000


def ring_mixture() -> GaussianMixture2D:
    """Notebook 03's data: 8 Gaussians (σ = 0.02) on a circle of radius 2."""
    return ring(num_modes=8, radius=2.0, std=0.02)


def toy_eval_noise(n: int = 2000, seed: int = 0) -> torch.Tensor:
    """The fixed noise ``[n, 2]`` whose samples are scored at every block."""
    return torch.randn(n, TOY_NOISE_DIM, generator=torch.Generator().manual_seed(seed))


def toy_models(pack: int, device: torch.device | str = "cpu") -> tuple[nn.Module, nn.Module]:
    """G: ``[B, 2]`` noise → ``[B, 2]`` points (ReLU MLP, linear output); D (PacGAN if ``pack`` > 1) → logits."""
    G = MLPGenerator(TOY_NOISE_DIM, (2,), hidden=TOY_HIDDEN, activation="relu", batch_norm=False, tanh_output=False)
    D = PacDiscriminator((2,), pack=pack, hidden=TOY_HIDDEN) if pack > 1 else MLPDiscriminator((2,), hidden=TOY_HIDDEN)
    return G.to(device), D.to(device)


def ring_scores(samples: torch.Tensor, mixture: GaussianMixture2D) -> dict[str, float]:
    """Coverage and precision of 2-D ``samples`` ``[N, 2]``, kept apart (VEEGAN's measure at two radii).

    ``modes_3sd`` / ``precision``: modes holding ≥ 1 % of the samples within 3σ, and the share of samples within 3σ
    of a mode (:func:`~course_utils.metrics.mode_coverage`); ``modes_loose`` / ``within_loose``: the same within
    :data:`LOOSE_RADIUS` of a mode, which counts a mode as soon as the generator visits it."""
    tight = mode_coverage(samples, mixture)
    loose = mode_coverage(samples, mixture, num_std=LOOSE_RADIUS / mixture.std)
    return {"modes_3sd": float(tight["modes_covered"]), "precision": tight["high_quality"],
            "modes_loose": float(loose["modes_covered"]), "within_loose": loose["high_quality"]}


def ring_name(arm: str, seed: int) -> str:
    """The pretrained model's name, e.g. ``ring03_pacgan2_seed1``."""
    return f"ring03_{arm}_seed{seed}"


def _ring_recipe(arm: str, seed: int) -> Recipe:
    pack, batch = ARMS[arm]["pack"], ARMS[arm]["batch"]

    def build(device: torch.device, s: int):
        torch.manual_seed(s)
        G, D = toy_models(pack, device)
        return {"G": G, "D": D}, {"g": torch.optim.Adam(G.parameters(), TOY_LR, betas=BETAS),
                                  "d": torch.optim.Adam(D.parameters(), TOY_LR, betas=BETAS)}

    def train_epoch(run: Run) -> None:            # the whole run: TOY_BLOCKS blocks, scored after each
        G, D = run.modules["G"], run.modules["D"]
        device = next(G.parameters()).device
        mixture, z = ring_mixture(), toy_eval_noise().to(device)

        def score(iteration: int) -> None:
            G.eval()
            with torch.no_grad():
                run.history.log_epoch({"iteration": float(iteration), **ring_scores(G(z).float().cpu(), mixture)})
            G.train()

        score(0)
        batches, block = mixture.batches(batch, seed=run.seed), TOY_ITERATIONS // TOY_BLOCKS
        for k in range(1, TOY_BLOCKS + 1):
            train_gan(G, D, run.optimizers["g"], run.optimizers["d"], batches, iterations=block,
                      noise=gaussian_noise(TOY_NOISE_DIM, device=device), d_loss=d_loss_bce,
                      g_loss=g_loss_nonsaturating, history=run.history, desc=ring_name(arm, run.seed))
            score(k * block)
        run.history.steps.clear()                 # the per-step losses are not used: keep the shipped file small

    def describe(run: Run) -> str:
        e = run.history.epochs
        return (f"{ARM_LABELS[arm]} on 8 Gaussians on a ring: MLPs 2-128-128-2, {e['iteration'][-1]:,.0f} iterations, "
                f"{batch} real and {batch} generated points per discriminator step"
                f"{f' in packs of {pack}' if pack > 1 else ''}, Adam lr {TOY_LR}, β = {BETAS}, seed {run.seed}, in "
                f"{run.history.seconds:.0f} s on {torch.get_num_threads()} CPU thread(s); at the end "
                f"{e['modes_loose'][-1]:.0f}/8 modes within {LOOSE_RADIUS}, {100 * e['precision'][-1]:.0f} % of samples within 3σ.")

    return Recipe(name=ring_name(arm, seed), notebook="03", seed=seed, epochs=1, data="8 Gaussians on a ring (sampled)",
                  build=build, train_epoch=train_epoch, describe=describe, export=("G",),
                  info=lambda run: {"arm": arm, "pack": pack, "batch": batch, "seed": run.seed,
                                    "iterations": int(run.history.epochs["iteration"][-1])})


# --- the MNIST GAN ---------------------------------------------------------------------------------------------
def mnist_signed(limit: int | None = None) -> TensorDataset:
    """The training digits scaled to [-1, 1] (like G's tanh) with their labels: ``[N, 1, 28, 28]``, ``[N]``."""
    images, labels = load_mnist(train=True, limit=limit).tensors
    return TensorDataset(images * 2 - 1, labels)


def snapshot_noise() -> torch.Tensor:
    """The fixed noise ``[16, 100]`` of the training animation."""
    return torch.randn(N_SNAPSHOT, NOISE_DIM, generator=torch.Generator().manual_seed(0))


def _gan_build(device: torch.device, seed: int):
    torch.manual_seed(seed)
    G = MLPGenerator(NOISE_DIM, (1, 28, 28), hidden=(256, 512, 1024)).to(device)   # notebook 03's Generator
    D = MLPDiscriminator((1, 28, 28), hidden=(512, 256)).to(device)
    return {"G": G, "D": D}, {"g": torch.optim.Adam(G.parameters(), LR, betas=BETAS),
                              "d": torch.optim.Adam(D.parameters(), LR, betas=BETAS)}


def _gan_train_epoch(run: Run) -> None:
    G, D = run.modules["G"], run.modules["D"]
    device = next(G.parameters()).device
    done, z = run.history.num_steps, snapshot_noise().to(device)
    real = ((x,) for x, _ in endless(make_loader(mnist_signed(), BATCH_SIZE, seed=run.epoch_seed(), drop_last=True)))
    train_gan(G, D, run.optimizers["g"], run.optimizers["d"], real, iterations=GAN_BLOCK,
              noise=gaussian_noise(NOISE_DIM, device=device), d_loss=d_loss_bce, g_loss=g_loss_nonsaturating,
              snapshot=lambda G, D: G(z).float().cpu(), snapshot_every=SNAPSHOT_EVERY, history=run.history,
              desc="gan03_mnist")
    run.history.log_epoch({k: sum(v[done:]) / max(1, len(v) - done) for k, v in run.history.steps.items()})


def _gan_describe(run: Run) -> str:
    return (f"notebook 03's MLP GAN (G 100-256-512-1024-784 with BatchNorm and LeakyReLU, D 784-512-256-1), "
            f"non-saturating loss, {run.history.num_steps:,} iterations at batch {BATCH_SIZE} "
            f"({run.history.num_steps * BATCH_SIZE / 60_000:.1f} passes over the 60,000 training digits), Adam lr {LR}, "
            f"β = {BETAS}, seed {run.seed}, in {run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s).")


# --- the conditional GANs --------------------------------------------------------------------------------------
def cgan_models(activation: str, bn_momentum: float, device: torch.device | str = "cpu") -> tuple[nn.Module, nn.Module]:
    """A conditional G (``[B, 100]`` noise and ``[B]`` labels → ``[B, 1, 28, 28]``) and D (image and label → logit)."""
    G = MLPGenerator(NOISE_DIM, (1, 28, 28), hidden=CGAN_G_HIDDEN, num_classes=10, activation=activation,
                     bn_momentum=bn_momentum)
    D = MLPDiscriminator((1, 28, 28), hidden=CGAN_D_HIDDEN, num_classes=10)
    return G.to(device), D.to(device)


def cgan_eval_inputs(n: int = N_SCORED) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed scoring inputs: noise ``[n, 100]`` and uniformly drawn labels ``[n]`` (seed 1)."""
    return gaussian_noise(NOISE_DIM, num_classes=10)(n, torch.Generator().manual_seed(1))


def wrong_labels(labels: torch.Tensor, seed: int = 3) -> torch.Tensor:
    """A uniformly drawn wrong label for each of ``labels`` ``[N]``."""
    return (labels + torch.randint(1, 10, labels.shape, generator=torch.Generator().manual_seed(seed))) % 10


@torch.no_grad()
def dead_units(G: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """Share of G's hidden units (in eval mode) whose activation input is ≤ 0 for every one of ``inputs``: they pass
    no gradient through a ReLU (a LeakyReLU still passes 0.2 of it)."""
    was_training, dead, total = G.training, 0, 0
    G.eval()
    h = torch.cat([inputs[0], nn.functional.one_hot(inputs[1], G.num_classes).to(inputs[0].dtype)], dim=1)
    for layer in G.net:
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            alive = (h > 0).any(dim=0)
            dead, total = dead + int((~alive).sum()), total + alive.numel()
        h = layer(h)
    G.train(was_training)
    return dead / max(1, total)


@torch.no_grad()
def score_cgan(G: nn.Module, D: nn.Module, classifier: nn.Module, test_images: torch.Tensor, test_labels: torch.Tensor,
               n: int = N_SCORED) -> dict[str, float]:
    """What notebook 03 measures of a trained conditional GAN, on ``n`` fixed inputs (:func:`cgan_eval_inputs`):

    ``label_accuracy`` / ``confident`` of G's samples in eval mode (BatchNorm's running statistics, as when
    sampling); ``label_accuracy_train_mode``: the same generator with the statistics of minibatches of 128 (what D
    saw in training); ``dead_units`` (:func:`dead_units`); and on real test digits ``test_images`` ``[n, 1, 28, 28]``
    in [0, 1]: D's mean output with the true and with a wrong label, and how often it prefers the true one."""
    device = next(G.parameters()).device
    z, y = (t.to(device) for t in cgan_eval_inputs(n))
    G.eval()
    quality = sample_quality(classifier, G(z, y).float().cpu(), labels=y.cpu())
    batch_mode = copy.deepcopy(G).train()        # a copy: train-mode calls would move the running statistics
    samples = torch.cat([batch_mode(z[i:i + BATCH_SIZE], y[i:i + BATCH_SIZE]).float().cpu()
                         for i in range(0, n, BATCH_SIZE) if len(z[i:i + BATCH_SIZE]) > 1])
    train_mode = sample_quality(classifier, samples, labels=y[:len(samples)].cpu())
    was_training = D.training
    D.eval()
    x, true = (test_images[:n] * 2 - 1).to(device), test_labels[:n].to(device)
    d_true = torch.sigmoid(D(x, true)).float().cpu().flatten()
    d_wrong = torch.sigmoid(D(x, wrong_labels(test_labels[:n]).to(device))).float().cpu().flatten()
    D.train(was_training)
    return {"label_accuracy": quality["label_accuracy"], "confident": quality["confident"],
            "classes_covered": float(quality["classes_covered"]),
            "label_accuracy_train_mode": train_mode["label_accuracy"], "dead_units": dead_units(G, (z[:1000], y[:1000])),
            "d_true": float(d_true.mean()), "d_wrong": float(d_wrong.mean()),
            "true_preferred": float((d_true > d_wrong).float().mean())}


MOMENTA = (0.2, 0.01)          # PyTorch's BatchNorm momentum: the first trains, the second is kept beside it


class ShadowRunningStats:
    """BatchNorm running statistics of ``G`` at another ``momentum``, updated from the same minibatches.

    In train mode BatchNorm normalises with the minibatch's own statistics; the running statistics it updates
    (``running = (1 − momentum) · running + momentum · batch``, the variance unbiased) are read only in eval mode.
    So the momentum does not change training at all, and one run gives the generator at both momenta: this keeps
    the second set of statistics with forward pre-hooks. :meth:`apply` writes them into a copy; :meth:`remove`
    detaches the hooks."""

    def __init__(self, G: nn.Module, momentum: float) -> None:
        self.momentum, self.stats, self.handles = momentum, {}, []
        for name, module in G.named_modules():
            if isinstance(module, nn.BatchNorm1d):
                self.stats[name] = (module.running_mean.detach().clone(), module.running_var.detach().clone())
                self.handles.append(module.register_forward_pre_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module: nn.Module, args) -> None:
            if module.training:
                with torch.no_grad():
                    x, (mean, var), m = args[0].float(), self.stats[name], self.momentum
                    mean.mul_(1 - m).add_(m * x.mean(dim=0))
                    var.mul_(1 - m).add_(m * x.var(dim=0, unbiased=True))
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def apply(self, G: nn.Module) -> nn.Module:
        """A copy of ``G`` with these running statistics (and this momentum)."""
        other = copy.deepcopy(G)
        for name, module in other.named_modules():
            if name in self.stats:
                module.running_mean.copy_(self.stats[name][0])
                module.running_var.copy_(self.stats[name][1])
                module.momentum = self.momentum
        return other


def factorial_runs() -> list[tuple[str, int]]:
    """The trainings of the 2 × 2 × 3 design, one per epoch of ``cgan03_factorial``: (activation, seed), seed-major;
    each gives both momenta (:class:`ShadowRunningStats`)."""
    return [(activation, seed) for seed in SEEDS for activation in ("relu", "leaky_relu")]


def train_cgan(activation: str, seed: int, data: TensorDataset, *, iterations: int,
               device: torch.device | str = "cpu", d_step: Callable | None = None, g_step: Callable | None = None,
               d_loss: Callable = d_loss_bce, g_loss: Callable = g_loss_nonsaturating, desc: str = "cGAN"
               ) -> tuple[dict[float, nn.Module], nn.Module]:
    """One conditional GAN of the 2 × 2, seeded by ``seed`` (weights, data order, noise), trained with BatchNorm
    momentum ``MOMENTA[0]`` while the running statistics at ``MOMENTA[1]`` are kept from the same batches.
    Returns ``({momentum: G in eval mode}, D)``. ``d_step`` / ``g_step`` default to the course's (notebook 03
    passes the students' own)."""
    torch.manual_seed(seed)
    G, D = cgan_models(activation, MOMENTA[0], device)
    shadow = ShadowRunningStats(G, MOMENTA[1])
    steps = {k: v for k, v in (("d_step", d_step), ("g_step", g_step)) if v is not None}
    train_gan(G, D, torch.optim.Adam(G.parameters(), LR, betas=BETAS), torch.optim.Adam(D.parameters(), LR, betas=BETAS),
              endless(make_loader(data, BATCH_SIZE, seed=seed, drop_last=True)), iterations=iterations,
              noise=gaussian_noise(NOISE_DIM, num_classes=10, device=device), d_loss=d_loss, g_loss=g_loss,
              desc=desc, **steps)
    shadow.remove()
    return {MOMENTA[0]: G.eval(), MOMENTA[1]: shadow.apply(G).eval()}, D.eval()


def _cgan_build(device: torch.device, seed: int):
    modules = {name: cgan_models(act, momentum, device)[0] for (act, momentum), name in CORNERS.items()
               if name in ("simple", "rich")}
    return modules, {}


def _cgan_train_epoch(run: Run) -> None:
    from ..models.classifier import mnist_classifier

    activation, seed = factorial_runs()[run.epoch]
    device = next(run.modules["simple"].parameters()).device
    generators, D = train_cgan(activation, seed, mnist_signed(), iterations=CGAN_ITERATIONS, device=device,
                               desc=f"cgan03 {activation} seed {seed}")
    test_images, test_labels = load_mnist(train=False).tensors
    classifier = mnist_classifier(device, verbose=False)
    for momentum, G in generators.items():
        scores = score_cgan(G, D, classifier, test_images, test_labels)
        run.history.log_epoch({"activation": float(activation == "leaky_relu"), "bn_momentum": momentum,
                               "seed": float(seed), **scores})
        name = CORNERS[(activation, momentum)]
        if seed == 0 and name in run.modules:
            run.modules[name].load_state_dict(G.state_dict())


def _cgan_describe(run: Run) -> str:
    return (f"conditional MLP GANs (G 100+10-{'-'.join(map(str, CGAN_G_HIDDEN))}-784 with BatchNorm, "
            f"D 784+10-{'-'.join(map(str, CGAN_D_HIDDEN))}-1), activation (ReLU / LeakyReLU 0.2) × seeds 0-2, each "
            f"with BatchNorm's running statistics kept at momentum 0.2 and 0.01, {CGAN_ITERATIONS:,} iterations each at "
            f"batch {BATCH_SIZE}, non-saturating loss, Adam lr {LR}, β = {BETAS}; {run.epoch} runs in "
            f"{run.history.seconds / 60:.1f} min on {torch.get_num_threads()} CPU thread(s); the seed-0 generators of "
            "the simple (ReLU, 0.01) and rich (LeakyReLU, 0.2) corners are stored, every corner's measurements in the "
            "history.")


MNIST_DATA = "MNIST (the 60,000 training digits; scored on the 10,000 test digits)"
RECIPES = [_ring_recipe(arm, seed) for arm in ARMS for seed in SEEDS] + [
    Recipe(name="gan03_mnist", notebook="03", data=MNIST_DATA, epochs=GAN_ITERATIONS // GAN_BLOCK, build=_gan_build,
           train_epoch=_gan_train_epoch, describe=_gan_describe, export=("G",), snapshots=True,
           info=lambda run: {"iterations": run.history.num_steps}),
    Recipe(name="cgan03_factorial", notebook="03", data=MNIST_DATA, epochs=len(factorial_runs()), build=_cgan_build,
           train_epoch=_cgan_train_epoch, describe=_cgan_describe, export=("simple", "rich"),
           info=lambda run: {"runs": run.epoch, "iterations": CGAN_ITERATIONS})]
