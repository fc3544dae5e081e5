"""Self-checks for notebook 03 (the GAN minimax loop; Goodfellow et al., 2014).

The mistakes each check names:

* ``check_gan_losses``: BCE computed on ``torch.sigmoid(logits)`` or as ``log(sigmoid(...))`` (the
  gradient at a logit of −30 is −0.094 instead of −1 and 0 at −120: the saturation the notebook warns
  about); a sigmoid before ``binary_cross_entropy_with_logits`` (double sigmoid); swapped targets;
  the saturating generator loss; a sign error; sums over the batch; the two D terms averaged instead
  of added; label smoothing; least squares instead of BCE; the targets created on the CPU.
* ``check_mlp_gan``: the wrong layers (parameter count); ReLU where LeakyReLU(0.2) is asked, or
  LeakyReLU with PyTorch's default slope 0.01; BatchNorm after the activation; no tanh (or a sigmoid)
  on G's output; a sigmoid at the end of D (a silent double sigmoid under BCE with logits); no
  flattening; unused layers.
* ``check_gan_steps``: steps that never call ``zero_grad`` (checked with stale gradients planted
  before each of two calls), that do not step, step the other player or train G in the D step (fakes
  not detached); fakes detached in the G step; labels not passed on (conditional GAN); a returned
  dict without every documented key, or with Python floats instead of tensors (``train_gan`` calls
  ``.detach()`` on them); values measured after the update.

Accepted as correct: ``F.binary_cross_entropy_with_logits``, ``nn.BCEWithLogitsLoss``, ``F.softplus``
or ``F.logsigmoid`` formulas; ``nn.Sequential`` or explicit layers, ``F.`` or ``nn.`` activations;
``.detach()`` or ``torch.no_grad()`` for the fakes; ``zero_grad()`` with or without ``set_to_none``.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import d_loss_bce, g_loss_nonsaturating, g_loss_saturating
from ..models.gan import MLPDiscriminator, MLPGenerator
from ..models.vae import transfer_parameters
from ._core import (CheckError, call, close, count_parameters, expect, expect_close, expect_same_device,
                    expect_tensor, parameter_shapes, passed, perturb, plant_gradients)

_EXTREME = torch.tensor([[-30.0], [-120.0], [0.0], [5.0]])


def _gradient(fn: Callable, *logits: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    inputs = [t.clone().requires_grad_() for t in logits]
    value = call(fn, *inputs)
    expect(isinstance(value, torch.Tensor) and value.dim() == 0, "the loss should be a 0-d tensor.")
    expect(bool(torch.isfinite(value)), f"the loss is {value.item()} for logits of ±30 and ±120: compute it "
                                        "from logits (F.binary_cross_entropy_with_logits), not as log(sigmoid(...)), "
                                        "which is log(0) = -inf there.")
    expect(value.requires_grad, "the loss carries no gradient: compute it with torch operations on the logits "
                                "(no .item(), .detach() or float()).")
    return value, torch.autograd.grad(value, inputs, allow_unused=True)


def _saturation_message(name: str, which: str, got: torch.Tensor, expected: torch.Tensor) -> str:
    return (f"the gradient of {name} with respect to {which} logits of −30 and −120 is "
            f"{got[0].item():.4f} and {got[1].item():.4f} per sample, expected {expected[0].item():.4f} and "
            f"{expected[1].item():.4f}: you computed the BCE from torch.sigmoid(logits) (or log(sigmoid)), "
            "which rounds to 0 or 1 and stops the gradient exactly where the player is most wrong. Compute it "
            "from the logits (F.binary_cross_entropy_with_logits, or F.logsigmoid / F.softplus).")


def check_gan_losses(d_loss: Callable, g_loss: Callable) -> None:
    """``d_loss(real_logits, fake_logits)`` and the non-saturating ``g_loss(fake_logits)``, on logits."""
    g = torch.Generator().manual_seed(0)
    real, fake = 2 * torch.randn(8, 1, generator=g), 2 * torch.randn(8, 1, generator=g)
    got_d = call(d_loss, real, fake)
    expect_tensor("d_loss(...)", got_d, shape=(), hint="Average over the batch: return a scalar.")
    expected_d = d_loss_bce(real, fake)
    bce = F.binary_cross_entropy_with_logits
    candidates = [
        (d_loss_bce(fake, real), "You swapped the targets: real samples get target 1, fakes target 0."),
        (expected_d / 2, "d_loss is half the expected value: it is the sum BCE(real, 1) + BCE(fake, 0), not the "
                         "mean of the two."),
        (8 * expected_d, "d_loss is 8 times too large: average each BCE over the batch, do not sum."),
        (bce(torch.sigmoid(real), torch.ones_like(real)) + bce(torch.sigmoid(fake), torch.zeros_like(fake)),
         "You applied a sigmoid before binary_cross_entropy_with_logits: it takes logits and applies the sigmoid "
         "itself (a double sigmoid)."),
        (bce(real, torch.full_like(real, 0.9)) + bce(fake, torch.zeros_like(fake)),
         "The real target is 0.9: use the plain targets 1 and 0 (label smoothing is a variant, not this loss)."),
        (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake)),
         "That is a least-squares (LSGAN) loss: this GAN uses the binary cross-entropy."),
        (-expected_d, "d_loss has the wrong sign: D minimises the BCE (it maximises V(D, G))."),
    ]
    hint = next((h for value, h in candidates if close(got_d, value)),
                "d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0), each averaged over the batch.")
    expect_close("d_loss", got_d, expected_d, hint=hint)

    got_g = call(g_loss, fake)
    expect_tensor("g_loss(...)", got_g, shape=())
    expected_g = g_loss_nonsaturating(fake)
    candidates = [
        (g_loss_saturating(fake), "g_loss is the saturating loss log(1 - D(G(z))): use the non-saturating "
                                  "-log D(G(z)) = BCE(D(G(z)), 1)."),
        (-expected_g, "g_loss has the wrong sign: G minimises -log D(G(z)) = BCE(D(G(z)), 1)."),
        (-bce(fake, torch.zeros_like(fake)), "g_loss is -BCE(D(G(z)), 0) = log(1 - D(G(z))): the saturating "
                                             "loss; use BCE(D(G(z)), 1)."),
        (8 * expected_g, "g_loss is 8 times too large: average over the batch, do not sum."),
        (bce(torch.sigmoid(fake), torch.ones_like(fake)), "You applied a sigmoid before "
                                                          "binary_cross_entropy_with_logits (a double sigmoid)."),
        (F.mse_loss(fake, torch.ones_like(fake)), "That is a least-squares (LSGAN) loss: this GAN uses the BCE."),
    ]
    hint = next((h for value, h in candidates if close(got_g, value)), "g_loss = BCE(D(G(z)), target 1).")
    expect_close("g_loss", got_g, expected_g, hint=hint)

    # extreme logits: values stay finite and the gradients do not saturate
    per_sample = len(_EXTREME)
    value, (grad_real, grad_fake) = _gradient(d_loss, _EXTREME, -_EXTREME)
    expect(bool(torch.isfinite(value)), f"d_loss is {value.item()} for logits of ±120: compute it from logits with "
                                        "binary_cross_entropy_with_logits, not log(sigmoid(...)).")
    want_real = -torch.sigmoid(-_EXTREME) / per_sample  # d/dl [-log sigmoid(l)] / B
    want_fake = torch.sigmoid(-_EXTREME) / per_sample   # d/dl [-log(1 - sigmoid(l))] / B at l = -_EXTREME
    expect(grad_real is not None and grad_fake is not None, "d_loss does not depend on both arguments.")
    if not close(grad_real, want_real, rtol=1e-3, atol=1e-6):
        raise CheckError(_saturation_message("d_loss", "real", grad_real * per_sample, want_real * per_sample))
    if not close(grad_fake, want_fake, rtol=1e-3, atol=1e-6):
        raise CheckError(_saturation_message("d_loss", "fake", -grad_fake * per_sample, -want_fake * per_sample)
                         .replace("logits of −30 and −120", "logits of +30 and +120"))
    expect_close("d_loss at logits −30, −120, 0, 5", value, d_loss_bce(_EXTREME, -_EXTREME), rtol=1e-4,
                 hint="Compute it from the logits (F.binary_cross_entropy_with_logits): log(sigmoid) saturates.")
    value, (grad,) = _gradient(g_loss, _EXTREME)
    expect(bool(torch.isfinite(value)), f"g_loss is {value.item()} for a logit of −120: compute it from logits with "
                                        "binary_cross_entropy_with_logits, not log(sigmoid(...)).")
    if grad is None or not close(grad, want_real, rtol=1e-3, atol=1e-6):
        raise CheckError(_saturation_message("g_loss", "fake", (grad if grad is not None else torch.zeros(4, 1))
                                             * per_sample, want_real * per_sample))
    expect_same_device("d_loss", d_loss, real, fake)
    expect_same_device("g_loss", g_loss, fake)
    passed("check_gan_losses")


def _variant_net(net: nn.Sequential, swap: dict[type, Callable[[nn.Module], nn.Module]],
                 bn_after_activation: bool = False, output: nn.Module | None = None) -> nn.Module:
    """A copy of a reference ``nn.Sequential`` (holding the student's parameters) with one mistake made."""
    layers = [swap.get(type(m), lambda m: m)(copy.deepcopy(m)) for m in net]
    if bn_after_activation:
        norms = [i for i, m in enumerate(layers) if isinstance(m, nn.BatchNorm1d)]
        for i in norms:
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    if output is not None:
        layers.append(output)
    return nn.Sequential(*layers)


def _leaky(slope: float) -> Callable[[nn.Module], nn.Module]:
    return lambda m: nn.LeakyReLU(slope)


def _compare_mlp(student: nn.Module, reference: nn.Module, inputs: torch.Tensor, name: str,
                 variants: dict[str, Callable[[torch.Tensor], torch.Tensor]], flatten: bool) -> None:
    with torch.no_grad():
        got = _call_with_hint(f"\n(The {name} receives images [B, 1, 28, 28]: flatten the image first.)"
                              if flatten else "", student, inputs)
    expect_tensor(f"{name}(...)", got)
    expected_shape = tuple(reference(inputs).shape)
    expect(tuple(got.shape) == expected_shape,
           f"{name} returns shape {list(got.shape)}, expected {list(expected_shape)}"
           + (": flatten the image first and return one logit per image." if flatten else
              ": reshape the 784 outputs to [B, 1, 28, 28]."))
    with torch.no_grad():
        same = transfer_parameters(student, reference, lambda: close(reference(inputs), got, rtol=1e-4, atol=1e-5),
                                   max_tries=36)
        if same:
            return
        for mistake, variant in variants.items():
            try:
                matches = close(variant(inputs), got, rtol=1e-4, atol=1e-5)
            except RuntimeError:  # a variant that does not apply to this architecture
                matches = False
            if matches:
                raise CheckError(f"the {name} {mistake}.")
    raise CheckError(f"the {name} computes something else than the architecture in its docstring (its parameters "
                     f"were loaded into the reference {name} and the outputs differ): check the order of the "
                     "layers, the activations and where BatchNorm sits.")


def check_mlp_gan(Generator: type, Discriminator: type) -> None:
    """``Generator(noise_dim)``: ``[B, noise_dim] → [B, 1, 28, 28]`` in (-1, 1); ``Discriminator()``:
    ``[B, 1, 28, 28] → [B, 1]`` logits. Each is compared with the reference MLP holding its parameters."""
    torch.manual_seed(0)
    G = call(Generator, 100, name="Generator.__init__")
    D = call(Discriminator, name="Discriminator.__init__")
    expect(isinstance(G, nn.Module) and isinstance(D, nn.Module), "Generator and Discriminator should be nn.Modules.")
    ref_g, ref_d = MLPGenerator(100, (1, 28, 28)), MLPDiscriminator((1, 28, 28))
    want_g, want_d = count_parameters(ref_g), count_parameters(ref_d)
    expect(count_parameters(G) == want_g, f"Generator(100) has {count_parameters(G):,} parameters, expected "
                                          f"{want_g:,}: Linear 100→256→512→1024→784 with BatchNorm1d on the hidden "
                                          f"layers (yours: {parameter_shapes(G)}).")
    expect(count_parameters(D) == want_d, f"Discriminator() has {count_parameters(D):,} parameters, expected "
                                          f"{want_d:,}: Linear 784→512→256→1, no BatchNorm "
                                          f"(yours: {parameter_shapes(D)}).")
    perturb(G), perturb(D, seed=1)
    G.train(), D.train(), ref_g.train()
    z = torch.randn(16, 100)
    g_net = ref_g.net

    def g_variant(**options):  # built when called: after the student's parameters are loaded
        return lambda z: _variant_net(g_net, **options)(z).view(-1, 1, 28, 28)

    g_variants = {
        "uses ReLU where LeakyReLU(0.2) is asked": g_variant(swap={nn.LeakyReLU: _leaky(0.0)}),
        "uses LeakyReLU with PyTorch's default slope 0.01: ask for negative_slope=0.2":
            g_variant(swap={nn.LeakyReLU: _leaky(0.01)}),
        "puts BatchNorm after the activation: the order is Linear → BatchNorm1d → LeakyReLU":
            g_variant(swap={}, bn_after_activation=True),
        "does not end with tanh: the images are scaled to [-1, 1], so G's last layer is tanh":
            g_variant(swap={nn.Tanh: lambda m: nn.Identity()}),
        "ends with a sigmoid: the images are scaled to [-1, 1], so G's last layer is tanh, not sigmoid":
            g_variant(swap={nn.Tanh: lambda m: nn.Sigmoid()}),
    }
    _compare_mlp(G, ref_g, z, "Generator", g_variants, flatten=False)
    with torch.no_grad():
        x = G(z)
    expect(bool(x.abs().max() < 1) and bool(x.min() < 0),
           "G(z) should lie in (-1, 1), like the images scaled to [-1, 1]: end with tanh.")

    d_net = ref_d.net
    d_variants = {
        "ends with a sigmoid: return logits, the losses apply the sigmoid stably (BCE with logits on a "
        "sigmoid output is a silent double sigmoid)": lambda x: _variant_net(d_net, swap={}, output=nn.Sigmoid())(x.flatten(1)),
        "uses ReLU where LeakyReLU(0.2) is asked: negative pre-activations must still pass gradient to G":
            lambda x: _variant_net(d_net, swap={nn.LeakyReLU: _leaky(0.0)})(x.flatten(1)),
        "uses LeakyReLU with PyTorch's default slope 0.01: ask for negative_slope=0.2":
            lambda x: _variant_net(d_net, swap={nn.LeakyReLU: _leaky(0.01)})(x.flatten(1)),
    }
    _compare_mlp(D, ref_d, x.detach(), "Discriminator", d_variants, flatten=True)
    logits = D(G(z))
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


def _expect_tensors(name: str, out, keys: tuple[str, ...]) -> None:
    expect(isinstance(out, dict), f"{name} should return a dict with the keys {list(keys)}, got {type(out).__name__}.")
    missing = [k for k in keys if k not in out]
    expect(not missing, f"{name} returned the keys {list(out)}; it should return {list(keys)} (missing {missing}).")
    for key in keys:
        value = out[key]
        if isinstance(value, (int, float)):
            raise CheckError(f"{name} returned {key!r} as the Python number {value!r}: return tensors (no .item() or "
                             "float()); train_gan calls .detach() on every value, which a number does not have.")
        expect(isinstance(value, torch.Tensor) and value.numel() == 1,
               f"{name}: {key!r} should be a one-element tensor, got {type(value).__name__}"
               + (f" of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else "") + ".")


def _sgd_update(before: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> list[torch.Tensor]:
    return [p - lr * g for p, g in zip(before, grads)]


def _same(params: list[torch.Tensor], module: nn.Module) -> bool:
    return all(torch.allclose(a, b.detach(), rtol=1e-5, atol=1e-6) for a, b in zip(params, module.parameters()))


def check_gan_steps(d_step: Callable, g_step: Callable) -> None:
    """``d_step(G, D, opt_d, real, g_inputs, d_loss)`` and ``g_step(G, D, opt_g, g_inputs, g_loss)``, each
    called twice with stale gradients planted, unconditional and conditional."""
    lr = 0.1
    for num_classes in (0, 3):
        G, D = _toy_models(num_classes)
        opt_g, opt_d = torch.optim.SGD(G.parameters(), lr), torch.optim.SGD(D.parameters(), lr)
        what = "a conditional GAN" if num_classes else "an unconditional GAN"
        extra = (" Pass the labels on: the real batch is scored with its labels, the fakes with the labels they "
                 "were generated from (the tail of g_inputs)." if num_classes else "")
        for call_number in (1, 2):
            g = torch.Generator().manual_seed(10 * call_number + num_classes)
            x, z = torch.randn(8, 2, generator=g), torch.randn(8, 4, generator=g)
            y = torch.randint(max(num_classes, 1), (8,), generator=g)
            real, g_inputs = ((x, y), (z, y)) if num_classes else ((x,), (z,))
            which = f"(call {call_number}, {what})"

            # --- D step: stale gradients in D (left by the previous G step), none in G
            reference_D = copy.deepcopy(D)
            with torch.no_grad():
                fake = G(*g_inputs)
            real_logits, fake_logits = reference_D(*real), reference_D(fake, *g_inputs[1:])
            expected_d = d_loss_bce(real_logits, fake_logits)
            grads = torch.autograd.grad(expected_d, list(reference_D.parameters()))
            D_before, G_before = _params(D), _params(G)
            stale = plant_gradients(D, seed=call_number)
            for p in G.parameters():
                p.grad = None
            out = _call_with_hint(extra, d_step, G, D, opt_d, real, g_inputs, d_loss_bce)
            _expect_tensors("d_step", out, ("d_loss", "D(x)", "D(G(z))"))
            expect_close(f"d_loss returned by d_step {which}", out["d_loss"], expected_d,
                         hint="Score real and fake with D *before* the update, using d_loss(real_logits, "
                              "fake_logits)." + extra)
            expect_close(f"'D(x)' returned by d_step {which}", out["D(x)"], torch.sigmoid(real_logits).mean(),
                         hint="'D(x)' is the mean of sigmoid(D's logits) on the real batch, before the update.")
            expect_close(f"'D(G(z))' returned by d_step {which}", out["D(G(z))"], torch.sigmoid(fake_logits).mean(),
                         hint="'D(G(z))' is the mean of sigmoid(D's logits) on the fakes, before the update.")
            expect(not _changed(G_before, G), "d_step changed G: only opt_d may step here.")
            expect(all(p.grad is None or not p.grad.any() for p in G.parameters()),
                   "d_step sent gradients into G: make the fakes without gradient (torch.no_grad() or .detach()).")
            expect(_changed(D_before, D), "d_step did not update D: opt_d.zero_grad() before loss.backward(), "
                                          "then opt_d.step().")
            if _same(_sgd_update(D_before, [a + b for a, b in zip(grads, stale)], lr), D):
                raise CheckError(f"d_step never clears D's old gradients {which}: the update used the gradients "
                                 "left by the previous step as well. Call opt_d.zero_grad() before backward().")
            expect(_same(_sgd_update(D_before, grads, lr), D),
                   f"d_step updated D {which}, but not by one optimizer step on the gradient of d_loss: compute the "
                   "loss once, zero the old gradients, backward, opt_d.step() (once)." + extra)

            # --- G step: stale gradients in G and in D
            reference_G, reference_D = copy.deepcopy(G), copy.deepcopy(D)
            expected_g = g_loss_nonsaturating(reference_D(reference_G(*g_inputs), *g_inputs[1:]))
            grads = torch.autograd.grad(expected_g, list(reference_G.parameters()))
            G_before, D_before = _params(G), _params(D)
            stale = plant_gradients(G, seed=100 + call_number)
            plant_gradients(D, seed=200 + call_number)
            out = _call_with_hint(extra, g_step, G, D, opt_g, g_inputs, g_loss_nonsaturating)
            _expect_tensors("g_step", out, ("g_loss",))
            expect_close(f"g_loss returned by g_step {which}", out["g_loss"], expected_g,
                         hint="g_loss(D(G(z))) with fresh fakes, computed before the update." + extra)
            expect(not _changed(D_before, D), "g_step changed D: only opt_g may step here.")
            expect(_changed(G_before, G), "g_step did not update G: the fakes must keep their gradient (no "
                                          "torch.no_grad() or .detach() here), then zero_grad, backward, opt_g.step().")
            if _same(_sgd_update(G_before, [a + b for a, b in zip(grads, stale)], lr), G):
                raise CheckError(f"g_step never clears G's old gradients {which}: the update used the gradients "
                                 "left by the previous step as well. Call opt_g.zero_grad() before backward().")
            expect(_same(_sgd_update(G_before, grads, lr), G),
                   f"g_step updated G {which}, but not by one optimizer step on the gradient of g_loss: score fresh "
                   "fakes with D, zero the old gradients, backward, opt_g.step() (once)." + extra)
    passed("check_gan_steps")
