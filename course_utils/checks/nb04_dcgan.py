"""Self-checks for notebook 04 (DCGAN with spectral normalisation, LSGAN losses)."""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..losses import lsgan_d_loss, lsgan_g_loss
from ..models.dcgan import DCDiscriminator, DCGenerator
from ..training import gan_iteration
from ._core import CheckError, call, close, count_parameters, expect, expect_close, expect_tensor, passed


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _has_spectral_norm(conv: nn.Module) -> bool:
    return hasattr(conv, "parametrizations") and "weight" in conv.parametrizations or hasattr(conv, "weight_orig")


def _check_spectral_norm(name: str, model: nn.Module, wanted: bool) -> None:
    with_sn = [_has_spectral_norm(c) for c in _convs(model)]
    if wanted:
        expect(all(with_sn), f"{name}(..., spectral_norm=True): {with_sn.count(False)} of {len(with_sn)} convs have no "
                             "spectral norm; wrap each conv: torch.nn.utils.parametrizations.spectral_norm(nn.Conv2d(...)).")
    else:
        expect(not any(with_sn), f"{name}(..., spectral_norm=False) still applies spectral norm.")


def check_dc_discriminator(Discriminator: type) -> None:
    """``Discriminator(conv_dim, spectral_norm)``: ``[B, 3, 32, 32]`` → ``[B, 1]``."""
    lines = []
    for conv_dim, sn in ((32, False), (64, False), (32, True)):
        torch.manual_seed(0)
        D = call(Discriminator, conv_dim, sn, name="Discriminator.__init__")
        want = count_parameters(DCDiscriminator(conv_dim, sn))
        got = count_parameters(D)
        expect(got == want, f"Discriminator({conv_dim}, spectral_norm={sn}) has {got:,} parameters, expected {want:,}: "
                            f"four 5×5 convs 3 → {conv_dim} → {2 * conv_dim} → {4 * conv_dim} → 1, "
                            "BatchNorm2d after the first three.")
        kernels = [tuple(c.kernel_size) for c in _convs(D)]
        expect(kernels == [(5, 5)] * 4, f"the convs have kernels {kernels}; the homework uses four 5×5 convs.")
        norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
        expect(len(norms) == 3, f"found {len(norms)} BatchNorm2d layers; use one after each conv but the last.")
        _check_spectral_norm("Discriminator", D, sn)
        x = torch.randn(4, 3, 32, 32)
        shapes, hooks = [], [c.register_forward_hook(lambda m, i, o: shapes.append(list(o.shape[1:])))
                             for c in _convs(D)]
        out = call(D, x, name="Discriminator.forward")
        for h in hooks:
            h.remove()
        want_shapes = [[conv_dim, 16, 16], [2 * conv_dim, 8, 8], [4 * conv_dim, 4, 4], [1, 1, 1]]
        expect(shapes == want_shapes, f"the convs' outputs are {shapes}, expected {want_shapes}: stride 2 and "
                                      "padding 2 on the first three, padding 1 on the last (4×4 → 1×1).")
        expect_tensor("D(x)", out, shape=(4, 1), hint="Flatten the [B, 1, 1, 1] output to [B, 1].")
        expect(not any(isinstance(m, nn.Sigmoid) for m in D.modules()),
               "the Discriminator ends with a sigmoid: LSGAN scores raw outputs.")
        lines.append(f"conv_dim={conv_dim}{' +SN' if sn else ''}: {got:,}")
    passed("check_dc_discriminator", f"parameters {'; '.join(lines)}; conv outputs {want_shapes[:-1]} → [B, 1]")


