"""Ablations: train a small grid of configurations with one function, lay their results out side by side.

Notebook 04 runs the homework's three ablations (learning rate, spectral norm, ``d_train_iters``) with
it: ``results = run_ablation(configs, train_one)`` trains each distinct configuration once (a baseline
shared by several groups is trained once), and ``plot_ablation`` draws, per configuration, its final
samples above its loss curves. With ``seeds=[0, 1, 2]`` each configuration is trained once per seed and its
scores are the mean over seeds (with the standard deviations in ``RunResult.score_sd``), so that a difference
between arms can be read against the spread within one (notebook 07; Lucic et al., 2018).

For lecture mode, :func:`run_key` names one (configuration, seed) run in a pretrained file that holds a whole
grid, and :func:`run_history` takes that run's curves out of the grid's one history. :func:`input_gradient_norms`
and :func:`without_batch_norm` measure how steep a trained discriminator is (notebook 04, spectral norm).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

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
    score_sd: dict[str, float] = field(default_factory=dict)
    seed_scores: list[dict[str, float]] = field(default_factory=list)


def run_ablation(configs: Mapping[str, dict], train_one: Callable[..., tuple[History, torch.Tensor]], *,
                 score: Callable[[torch.Tensor], dict[str, float]] | None = None,
                 seeds: Sequence[int] | None = None, verbose: bool = True) -> dict[str, RunResult]:
    """Train every named configuration with ``train_one(**config) → (history, samples)``.

    Identical configurations (the same settings under several names, e.g. a baseline that belongs to
    several groups) are trained once. ``score(samples)`` adds numbers to each result, for instance
    ``score=lambda s: {"FD": metrics.photo_feature_distance(s, test_photos)}``. With ``seeds``, each
    configuration is trained as ``train_one(**config, seed=seed)`` for every seed: ``scores`` holds the mean
    over seeds, ``score_sd`` the standard deviations, ``seed_scores`` the single runs, and ``history`` and
    ``samples`` are those of the first seed. Prints one line per configuration (scores, as mean ± sd with
    seeds, and seconds) unless ``verbose`` is false.
    """
    done: dict[str, RunResult] = {}
    results: dict[str, RunResult] = {}
    for name, config in configs.items():
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in done:
            runs = []
            for seed in (seeds if seeds is not None else [None]):
                start = time.perf_counter()
                history, samples = train_one(**config) if seed is None else train_one(**config, seed=seed)
                run = RunResult(dict(config), history, samples.detach().float().cpu(),
                                seconds=time.perf_counter() - start)
                if score is not None:
                    run.scores = dict(score(run.samples))
                runs.append(run)
            result = runs[0]
            if seeds is not None:
                result.seed_scores = [run.scores for run in runs]
                result.seconds = sum(run.seconds for run in runs)
                values = {k: np.array([run.scores[k] for run in runs], dtype=float) for k in result.scores}
                result.scores = {k: float(v.mean()) for k, v in values.items()}
                result.score_sd = {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}
            done[key] = result
            if verbose:
                numbers = ", ".join(f"{k} {v:.4g}" + (f" ± {result.score_sd[k]:.2g}" if k in result.score_sd else "")
                                    for k, v in result.scores.items())
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


def run_key(config: Mapping, seed: int | None = None) -> str:
    """A canonical name for one run: the configuration as sorted JSON, then the seed, e.g.
    ``'{"lr": 0.0005, "sn_d": true} seed=1'``. The same settings give the same key whatever their order."""
    key = json.dumps(dict(config), sort_keys=True, default=str)
    return key if seed is None else f"{key} seed={seed}"


def run_history(history: History, key: str) -> History:
    """The curves of run ``key`` out of a grid's one history whose step series are named ``key + "/" + series``
    (how ``dcgan_ablation`` stores its runs): a :class:`History` with the series under their own names.
    ``KeyError`` naming the key when the history holds no such run."""
    prefix = key + "/"
    steps = {k[len(prefix):]: list(v) for k, v in history.steps.items() if k.startswith(prefix)}
    if not steps:
        raise KeyError(f"no run {key!r} in this history (it holds {len({k.rsplit('/', 1)[0] for k in history.steps})} runs)")
    return History(steps=steps)


def input_gradient_norms(D: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    r"""Per-image norm of the discriminator's input gradient, :math:`\lVert \nabla_x D(x) \rVert_2`, in eval mode.

    A :math:`K`-Lipschitz :math:`D` has :math:`\lVert \nabla_x D(x)\rVert \le K` everywhere, so the largest value
    over real and generated images is a lower bound on :math:`D`'s Lipschitz constant (Miyato et al., 2018, sec. 2;
    the gradient the generator learns from). ``D``: ``[B, C, H, W]`` → ``[B, 1]`` scores; ``images``:
    ``[N, C, H, W]``. Returns ``[N]`` (float32, CPU). Eval mode makes D a function of each image alone (BatchNorm
    uses its running statistics); D's mode is restored afterwards.
    """
    was_training = D.training
    D.eval()
    device = next(D.parameters()).device
    norms = []
    try:
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].detach().float().to(device).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x).sum(), x)   # row b of the sum depends on image b only (eval mode)
            norms.append(grad.flatten(1).norm(dim=1).cpu())
    finally:
        D.train(was_training)
    return torch.cat(norms)


def without_batch_norm(D: nn.Module) -> nn.Module:
    """A copy of ``D`` with every BatchNorm layer replaced by the identity: the same (e.g. spectrally normalised)
    convolutions and activations, without the per-channel rescaling ``γ / sqrt(running_var + ε)`` that BatchNorm
    applies. ``D`` itself is unchanged."""
    copied = copy.deepcopy(D)
    for module in list(copied.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return copied
