"""The generic training loop: one optimizer, one loss, a progress bar, history, snapshots, divergence guard."""

from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .guards import DivergenceGuard
from .history import History, read_values

LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], dict[str, torch.Tensor]]


def _autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA if ``enabled``, else nothing. Without autocast's weight cache: a cached
    bfloat16 copy of a weight lives until the block ends, so a block that holds an optimiser step (a WGAN
    iteration: five critic steps, then G's) would score with the weights of before the step."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def train(model: nn.Module, loader: DataLoader, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
          epochs: int, *, device: torch.device | str = "cpu",
          evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
          snapshot: Callable[[nn.Module], torch.Tensor] | None = None,
          mixed_precision: bool = False, desc: str = "training", history: History | None = None,
          guard: DivergenceGuard | None = None,
          scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> History:
    """Run ``epochs`` passes over ``loader``, minimising ``loss_fn(model, batch)["loss"]``.

    ``loss_fn`` returns a dict of scalar tensors; all are logged, and every one is checked by a
    :class:`~course_utils.training.guards.DivergenceGuard` (NaN/inf, or an explosion by orders of magnitude;
    pass ``guard`` to change its thresholds).
    After each epoch ``evaluate(model)`` adds metrics (e.g. the test ELBO) and ``snapshot(model)``
    stores images. With ``mixed_precision``, the forward pass runs in bfloat16 autocast on CUDA (off by
    default: on an H100 it made the course's steps no faster, README's Speed section). ``scheduler`` (a
    learning-rate schedule on ``optimizer``) is stepped after every optimizer step. Returns the
    :class:`History` (pass one in to continue it).
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
    step = history.num_steps
    guard = guard if guard is not None else DivergenceGuard.from_history(history.steps)
    first_epoch = len(next(iter(history.epochs.values()), [])) + 1
    with tqdm(total=epochs * len(loader), desc=desc, unit="step", leave=False) as bar:
        for epoch in range(first_epoch, first_epoch + epochs):
            model.train()
            sums: dict[str, float] = {}
            for batch in loader:
                batch = tuple(t.to(device, non_blocking=True) for t in batch)
                with _autocast(device, mixed_precision):
                    losses = loss_fn(model, batch)
                [(_, values)] = read_values([(step + 1, {name: v.detach() for name, v in losses.items()})])
                step += 1
                guard.check(values, step)
                optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
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
