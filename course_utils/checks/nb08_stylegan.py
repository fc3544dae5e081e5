"""Self-checks for notebook 08 (a style-based generator: AdaIN, the mapping network, the noise inputs).

Each check runs the student's module on its own parameters and compares it with the reference formula
(Karras et al., 2019), after testing the behaviours that the usual mistakes break: statistics per sample
and channel, one style per sample, gradients reaching w, one noise image shared by the channels.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..models.stylegan import adain, pixel_norm
from ._core import CheckError, call, close, expect, expect_close, expect_tensor, passed


def _styled_input(batch: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Feature maps whose mean and spread differ per sample and channel (what AdaIN must remove)."""
    g = torch.Generator().manual_seed(seed)
    mean = 3 * torch.randn(batch, channels, 1, 1, generator=g)
    spread = 0.5 + 2 * torch.rand(batch, channels, 1, 1, generator=g)
    return mean + spread * torch.randn(batch, channels, size, size, generator=g)


def check_adain(AdaIN: Callable) -> None:
    """``AdaIN(channels, w_dim)`` with ``self.affine = nn.Linear(w_dim, 2 * channels)``; ``forward(x [B, C, H, W],
    w [B, w_dim])`` returns :math:`y_s (x - \\mu(x)) / \\sigma(x) + y_b` per sample and channel, with
    :math:`y_s = 1 + A(w)_{:C}` and :math:`y_b = A(w)_{C:}`."""
    torch.manual_seed(0)
    B, C, S, W_DIM = 4, 6, 5, 7
    module = call(AdaIN, C, W_DIM, name="AdaIN")
    affine = getattr(module, "affine", None)
    expect(isinstance(affine, nn.Linear) and affine.in_features == W_DIM and affine.out_features == 2 * C,
           f"AdaIN({C}, {W_DIM}) needs `self.affine = nn.Linear(w_dim, 2 * channels)`, got {affine!r}.")
    with torch.no_grad():                                # styles far from the identity, so that mistakes show
        affine.weight.copy_(0.5 * torch.randn(2 * C, W_DIM))
        affine.bias.copy_(torch.randn(2 * C))
    x = _styled_input(B, C, S, seed=1)
    w = torch.randn(B, W_DIM, generator=torch.Generator().manual_seed(2), requires_grad=True)
    got = call(module, x, w, name="AdaIN.forward")
    expect_tensor("AdaIN(x, w)", got, shape=(B, C, S, S), hint="AdaIN keeps the shape of x.")

    with torch.no_grad():
        style = affine(w)
        scale, bias = style[:, :C], style[:, C:]
        mean, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
        normalised = (x - mean) / torch.sqrt(var + 1e-5)
        want = adain(x, 1 + scale, bias)
        e = lambda t: t[:, :, None, None]                # noqa: E731  [B, C] → [B, C, 1, 1]
        batch_mean, batch_var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
        layer_mean, layer_var = x.mean((1, 2, 3), keepdim=True), x.var((1, 2, 3), unbiased=False, keepdim=True)
        unbiased = (x - mean) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5)
        interleaved = style.view(B, C, 2)
        mean_style = affine(w.mean(0, keepdim=True)).expand(B, -1)
        mistakes = [
            (adain(x, scale, bias), "the scale lacks its +1: this notebook's convention is y_s = 1 + A(w)[:, :C], so "
                                    "that a zero affine output leaves the normalised features unscaled."),
            (adain(x, 1 + bias, scale), "scale and bias are swapped: the first C outputs of the affine give the "
                                        "scale y_s = 1 + A(w)[:, :C], the last C the bias y_b."),
            (adain(x, bias, 1 + scale), "scale and bias are swapped: the first C outputs of the affine give the "
                                        "scale y_s = 1 + A(w)[:, :C], the last C the bias y_b."),
            (e(1 + scale) * (x - batch_mean) / torch.sqrt(batch_var + 1e-5) + e(bias),
             "you normalised over the batch (BatchNorm): μ and σ are taken per sample and per channel, over H and W "
             "only, dims (2, 3)."),
            (e(1 + scale) * (x - layer_mean) / torch.sqrt(layer_var + 1e-5) + e(bias),
             "you normalised over all channels together (LayerNorm): μ and σ are taken per channel, over H and W "
             "only, dims (2, 3)."),
            (e(1 + scale) * x + e(bias), "x is not normalised: subtract each feature map's mean μ(x) and divide by "
                                         "its standard deviation σ(x) before applying the style."),
            (e(1 + scale) * unbiased + e(bias),
             "σ is the unbiased (N − 1) standard deviation: instance normalisation uses the biased one "
             "(x.var(..., unbiased=False), as F.instance_norm does)."),
            (e(1 + interleaved[..., 0]) * normalised + e(interleaved[..., 1]),
             "the style vector is split the wrong way: y_s is the first C entries of A(w) and y_b the last C "
             "(chunk(2, dim=1)), not alternating entries."),
            (e(1 + mean_style[:, :C]) * normalised + e(mean_style[:, C:]),
             "every sample got the style of the batch's mean w: compute A(w) per sample, [B, w_dim] → [B, 2C]."),
            (e(1 + style[:1, :C]) * normalised + e(style[:1, C:]),
             "every sample got the style of the first sample: use A(w) of each sample."),
        ]
    for candidate, message in mistakes:
        if close(got, candidate, rtol=1e-3, atol=1e-4):
            raise CheckError(message)
    got_n = ((got.detach() - e(bias)) / e(1 + scale))
    per_mean, per_std = got_n.mean((2, 3)), got_n.std((2, 3), unbiased=False)
    expect(bool(per_mean.abs().max() < 1e-3) and bool((per_std - 1).abs().max() < 1e-2),
           f"after undoing the style, each sample's feature maps should have mean 0 and std 1; they have means "
           f"in [{per_mean.min():.3f}, {per_mean.max():.3f}] and stds in [{per_std.min():.3f}, {per_std.max():.3f}]. "
           "Normalise each sample and channel over (H, W), then scale by y_s and shift by y_b.")
    expect_close("AdaIN(x, w)", got, want, rtol=1e-3, atol=1e-4,
                 hint="AdaIN(x, w) = y_s · (x − μ(x)) / sqrt(σ²(x) + ε) + y_b, μ and σ² over dims (2, 3).")

    got.sum().backward()
    expect(w.grad is not None and bool(w.grad.abs().sum() > 0),
           "no gradient reaches w: the style must stay in the graph (no .detach(), no torch.no_grad()), "
           "or the mapping network never learns.")
    expect(affine.weight.grad is not None and bool(affine.weight.grad.abs().sum() > 0),
           "no gradient reaches self.affine: compute the style with it in the forward pass.")

    flat = x.clone()
    flat[0, 0] = 2.0                                     # a constant feature map: σ = 0
    with torch.no_grad():
        out = call(module, flat, w.detach(), name="AdaIN.forward")
    expect(bool(torch.isfinite(out).all()),
           "a constant feature map gives NaN or inf: add ε (e.g. 1e-5) to the variance before the square root.")
    expect_close("AdaIN on a constant feature map", out[0, 0], bias[0, 0].expand(S, S), rtol=1e-3, atol=1e-3,
                 hint="a constant map normalises to 0, so AdaIN returns y_b there.")
    passed("check_adain", f"{B} samples × {C} channels, per-sample styles, ε for constant maps")


