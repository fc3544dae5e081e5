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
