"""Shared machinery of the self-checks: calling student code, comparing, and saying what is wrong."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


class CheckError(AssertionError):
    """A self-check failed; the message says what was expected, what came back and how to fix it."""


def call(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn "not implemented yet" and crashes into a :class:`CheckError`."""
    name = name or getattr(fn, "__name__", "your function")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckError(
            f"`{name}` is not implemented yet: replace `raise NotImplementedError` in its cell with "
            "your code, run that cell, then run this check again."
        ) from None
    except CheckError:
        raise
    except Exception as err:
        raise CheckError(f"`{name}` raised {type(err).__name__}: {err}") from err


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckError(message)


def expect_tensor(name: str, value: Any, shape: tuple[int, ...] | None = None,
                  dtype: torch.dtype | None = None, hint: str = "") -> torch.Tensor:
    """Check that ``value`` is a tensor of the given shape and dtype."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise CheckError(f"{name} should be a torch.Tensor, got the Python number {value!r}: return the tensor "
                         "itself (no .item() or float()), so that gradients and the training loop can use it.")
    expect(isinstance(value, torch.Tensor), f"{name} should be a torch.Tensor, got {type(value).__name__}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckError(f"{name} has shape {list(value.shape)}, expected {list(shape)}. {hint}".rstrip())
    if dtype is not None and value.dtype != dtype:
        raise CheckError(f"{name} has dtype {value.dtype}, expected {dtype}.")
    expect(bool(torch.isfinite(value).all()), f"{name} contains NaN or inf values: {value}")
    return value


def close(got: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """``torch.allclose`` on detached float copies (False on a shape mismatch)."""
    got, expected = torch.as_tensor(got).detach().double(), torch.as_tensor(expected).detach().double()
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=rtol, atol=atol)


def expect_close(name: str, got: torch.Tensor, expected: torch.Tensor, *, rtol: float = 1e-4,
                 atol: float = 1e-5, hint: str = "") -> None:
    """Compare to a reference value; on failure show both and the relative error."""
    if close(got, expected, rtol, atol):
        return
    got_d, exp_d = torch.as_tensor(got).detach().double(), torch.as_tensor(expected).detach().double()
    rel = ((got_d - exp_d).abs().max() / exp_d.abs().max().clamp_min(1e-12)).item() \
        if got_d.shape == exp_d.shape else float("nan")
    raise CheckError(
        f"{name} is wrong.\n  expected: {_fmt(exp_d)}\n  got:      {_fmt(got_d)}\n"
        f"  relative error: {rel:.2e}. {hint}".rstrip()
    )


def _fmt(t: torch.Tensor) -> str:
    values = t.flatten()[:6].tolist()
    more = ", ..." if t.numel() > 6 else ""
    return "[" + ", ".join(f"{v:.4f}" for v in values) + more + "]" + f" (shape {list(t.shape)})"


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def passed(check: str, detail: str = "") -> None:
    """Print the one fixed success line of a check."""
    print(f"✓ {check} passed" + (f" ({detail})" if detail else ""))


# --- behaviour: devices, noise, parameters -----------------------------------------------------------

_DEVICE_ERRORS = ("expected device", "same device", "is not on the expected device")


def expect_same_device(name: str, fn: Callable, *args: torch.Tensor, **kwargs: Any) -> None:
    """Run ``fn`` on copies of ``args`` on PyTorch's ``meta`` device (shapes, no data): every tensor that
    ``fn`` creates on the CPU instead of on its inputs' device is then an error, as it would be on a GPU.
    Failures that have nothing to do with devices (a meta tensor cannot be printed or compared) are
    ignored."""
    meta = [a.detach().to("meta").requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]
    try:
        out = fn(*meta, **kwargs)
    except Exception as err:  # noqa: BLE001
        if any(words in str(err) for words in _DEVICE_ERRORS):
            raise CheckError(f"{name} creates a tensor on the CPU while its inputs are elsewhere (on a GPU it "
                             f"crashes with: {err}). Create new tensors on the inputs' device: the *_like "
                             "functions (torch.randn_like, torch.ones_like) or device=tensor.device.") from None
        return
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for value in outs:
        if isinstance(value, torch.Tensor) and value.device.type != "meta":
            raise CheckError(f"{name} returned a tensor on {value.device} for inputs on another device: create "
                             "new tensors on the inputs' device (torch.randn_like, torch.ones_like, device=...).")


def perturb(module: nn.Module, seed: int = 0, scale: float = 0.5) -> nn.Module:
    """Add seeded noise to the 1-D parameters (biases, norm scales) of ``module``, so that layers whose
    parameters start equal (BatchNorm's ones and zeros) become distinguishable in a comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:
                p.add_(scale * torch.randn(p.shape, generator=g).to(p))
    return module


def columns_match(got: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5) -> bool:
    """Whether the columns of ``got`` ``[B, K]`` are those of ``expected`` ``[B, K]`` in some order (a
    network's output units have no fixed roles before training)."""
    if got.shape != expected.shape:
        return False
    free = list(range(expected.shape[1]))
    for column in got.detach().double().T:
        hit = next((j for j in free if torch.allclose(column, expected[:, j].detach().double(), atol=atol,
                                                      rtol=1e-4)), None)
        if hit is None:
            return False
        free.remove(hit)
    return True


def plant_gradients(module: nn.Module, seed: int, scale: float = 1.0) -> list[torch.Tensor]:
    """Give every parameter a stale, seeded ``.grad`` (what an earlier backward pass leaves behind);
    return copies of them."""
    g = torch.Generator().manual_seed(seed)
    stale = []
    for p in module.parameters():
        p.grad = scale * torch.randn(p.shape, generator=g).to(p)
        stale.append(p.grad.clone())
    return stale


def parameter_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]
