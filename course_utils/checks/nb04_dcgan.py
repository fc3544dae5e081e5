"""Self-checks for notebook 04 (DCGAN with spectral normalisation, LSGAN losses, the iteration).

Each check traces what the student's code does and compares it with the reference implementations
(:mod:`course_utils.models.dcgan`, :mod:`course_utils.losses`, :func:`course_utils.training.gan_iteration`).
The mistakes they name:

* ``check_dc_discriminator``: wrong channels, kernels, strides or paddings; a missing BatchNorm, or BatchNorm
  after the activation or on the last conv; ReLU (or PyTorch's default slope 0.01) where LeakyReLU(0.2) is asked;
  anything applied to the image before the first conv; a sigmoid in ``forward`` (a silent double sigmoid under a
  loss on raw outputs); spectral norm missing, or present when not asked (checked by the convs' σ after a few
  training-mode passes, so ``torch.nn.utils.spectral_norm`` and the parametrization both pass).
* ``check_dc_generator`` (nearest or bilinear ×2 upsampling both pass): ConvTranspose2d where upsample + conv is asked; the conv before the upsampling; BatchNorm
  after the activation; LeakyReLU where ReLU is asked; no ReLU after the linear layer; a sigmoid or no tanh at the
  end; parameters that receive no gradient.
* ``check_lsgan_losses``: the missing ½, swapped targets, a sigmoid on the outputs, a sum instead of a mean, a
  generator pushing its samples towards the fake target, a detached or float result (checked on the gradients).
  The 0-1 coding (a, b, c) = (0, 1, 1) and Mao et al.'s (−1, 1, 0) both pass.
* ``check_power_iteration``: ``torch.linalg.matrix_norm``/``svd`` instead of iterating (caught with one
  iteration on a matrix whose spectrum decays slowly), the Frobenius norm, σ² (an eigenvalue of WᵀW), no reshape
  of a conv weight, ignoring ``iterations``, a Python float.
* ``check_gan_iteration``: one real batch reused for all D steps, a missing ``zero_grad`` (stale gradients are
  planted before the call), fakes for the D step made with gradient to G (no detach), the G step on detached
  fakes, the wrong number of steps, Python floats instead of tensors.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..losses import lsgan_d_loss, lsgan_g_loss
from ..models.dcgan import DCDiscriminator, DCGenerator
from ..training import gan_iteration
from ._behaviour import Watch, name_link, negative_slope, plant, same, stale, touched, trace
from ._core import CheckError, call, close, count_parameters, expect, expect_close, expect_tensor, passed


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _has_spectral_norm(conv: nn.Module) -> bool:
    return hasattr(conv, "parametrizations") and "weight" in conv.parametrizations or hasattr(conv, "weight_orig")


def _sigmas(model: nn.Module, example: Callable[[], tuple]) -> list[float]:
    """σ of every conv's effective weight after 30 training-mode passes (PyTorch runs one power iteration each)."""
    model.train()
    with torch.no_grad():
        for _ in range(30):
            model(*example())
    return [float(torch.linalg.matrix_norm(c.weight.detach().reshape(c.weight.shape[0], -1), 2)) for c in _convs(model)]


def _check_spectral_norm(name: str, model: nn.Module, wanted: bool, example: Callable[[], tuple]) -> None:
    with_sn = [_has_spectral_norm(c) for c in _convs(model)]
    if wanted:
        expect(all(with_sn), f"{name}(..., spectral_norm=True): {with_sn.count(False)} of {len(with_sn)} convs have no "
                             "spectral norm; wrap each conv in torch.nn.utils.parametrizations.spectral_norm.")
        sigmas = _sigmas(model, example)
        expect(all(abs(s - 1) < 0.05 for s in sigmas),
               f"{name}(..., spectral_norm=True): after 30 training-mode passes the convs' largest singular values are "
               f"{[round(s, 3) for s in sigmas]}, expected 1: the spectral norm must divide the weight the conv uses.")
    else:
        expect(not any(with_sn), f"{name}(..., spectral_norm=False) still applies spectral norm.")


def _kinds(records) -> list[str]:
    return [r.kind for r in records]


def _bias_free_count(reference: nn.Module) -> int:
    """Parameters of ``reference`` without the biases of the convs/linears that a BatchNorm follows."""
    layers = [m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d))]
    redundant = sum(a.bias.numel() for a, b in zip(layers, layers[1:])
                    if isinstance(a, (nn.Conv2d, nn.Linear)) and isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d)))
    return count_parameters(reference) - redundant


