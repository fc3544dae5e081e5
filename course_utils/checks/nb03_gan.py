"""Self-checks for notebook 03 (the GAN minimax loop)."""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ..losses import d_loss_bce, g_loss_nonsaturating, g_loss_saturating
from ..models.gan import MLPDiscriminator, MLPGenerator
from ._core import CheckError, call, close, count_parameters, expect, expect_close, expect_tensor, passed


def check_gan_losses(d_loss: Callable, g_loss: Callable) -> None:
    """``d_loss(real_logits, fake_logits)`` and the non-saturating ``g_loss(fake_logits)``, on logits."""
    g = torch.Generator().manual_seed(0)
    real, fake = 2 * torch.randn(8, 1, generator=g), 2 * torch.randn(8, 1, generator=g)
    got_d = call(d_loss, real, fake)
    expect_tensor("d_loss(...)", got_d, shape=(), hint="Average over the batch: return a scalar.")
    swapped = d_loss_bce(fake, real)
    hint = ("You swapped the targets: real samples get target 1, fakes target 0." if close(got_d, swapped)
            else "d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0), each averaged over the batch.")
    expect_close("d_loss", got_d, d_loss_bce(real, fake), hint=hint)

    got_g = call(g_loss, fake)
    expect_tensor("g_loss(...)", got_g, shape=())
    if close(got_g, g_loss_saturating(fake)):
        expect(False, "g_loss is the saturating loss log(1 - D(G(z))): use the non-saturating "
                      "-log D(G(z)) = BCE(D(G(z)), 1).")
    expect_close("g_loss", got_g, g_loss_nonsaturating(fake), hint="g_loss = BCE(D(G(z)), target 1).")

    extreme = torch.tensor([[100.0], [-100.0]])
    for name, value in (("d_loss", call(d_loss, extreme, -extreme)), ("g_loss", call(g_loss, -extreme))):
        expect(bool(torch.isfinite(value)), f"{name} is {value.item()} for logits of ±100: compute it from logits "
                                            "with binary_cross_entropy_with_logits, not log(sigmoid(...)).")
    expect_close("d_loss for logits ±100", call(d_loss, extreme, -extreme), d_loss_bce(extreme, -extreme))
    passed("check_gan_losses")


def check_mlp_gan(Generator: type, Discriminator: type) -> None:
    """``Generator(noise_dim)``: ``[B, noise_dim] → [B, 1, 28, 28]`` in (-1, 1); ``Discriminator()``:
    ``[B, 1, 28, 28] → [B, 1]`` logits."""
    torch.manual_seed(0)
    G = call(Generator, 100, name="Generator.__init__")
    D = call(Discriminator, name="Discriminator.__init__")
    want_g = count_parameters(MLPGenerator(100, (1, 28, 28)))
    want_d = count_parameters(MLPDiscriminator((1, 28, 28)))
    expect(count_parameters(G) == want_g, f"Generator(100) has {count_parameters(G):,} parameters, expected "
                                          f"{want_g:,}: Linear 100→256→512→1024→784 with BatchNorm1d on the hidden layers.")
    expect(count_parameters(D) == want_d, f"Discriminator() has {count_parameters(D):,} parameters, expected "
                                          f"{want_d:,}: Linear 784→512→256→1.")
    z = torch.randn(16, 100)
    x = call(G, z, name="Generator.forward")
    expect_tensor("G(z)", x, shape=(16, 1, 28, 28), hint="Reshape the 784 outputs to [B, 1, 28, 28].")
    expect(bool(x.abs().max() < 1) and bool(x.min() < 0),
           "G(z) should lie in (-1, 1), like the images scaled to [-1, 1]: end with tanh.")
    logits = call(D, x, name="Discriminator.forward")
    expect_tensor("D(G(z))", logits, shape=(16, 1), hint="One logit per image: flatten the image first.")
    expect(not any(isinstance(m, nn.Sigmoid) for m in D.modules()),
           "the Discriminator ends with a sigmoid: return logits, the losses apply the sigmoid stably.")
    expect(any(isinstance(m, nn.LeakyReLU) for m in D.modules()),
           "use LeakyReLU(0.2) in the Discriminator, so that negative pre-activations still pass gradient to G.")
    logits.sum().backward()
    missing = [n for n, p in list(G.named_parameters()) + list(D.named_parameters()) if p.grad is None]
    expect(not missing, f"no gradient reaches {missing}.")
    passed("check_mlp_gan", f"G: {want_g:,} parameters, D: {want_d:,} parameters")


