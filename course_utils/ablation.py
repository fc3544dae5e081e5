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
import numpy as np
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
    """One column per run: its final samples (with its scores in the title) above its loss curves, on one
    y range set by the bulk of all runs' values (early spikes may leave it), so that runs compare at a glance."""
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
    # one y range for all runs, set by the bulk of the values so that first-step spikes do not flatten the curves
    values = np.concatenate([np.asarray(r.history.steps[k][len(r.history.steps[k]) // 20:], dtype=float)
                             for r in results.values() for k in keys if k in r.history.steps] or [np.zeros(1)])
    low, high = np.quantile(values, [0.005, 0.995])
    margin = 0.15 * (high - low) + 1e-6
    for ax in axes[1]:
        ax.set_ylim(0.0 if low >= 0 else low - margin, high + margin)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