def _norm_link(conv, norm, who: str) -> None:
    """The BatchNorm must receive the conv's output itself."""
    if same(norm.input, conv.output):
        return
    found = name_link(conv.output, norm.input, {"no norm": lambda t: t})
    act = found.split(" then ")[1] if found else None
    if act and act != "no activation":
        raise CheckError(f"{who}: the BatchNorm2d receives the conv's output after {act}: BatchNorm goes right after "
                         "the conv, before the activation (the activation then sees normalised values).")
    raise CheckError(f"{who}: the BatchNorm2d does not receive the output of the conv before it; "
                     "each block is conv → BatchNorm → activation.")


def _activation_link(before: torch.Tensor, after: torch.Tensor, who: str, wanted: str, reshape=None) -> None:
    """``after`` must be ``wanted``(``before``), with ``reshape`` applied last."""
    found = name_link(before, after, {"no norm": lambda t: t}, reshape=reshape)
    if found == f"no norm then {wanted}":
        return
    act = found.split(" then ")[1] if found else None
    if act is not None:
        advice = {"LeakyReLU(0.2)": "slope 0.2 on negative inputs: the negative_slope of F.leaky_relu / nn.LeakyReLU",
                  "ReLU": "F.relu or nn.ReLU: DCGAN's generator uses ReLU, its discriminator LeakyReLU"}[wanted]
        raise CheckError(f"{who}: found {act} where {wanted} is asked ({advice}).")
    r = reshape or (lambda t: t)
    slope = negative_slope(r(before), after) if r(before).shape == after.shape else None
    raise CheckError(f"{who}: the values do not follow {wanted} of the previous layer's output"
                     + (f" (negative inputs are scaled by {slope:.3g})" if slope is not None else "") + ".")


def check_dc_discriminator(Discriminator: type) -> None:
    """``Discriminator(conv_dim, spectral_norm)``: ``[B, 3, 32, 32]`` → ``[B, 1]`` raw scores."""
    lines = []
    for conv_dim, sn in ((32, False), (64, False), (32, True)):
        torch.manual_seed(0)
        D = call(Discriminator, conv_dim, sn, name="Discriminator.__init__")
        reference = DCDiscriminator(conv_dim, sn)
        want, got = count_parameters(reference), count_parameters(D)
        expect(got in (want, _bias_free_count(reference)),
               f"Discriminator({conv_dim}, spectral_norm={sn}) has {got:,} parameters, expected {want:,}: "
               f"four 5×5 convs 3 → {conv_dim} → {2 * conv_dim} → {4 * conv_dim} → 1, "
               "BatchNorm2d after the first three.")
        kernels = [tuple(c.kernel_size) for c in _convs(D)]
        expect(kernels == [(5, 5)] * 4, f"the convs have kernels {kernels}; the homework uses four 5×5 convs.")
        norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
        expect(len(norms) == 3, f"found {len(norms)} BatchNorm2d layers; use one after each conv but the last.")
        _check_spectral_norm("Discriminator", D, sn, lambda: (torch.randn(4, 3, 32, 32),))
        x = torch.randn(4, 3, 32, 32)
        D.train()
        out, records = call(trace, D, x, name="Discriminator.forward")
        convs = [r for r in records if r.kind == "Conv2d"]
        shapes = [list(r.output.shape[1:]) for r in convs]
        want_shapes = [[conv_dim, 16, 16], [2 * conv_dim, 8, 8], [4 * conv_dim, 4, 4], [1, 1, 1]]
        expect(shapes == want_shapes, f"the convs' outputs are {shapes}, expected {want_shapes}: stride 2 and "
                                      "padding 2 on the first three, padding 1 on the last (4×4 → 1×1).")
        expect_tensor("D(x)", out, shape=(4, 1), hint="Flatten the [B, 1, 1, 1] output to [B, 1].")
        if not sn:
            _trace_discriminator(records, x, out, conv_dim)
        lines.append(f"conv_dim={conv_dim}{' +SN' if sn else ''}: {got:,}")
    passed("check_dc_discriminator", f"parameters {'; '.join(lines)}; conv outputs {want_shapes[:-1]} → [B, 1]")