def _toy_models(num_classes: int = 0):
    torch.manual_seed(0)
    G = MLPGenerator(4, (2,), hidden=(16,), num_classes=num_classes, batch_norm=False, tanh_output=False)
    D = MLPDiscriminator((2,), hidden=(16,), num_classes=num_classes)
    return G, D


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b.detach()) for a, b in zip(before, module.parameters()))


def _call_with_hint(hint: str, fn: Callable, *args):
    try:
        return call(fn, *args)
    except CheckError as err:
        raise CheckError(f"{err}{hint}") from err.__cause__


def check_gan_steps(d_step: Callable, g_step: Callable) -> None:
    """``d_step(G, D, opt_d, real, g_inputs, d_loss)`` and ``g_step(G, D, opt_g, g_inputs, g_loss)``."""
    for num_classes in (0, 3):
        G, D = _toy_models(num_classes)
        opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
        g = torch.Generator().manual_seed(1)
        x, z = torch.randn(8, 2, generator=g), torch.randn(8, 4, generator=g)
        y = torch.randint(max(num_classes, 1), (8,), generator=g)
        real, g_inputs = ((x, y), (z, y)) if num_classes else ((x,), (z,))
        what = "a conditional GAN" if num_classes else "an unconditional GAN"
        extra = (" Pass the labels on: D(*real) for the real batch and D(fake, *g_inputs[1:]) for the fakes."
                 if num_classes else "")

        with torch.no_grad():
            fake = G(*g_inputs)
            expected_d = d_loss_bce(D(*real), D(fake, *g_inputs[1:]))
        G_before, D_before = _params(G), _params(D)
        out = _call_with_hint(extra, d_step, G, D, opt_d, real, g_inputs, d_loss_bce)
        expect(isinstance(out, dict) and "d_loss" in out, "d_step should return a dict with the key 'd_loss'.")
        expect_close(f"d_loss returned by d_step ({what})", out["d_loss"], expected_d,
                     hint="Score real and fake with D *before* the update, using d_loss(real_logits, fake_logits)."
                          + extra)
        expect(_changed(D_before, D), "d_step did not update D: call opt_d.zero_grad(), loss.backward(), opt_d.step().")
        expect(not _changed(G_before, G), "d_step changed G: only opt_d may step here.")
        expect(all(p.grad is None or not p.grad.any() for p in G.parameters()),
               "d_step sent gradients into G: make the fakes without gradient (torch.no_grad() or .detach()).")

        G_copy, D_copy = copy.deepcopy(G), copy.deepcopy(D)
        with torch.no_grad():
            expected_g = g_loss_nonsaturating(D_copy(G_copy(*g_inputs), *g_inputs[1:]))
        G_before, D_before = _params(G), _params(D)
        out = _call_with_hint(extra, g_step, G, D, opt_g, g_inputs, g_loss_nonsaturating)
        expect(isinstance(out, dict) and "g_loss" in out, "g_step should return a dict with the key 'g_loss'.")
        expect_close(f"g_loss returned by g_step ({what})", out["g_loss"], expected_g,
                     hint="g_loss(D(G(z))) with fresh fakes, computed before the update." + extra)
        expect(_changed(G_before, G), "g_step did not update G: opt_g.zero_grad(), loss.backward(), opt_g.step().")
        expect(not _changed(D_before, D), "g_step changed D: only opt_g may step here.")
    passed("check_gan_steps")
