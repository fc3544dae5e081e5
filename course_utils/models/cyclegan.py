"""CycleGAN's networks and image pool (Zhu et al., 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"), with the paper's defaults: the ResNet generator of Johnson et
al. (2016) and the 70×70 PatchGAN of Isola et al. (2017), InstanceNorm, N(0, 0.02) initialisation.
"""

from __future__ import annotations

import random
from typing import Callable

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [reflection pad, 3×3 conv, InstanceNorm, ReLU, reflection pad, 3×3 conv, InstanceNorm](x).

    ``[B, dim, H, W]`` → ``[B, dim, H, W]``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Image → image: 7×7 stem, two stride-2 downsamplings, ``n_blocks`` residual blocks, two ×2
    transposed-conv upsamplings, 7×7 output conv and tanh (paper: ngf = 64, 9 blocks at 256×256).

    ``[B, in_channels, H, W]`` (H, W divisible by 4) → ``[B, out_channels, H, W]`` in (-1, 1).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), _norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):                                               # H → H/2 → H/4
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), _norm(ngf * mult * 2),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):                                               # H/4 → H/2 → H
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a fully convolutional classifier of overlapping patches (4×4 convs, LeakyReLU 0.2).

    With ``n_layers = 3`` each output sees a 70×70 patch of the input (see :func:`receptive_field`).
    ``[B, in_channels, H, W]`` → ``[B, 1, H/8 - 2, W/8 - 2]`` logits (30×30 at 256×256).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            previous, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=stride, padding=1), _norm(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(model: nn.Module) -> int:
    """Receptive field (pixels) of one output of a stack of convolutions, from their kernels and strides:
    walking back from the output, r ← r·stride + (kernel − stride)."""
    r = 1
    for layer in reversed([m for m in model.modules() if isinstance(m, nn.Conv2d)]):
        r = r * layer.stride[0] + (layer.kernel_size[0] - layer.stride[0])
    return r


def init_weights(model: nn.Module, std: float = 0.02) -> nn.Module:
    """The paper's initialisation: conv weights ~ N(0, std), biases 0 (affine norms: weight ~ N(1, std))."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, std)
            nn.init.zeros_(module.bias)
    return model


class ImagePool:
    """A history of generated images (Shrivastava et al., 2017; CycleGAN sec. 4): D is updated on a mix of
    the newest fakes and older ones, which damps oscillation.

    ``query(images)`` (``[B, C, H, W]``): while fewer than ``size`` images are stored, each new image is
    stored and returned; afterwards each is, with probability ½, swapped for a random stored one (which is
    returned, the new one taking its place), or else returned as is. ``size = 0`` disables the pool.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size, self.images = size, []
        self.random = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach().clone():       # the pool's own copies, off G's graph
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.random.random() < 0.5:
                index = self.random.randrange(self.size)
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out)


class CycleGAN(nn.Module):
    """The four networks of a CycleGAN: ``G_AB`` (A → B), ``G_BA`` (B → A), ``D_A`` and ``D_B``, initialised
    with N(0, 0.02). ``ngf``/``n_blocks``/``ndf`` size them (paper: 64, 9, 64).

    ``generator(ngf=, n_blocks=)`` and ``discriminator(ndf=)`` build the networks (default: this module's
    :class:`ResnetGenerator` and :class:`PatchDiscriminator`; notebook 06 passes the classes its students wrote).
    """

    def __init__(self, ngf: int = 64, n_blocks: int = 9, ndf: int = 64, *,
                 generator: Callable[..., nn.Module] = ResnetGenerator,
                 discriminator: Callable[..., nn.Module] = PatchDiscriminator) -> None:
        super().__init__()
        self.G_AB, self.G_BA = generator(ngf=ngf, n_blocks=n_blocks), generator(ngf=ngf, n_blocks=n_blocks)
        self.D_A, self.D_B = discriminator(ndf=ndf), discriminator(ndf=ndf)
        init_weights(self)

    def generators(self) -> list[nn.Parameter]:
        return [*self.G_AB.parameters(), *self.G_BA.parameters()]

    def discriminators(self) -> list[nn.Parameter]:
        return [*self.D_A.parameters(), *self.D_B.parameters()]


def linear_decay(optimizer: torch.optim.Optimizer, n_epochs: int, n_epochs_decay: int):
    """CycleGAN's schedule (sec. 7.1): the initial learning rate for ``n_epochs`` epochs, then linearly
    to zero over ``n_epochs_decay`` more. Call ``.step()`` once per epoch."""
    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