def _trace_discriminator(records, x: torch.Tensor, out: torch.Tensor, conv_dim: int) -> None:
    order = _kinds(records)
    want = ["Conv2d", "BatchNorm2d"] * 3 + ["Conv2d"]
    expect(order == want, f"the layers run in the order {order}, expected {want}: conv → BatchNorm → LeakyReLU(0.2) "
                          "three times, then the last conv (no BatchNorm there).")
    expect(same(records[0].input, x), "the first conv does not receive the image itself: nothing (no BatchNorm, no "
                                      "activation) comes before D's first conv.")
    for k in range(3):
        conv, norm, following = records[2 * k], records[2 * k + 1], records[2 * k + 2]
        _norm_link(conv, norm, f"block {k + 1}")
        _activation_link(norm.output, following.input, f"between BatchNorm {k + 1} and conv {k + 2}", "LeakyReLU(0.2)")
    last = records[-1].output.flatten(1)
    if same(out, torch.sigmoid(last)):
        raise CheckError("D ends with a sigmoid: its outputs are probabilities in (0, 1). LSGAN (and BCE-with-logits) "
                         "score D's raw outputs, so the sigmoid would be applied twice, or squash the least-squares "
                         "targets. Return the last conv's output as it is.")
    expect(same(out, last), "D(x) is not the last conv's output reshaped to [B, 1]: return it raw, no activation.")


def check_dc_generator(Generator: type) -> None:
    """``Generator(noise_size, conv_dim, spectral_norm)``: ``[B, noise_size]`` → ``[B, 3, 32, 32]`` in (-1, 1)."""
    lines = []
    for noise_size, conv_dim, sn in ((100, 32, False), (100, 64, False), (100, 32, True)):
        torch.manual_seed(0)
        G = call(Generator, noise_size, conv_dim, sn, name="Generator.__init__")
        expect(not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules()),
               "the generator uses ConvTranspose2d; the homework asks for ×2 upsampling (F.interpolate or "
               "nn.Upsample) followed by a 5×5 stride-1 conv, which draws no checkerboard (section 2).")
        reference = DCGenerator(noise_size, conv_dim, sn)
        want = count_parameters(reference)
        flat = 4 * conv_dim * 16
        per_channel = want - 2 * flat + 2 * 4 * conv_dim      # BatchNorm2d over channels instead of 1d
        bias_free = _bias_free_count(reference)
        got = count_parameters(G)
        expect(got in (want, per_channel, bias_free),
               f"Generator({noise_size}, {conv_dim}, spectral_norm={sn}) has {got:,} parameters, expected {want:,}: "
               f"Linear({noise_size}, {flat}) + BatchNorm, then three 5×5 convs {4 * conv_dim} → {2 * conv_dim} → "
               f"{conv_dim} → 3 with BatchNorm2d after the first two.")
        kernels = [tuple(c.kernel_size) for c in _convs(G)]
        expect(kernels == [(5, 5)] * 3, f"the convs have kernels {kernels}; use three 5×5 convs, stride 1, padding 2.")
        _check_spectral_norm("Generator", G, sn, lambda: (torch.randn(4, noise_size),))
        z = torch.randn(8, noise_size)
        G.train()
        x, records = call(trace, G, z, name="Generator.forward")
        expect_tensor("G(z)", x, shape=(8, 3, 32, 32),
                      hint="Reshape the linear output to [B, 4·conv_dim, 4, 4], then upsample 4 → 8 → 16 → 32.")
        if not sn and conv_dim == 32:
            _trace_generator(records, x, conv_dim)
        expect(bool(x.abs().max() < 1) and bool(x.min() < 0), "G(z) should lie in (-1, 1): end with tanh.")
        x.mean().backward()
        missing = [n for n, p in G.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}.")
        lines.append(f"conv_dim={conv_dim}{' +SN' if sn else ''}: {got:,}")
    passed("check_dc_generator", f"parameters {'; '.join(lines)}; [B, 100] → [B, 3, 32, 32]")


def _upsampling(before: torch.Tensor, after: torch.Tensor):
    """The ×2 upsampling (nearest, or bilinear, both resize-convolutions of Odena et al., 2016) under which
    ``after`` is the upsampled ReLU of ``before``; nearest when neither matches."""
    for mode in ("nearest", "bilinear"):
        def up(t: torch.Tensor, mode: str = mode) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2, mode=mode)
        if up(F.relu(before)).shape == after.shape and same(up(F.relu(before)), after, rtol=1e-3, atol=1e-4):
            return up
    return lambda t: F.interpolate(t, scale_factor=2, mode="nearest")


