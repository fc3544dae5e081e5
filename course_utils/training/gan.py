"""Notebook 03's GAN loop (``d_steps`` discriminator steps per generator step, pluggable steps and
iterations), shared by notebooks 04-05."""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .guards import DivergenceGuard
from .history import History, read_values
from .loop import _autocast


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
              snapshot_every: int = 500, mixed_precision: bool = False, desc: str = "GAN",
              history: History | None = None, iteration: Callable | None = None,
              guard: DivergenceGuard | None = None, sync_every: int = 1) -> History:
    """The GAN loop: per iteration, ``d_steps`` discriminator steps then one generator step.

    ``batches`` yields tuples ``(x,)`` or ``(x, y)`` (e.g. :func:`endless` over a DataLoader);
    ``noise(n)`` returns G's inputs for ``n`` samples. ``d_step``/``g_step`` default to
    :func:`discriminator_step`/:func:`generator_step` (notebook 03 passes the students' own).
    Every value the steps return is logged per iteration in ``history.steps`` and checked by a
    :class:`~course_utils.training.guards.DivergenceGuard` (NaN/inf, or an explosion by orders of
    magnitude; pass ``guard`` to change its thresholds); ``snapshot(G, D)`` is stored at iteration 0 and every ``snapshot_every`` iterations
    (``history.snapshots``), with G and D in eval mode. With ``mixed_precision``, bfloat16 autocast on
    CUDA (off by default: on an H100 it made these steps no faster).

    ``iteration`` replaces the whole body of an iteration (notebook 04's :func:`gan_iteration`, notebook
    05's :func:`wgan_iteration`): it is called as ``iteration(G, D, opt_g, opt_d, batches, noise, d_loss,
    g_loss, d_steps)`` with ``batches`` already on G's device, and returns the values to log.

    ``sync_every``: the logged values are read from the device (one host sync) every ``sync_every``
    iterations, and at snapshots and the end, instead of after each step; the history and the guard get the
    same values, the guard up to ``sync_every - 1`` iterations later. On a GPU this lets the host queue
    the next iterations while the device works; on the CPU it changes nothing.
    """
    if sync_every < 1:
        raise ValueError(f"sync_every must be at least 1 (got {sync_every})")
    device = next(G.parameters()).device
    history = history if history is not None else History()
    done = history.num_steps
    guard = guard if guard is not None else DivergenceGuard.from_history(history.steps)

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
    pending: list[tuple[int, dict[str, torch.Tensor | float]]] = []   # steps whose values are still on the device

    def flush() -> None:
        for step, values in read_values(pending):
            guard.check(values, step)
            history.log_step(values)
        pending.clear()

    for step in tqdm(range(done + 1, done + iterations + 1), desc=desc, unit="it", leave=False):
        values: dict[str, torch.Tensor | float] = {}
        if iteration is not None:
            with _autocast(device, mixed_precision):
                out = iteration(G, D, opt_g, opt_d, on_device, noise, d_loss, g_loss, d_steps)
            values.update({k: _detached(v) for k, v in out.items()})
        else:
            for _ in range(d_steps):
                real = next(on_device)
                with _autocast(device, mixed_precision):
                    out = d_step(G, D, opt_d, real, noise(len(real[0])), d_loss)
                values.update({k: _detached(v) for k, v in out.items()})
            with _autocast(device, mixed_precision):
                out = g_step(G, D, opt_g, noise(len(real[0])), g_loss)
            values.update({k: _detached(v) for k, v in out.items()})
        pending.append((step, values))
        snapshot_now = snapshot is not None and step % snapshot_every == 0
        if len(pending) >= sync_every or snapshot_now:
            flush()
        if snapshot_now:
            take_snapshot(step)
    flush()
    history.seconds += time.perf_counter() - start
    return history


def _detached(value):
    return value.detach() if isinstance(value, torch.Tensor) else value
