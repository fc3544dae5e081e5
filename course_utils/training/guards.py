"""Stop a training run that has diverged, with the step, the loss and the likely cause in the message."""

from __future__ import annotations

import math
import statistics
from typing import Mapping

import torch


class DivergenceError(FloatingPointError):
    """Training diverged (a NaN or infinite loss, or one that exploded by orders of magnitude); the
    message names the loss, the step and what to change."""


def check_finite(losses: Mapping[str, torch.Tensor | float], step: int) -> None:
    """Raise :class:`DivergenceError` if any loss is NaN or infinite, naming it and the step."""
    for name, value in losses.items():
        value = float(value)
        if not math.isfinite(value):
            raise DivergenceError(
                f"loss '{name}' became {value} at step {step}; training stopped. "
                "Lower the learning rate, check for log(0) or division by zero in the loss "
                "(use the *_with_logits losses), or clip gradients."
            )


class DivergenceGuard:
    """NaN/inf check plus an explosion check, applied to every logged value of every step.

    A value's *early level* is the smallest running median of its magnitude over its first ``warmup``
    steps (the median of steps 1..k, for k up to ``warmup``), floored at ``floor`` because a loss that
    starts near 0 (a WGAN critic's, a gradient penalty) has no scale of its own. A step whose
    ``|value|`` exceeds ``factor`` × the early level (known from the steps before it) stops training.
    The median keeps one early spike from raising the level, the minimum keeps a run that climbs
    from its first steps on (a far too large learning rate) from raising it. GAN losses legitimately
    swing by a factor of 10-100 (a discriminator that wins, a WGAN critic whose estimate grows): the
    course's runs stay below 100 × their early level (``tests/test_faults_guard.py``, on recorded
    traces), while Adam at a far too large learning rate sends them to 10⁵-10¹⁰; the default
    ``factor`` is 10⁴.
    """

    def __init__(self, factor: float = 1e4, warmup: int = 20, floor: float = 1.0) -> None:
        if factor <= 1 or warmup < 1 or floor <= 0:
            raise ValueError(f"DivergenceGuard needs factor > 1, warmup >= 1 and floor > 0 "
                             f"(got factor={factor}, warmup={warmup}, floor={floor}).")
        self.factor, self.warmup, self.floor = factor, warmup, floor
        self._early: dict[str, list[float]] = {}
        self._level: dict[str, float] = {}

    @classmethod
    def from_history(cls, steps: Mapping[str, list[float]], **kwargs) -> "DivergenceGuard":
        """A guard that continues a run whose per-step values are ``steps`` (``History.steps``)."""
        guard = cls(**kwargs)
        for name, values in steps.items():
            for value in values[:guard.warmup]:
                guard._remember(name, abs(float(value)))
        return guard

    def _remember(self, name: str, magnitude: float) -> None:
        early = self._early.setdefault(name, [])
        if len(early) < self.warmup:
            early.append(magnitude)
            median = max(statistics.median(early), self.floor)
            self._level[name] = min(median, self._level.get(name, median))

    def level(self, name: str) -> float | None:
        """The early level of ``name`` (``None`` before its first step)."""
        return self._level.get(name)

    def check(self, values: Mapping[str, torch.Tensor | float], step: int) -> None:
        """Raise :class:`DivergenceError` if a value is NaN/inf or exploded; otherwise remember it."""
        values = {name: float(value) for name, value in values.items()}
        check_finite(values, step)
        for name, value in values.items():
            level = self._level.get(name)
            if level is not None and abs(value) > self.factor * level:
                raise DivergenceError(
                    f"loss '{name}' exploded to {value:.3g} at step {step}, more than {self.factor:.0e} times its "
                    f"early level ({level:.3g}); training stopped. The likely cause is a learning rate far too "
                    "large for this model: lower it (by 10x at a time), or clip gradients."
                )
        for name, value in values.items():
            self._remember(name, abs(value))