def _trace_generator(records, x: torch.Tensor, conv_dim: int) -> None:
    order = _kinds(records)
    first_norm = order[1] if len(order) > 1 else None
    want = ["Linear", first_norm, "Conv2d", "BatchNorm2d", "Conv2d", "BatchNorm2d", "Conv2d"]
    expect(order == want and first_norm in ("BatchNorm1d", "BatchNorm2d"),
           f"the layers run in the order {order}, expected Linear, BatchNorm, then conv → BatchNorm2d twice and the "
           "last conv (no BatchNorm on it).")
    linear, norm = records[0], records[1]
    if not (same(norm.input, linear.output) or same(norm.input, linear.output.view(norm.input.shape))):
        raise CheckError("the first BatchNorm does not receive the linear layer's output: Linear → BatchNorm → ReLU.")
    convs = [r for r in records if r.kind == "Conv2d"]
    sizes = [r.input.shape[-1] for r in convs]
    if sizes != [8, 16, 32]:
        raise CheckError(f"the three 5×5 convs see inputs of {sizes} pixels, expected [8, 16, 32]: upsample ×2 first, "
                         "then convolve (a conv before the upsampling works at the lower resolution).")
    shape = (-1, 4 * conv_dim, 4, 4)
    up = _upsampling(norm.output.reshape(shape), convs[0].input)
    _activation_link(norm.output, convs[0].input, "between the linear block and the first conv", "ReLU",
                     reshape=lambda t: up(t.reshape(shape)))
    for k in range(2):
        conv, bn, following = records[2 + 2 * k], records[3 + 2 * k], records[4 + 2 * k]
        _norm_link(conv, bn, f"upconv block {k + 1}")
        _activation_link(bn.output, following.input, f"between BatchNorm {k + 1} and conv {k + 2}", "ReLU",
                         reshape=up)
    last = records[-1].output
    if same(x, torch.sigmoid(last)):
        raise CheckError("G ends with a sigmoid: its images lie in (0, 1), the data in [-1, 1]. End with tanh.")
    expect(same(x, torch.tanh(last)), "G(z) is not tanh of the last conv's output: end with tanh, nothing after it.")


def check_lsgan_losses(d_loss: Callable, g_loss: Callable) -> None:
    """LSGAN (Mao et al., 2017, eq. 2) on raw outputs ``[B, 1]`` → scalars; (a, b, c) = (0, 1, 1) or (−1, 1, 0)."""
    g = torch.Generator().manual_seed(0)
    real = (torch.randn(16, 1, generator=g) + 0.5).requires_grad_(True)
    fake = (torch.randn(16, 1, generator=g) - 0.5).requires_grad_(True)
    got_d = call(d_loss, real, fake)
    expect_tensor("d_loss(...)", got_d, shape=(), hint="Average over the batch: return a 0-d tensor.")

    def ls(outputs, target):
        return 0.5 * ((outputs - target) ** 2).mean()

    codings = {(0.0, 1.0, 1.0): "0-1", (-1.0, 1.0, 0.0): "Mao et al.'s −1/1/0"}
    coding = next((abc for abc in codings if close(got_d, ls(real, abc[1]) + ls(fake, abc[0]))), None)
    if coding is None:
        r, f = real.detach(), fake.detach()
        want_d = lsgan_d_loss(r, f)
        if close(got_d, 2 * want_d):
            raise CheckError("d_loss is twice the expected value: LSGAN puts ½ in front of each expectation, "
                             "½ E[(D(x) − b)²] + ½ E[(D(G(z)) − a)²].")
        if close(got_d, lsgan_d_loss(f, r)):
            raise CheckError("d_loss has the targets swapped: real outputs go towards b = 1, fake outputs towards a = 0.")
        if close(got_d, lsgan_d_loss(torch.sigmoid(r), torch.sigmoid(f))):
            raise CheckError("d_loss applies a sigmoid: LSGAN uses D's raw (linear) outputs.")
        if close(got_d, len(r) * want_d):
            raise CheckError("d_loss is the sum over the batch: take the mean of each squared error.")
        expect_close("d_loss", got_d, want_d, hint="With a = 0 and b = 1: ½ E[(D(x) − 1)²] + ½ E[D(G(z))²], the "
                                                   "expectations as means over the batch.")
    a, b, c = coding
    grads = torch.autograd.grad(got_d, (real, fake), allow_unused=True) if got_d.requires_grad else (None, None)
    expect(all(gr is not None for gr in grads),
           "d_loss passes no gradient to D's outputs (did you call .item(), .detach() or build a new tensor?).")
    expect_close("∂ d_loss / ∂ D(x)", grads[0], (real - b).detach() / len(real),
                 hint="Averaged over the batch, each output gets (D(x) − b)/B.")
    expect_close("∂ d_loss / ∂ D(G(z))", grads[1], (fake - a).detach() / len(fake))

    got_g = call(g_loss, fake)
    expect_tensor("g_loss(...)", got_g, shape=(), hint="Average over the batch: return a 0-d tensor.")
    f = fake.detach()
    if close(got_g, ls(f, a)):
        raise CheckError(f"g_loss pulls D(G(z)) towards the fake target a = {a:g}: the generator wants D to call its "
                         f"samples real, so its target is c = {c:g}.")
    if close(got_g, 2 * ls(f, c)):
        raise CheckError(f"g_loss is twice the expected value: it is ½ E[(D(G(z)) − {c:g})²].")
    if close(got_g, len(f) * ls(f, c)):
        raise CheckError("g_loss is the sum over the batch: take the mean.")
    expect_close("g_loss", got_g, ls(f, c), hint=f"g_loss = ½ E[(D(G(z)) − c)²] with c = {c:g}: G wants D to call "
                                                 "its samples real.")
    expect(got_g.requires_grad, "g_loss passes no gradient to D's outputs (.item() or .detach()?).")
    (grad_g,) = torch.autograd.grad(got_g, fake)
    expect_close("∂ g_loss / ∂ D(G(z))", grad_g, (f - c) / len(f))
    passed("check_lsgan_losses")


