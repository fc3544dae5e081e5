"""Self-checks for notebook 05 (Wasserstein GAN: critic and generator losses, clipping, gradient penalty).

The mistakes they name:

* ``check_wgan_losses``: the wrong sign of either loss, a sigmoid or a log on the scores (BCE habits: caught on
  the values and, at extreme scores, on the gradients), a sum instead of a mean, a detached or float result.
* ``check_clip_weights``: a copy instead of an in-place clamp (the optimizer would keep the old tensors), a
  missing ``torch.no_grad()``, the clip argument ignored, only the ``.weight`` tensors or only the top-level
  layers clipped, the gradients clipped instead of the weights, a wrong lower bound.
* ``check_gradient_penalty``: the interpolates are watched through the critic: one ε for the whole batch, one ε
  per element instead of per sample, ε not uniform on [0, 1], the penalty at the real (or fake) points only; then
  the value: the squared norm ‖∇f‖², a per-channel instead of a per-sample norm, a one-sided penalty, a missing or
  ignored weight λ, a sum over the batch; the graph: no ``create_graph=True``; the device: ε made on the CPU
  (tried on PyTorch's "meta" device, which fails where a GPU would).
* ``check_wgan_iteration`` (the n_critic loop, called twice with stale gradients planted): one real batch reused
  for all critic steps, a missing ``zero_grad``, fakes with gradient to G during the critic steps, clipping once
  per iteration or before the step instead of after every critic update, the penalty left out, the generator
  step on detached fakes, the sign of the reported Wasserstein estimate, the wrong number of steps, floats.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ..losses import wgan_critic_loss, wgan_generator_loss
from ..training import wgan_iteration
from ._behaviour import Watch, plant, stale, touched
from ._core import CheckError, call, close, expect, expect_close, expect_tensor, passed


def _scores(*values: float) -> torch.Tensor:
    return torch.tensor(values).view(-1, 1).requires_grad_(True)


def check_wgan_losses(critic_loss: Callable, generator_loss: Callable) -> None:
    """``critic_loss(real_scores, fake_scores)`` and ``generator_loss(fake_scores)`` on raw scores ``[B, 1]``."""
    g = torch.Generator().manual_seed(0)
    real = (torch.randn(16, 1, generator=g) + 1).requires_grad_(True)
    fake = (torch.randn(16, 1, generator=g) - 1).requires_grad_(True)
    got = call(critic_loss, real, fake)
    expect_tensor("critic_loss(...)", got, shape=(), hint="Average over the batch: return a 0-d tensor.")
    r, f = real.detach(), fake.detach()
    want = wgan_critic_loss(r, f)
    if close(got, -want):
        raise CheckError("critic_loss has the wrong sign: the critic *maximises* E f(x) − E f(G(z)), so it "
                         "minimises E f(G(z)) − E f(x).")
    if close(got, wgan_critic_loss(torch.sigmoid(r), torch.sigmoid(f))) or \
            close(got, wgan_critic_loss(torch.log(torch.sigmoid(r)), torch.log(torch.sigmoid(f)))) or \
            close(got, -wgan_critic_loss(torch.log(torch.sigmoid(r)), torch.log(torch.sigmoid(f)))):
        raise CheckError("critic_loss applies a sigmoid or a log: the critic's scores are used raw, no probabilities.")
    if close(got, len(r) * want):
        raise CheckError("critic_loss sums over the batch: the expectations are means.")
    expect_close("critic_loss", got, want, hint="critic_loss = E f(G(z)) − E f(x), each expectation a batch mean.")
    expect(got.requires_grad, "critic_loss passes no gradient to the scores (.item(), .detach() or a new tensor?).")
    grad_real, grad_fake = torch.autograd.grad(got, (real, fake))
    expect_close("∂ critic_loss / ∂ f(x)", grad_real, torch.full_like(r, -1 / len(r)),
                 hint="Each real score gets −1/B: the loss is linear in the scores.")
    expect_close("∂ critic_loss / ∂ f(G(z))", grad_fake, torch.full_like(f, 1 / len(f)))
    extreme_real, extreme_fake = _scores(30.0, -40.0, 120.0), _scores(-30.0, 50.0, -120.0)
    at_extremes = call(critic_loss, extreme_real, extreme_fake)
    expect_tensor("critic_loss at scores of ±120", at_extremes, shape=())
    grads = torch.autograd.grad(at_extremes, (extreme_real, extreme_fake))
    expect_close("∂ critic_loss / ∂ f(x) at scores of ±120", grads[0], torch.full((3, 1), -1 / 3),
                 hint="The Wasserstein loss never saturates: nothing squashes the scores.")

    got_g = call(generator_loss, fake)
    expect_tensor("generator_loss(...)", got_g, shape=(), hint="Average over the batch: return a 0-d tensor.")
    want_g = wgan_generator_loss(f)
    if close(got_g, -want_g):
        raise CheckError("generator_loss has the wrong sign: G wants the critic to score its samples high, "
                         "so it minimises −E f(G(z)).")
    if close(got_g, -torch.log(torch.sigmoid(f)).mean()) or close(got_g, torch.log(1 - torch.sigmoid(f)).mean()):
        raise CheckError("generator_loss applies a sigmoid and a log (a GAN's loss): use the raw scores, −E f(G(z)).")
    if close(got_g, len(f) * want_g):
        raise CheckError("generator_loss sums over the batch: take the mean.")
    expect_close("generator_loss", got_g, want_g, hint="generator_loss = −E f(G(z)), a batch mean.")
    expect(got_g.requires_grad, "generator_loss passes no gradient to the scores (.item() or .detach()?).")
    (grad_g,) = torch.autograd.grad(got_g, fake)
    expect_close("∂ generator_loss / ∂ f(G(z))", grad_g, torch.full_like(f, -1 / len(f)))
    passed("check_wgan_losses")


def _critic() -> nn.Module:
    """A critic with nested layers, weights and biases partly outside [-0.01, 0.01]."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2)), nn.Linear(8, 1))
    critic.register_parameter("scale", nn.Parameter(torch.tensor([0.03, -0.002])))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(0.1).add_(torch.randn_like(p) * 0.02)
    return critic