def check_mapping_network(MappingNetwork: Callable) -> None:
    """``MappingNetwork(z_dim, w_dim, num_layers)`` with ``self.layers`` (a list of ``nn.Linear``); ``forward(z)``
    pixel-normalises z per sample, then applies each layer followed by LeakyReLU(0.2). ``[B, z_dim]`` →
    ``[B, w_dim]``."""
    torch.manual_seed(0)
    B, Z, W_DIM, L = 16, 8, 6, 3
    net = call(MappingNetwork, Z, W_DIM, L, name="MappingNetwork")
    layers = list(getattr(net, "layers", []))
    expect(len(layers) == L and all(isinstance(m, nn.Linear) for m in layers),
           f"MappingNetwork({Z}, {W_DIM}, {L}) needs `self.layers`: {L} nn.Linear layers, got {layers!r}.")
    expect(layers[0].in_features == Z and all(m.out_features == W_DIM for m in layers),
           f"the first layer maps z_dim={Z} to w_dim={W_DIM}, the others w_dim to w_dim.")
    g = torch.Generator().manual_seed(1)
    z = torch.randn(B, Z, generator=g) * (0.2 + 3 * torch.rand(B, 1, generator=g))   # very different norms
    z.requires_grad_(True)
    got = call(net, z, name="MappingNetwork.forward")
    expect_tensor("MappingNetwork(z)", got, shape=(B, W_DIM), hint="w has w_dim entries per sample.")

    def run(x: torch.Tensor, act: Callable = lambda t: F.leaky_relu(t, 0.2), last: bool = True) -> torch.Tensor:
        for i, layer in enumerate(layers):
            x = layer(x)
            x = act(x) if (last or i < L - 1) else x
        return x

    with torch.no_grad():
        zn = pixel_norm(z)
        want = run(zn)
        mistakes = [
            (run(z), "z is not pixel-normalised: divide each z by sqrt(mean(z², dim=1) + ε) first "
                     "(PGGAN's pixel norm)."),
            (run(z * torch.rsqrt(z.pow(2).mean(0, keepdim=True) + 1e-8)),
             "pixel norm is taken over the batch: normalise each sample over its own features, mean over dim=1."),
            (run(F.normalize(z, dim=1)), "z has unit length: pixel norm divides by the root *mean* square, so z ends "
                                         "on the sphere of radius sqrt(z_dim) (F.normalize(z, dim=1) · sqrt(z_dim))."),
            (run(z / (z.pow(2).mean(1, keepdim=True) + 1e-8)),
             "pixel norm divides by the mean square: take its square root, z / sqrt(mean(z², dim=1) + ε)."),
            (run(z / z.std(1, keepdim=True)), "z was divided by its standard deviation: pixel norm divides by the root "
                                              "mean square (no mean subtracted), sqrt(mean(z², dim=1) + ε)."),
            (run(zn, F.relu), "ReLU instead of LeakyReLU: the mapping network uses LeakyReLU with slope 0.2."),
            (run(zn, lambda t: F.leaky_relu(t, 0.01)),
             "LeakyReLU with the default slope 0.01: the mapping network uses slope 0.2 (F.leaky_relu(x, 0.2))."),
            (run(zn, last=False), "the last layer has no activation: in StyleGAN's mapping network every layer, the "
                                  "last included, is followed by LeakyReLU(0.2)."),
            (run(zn, torch.tanh), "tanh instead of LeakyReLU(0.2) between the layers."),
        ]
    for candidate, message in mistakes:
        if close(got, candidate, rtol=1e-4, atol=1e-5):
            raise CheckError(message)
    one = call(net, z[:3].detach(), name="MappingNetwork.forward")
    expect(close(one, got[:3], rtol=1e-4, atol=1e-5),
           "w of a sample depends on the other samples of the batch: every operation must work per sample.")
    scaled = call(net, 5 * z.detach(), name="MappingNetwork.forward")
    expect(close(scaled, got, rtol=1e-3, atol=1e-4),
           "w changes when z is multiplied by 5: pixel norm makes f(z) depend only on the direction of z.")
    expect_close("MappingNetwork(z)", got, want, rtol=1e-4, atol=1e-5,
                 hint="w = LeakyReLU_0.2(layer_L(... LeakyReLU_0.2(layer_1(pixel_norm(z))))).")
    got.sum().backward()
    expect(all(m.weight.grad is not None and bool(m.weight.grad.abs().sum() > 0) for m in layers),
           "some layers of self.layers get no gradient: use every layer, without .detach().")
    passed("check_mapping_network", f"{L} layers, {Z} → {W_DIM}, pixel norm per sample, LeakyReLU(0.2)")


