"""Interactive explorers (ipywidgets) for the notebooks' latent spaces."""

from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch


def latent_explorer(decode: Callable[[torch.Tensor], torch.Tensor], z_min: Sequence[float],
                    z_max: Sequence[float], steps: int = 60) -> widgets.Widget:
    """Two sliders over the latent plane → the decoded image, redrawn as the sliders move.

    ``decode``: ``[1, 2]`` latent code → ``[1, 1, H, W]`` image in [0, 1]; the sliders span
    ``z_min..z_max`` (e.g. the observed range of the test set's codes).
    """
    sliders = [
        widgets.FloatSlider(value=float((lo + hi) / 2), min=float(lo), max=float(hi),
                            step=float(hi - lo) / steps, description=f"z{i + 1}", continuous_update=True)
        for i, (lo, hi) in enumerate(zip(z_min, z_max))
    ]

    def draw(**z: float) -> None:
        code = torch.tensor([[z[f"z{i + 1}"] for i in range(len(sliders))]])
        with torch.no_grad():
            image = decode(code)[0, 0].float().cpu()
        fig, ax = plt.subplots(figsize=(2.6, 2.6))
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title("decoded z = (" + ", ".join(f"{v:.2f}" for v in z.values()) + ")", fontsize=9)
        ax.axis("off")
        plt.show()

    return widgets.interactive(draw, **{s.description: s for s in sliders})