def check_clip_weights(clip_weights: Callable) -> None:
    """``clip_weights(module, clip)``: every parameter of ``module`` (nested ones too) into ``[-clip, clip]``,
    in place."""
    critic = _critic()
    for p in critic.parameters():
        p.grad = torch.full_like(p, 0.5)                 # gradients are not weights: they must stay as they are
    params = list(critic.parameters())
    before = [p.detach().clone() for p in params]
    try:
        clip_weights(critic, 0.01)
    except NotImplementedError:
        call(clip_weights, critic, 0.01)
    except RuntimeError as err:
        if "leaf Variable" in str(err):
            raise CheckError("clip_weights modifies parameters that require gradients while autograd records: "
                             "clamp them inside `with torch.no_grad():`.") from None
        raise CheckError(f"`clip_weights` raised RuntimeError: {err}") from err
    except Exception:
        call(clip_weights, critic, 0.01)
    expect(all(a is b for a, b in zip(params, critic.parameters())),
           "clip_weights replaced the parameters: the optimizer still holds the old ones. Clamp them in place "
           "(a Tensor method whose name ends with _), inside torch.no_grad().")
    expect(all(p.requires_grad for p in critic.parameters()), "after clipping some parameters no longer require "
                                                               "gradients: only their values should change.")
    expect(all(bool((p.grad == 0.5).all()) for p in critic.parameters()),
           "clip_weights changed the gradients: clip the parameters' values, not their .grad.")
    unclipped = [name for name, p in critic.named_parameters() if not bool(p.abs().max() <= 0.01 + 1e-9)]
    if unclipped:
        kinds = sorted({"a bias" if n.endswith("bias") else "a parameter of the module itself" if "." not in n
                        else "a nested layer's weight" if n.count(".") > 1 else "a layer's weight" for n in unclipped})
        raise CheckError(f"after clip_weights(critic, 0.01) these parameters still exceed 0.01: {unclipped} "
                         f"({', '.join(kinds)}). Clip every parameter: critic.parameters() walks them all.")
    for name, p, old in zip([n for n, _ in critic.named_parameters()], critic.parameters(), before):
        expect_close(f"{name} after clipping", p, old.clamp(-0.01, 0.01),
                     hint="The interval is symmetric, [-c, c]: values inside stay as they are, those outside become ±c.")
    call(clip_weights, critic, 0.005)
    expect(all(bool(p.abs().max() <= 0.005 + 1e-9) for p in critic.parameters()), "use the clip argument, not 0.01.")
    passed("check_clip_weights")


