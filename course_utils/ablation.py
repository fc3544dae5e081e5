"""Ablations: train a small grid of configurations with one function, lay their results out side by side.

Notebook 04 runs the homework's three ablations (learning rate, spectral norm, ``d_train_iters``) with
it: ``results = run_ablation(configs, train_one)`` trains each distinct configuration once (a baseline
shared by several groups is trained once), and ``plot_ablation`` draws, per configuration, its final
samples above its loss curves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .plotting import plot_steps, show_images
from .training import History


@dataclass
class RunResult:
    """One trained configuration: its settings, training history (losses per iteration, snapshots of
    samples from fixed noise), the final samples, any scores computed from them, and the time taken."""

    config: dict
    history: History
    samples: torch.Tensor
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def run_ablation(configs: Mapping[str, dict], train_one: Callable[..., tuple[History, torch.Tensor]], *,
                 score: Callable[[torch.Tensor], dict[str, float]] | None = None,
                 verbose: bool = True) -> dict[str, RunResult]:
    """Train every named configuration with ``train_one(**config) → (history, samples)``.

    Identical configurations (the same settings under several names, e.g. a baseline that belongs to
    several groups) are trained once. ``score(samples)`` adds numbers to each result. Prints one line
    per run (settings, scores, seconds) unless ``verbose`` is false.
    """
    done: dict[str, RunResult] = {}
    results: dict[str, RunResult] = {}
    for name, config in configs.items():
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in done:
            start = time.perf_counter()
            history, samples = train_one(**config)
            result = RunResult(dict(config), history, samples.detach().float().cpu(), seconds=time.perf_counter() - start)
            if score is not None:
                result.scores = dict(score(result.samples))
            done[key] = result
            if verbose:
                numbers = ", ".join(f"{k} {v:.4g}" for k, v in result.scores.items())
                print(f"{name:>22}: {numbers}{', ' if numbers else ''}{result.seconds:.0f} s")
        results[name] = done[key]
    return results


def plot_ablation(results: Mapping[str, RunResult], *, title: str, keys: Sequence[str] = ("d_loss", "g_loss"),
                  num_images: int = 36, nrow: int = 6, smooth: int = 25, ylabel: str = "loss") -> Figure:
    """One column per run: its final samples (with its scores in the title) above its loss curves, on a
    shared y axis (unless one run's losses are far larger than the others') so that runs compare at a glance."""
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(3.3 * n, 6.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1.15, 1]})
    for column, (name, result) in enumerate(results.items()):
        scores = ", ".join(f"{k} {v:.3g}" for k, v in result.scores.items())
        show_images(result.samples[:num_images], nrow=nrow, ax=axes[0, column],
                    title=f"{name}\n{scores}" if scores else name)
        plot_steps(result.history, [k for k in keys if k in result.history.steps], ax=axes[1, column],
                   title=f"losses ({result.seconds:.0f} s)", ylabel=ylabel if column == 0 else "", smooth=smooth)
        axes[1, column].legend(fontsize=7)
    lows, highs = zip(*(ax.get_ylim() for ax in axes[1]))
    spans = sorted(h - l for l, h in zip(lows, highs))
    if spans[-1] <= 5 * spans[len(spans) // 2]:   # share the axis unless one run would flatten the others
        for ax in axes[1]:
            ax.set_ylim(min(lows), max(highs))
    fig.suptitle(title)
    fig.tight_layout()
    return fig
