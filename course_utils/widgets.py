"""Interactive explorers (ipywidgets) for the notebooks' latent spaces."""

from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch


def latent_explorer(decode: Callable[..., torch.Tensor], z_min: Sequence[float], z_max: Sequence[float],
                    steps: int = 60, labels: Sequence[str] | None = None) -> widgets.Widget:
    """Sliders over the latent space (and, with ``labels``, a label menu) → the decoded image, redrawn live.

    ``decode(z)`` (or ``decode(z, label_index)`` with ``labels``): ``[1, D]`` latent code → ``[1, 1, H, W]``
    image in [0, 1]; the sliders span ``z_min..z_max`` (e.g. the observed range of the test codes).
    """
    controls: dict[str, widgets.Widget] = {
        f"z{i + 1}": widgets.FloatSlider(value=float((lo + hi) / 2), min=float(lo), max=float(hi),
                                         step=float(hi - lo) / steps, description=f"z{i + 1}")
        for i, (lo, hi) in enumerate(zip(z_min, z_max))
    }
    if labels is not None:
        controls["label"] = widgets.Dropdown(options=[(name, i) for i, name in enumerate(labels)], value=0,
                                             description="label")

    def draw(**values: float) -> None:
        code = torch.tensor([[values[f"z{i + 1}"] for i in range(len(z_min))]])
        with torch.no_grad():
            image = (decode(code) if labels is None else decode(code, values["label"]))[0, 0].float().cpu()
        fig, ax = plt.subplots(figsize=(2.6, 2.6))
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
        name = "" if labels is None else f"label {labels[values['label']]}, "
        ax.set_title(f"{name}z = (" + ", ".join(f"{values[f'z{i + 1}']:.2f}" for i in range(len(z_min))) + ")",
                     fontsize=9)
        ax.axis("off")
        plt.show()

    return widgets.interactive(draw, **controls)
