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