def check_noise_injection(NoiseInjection: Callable) -> None:
    """``NoiseInjection(channels)`` with ``self.weight`` ``[C]``; ``forward(x [B, C, H, W], noise=None)`` returns
    x + weight[c] · noise, noise ``[B, 1, H, W]`` (given, or freshly drawn from N(0, 1), one image per sample
    shared by all channels)."""
    torch.manual_seed(0)
    B, C, S = 64, 6, 6                                   # C == W: a weight broadcast over the last dim fails loudly
    module = call(NoiseInjection, C, name="NoiseInjection")
    weight = getattr(module, "weight", None)
    expect(isinstance(weight, nn.Parameter) and tuple(weight.shape) == (C,),
           f"NoiseInjection({C}) needs `self.weight`: an nn.Parameter of shape [{C}], got {weight!r}.")
    with torch.no_grad():
        weight.copy_(torch.linspace(0.5, 3.0, C))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, C, S, S, generator=g)
    noise = torch.randn(B, 1, S, S, generator=g)
    got = call(module, x, noise, name="NoiseInjection.forward")
    expect_tensor("NoiseInjection(x, noise)", got, shape=(B, C, S, S), hint="the noise is added to x: same shape.")
    with torch.no_grad():
        again = call(module, x, noise, name="NoiseInjection.forward")
        if not close(got, again):
            raise CheckError("the given noise is ignored: two calls with the same `noise` differ. Draw fresh noise "
                             "only when `noise` is None (fixed noise is how the notebook compares images).")
        want = x + weight.view(1, -1, 1, 1) * noise
        if close(got, x):
            raise CheckError("the given noise was not added: when `noise` is passed, use it (fixed noise is how the "
                             "notebook compares images with the same noise).")
        if close(got, x + noise):
            raise CheckError("the noise is not scaled: multiply it by the learned per-channel weight, "
                             "self.weight.view(1, -1, 1, 1).")
        if close(got, x + weight * noise):
            raise CheckError("self.weight is broadcast over the last dimension (the width): reshape it to "
                             "[1, C, 1, 1] so that it scales each channel.")
    expect_close("NoiseInjection(x, noise)", got, want, hint="x + self.weight.view(1, -1, 1, 1) * noise.")
    expect(got.requires_grad,
           "no gradient reaches self.weight: keep it in the graph (no .detach(), no torch.no_grad()).")
    got.sum().backward()
    expect(weight.grad is not None and bool(weight.grad.abs().sum() > 0), "no gradient reaches self.weight.")

    with torch.no_grad():
        first = call(module, x, name="NoiseInjection.forward") - x
        second = call(module, x, name="NoiseInjection.forward") - x
    expect_tensor("NoiseInjection(x) - x", first, shape=(B, C, S, S))
    per_channel = first / weight.detach().view(1, -1, 1, 1)          # should be the same image for every channel
    expect(bool((per_channel - per_channel[:, :1]).abs().max() < 1e-4),
           "each channel got its own noise: draw one single-channel image per sample, shape [B, 1, H, W], and let the "
           "per-channel weights scale it.")
    image = per_channel[:, 0]
    expect(bool((image - image[:1]).abs().max() > 1e-3),
           "all samples got the same noise image: draw one per sample, shape [B, 1, H, W].")
    expect(not close(first, second), "the noise is the same at every call: draw fresh noise (torch.randn) each time.")
    expect(abs(float(image.mean())) < 0.2 and abs(float(image.std()) - 1) < 0.1,
           f"the noise has mean {float(image.mean()):.2f} and std {float(image.std()):.2f}: draw it from N(0, 1) "
           "with torch.randn (torch.rand is uniform on [0, 1]).")
    passed("check_noise_injection", "one N(0, 1) image per sample, scaled per channel")
