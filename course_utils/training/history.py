"""What a training run records: per-step losses, per-epoch means, sample snapshots, wall-clock time."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


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

    @property
    def num_steps(self) -> int:
        """How many optimisation steps have been logged."""
        return len(next(iter(self.steps.values()), []))


def read_values(pending: list[tuple[int, dict]]) -> list[tuple[int, dict[str, float]]]:
    """``(step, {name: value})`` pairs with their values as Python floats, read from the device in one transfer
    (one host sync on a GPU) where they are all 0-d tensors on one device (mixed dtypes go through float64,
    which holds each exactly); anything else is read value by value."""
    values = [v for _, step_values in pending for v in step_values.values()]
    if values and all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in values) \
            and len({v.device for v in values}) == 1:
        if len({v.dtype for v in values}) > 1:   # e.g. bfloat16 scores beside float32 losses: float64 holds both
            values = [v.double() for v in values]
        flat = iter(torch.stack(values).tolist())
        return [(step, {k: next(flat) for k in step_values}) for step, step_values in pending]
    return [(step, {k: float(v) for k, v in step_values.items()}) for step, step_values in pending]
