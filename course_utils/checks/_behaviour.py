"""Behavioural tools for the checks of notebooks 04–06: trace what a network does layer by layer, name
the transformation between two layers, and watch optimizers for stale or misplaced gradients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)
STALE = 1000.0          # planted before a step: a gradient this large can only be a leftover


@dataclass
class Record:
    """One call of a module during a traced forward pass (inputs and output cloned at call time)."""

    module: nn.Module
    input: torch.Tensor
    output: torch.Tensor

    @property
    def kind(self) -> str:
        return type(self.module).__name__.replace("Parametrized", "")


def trace(model: nn.Module, *inputs: torch.Tensor, kinds: tuple[type, ...] = WEIGHTED
          ) -> tuple[torch.Tensor, list[Record]]:
    """Run ``model(*inputs)`` and record every call of a module of ``kinds``, in execution order."""
    records: list[Record] = []

    def hook(module, args, output):
        if args and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor):
            records.append(Record(module, args[0].detach().clone(), output.detach().clone()))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out, records


def same(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Equal shapes and values (on detached double copies)."""
    a, b = a.detach().double(), b.detach().double()
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(x, eps=1e-5)


def batch_norm(x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "LeakyReLU(0.2)": lambda x: F.leaky_relu(x, 0.2),
    "ReLU": F.relu,
    "LeakyReLU(0.01), PyTorch's default slope": lambda x: F.leaky_relu(x, 0.01),
    "no activation": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def name_link(before: torch.Tensor, after: torch.Tensor, norms: dict[str, Callable], reshape: Callable | None = None,
              ) -> str | None:
    """Name what turns ``before`` (a layer's output) into ``after`` (the next weighted layer's input):
    ``"<norm> then <activation>"`` or ``"<activation> then <norm>"``; None when no candidate matches.
    ``reshape`` (e.g. upsampling) is applied last to every candidate."""
    reshape = reshape or (lambda t: t)
    for norm_name, norm in norms.items():
        for act_name, act in ACTIVATIONS.items():
            if same(reshape(act(norm(before))), after, rtol=1e-3, atol=1e-4):
                return f"{norm_name} then {act_name}"
            if norm_name != "no norm" and act_name != "no activation" and \
                    same(reshape(norm(act(before))), after, rtol=1e-3, atol=1e-4):
                return f"{act_name} then {norm_name}"
    return None


def negative_slope(before: torch.Tensor, after: torch.Tensor) -> float | None:
    """The slope of an elementwise map on the negative inputs (None if none are negative)."""
    negative = before < -1e-3
    if not bool(negative.any()):
        return None
    return float((after[negative] / before[negative]).median())


def plant(parameters: Iterable[nn.Parameter], value: float = STALE) -> None:
    """Give every parameter a stale gradient, as a previous step that was never cleared would leave."""
    for p in parameters:
        p.grad = torch.full_like(p, value)


def stale(parameters: Iterable[nn.Parameter]) -> bool:
    """True if some gradient still holds (or was added to) the planted value."""
    return any(p.grad is not None and bool((p.grad.abs() > STALE / 2).any()) for p in parameters)


def touched(parameters: Iterable[nn.Parameter]) -> bool:
    """True if some gradient is neither None, zero nor exactly the planted value: a backward reached it."""
    for p in parameters:
        if p.grad is None:
            continue
        g = p.grad
        if not (bool((g == 0).all()) or bool((g == STALE).all())):
            return True
    return False


class Watch:
    """Register step pre-hooks on an optimizer: count its steps and run ``inspect()`` before each."""

    def __init__(self, optimizer: torch.optim.Optimizer, inspect: Callable[[], None] | None = None) -> None:
        self.steps, self.inspect = 0, inspect
        self.handle = optimizer.register_step_pre_hook(self._pre)

    def _pre(self, optimizer, args, kwargs) -> None:
        self.steps += 1
        if self.inspect is not None:
            self.inspect()

    def remove(self) -> None:
        self.handle.remove()