class _Linear(nn.Module):
    """f(x) = w · flatten(x) + b: its gradient is w everywhere, so the penalty is λ(‖w‖ − 1)² exactly."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w[:, None] + 0.3


class _HalfSquare(nn.Module):
    """f(x) = ½‖x‖²: its gradient at x̂ is x̂ itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(1, keepdim=True)


class _Spy(nn.Module):
    """Remembers the points a critic is evaluated at."""

    def __init__(self, critic: nn.Module) -> None:
        super().__init__()
        self.critic, self.seen = critic, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.critic(x)


def _epsilons(spy: _Spy, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The least-squares ε of each interpolate x̂ ≈ x̃ + ε·(x − x̃) the critic saw, ``[B]``, and the largest
    relative distance of an x̂ from its segment (0 when one ε per sample explains x̂)."""
    points = [x for x in spy.seen if x.shape == real.shape]
    expect(bool(points), f"the critic was never evaluated on a batch shaped like the inputs {list(real.shape)}: "
                         "evaluate it at the interpolates x̂.")
    x_hat = points[-1].flatten(1).double()
    x, tilde = real.flatten(1).double(), fake.flatten(1).double()
    direction = x - tilde
    eps = ((x_hat - tilde) * direction).sum(1) / direction.pow(2).sum(1)
    residual = (x_hat - tilde - eps[:, None] * direction).norm(dim=1) / direction.norm(dim=1)
    return eps, float(residual.max())


def _check_interpolates(found: tuple[torch.Tensor, float], exact: bool) -> None:
    e, off_segment = found
    if off_segment < 1e-4 and bool(((e - 1).abs() < 1e-5).all()):
        raise CheckError("the penalty is taken at the real samples only: interpolate x̂ = ε·x + (1 − ε)·G(z) with "
                         "ε ~ U[0, 1] drawn per sample.")
    if off_segment < 1e-4 and bool((e.abs() < 1e-5).all()):
        raise CheckError("the penalty is taken at the fake samples only: interpolate between real and fake.")
    if off_segment > 1e-4:
        raise CheckError("x̂ is not ε·x + (1 − ε)·G(z) with one ε per sample: some x̂ lies off the segment from G(z) "
                         f"to x (by {100 * off_segment:.0f} % of its length), as with one ε per element "
                         "(torch.rand_like(real)). The ε of a sample must broadcast over its pixels: shape [B, 1, …, 1].")
    if float(e.max() - e.min()) < 1e-6:
        raise CheckError(f"every sample of the batch uses the same ε = {float(e[0]):.3f}: draw one ε ~ U[0, 1] per "
                         "sample, a tensor of shape [B, 1, …, 1].")
    if bool((e < -1e-6).any()) or bool((e > 1 + 1e-6).any()):
        raise CheckError(f"the mixing weights ε range over [{float(e.min()):.2f}, {float(e.max()):.2f}]: x̂ must lie "
                         "between x and G(z), ε ~ U[0, 1] (torch.rand, not torch.randn).")
    if exact:
        m, v = float(e.mean()), float(e.var())
        expect(abs(m - 0.5) < 0.03 and abs(v - 1 / 12) < 0.01,
               f"over 2,000 samples your ε has mean {m:.3f} and variance {v:.4f}; ε ~ U[0, 1] has 0.5 and 1/12 = "
               "0.0833.")


def _check_device(gradient_penalty: Callable) -> None:
    """Run the penalty on PyTorch's shape-only "meta" device: a tensor made on the CPU (ε without a device)
    cannot meet the batches there, as it could not on a GPU. Other meta-device limits are not the student's
    mistake and are ignored."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1)).to("meta")
    real, fake = torch.empty(4, 3, 2, 2, device="meta"), torch.empty(4, 3, 2, 2, device="meta")
    try:
        out = gradient_penalty(critic, real, fake)
    except Exception as err:                             # noqa: BLE001 - only device mismatches are reported
        if "device" in str(err):
            raise CheckError("with the batches on another device than the CPU (here PyTorch's shape-only 'meta' "
                             "device, as on a GPU) the penalty fails: some tensor, probably ε, is created on the "
                             "CPU. Create it on the batches' device (the device argument of torch.rand, or a "
                             "*_like function).") from None
        return
    if isinstance(out, torch.Tensor):
        expect(out.device.type == "meta", f"for batches on the 'meta' device the penalty came back on {out.device}: "
                                          "keep every tensor on the batches' device.")


def check_gradient_penalty(gradient_penalty: Callable) -> None:
    """``gradient_penalty(critic, real, fake, weight=10.0)``: λ E[(‖∇f(x̂)‖₂ − 1)²] on random interpolates."""
    torch.manual_seed(0)
    w = torch.randn(3 * 4 * 4)
    w = 2.5 * w / w.norm()                               # ‖w‖ = 2.5 → penalty 10 · 1.5² = 22.5
    critic = _Linear(w.clone())
    spy = _Spy(critic)
    real, fake = torch.randn(32, 3, 4, 4), torch.randn(32, 3, 4, 4)
    got = call(gradient_penalty, spy, real, fake)
    expect_tensor("gradient_penalty(linear critic, ...)", got, shape=(), hint="Average over the batch: a 0-d tensor.")
    _check_interpolates(_epsilons(spy, real, fake), exact=False)
    if close(got, torch.tensor(10 * (2.5 ** 2 - 1) ** 2)) or close(got, torch.tensor(10 * (2.5 ** 2 - 1))):
        raise CheckError("you penalised the squared norm ‖∇f‖²: take the norm itself, (‖∇f(x̂)‖₂ − 1)².")
    if close(got, torch.tensor(1.5 ** 2)):
        raise CheckError("the penalty lacks its weight: multiply by λ (weight=10 by default).")
    per_channel = 10 * (w.view(3, 4, 4).norm(dim=0) - 1).pow(2).mean()
    if close(got, per_channel, rtol=1e-3):
        raise CheckError("the norm is taken over dim=1 only (the channels), one norm per pixel: the penalty wants one "
                         "norm per sample, over all of its dimensions; flatten each sample's gradient to [B, -1] first.")
    if close(got, torch.tensor(32 * 22.5)):
        raise CheckError("the penalty sums over the batch: the expectation over x̂ is a batch mean.")
    expect_close("the penalty of f(x) = w·x with ‖w‖ = 2.5, λ = 10", got, torch.tensor(22.5), rtol=1e-3,
                 hint="The gradient of a linear critic is w at every x̂, so the penalty must be 10·(2.5 − 1)² = 22.5. "
                      "The norm is taken per sample, over all of its dimensions at once.")
    try:
        got.backward()
    except RuntimeError:
        raise CheckError("the penalty cannot be differentiated with respect to the critic's weights: the gradient "
                         "must itself be part of the graph (see torch.autograd.grad's create_graph).") from None
    expect(critic.w.grad is not None and bool(critic.w.grad.abs().sum() > 0),
           "the penalty passes no gradient to the critic's weights: see torch.autograd.grad's create_graph.")
    expect_close("d penalty / d w", critic.w.grad, 2 * 10 * 1.5 * w / 2.5, rtol=1e-3,
                 hint="With create_graph=True the penalty is differentiable in the critic's weights: 2λ(‖w‖ − 1) w/‖w‖.")
    expect_close("gradient_penalty(..., weight=1)", call(gradient_penalty, _Linear(w.clone()), real, fake, weight=1.0),
                 torch.tensor(2.25), rtol=1e-3, hint="Use the weight argument.")
    small = call(gradient_penalty, _Linear(0.2 * w.clone()), real, fake)        # ‖w‖ = 0.5
    if close(small, torch.tensor(0.0), atol=1e-6):
        raise CheckError("for a critic with ‖∇f‖ = 0.5 the penalty is 0: you penalise only norms above 1. WGAN-GP's "
                         "penalty is two-sided, (‖∇f‖ − 1)², also pulling smaller norms up to 1.")
    expect_close("the penalty of f(x) = w·x with ‖w‖ = 0.5, λ = 10", small, torch.tensor(2.5), rtol=1e-3)

    _check_device(gradient_penalty)

    a = 3.0                                              # real = +a·u, fake = −a·u (‖u‖ = 1): ‖x̂‖ = a|2ε − 1|
    u = torch.ones(2000, 4) / 2
    spy = _Spy(_HalfSquare())
    value = float(call(gradient_penalty, spy, a * u, -a * u, weight=1.0).detach())
    _check_interpolates(_epsilons(spy, a * u, -a * u), exact=True)
    expect(abs(value - (a * a / 3 - a + 1)) < 0.1,
           f"with f(x) = ½‖x‖², x = 3u and G(z) = −3u (‖u‖ = 1) the penalty with λ = 1 should average "
           f"E[(3|2ε − 1| − 1)²] = 1.0 over ε ~ U[0, 1], got {value:.3f}.")
    passed("check_gradient_penalty", "10·(‖w‖ − 1)² = 22.5 for ‖w‖ = 2.5, and E over random interpolates")


def _toy_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in for the gradient penalty: differentiable in the critic, draws no random numbers."""
    return 0.1 * critic(0.5 * (real + fake)).pow(2).mean()


def check_wgan_iteration(iteration_fn: Callable) -> None:
    """``iteration(G, D, opt_g, opt_d, batches, noise, critic_loss, generator_loss, n_critic, clip=None,
    penalty=None)``: Algorithm 1 of Arjovsky et al. (2017) with ``clip``, of Gulrajani et al. (2017) with
    ``penalty``. Called twice per setting, with stale gradients planted before each call."""
    hint = ("Per critic step: a fresh real batch, fakes from fresh noise without gradient to G, critic_loss(f(x), "
            "f(fake)) plus the penalty if one is given, zero_grad, backward, step, then clip if asked; after the "
            "n_critic steps one generator step on generator_loss(f(G(z))) for fresh z.")
    settings = {"clip=0.01": dict(clip=0.01), "with a penalty": dict(penalty=_toy_penalty)}
    for setting, options in settings.items():
        torch.manual_seed(0)
        G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        data = [torch.randn(8, 2, generator=torch.Generator().manual_seed(i)) + 2 for i in range(10)]
        taken = []

        def batches(source):
            for x in source:
                taken.append(x)
                yield (x,)

        def noise(n):
            return (torch.randn(n, 4),)

        critic_steps = []

        def before_d_step():
            if stale(D.parameters()):
                raise CheckError("the critic was updated with stale gradients: call opt_d.zero_grad() before each "
                                 "backward.")
            if touched(G.parameters()):
                raise CheckError("the critic's loss sent gradients into G: make the critic step's fakes without "
                                 "gradient (under torch.no_grad() or with .detach()).")
            if "clip" in options and critic_steps and any(bool(p.abs().max() > 0.01 + 1e-7) for p in D.parameters()):
                raise CheckError("at the second critic step the critic's weights exceed clip = 0.01: clip them after "
                                 "every critic update (clip_weights(D, clip)), not once per iteration or before the step.")
            critic_steps.append(1)

        def before_g_step():
            if stale(G.parameters()):
                raise CheckError("G was updated with stale gradients: call opt_g.zero_grad() before its backward.")
            if not touched(G.parameters()):
                raise CheckError("at opt_g.step() G has no gradient: compute generator_loss on f(G(z)) for fresh z, "
                                 "with gradient, then backward.")

        opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.05), torch.optim.SGD(D.parameters(), 0.05)
        ref_opts = torch.optim.SGD(G_ref.parameters(), 0.05), torch.optim.SGD(D_ref.parameters(), 0.05)
        reference = wgan_iteration(wgan_critic_loss, wgan_generator_loss, **options)
        watch_g, watch_d = Watch(opt_g, before_g_step), Watch(opt_d, before_d_step)
        source, ref_source = batches(data), iter([(x,) for x in data])
        n_critic = 2
        try:
            for call_number in (1, 2):
                plant([*G.parameters(), *D.parameters()])
                taken.clear()
                critic_steps.clear()
                watch_g.steps = watch_d.steps = 0
                torch.manual_seed(call_number)
                try:
                    out = call(iteration_fn, G, D, opt_g, opt_d, source, noise, wgan_critic_loss, wgan_generator_loss,
                               n_critic, **options, name="wgan_training_iteration")
                except CheckError as err:
                    if "modified by an inplace operation" in str(err) and "clip" in options:
                        raise CheckError("the critic's weights were changed in place between its forward pass and its "
                                         "backward (clipping before the step?): clip after every critic update, "
                                         "once opt_d.step() has run.") from None
                    raise
                keys = ("wasserstein", "critic_loss", "gp", "g_loss")
                expect(isinstance(out, dict) and set(keys) <= set(out),
                       f"return a dict with the keys {', '.join(repr(k) for k in keys)}.")
                for key in keys:
                    expect(isinstance(out[key], torch.Tensor) and out[key].dim() == 0,
                           f"out['{key}'] is a {type(out[key]).__name__}; return 0-d tensors, not .item() floats: "
                           "train_gan logs and checks them as tensors.")
                expect(watch_d.steps == n_critic, f"with n_critic={n_critic}, opt_d stepped {watch_d.steps} times.")
                expect(watch_g.steps == 1, f"opt_g stepped {watch_g.steps} times; G is updated once per iteration.")
                expect(len(taken) == n_critic, f"with n_critic={n_critic} you drew {len(taken)} real batches: take a "
                                               "fresh batch, next(batches), for each critic step.")
                torch.manual_seed(call_number)
                want = reference(G_ref, D_ref, *ref_opts, ref_source, noise, None, None, n_critic)
                where = f"{setting}, call {call_number}"
                if close(out["wasserstein"], -want["wasserstein"]):
                    raise CheckError("out['wasserstein'] has the wrong sign: the critic's estimate of W₁ is "
                                     "E f(x) − E f(G(z)), the negative of the critic's loss.")
                if "penalty" in options:
                    expect(not close(out["gp"], torch.tensor(0.0), atol=1e-9),
                           f"out['gp'] is 0 although a penalty was given ({where}): add penalty(D, x, fake) to the "
                           "critic's loss and report it.")
                else:
                    expect_close(f"out['gp'] without a penalty ({where})", out["gp"], torch.tensor(0.0),
                                 hint="Without a penalty report a zero tensor.")
                for key in keys:
                    expect_close(f"{key} ({where})", out[key], want[key], hint=hint)
                for name, mine, ref in (("D", D, D_ref), ("G", G, G_ref)):
                    same_weights = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(mine.parameters(), ref.parameters()))
                    expect(same_weights, f"after the iteration ({where}) {name}'s weights differ from the "
                                         f"reference's. {hint}")
        finally:
            watch_g.remove()
            watch_d.remove()
    passed("check_wgan_iteration")
