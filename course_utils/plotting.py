"""Figures of the course. Every function returns its matplotlib ``Figure`` and labels it fully.

In a notebook, ``fig = show_images(...)`` draws the figure once (pyplot shows it at the end of the cell).
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from .training import History


def _grid_image(images: torch.Tensor, nrow: int, padding: int = 2) -> np.ndarray:
    """``[N, C, H, W]`` in [0, 1] (or [-1, 1] if any value is negative) → an ``[H', W', C]`` array."""
    images = images.detach().float().cpu()
    if images.min() < 0:
        images = (images + 1) / 2
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def show_images(images: torch.Tensor, *, nrow: int = 8, title: str = "", ax: plt.Axes | None = None,
                scale: float = 0.6) -> Figure:
    """An image grid (torchvision's ``make_grid``). ``images``: ``[N, C, H, W]`` in [0, 1] or [-1, 1]."""
    if ax is None:
        rows = -(-len(images) // nrow)
        _, ax = plt.subplots(figsize=(scale * min(nrow, len(images)) + 0.4, scale * rows + 0.6))
    ax.imshow(_grid_image(images, nrow), cmap="gray" if images.shape[1] == 1 else None)
    ax.set_title(title)
    ax.axis("off")
    return ax.figure


def plot_history(history: History, keys: Sequence[str] = ("loss",), *, title: str = "Training loss",
                 ylabel: str = "loss (nats per image)", ax: plt.Axes | None = None) -> Figure:
    """Per-epoch curves of ``history.epochs[key]``; where per-step values exist they are drawn faintly
    and the epoch means (averages over the epoch) sit at the middle of their epoch."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    tops = []
    for key in keys:
        epochs = np.asarray(history.epochs[key], dtype=float)
        steps = history.steps.get(key)
        x = np.arange(1, len(epochs) + 1) - (0.5 if steps else 0.0)
        line, = ax.plot(x, epochs, marker="o", label=key)
        if steps:
            per_epoch = len(steps) / len(epochs)
            ax.plot(np.arange(1, len(steps) + 1) / per_epoch, steps, color=line.get_color(), alpha=0.25,
                    linewidth=0.8)
        tops.append(epochs.max())
    if all(top > 0 for top in tops):  # keep the first steps' large losses from squashing the curves
        ax.set_ylim(top=1.25 * max(tops))
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax.figure


def plot_latent_scatter(z: torch.Tensor, labels: torch.Tensor, *, class_names: Sequence[str] | None = None,
                        title: str = "Latent space of the test set", ax: plt.Axes | None = None) -> Figure:
    """2-D latent codes ``z`` ``[N, 2]`` coloured by ``labels`` ``[N]``, one legend entry per class."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.4))
    z, labels = z.detach().cpu().numpy(), labels.cpu().numpy()
    cmap = plt.get_cmap("tab10")
    for c in np.unique(labels):
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(*z[labels == c].T, s=3, alpha=0.6, color=cmap(int(c) % 10), label=name)
    ax.set(title=title, xlabel="$z_1$", ylabel="$z_2$")
    ax.legend(title="class", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax.figure


def latent_grid(z_min: Sequence[float], z_max: Sequence[float], n: int = 8) -> torch.Tensor:
    """A regular ``n × n`` grid over the rectangle ``[z_min, z_max]``, row-major with z₂ decreasing
    (so row 0 is the top of the plot). Returns ``[n*n, 2]``."""
    z1 = torch.linspace(float(z_min[0]), float(z_max[0]), n)
    z2 = torch.linspace(float(z_max[1]), float(z_min[1]), n)
    g2, g1 = torch.meshgrid(z2, z1, indexing="ij")
    return torch.stack([g1.flatten(), g2.flatten()], dim=1)


def plot_manifold(decode: Callable[[torch.Tensor], torch.Tensor], z_min: Sequence[float], z_max: Sequence[float],
                  n: int = 8, *, title: str = "Decoded latent grid", ax: plt.Axes | None = None) -> Figure:
    """Decode an ``n × n`` grid spanning ``z_min..z_max`` (see :func:`latent_grid`) and tile the images,
    with the latent coordinates on the axes. ``decode``: ``[K, 2]`` → images ``[K, 1, H, W]`` in [0, 1]."""
    with torch.no_grad():
        images = decode(latent_grid(z_min, z_max, n)).float().cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(_grid_image(images, n, padding=0), cmap="gray",
              extent=(float(z_min[0]), float(z_max[0]), float(z_min[1]), float(z_max[1])), aspect="auto")
    ax.set(title=title, xlabel="$z_1$", ylabel="$z_2$")
    return ax.figure


def plot_image_rows(rows: dict[str, torch.Tensor], *, title: str, col_labels: Sequence[str] | None = None,
                    scale: float = 0.6) -> Figure:
    """A table of images: one named row per entry of ``rows`` (each ``[N, C, H, W]``, the same N),
    with optional column labels on top."""
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), 1, figsize=(scale * n + 1.4, scale * len(rows) + 0.9), squeeze=False)
    for ax, (name, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(_grid_image(images, n), cmap="gray" if images.shape[1] == 1 else None)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if col_labels is not None:
        width = images.shape[-1] + 2
        axes[0, 0].set_xticks([width * (i + 0.5) for i in range(n)], list(col_labels))
        axes[0, 0].xaxis.tick_top()
    fig.suptitle(title)
    return fig


def plot_reconstructions(inputs: torch.Tensor, reconstructions: torch.Tensor, *,
                         title: str = "Inputs (top) and reconstructions (bottom)") -> Figure:
    """Inputs over their reconstructions, column by column. Both ``[N, C, H, W]`` in [0, 1]."""
    return plot_image_rows({"input": inputs, "reconstruction": reconstructions}, title=title)


def plot_snapshots(snapshots: Sequence[tuple[int, torch.Tensor]], *,
                   title: str = "Samples during training") -> Figure:
    """One row per ``(epoch, images)`` snapshot (fixed inputs), epoch 0 being before training."""
    return plot_image_rows({f"epoch {epoch}": images for epoch, images in snapshots}, title=title, scale=0.55)


def plot_curves(x: Sequence[float], series: dict[str, Sequence[float]], *, title: str, xlabel: str, ylabel: str,
                logx: bool = False, logy: bool = False, ax: plt.Axes | None = None) -> Figure:
    """Several named curves over a shared x axis, with a legend."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    for name, values in series.items():
        ax.plot(x, [float(v) for v in values], marker="o", label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return ax.figure