def check_dc_generator(Generator: type) -> None:
    """``Generator(noise_size, conv_dim, spectral_norm)``: ``[B, noise_size]`` → ``[B, 3, 32, 32]`` in (-1, 1)."""
    lines = []
    for noise_size, conv_dim, sn in ((100, 32, False), (100, 64, False), (100, 32, True)):
        torch.manual_seed(0)
        G = call(Generator, noise_size, conv_dim, sn, name="Generator.__init__")
        reference = count_parameters(DCGenerator(noise_size, conv_dim, sn))
        flat = 4 * conv_dim * 16
        per_channel = reference - 2 * flat + 2 * 4 * conv_dim      # BatchNorm2d over channels instead of 1d
        got = count_parameters(G)
        expect(not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules()),
               "use ×2 upsampling (F.interpolate or nn.Upsample) followed by a 5×5 conv, not ConvTranspose2d.")
        expect(got in (reference, per_channel),
               f"Generator({noise_size}, {conv_dim}, spectral_norm={sn}) has {got:,} parameters, expected {reference:,}: "
               f"Linear({noise_size}, {flat}) + BatchNorm, then three 5×5 convs {4 * conv_dim} → {2 * conv_dim} → "
               f"{conv_dim} → 3 with BatchNorm2d after the first two.")
        kernels = [tuple(c.kernel_size) for c in _convs(G)]
        expect(kernels == [(5, 5)] * 3, f"the convs have kernels {kernels}; use three 5×5 convs, stride 1, padding 2.")
        _check_spectral_norm("Generator", G, sn)
        z = torch.randn(8, noise_size)
        x = call(G, z, name="Generator.forward")
        expect_tensor("G(z)", x, shape=(8, 3, 32, 32),
                      hint="Reshape the linear output to [B, 4·conv_dim, 4, 4], then upsample 4 → 8 → 16 → 32.")
        expect(bool(x.abs().max() < 1) and bool(x.min() < 0), "G(z) should lie in (-1, 1): end with tanh.")
        x.mean().backward()
        missing = [n for n, p in G.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}.")
        lines.append(f"conv_dim={conv_dim}{' +SN' if sn else ''}: {got:,}")
    passed("check_dc_generator", f"parameters {'; '.join(lines)}; [B, 100] → [B, 3, 32, 32]")


def check_lsgan_losses(d_loss: Callable, g_loss: Callable) -> None:
    """LSGAN (Mao et al., 2017, eq. 2 with a = 0, b = c = 1) on raw outputs ``[B, 1]`` → scalars."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 1, generator=g) + 0.5, torch.randn(16, 1, generator=g) - 0.5
    got_d = call(d_loss, real, fake)
    expect_tensor("d_loss(...)", got_d, shape=(), hint="Average over the batch: return a scalar.")
    want_d = lsgan_d_loss(real, fake)
    if close(got_d, 2 * want_d):
        raise CheckError("d_loss is twice the expected value: LSGAN puts ½ in front of each expectation, "
                         "½ E[(D(x) − 1)²] + ½ E[D(G(z))²].")
    if close(got_d, lsgan_d_loss(fake, real)):
        raise CheckError("d_loss has the targets swapped: real outputs go towards b = 1, fake outputs towards a = 0.")
    if close(got_d, lsgan_d_loss(torch.sigmoid(real), torch.sigmoid(fake))):
        raise CheckError("d_loss applies a sigmoid: LSGAN uses D's raw (linear) outputs.")
    expect_close("d_loss", got_d, want_d, hint="d_loss = ½ mean((D(x) − 1)²) + ½ mean(D(G(z))²).")
    got_g = call(g_loss, fake)
    expect_tensor("g_loss(...)", got_g, shape=())
    want_g = lsgan_g_loss(fake)
    if close(got_g, 2 * want_g):
        raise CheckError("g_loss is twice the expected value: it is ½ E[(D(G(z)) − 1)²].")
    expect_close("g_loss", got_g, want_g, hint="g_loss = ½ mean((D(G(z)) − c)²) with c = 1: G wants D to call its "
                                               "samples real.")
    passed("check_lsgan_losses")


def check_power_iteration(power_iteration: Callable) -> None:
    """``power_iteration(W, iterations)``: the largest singular value of ``W`` reshaped to ``[out, -1]``."""
    g = torch.Generator().manual_seed(0)
    cases = {"a 20×30 matrix": torch.randn(20, 30, generator=g),
             "a 64×3×5×5 conv weight": torch.randn(64, 3, 5, 5, generator=g) * 0.1}
    found = []
    for name, W in cases.items():
        sigma = call(power_iteration, W, 100)
        expect_tensor(f"power_iteration({name})", torch.as_tensor(sigma), shape=(),
                      hint="Return σ = uᵀ W v as a 0-d tensor.")
        want = torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), 2)
        if close(sigma, torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), "fro"), rtol=1e-3):
            raise CheckError(f"for {name} you returned the Frobenius norm; power iteration finds the largest "
                             "singular value, the spectral norm.")
        expect_close(f"σ of {name}", sigma, want, rtol=1e-3,
                     hint="Reshape W to [out, -1]; repeat v = normalize(Wᵀu), u = normalize(W v); σ = uᵀ W v.")
        found.append(float(sigma))
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(3, 16, 5))
    with torch.no_grad():
        for _ in range(50):                           # each training-mode forward runs one power iteration
            conv(torch.zeros(1, 3, 5, 5))
    original = conv.parametrizations.weight.original
    pytorch_sigma = (original.norm() / conv.weight.norm()).detach()
    expect_close("σ against torch's spectral_norm parametrization", call(power_iteration, original, 100),
                 pytorch_sigma, rtol=1e-3)
    passed("check_power_iteration", f"σ = {found[0]:.4f} and {found[1]:.4f}, equal to torch.linalg.matrix_norm(W, 2); "
                                    f"PyTorch's parametrization divides by {float(pytorch_sigma):.4f}")


class _Counting:
    """Wrap an optimizer to count its steps."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer, self.steps = optimizer, 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.steps += 1
        self.optimizer.step()


