"""Small training loops: a progress bar, a history of losses, sample snapshots and a NaN guard.

:func:`train` is the generic loop (one optimizer, one loss); :func:`train_vae` and
:func:`evaluate_vae` are notebook 01's VAE on top of it, reused by notebook 02 for the CVAE.
:func:`train_gan` is notebook 03's GAN loop (``d_steps`` discriminator steps per generator step,
pluggable losses and steps), shared by notebooks 04-06.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from .data.mnist import make_loader
from .losses import clip_weights, cycle_loss, lsgan_loss, vae_loss

LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], dict[str, torch.Tensor]]


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the loss and the step."""


@dataclass
class History:
    """What a training run recorded.

    ``steps[name]``: one value per optimisation step; ``epochs[name]``: per-epoch means of the step
    values plus any evaluation metrics; ``snapshots``: ``(epoch, images)`` pairs, epoch 0 being
    before training; ``seconds``: wall-clock training time.
    """

    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0

    def log_step(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.steps.setdefault(name, []).append(value)

    def log_epoch(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.epochs.setdefault(name, []).append(value)


def check_finite(losses: dict[str, torch.Tensor | float], step: int) -> None:
    """Raise :class:`DivergenceError` if any loss is NaN or infinite, naming it and the step."""
    for name, value in losses.items():
        value = float(value)
        if not math.isfinite(value):
            raise DivergenceError(
                f"loss '{name}' became {value} at step {step}; training stopped. "
                "Lower the learning rate, check for log(0) or division by zero in the loss "
                "(use the *_with_logits losses), or clip gradients."
            )


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(model: nn.Module, loader: DataLoader, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
          epochs: int, *, device: torch.device | str = "cpu",
          evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
          snapshot: Callable[[nn.Module], torch.Tensor] | None = None,
          mixed_precision: bool = True, desc: str = "training", history: History | None = None) -> History:
    """Run ``epochs`` passes over ``loader``, minimising ``loss_fn(model, batch)["loss"]``.

    ``loss_fn`` returns a dict of scalar tensors; all are logged, every one is checked for NaN/inf.
    After each epoch ``evaluate(model)`` adds metrics (e.g. the test ELBO) and ``snapshot(model)``
    stores images. On CUDA the forward pass runs in bfloat16 autocast unless ``mixed_precision``
    is false. Returns the :class:`History` (pass one in to continue it).
    """
    device = torch.device(device)
    history = history if history is not None else History()
    def take_snapshot(epoch: int) -> None:
        with torch.no_grad():
            history.snapshots.append((epoch, snapshot(model).detach().cpu()))

    if snapshot is not None and not history.snapshots:
        model.eval()
        take_snapshot(0)
    start = time.perf_counter()
    step = len(next(iter(history.steps.values()), []))
    first_epoch = len(next(iter(history.epochs.values()), [])) + 1
    with tqdm(total=epochs * len(loader), desc=desc, unit="step", leave=False) as bar:
        for epoch in range(first_epoch, first_epoch + epochs):
            model.train()
            sums: dict[str, float] = {}
            for batch in loader:
                batch = tuple(t.to(device, non_blocking=True) for t in batch)
                with _autocast(device, mixed_precision):
                    losses = loss_fn(model, batch)
                values = {name: float(value.detach()) for name, value in losses.items()}
                step += 1
                check_finite(values, step)
                optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                optimizer.step()
                history.log_step(values)
                for name, value in values.items():
                    sums[name] = sums.get(name, 0.0) + value
                bar.update()
                bar.set_postfix(epoch=epoch, loss=f"{values['loss']:.2f}")
            metrics = {name: total / len(loader) for name, total in sums.items()}
            model.eval()
            if evaluate is not None:
                metrics.update(evaluate(model))
            history.log_epoch(metrics)
            if snapshot is not None:
                take_snapshot(epoch)
    history.seconds += time.perf_counter() - start
    return history


@torch.no_grad()
def evaluate_vae(model: nn.Module, dataset: TensorDataset, *, batch_size: int = 1000, seed: int = 0,
                 conditional: bool = False) -> dict[str, float]:
    """Test-set ELBO terms in nats per image (β = 1, one z sample per image, seeded).

    ``conditional``: the model is called as ``model(x, y)`` (a CVAE) instead of ``model(x)``.
    Returns ``{"elbo": ..., "reconstruction": ..., "kl": ...}`` with ELBO = -(reconstruction + KL).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = {"reconstruction": 0.0, "kl": 0.0}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, y in make_loader(dataset, batch_size, shuffle=False):
            x, y = x.to(device), y.to(device)
            logits, mu, logvar = model(x, y) if conditional else model(x)
            _, recon, kl = vae_loss(logits.float(), x, mu.float(), logvar.float())
            totals["reconstruction"] += float(recon) * len(x)
            totals["kl"] += float(kl) * len(x)
    model.train(was_training)
    result = {name: total / len(dataset) for name, total in totals.items()}
    return {"elbo": -(result["reconstruction"] + result["kl"]), **result}


def train_vae(model: nn.Module, train_set: TensorDataset, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
              beta: float = 1.0, loss_fn: Callable = vae_loss, test_set: TensorDataset | None = None,
              snapshot_z: torch.Tensor | None = None, snapshot_labels: torch.Tensor | None = None,
              conditional: bool = False, seed: int = 0, desc: str = "VAE") -> History:
    """Train a VAE (notebook 01) or, with ``conditional``, a CVAE called as ``model(x, y)`` (notebook 02)
    with Adam on ``loss_fn(logits, x, mu, logvar, beta)``.

    ``test_set`` adds the test ELBO (``test_elbo``) to every epoch; ``snapshot_z`` (``[K, D]`` fixed
    latent codes, with ``snapshot_labels`` ``[K]`` for a CVAE) stores the decoded images
    ``[K, 1, 28, 28]`` after every epoch.
    """
    device = next(model.parameters()).device

    def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits, mu, logvar = model(x, y) if conditional else model(x)
        loss, recon, kl = loss_fn(logits.float(), x, mu.float(), logvar.float(), beta)
        return {"loss": loss, "reconstruction": recon, "kl": kl}

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {f"test_{k}": v for k, v in evaluate_vae(m, test_set, conditional=conditional).items()}

    def snapshot(m: nn.Module) -> torch.Tensor:
        z = snapshot_z.to(device)
        logits = m.decode(z, snapshot_labels.to(device)) if conditional else m.decoder(z)
        return torch.sigmoid(logits).float()

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(train_set, batch_size, shuffle=True, seed=seed)
    return train(model, loader, step, optimizer, epochs, device=device,
                 evaluate=evaluate if test_set is not None else None,
                 snapshot=snapshot if snapshot_z is not None else None, desc=desc)


# --- GANs (notebook 03; reused by 04-06) -------------------------------------------------------------

def discriminator_step(G: nn.Module, D: nn.Module, opt_d: torch.optim.Optimizer, real: tuple[torch.Tensor, ...],
                       g_inputs: tuple[torch.Tensor, ...], d_loss: Callable) -> dict[str, torch.Tensor]:
    """One D update on real data and *detached* fakes (G gets no gradient from this step).

    ``real`` = ``(x,)`` or ``(x, y)``; ``g_inputs`` = ``(z,)`` or ``(z, y)``: the fakes are scored with
    their own labels. Returns ``d_loss`` and D's mean sigmoid output on real and fake data.
    """
    with torch.no_grad():
        fake = G(*g_inputs)
    real_logits, fake_logits = D(*real), D(fake, *g_inputs[1:])
    loss = d_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return {"d_loss": loss, "D(x)": torch.sigmoid(real_logits.float()).mean(),
            "D(G(z))": torch.sigmoid(fake_logits.float()).mean()}


def generator_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, g_inputs: tuple[torch.Tensor, ...],
                   g_loss: Callable) -> dict[str, torch.Tensor]:
    """One G update: make fakes, score them with D (with their labels), step on ``g_loss`` (only G's
    optimizer steps; D's gradients are cleared by its own next step)."""
    fake_logits = D(G(*g_inputs), *g_inputs[1:])
    loss = g_loss(fake_logits)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    return {"g_loss": loss}


def endless(loader: DataLoader):
    """Cycle through ``loader`` forever (a new shuffle each pass), yielding its batches."""
    while True:
        yield from loader


def train_gan(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
              batches, *, iterations: int, noise: Callable[[int], tuple[torch.Tensor, ...]], d_loss: Callable,
              g_loss: Callable, d_steps: int = 1, d_step: Callable = discriminator_step,
              g_step: Callable = generator_step, snapshot: Callable[[nn.Module, nn.Module], object] | None = None,
              snapshot_every: int = 500, mixed_precision: bool = True, desc: str = "GAN",
              history: History | None = None, iteration: Callable | None = None) -> History:
    """The GAN loop: per iteration, ``d_steps`` discriminator steps then one generator step.

    ``batches`` yields tuples ``(x,)`` or ``(x, y)`` (e.g. :func:`endless` over a DataLoader);
    ``noise(n)`` returns G's inputs for ``n`` samples. ``d_step``/``g_step`` default to
    :func:`discriminator_step`/:func:`generator_step` (notebook 03 passes the students' own).
    Every value the steps return is logged per iteration in ``history.steps`` and checked for
    NaN/inf; ``snapshot(G, D)`` is stored at iteration 0 and every ``snapshot_every`` iterations
    (``history.snapshots``), with G and D in eval mode. On CUDA, bfloat16 autocast unless
    ``mixed_precision`` is false.

    ``iteration`` replaces the whole body of an iteration (notebook 04's :func:`gan_iteration`, notebook
    05's :func:`wgan_iteration`): it is called as ``iteration(G, D, opt_g, opt_d, batches, noise, d_loss,
    g_loss, d_steps)`` with ``batches`` already on G's device, and returns the values to log.
    """
    device = next(G.parameters()).device
    history = history if history is not None else History()
    done = len(next(iter(history.steps.values()), []))

    def take_snapshot(iteration: int) -> None:
        G.eval(), D.eval()
        with torch.no_grad():
            history.snapshots.append((iteration, snapshot(G, D)))
        G.train(), D.train()

    if snapshot is not None and not history.snapshots:
        take_snapshot(0)
    G.train(), D.train()
    start = time.perf_counter()
    on_device = (tuple(t.to(device, non_blocking=True) for t in batch) for batch in batches)
    for step in tqdm(range(done + 1, done + iterations + 1), desc=desc, unit="it", leave=False):
        values: dict[str, float] = {}
        if iteration is not None:
            with _autocast(device, mixed_precision):
                out = iteration(G, D, opt_g, opt_d, on_device, noise, d_loss, g_loss, d_steps)
            values.update({k: float(v.detach()) for k, v in out.items()})
        else:
            for _ in range(d_steps):
                real = next(on_device)
                with _autocast(device, mixed_precision):
                    out = d_step(G, D, opt_d, real, noise(len(real[0])), d_loss)
                values.update({k: float(v.detach()) for k, v in out.items()})
            with _autocast(device, mixed_precision):
                out = g_step(G, D, opt_g, noise(len(real[0])), g_loss)
            values.update({k: float(v.detach()) for k, v in out.items()})
        check_finite(values, step)
        history.log_step(values)
        if snapshot is not None and step % snapshot_every == 0:
            take_snapshot(step)
    history.seconds += time.perf_counter() - start
    return history


def gan_iteration(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, batches,
                  noise: Callable, d_loss: Callable, g_loss: Callable, d_train_iters: int = 1) -> dict[str, torch.Tensor]:
    """One GAN iteration with ``d_train_iters`` discriminator updates, each on a fresh real batch
    ``(x, ...)`` from ``batches`` and fresh detached fakes, then one generator update on fresh fakes
    (notebook 04; any losses on D's raw outputs, e.g. LSGAN's). Returns the last ``d_loss`` and ``g_loss``."""
    for _ in range(d_train_iters):
        x = next(batches)[0]
        with torch.no_grad():
            fake = G(*noise(len(x)))
        loss_d = d_loss(D(x), D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    loss_g = g_loss(D(G(*noise(len(x)))))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"d_loss": loss_d, "g_loss": loss_g}


def wgan_iteration(critic_loss: Callable, generator_loss: Callable, *, clip: float | None = None,
                   penalty: Callable | None = None, clip_fn: Callable = clip_weights) -> Callable:
    """Build a WGAN iteration for :func:`train_gan` (Arjovsky et al., 2017, Algorithm 1; with ``penalty``,
    Gulrajani et al., 2017, Algorithm 1).

    Per iteration: ``n_critic`` (``train_gan``'s ``d_steps``) critic updates on fresh real batches, each
    minimising ``critic_loss(f(x), f(G(z)))`` (+ ``penalty(f, x, G(z))``), followed by
    ``clip_fn(f, clip)`` if ``clip`` (default :func:`~course_utils.losses.clip_weights`); then one
    generator update on ``generator_loss(f(G(z)))``.
    Logs ``wasserstein`` (the critic's estimate E f(x) − E f(G(z)) at its last step), ``critic_loss``,
    ``gp`` (0 without a penalty) and ``g_loss``.
    """
    def iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, n_critic):
        for _ in range(n_critic):
            x = next(batches)[0]
            with torch.no_grad():
                fake = G(*noise(len(x)))
            real_scores, fake_scores = D(x), D(fake)
            loss = critic_loss(real_scores, fake_scores)
            gp = penalty(D, x, fake) if penalty is not None else torch.zeros((), device=x.device)
            opt_d.zero_grad(set_to_none=True)
            (loss + gp).backward()
            opt_d.step()
            if clip is not None:
                clip_fn(D, clip)
        g = generator_loss(D(G(*noise(len(x)))))
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
        return {"wasserstein": real_scores.detach().float().mean() - fake_scores.detach().float().mean(),
                "critic_loss": loss, "gp": gp, "g_loss": g}
    return iteration


def cyclegan_step(model: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  real_a: torch.Tensor, real_b: torch.Tensor, pool_a, pool_b, *, lambda_cycle: float = 10.0,
                  lambda_identity: float = 0.5) -> dict[str, torch.Tensor]:
    """One CycleGAN iteration (Zhu et al., 2017, sec. 3 and 7.1), as in the authors' implementation.

    Generators: LSGAN loss of G_AB(a) against D_B and of G_BA(b) against D_A, plus ``lambda_cycle`` × the
    two cycle losses, plus ``lambda_identity × lambda_cycle`` × the two identity losses; the
    discriminators are frozen meanwhile. Discriminators: each on real images and on a fake drawn from its
    image pool, the loss halved. ``model`` is a :class:`~course_utils.models.cyclegan.CycleGAN`;
    ``real_a``, ``real_b``: ``[B, 3, H, W]`` in [-1, 1].
    """
    fake_b, fake_a = model.G_AB(real_a), model.G_BA(real_b)
    rec_a, rec_b = model.G_BA(fake_b), model.G_AB(fake_a)
    for p in model.discriminators():
        p.requires_grad_(False)
    adversarial = lsgan_loss(model.D_B(fake_b), True) + lsgan_loss(model.D_A(fake_a), True)
    cycle = cycle_loss(real_a, rec_a) + cycle_loss(real_b, rec_b)
    identity = (cycle_loss(real_b, model.G_AB(real_b)) + cycle_loss(real_a, model.G_BA(real_a))
                if lambda_identity > 0 else torch.zeros((), device=real_a.device))
    g_total = adversarial + lambda_cycle * cycle + lambda_identity * lambda_cycle * identity
    opt_g.zero_grad(set_to_none=True)
    g_total.backward()
    opt_g.step()
    for p in model.discriminators():
        p.requires_grad_(True)

    d_a = 0.5 * (lsgan_loss(model.D_A(real_a), True) + lsgan_loss(model.D_A(pool_a.query(fake_a)), False))
    d_b = 0.5 * (lsgan_loss(model.D_B(real_b), True) + lsgan_loss(model.D_B(pool_b.query(fake_b)), False))
    opt_d.zero_grad(set_to_none=True)
    (d_a + d_b).backward()
    opt_d.step()
    return {"G": g_total, "G_adv": adversarial, "cycle": cycle, "identity": identity, "D_A": d_a, "D_B": d_b}