def _slow_spectrum(n: int = 40) -> torch.Tensor:
    """A 40×60 matrix with singular values 1, 0.8, 0.7, … 0.1 in random directions: power iteration needs many
    steps, one step leaves σ clearly underestimated."""
    g = torch.Generator().manual_seed(1)
    u, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(60, n, generator=g, dtype=torch.float64))
    s = torch.cat([torch.tensor([1.0], dtype=torch.float64), torch.linspace(0.8, 0.1, n - 1, dtype=torch.float64)])
    return (u * s) @ v.T


def check_power_iteration(power_iteration: Callable) -> None:
    """``power_iteration(W, iterations)``: the largest singular value of ``W`` reshaped to ``[out, -1]``."""
    g = torch.Generator().manual_seed(0)
    cases = {"a 20×30 matrix": torch.randn(20, 30, generator=g),
             "a 64×3×5×5 conv weight": torch.randn(64, 3, 5, 5, generator=g) * 0.1}
    found = []
    for name, W in cases.items():
        try:
            sigma = power_iteration(W, 100)
        except NotImplementedError:
            sigma = call(power_iteration, W, 100)
        except Exception as err:
            raise CheckError(f"power_iteration({name}) raised {type(err).__name__}: {err}. "
                             + ("A conv weight is 4-D: reshape it to [out_channels, -1] first." if W.dim() > 2 else ""))
        expect(isinstance(sigma, torch.Tensor), f"power_iteration returned a {type(sigma).__name__}; return σ as a "
                                                "0-d tensor (no .item()).")
        expect_tensor(f"power_iteration({name})", sigma, shape=(), hint="Return σ = uᵀ W v as a 0-d tensor.")
        matrix = W.reshape(W.shape[0], -1)
        want = torch.linalg.matrix_norm(matrix, 2)
        if close(sigma, torch.linalg.matrix_norm(matrix, "fro"), rtol=1e-3):
            raise CheckError(f"for {name} you returned the Frobenius norm; power iteration finds the largest "
                             "singular value, the spectral norm.")
        if close(sigma, want ** 2, rtol=1e-3):
            raise CheckError(f"for {name} you returned σ², the largest eigenvalue of WᵀW: σ = uᵀ W v = ‖W v‖.")
        expect_close(f"σ of {name}", sigma, want, rtol=1e-3,
                     hint="Reshape W to [out, -1]; alternate v ∝ Wᵀu and u ∝ W v, each normalised to unit length; "
                          "σ = uᵀ W v.")
        found.append(float(sigma))
    slow = _slow_spectrum().float()
    one = float(call(power_iteration, slow, 1))
    many = float(call(power_iteration, slow, 300))
    expect(abs(many - 1) < 1e-3, f"with 300 iterations on a matrix with σ = 1 you returned {many:.5f}.")
    expect(one < 0.99, f"with iterations=1 on a matrix whose singular values are 1, 0.8, 0.7, … you returned σ = "
                       f"{one:.5f}, the exact value: one step of power iteration cannot have converged. Iterate "
                       "`iterations` times and read σ from u and v; torch.linalg.matrix_norm or svd skips the "
                       "exercise.")
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