def check_gan_iteration(gan_iteration_fn: Callable) -> None:
    """``gan_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_train_iters)``."""
    for d_train_iters in (1, 3):
        torch.manual_seed(0)
        G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        data = [torch.randn(8, 2, generator=torch.Generator().manual_seed(i)) + 2 for i in range(6)]
        taken = []

        def batches(source):
            for x in source:
                taken.append(x)
                yield (x,)

        def noise(n):
            return (torch.randn(n, 4),)

        opt_g, opt_d = _Counting(torch.optim.SGD(G.parameters(), 0.1)), _Counting(torch.optim.SGD(D.parameters(), 0.1))
        torch.manual_seed(1)
        out = call(gan_iteration_fn, G, D, opt_g, opt_d, batches(data), noise, lsgan_d_loss, lsgan_g_loss,
                   d_train_iters, name="gan_iteration")
        expect(isinstance(out, dict) and {"d_loss", "g_loss"} <= set(out),
               "gan_iteration should return a dict with the keys 'd_loss' and 'g_loss'.")
        expect(opt_d.steps == d_train_iters, f"with d_train_iters={d_train_iters}, opt_d stepped {opt_d.steps} times.")
        expect(opt_g.steps == 1, f"opt_g stepped {opt_g.steps} times; G is updated once per iteration.")
        expect(len(taken) == d_train_iters, f"with d_train_iters={d_train_iters} you drew {len(taken)} real batches: "
                                            "take a fresh batch, next(batches), for each D step.")
        torch.manual_seed(1)
        want = gan_iteration(G_ref, D_ref, torch.optim.SGD(G_ref.parameters(), 0.1),
                             torch.optim.SGD(D_ref.parameters(), 0.1), iter([(x,) for x in data]), noise,
                             lsgan_d_loss, lsgan_g_loss, d_train_iters)
        hint = ("Per D step: fakes from fresh noise without gradient to G, d_loss(D(x), D(fake)), update D; "
                "then fresh noise for the G step: g_loss(D(G(z))), update G.")
        expect_close(f"d_loss (d_train_iters={d_train_iters}, the last D step)", out["d_loss"], want["d_loss"], hint=hint)
        expect_close(f"g_loss (d_train_iters={d_train_iters})", out["g_loss"], want["g_loss"], hint=hint)
        for name, mine, ref in (("D", D, D_ref), ("G", G, G_ref)):
            same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(mine.parameters(), ref.parameters()))
            expect(same, f"after the iteration {name}'s weights differ from the reference's. {hint}")
    passed("check_gan_iteration")
