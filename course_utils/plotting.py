"""Figures of the course. Every function returns its matplotlib ``Figure`` and labels it fully.

In a notebook, ``fig = show_images(...)`` draws the figure once (pyplot shows it at the end of the cell).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
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
        axes[0, 0].set_title(title, pad=22)  # above the column labels
    else:
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


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)  # no lag at the start
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_steps(history: History, keys: Sequence[str], *, title: str, ylabel: str = "loss", smooth: int = 50,
               ax: plt.Axes | None = None) -> Figure:
    """Per-iteration values of ``history.steps[key]`` (faint) with a running mean over ``smooth`` steps."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for key in keys:
        values = history.steps[key]
        x = np.arange(1, len(values) + 1)
        line, = ax.plot(x, _smooth(values, smooth), label=f"{key} (mean of {smooth})")
        ax.plot(x, values, color=line.get_color(), alpha=0.15, linewidth=0.6)
    ax.set(title=title, xlabel="iteration", ylabel=ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax.figure


def toy_gan_snapshot(G: torch.nn.Module, D: torch.nn.Module, z: torch.Tensor, extent: float = 3.0,
                     resolution: int = 120) -> dict[str, torch.Tensor]:
    """What :func:`plot_toy_gan` draws at one moment: G's samples for the fixed noise ``z`` ``[N, d]`` and
    D's probability ``sigmoid(D(x))`` on a ``resolution × resolution`` grid over ``[-extent, extent]²``."""
    device = next(G.parameters()).device
    axis = torch.linspace(-extent, extent, resolution)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(device)
    return {"fake": G(z.to(device)).float().cpu(),
            "surface": torch.sigmoid(D(points).float()).view(resolution, resolution).cpu(),
            "extent": torch.tensor(extent)}


def plot_toy_gan(snapshots: Sequence[tuple[int, dict[str, torch.Tensor]]], real: torch.Tensor, *,
                 title: str, columns: int = 4, scale: float = 3.0) -> Figure:
    """One panel per snapshot of :func:`toy_gan_snapshot`: D's probability of "real" as a filled
    contour, the real data (black) and G's samples (red)."""
    rows = -(-len(snapshots) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(scale * columns, scale * rows + 0.4), squeeze=False)
    mesh = None
    for ax, (iteration, snap) in zip(axes.flat, snapshots):
        e = float(snap["extent"])
        mesh = ax.imshow(snap["surface"].numpy(), origin="lower", extent=(-e, e, -e, e), cmap="RdBu_r",
                         vmin=0, vmax=1, alpha=0.6)
        ax.scatter(*real.T.numpy(), s=2, c="black", alpha=0.3, label="real")
        ax.scatter(*snap["fake"].T.numpy(), s=2, c="tab:red", alpha=0.5, label="G(z)")
        ax.set(title=f"iteration {iteration}", xlim=(-e, e), ylim=(-e, e), xticks=[], yticks=[])
        ax.set_aspect("equal")
    for ax in list(axes.flat)[len(snapshots):]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper left", markerscale=4, fontsize=8)
    fig.colorbar(mesh, ax=axes, shrink=0.8, label="D(x): probability of real")
    fig.suptitle(title)
    return fig


def save_gif(frames: Sequence[tuple[int, torch.Tensor]], path, *, nrow: int = 8, milliseconds: int = 250,
             upscale: int = 2):
    """Write ``(iteration, images [N, C, H, W])`` frames as an animated GIF (Pillow); return the path.

    The file is written to a temporary name and renamed, so a half-written GIF never appears."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = []
    for iteration, images in frames:
        grid = (_grid_image(images, nrow) * 255).astype(np.uint8)
        if grid.shape[2] == 1:
            grid = grid[:, :, 0]
        picture = Image.fromarray(grid).convert("RGB")
        picture = picture.resize((picture.width * upscale, picture.height * upscale), Image.NEAREST)
        canvas = Image.new("RGB", (picture.width, picture.height + 16), "white")
        canvas.paste(picture, (0, 16))
        ImageDraw.Draw(canvas).text((4, 2), f"iteration {iteration}", fill="black")
        pictures.append(canvas)
    tmp = path.with_name(path.name + ".tmp")
    pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=milliseconds, loop=0)
    os.replace(tmp, path)
    return path