def check_gan_iteration(gan_iteration_fn: Callable) -> None:
    """``gan_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_train_iters)``, called twice per
    setting with stale gradients planted before each call."""
    hint = ("Per D step: a fresh real batch, fakes from fresh noise without gradient to G, d_loss(D(x), D(fake)), "
            "zero_grad, backward, step; then fresh noise for the G step: g_loss(D(G(z))), zero_grad, backward, step.")
    for d_train_iters in (1, 3):
        torch.manual_seed(0)
        G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        data = [torch.randn(8, 2, generator=torch.Generator().manual_seed(i)) + 2 for i in range(12)]
        taken = []

        def batches(source):
            for x in source:
                taken.append(x)
                yield (x,)                                   # a one-tensor dataset's batch, as in the notebook

        def noise(n):
            return (torch.randn(n, 4),)

        def before_d_step():
            if stale(D.parameters()):
                raise CheckError("D was updated with stale gradients: the gradients planted before the call were "
                                 "still there at opt_d.step(). Call opt_d.zero_grad() before each backward.")
            if touched(G.parameters()):
                raise CheckError("the discriminator's loss sent gradients into G: make the D step's fakes without "
                                 "gradient (under torch.no_grad() or with .detach()).")

        def before_g_step():
            if stale(G.parameters()):
                raise CheckError("G was updated with stale gradients: call opt_g.zero_grad() before its backward.")
            if not touched(G.parameters()):
                raise CheckError("at opt_g.step() G has no gradient: compute g_loss on D(G(z)) for fresh z, with "
                                 "gradient (not on the detached fakes of the D step), then backward.")

        opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
        ref_opts = torch.optim.SGD(G_ref.parameters(), 0.1), torch.optim.SGD(D_ref.parameters(), 0.1)
        watch_g, watch_d = Watch(opt_g, before_g_step), Watch(opt_d, before_d_step)
        source, ref_source = batches(data), iter([(x,) for x in data])
        try:
            for call_number in (1, 2):
                plant([*G.parameters(), *D.parameters()])
                taken.clear()
                watch_g.steps = watch_d.steps = 0
                torch.manual_seed(call_number)
                out = call(gan_iteration_fn, G, D, opt_g, opt_d, source, noise, lsgan_d_loss, lsgan_g_loss,
                           d_train_iters, name="gan_iteration")
                expect(isinstance(out, dict) and {"d_loss", "g_loss"} <= set(out),
                       "gan_iteration should return a dict with the keys 'd_loss' and 'g_loss'.")
                for key in ("d_loss", "g_loss"):
                    expect(isinstance(out[key], torch.Tensor) and out[key].dim() == 0,
                           f"out['{key}'] is a {type(out[key]).__name__}; return the loss tensors themselves (0-d), "
                           "not .item() floats: train_gan logs and checks them as tensors.")
                expect(watch_d.steps == d_train_iters,
                       f"with d_train_iters={d_train_iters}, opt_d stepped {watch_d.steps} times.")
                expect(watch_g.steps == 1, f"opt_g stepped {watch_g.steps} times; G is updated once per iteration.")
                expect(len(taken) == d_train_iters,
                       f"with d_train_iters={d_train_iters} you drew {len(taken)} real batches: take a fresh batch, "
                       "next(batches), for each D step.")
                torch.manual_seed(call_number)
                want = gan_iteration(G_ref, D_ref, *ref_opts, ref_source, noise, lsgan_d_loss, lsgan_g_loss,
                                     d_train_iters)
                where = f"d_train_iters={d_train_iters}, call {call_number}"
                expect_close(f"d_loss ({where}, the last D step)", out["d_loss"], want["d_loss"], hint=hint)
                expect_close(f"g_loss ({where})", out["g_loss"], want["g_loss"], hint=hint)
                for name, mine, ref in (("D", D, D_ref), ("G", G, G_ref)):
                    same_weights = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(mine.parameters(), ref.parameters()))
                    expect(same_weights, f"after the iteration ({where}) {name}'s weights differ from the "
                                         f"reference's. {hint}")
        finally:
            watch_g.remove()
            watch_d.remove()
    passed("check_gan_iteration")
