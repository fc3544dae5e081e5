"""Self-checks for notebook 01 (VAE theory and the reparameterization trick).

Each check runs the student's code on seeded inputs and compares what it *does* with closed forms,
``torch.distributions`` and the reference implementations in ``course_utils`` (Kingma & Welling, 2014;
Mohamed et al., 2020 for the estimators). The mistakes each check names:

* ``check_kl_divergence``: summed over the batch or over everything, not over the latent dimension;
  averaged over the latent dimension; a missing ½ or "− 1"; σ² taken as exp(2·logvar) or as logvar;
  a sign error (a negative KL); no gradient (``.detach()``, ``.item()``); a Python number returned.
* ``check_reparameterize``: no noise (z = μ); σ = exp(logvar) or ε scaled by σ²; noise that is
  uniform (``rand_like``); one ε per example shared by all latent dimensions; one ε shared by all
  examples; the same ε on every call; no gradient to μ or logvar (``torch.normal``, ``.detach()``);
  the noise created on the CPU whatever the inputs' device; a wrong shape.
* ``check_vae_loss``: BCE averaged over pixels, or summed over the batch; a sigmoid before
  ``binary_cross_entropy_with_logits``; MSE instead of BCE; β on the reconstruction or ignored; the
  weighted KL reported; the ELBO instead of its negative; Python numbers instead of tensors; no
  gradient to the logits.
* ``check_gradient_estimators``: (score function) f(z) not detached, z drawn with ``rsample``, the
  score missing its 1/σ², a sign error, f's derivative used; (pathwise) no noise (z = μ), ε scaled by
  σ², one ε shared by all samples, a biased estimate; (both) no fresh samples per call, a number or
  a wrong shape returned.
* ``check_encoder`` / ``check_decoder``: the wrong layers (parameter count), no ReLUs or a missing
  one, average instead of max pooling, a ReLU (or sigmoid, tanh) on the μ/logvar head, μ and logvar
  identical, a sigmoid/tanh/ReLU on the decoder's logits, no reshape, unused layers.

Accepted as correct, among others: ``torch.distributions`` instead of the formulas, ``F.`` functions
instead of ``nn.`` modules, ``nn.Sequential`` or explicit layers, pooling before the ReLU (they
commute), two linear heads for μ and logvar instead of one split in two.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence as torch_kl

from ..losses import bernoulli_nll
from ..models.vae import MLPDecoder, MLPEncoder, encoder_parameter_layouts, transfer_parameters
from ._core import (CheckError, call, close, columns_match, count_parameters, expect, expect_close,
                    expect_same_device, expect_tensor, parameter_shapes, passed, perturb)


def check_kl_divergence(kl_divergence: Callable) -> None:
    """``kl_divergence(mu, logvar)``: ``[B, D], [B, D] → [B]``, the closed-form Gaussian KL."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1)

    mu_in, logvar_in = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    got = call(kl_divergence, mu_in, logvar_in)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (5, 3):
        raise CheckError("KL has shape [5, 3] but should be [5]: sum over the latent dimension (dim=1).")
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (3,):
        raise CheckError("KL has shape [3] (the latent size) but should be [5] (the batch size): "
                         "you summed over the batch (dim=0); sum over the latent dimension (dim=1).")
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        raise CheckError("KL is a single number but should be [5], one value per example: "
                         "sum over dim=1 only, do not reduce over the batch.")
    expect_tensor("KL", got, shape=(5,), dtype=torch.float32)

    zero = call(kl_divergence, torch.zeros(2, 3), torch.zeros(2, 3))
    expect(close(zero, torch.zeros(2), atol=1e-6),
           f"KL(N(0, I) || N(0, I)) must be 0, got {zero.tolist()}: check the '- 1' term.")
    expect(bool((got >= -1e-6).all()),
           f"KL is negative ({got.min().item():.4f}): a KL divergence is never negative; "
           "check the signs of the log σ² and -1 terms.")
    if close(got, 2 * expected, rtol=1e-3):
        raise CheckError("KL is twice the expected value: you are missing the factor ½.")
    if close(got, expected / 3, rtol=1e-3):
        raise CheckError("KL is the expected value divided by the latent size 3: you averaged over the latent "
                         "dimensions; the KL of independent dimensions is their sum.")
    wrong_sigma = 0.5 * (mu.pow(2) + logvar.exp().pow(2) - 2 * logvar - 1).sum(dim=1)
    logvar_as_variance = 0.5 * (mu.pow(2) + logvar - logvar.clamp_min(1e-12).log() - 1).sum(dim=1)
    if close(got, wrong_sigma, rtol=1e-3):
        hint = "logvar is log σ², so σ² = exp(logvar) (not exp(2·logvar))."
    elif torch.isfinite(logvar_as_variance).all() and close(got, logvar_as_variance, rtol=1e-3):
        hint = "logvar is log σ², not σ²: σ² = exp(logvar)."
    else:
        hint = "Use ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1) with σ² = exp(logvar)."
    expect_close("KL", got, expected, rtol=1e-4, hint=hint)

    got.sum().backward()
    expect(mu_in.grad is not None and logvar_in.grad is not None,
           "no gradient reaches mu or logvar: compute the KL with torch operations, without .detach() or .item().")
    expect_close("dKL/dmu", mu_in.grad, mu, hint="The gradient of ½μ² is μ.")
    expect_close("dKL/dlogvar", logvar_in.grad, 0.5 * (logvar.exp() - 1))
    passed("check_kl_divergence")


def check_reparameterize(reparameterize: Callable) -> None:
    """``reparameterize(mu, logvar)``: ``[B, D] → [B, D]`` samples, differentiable in mu and logvar."""
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 3, generator=g).requires_grad_()
    logvar = torch.randn(4, 3, generator=g).requires_grad_()
    torch.manual_seed(0)
    z = call(reparameterize, mu, logvar)
    expect_tensor("z", z, shape=(4, 3), dtype=torch.float32,
                  hint="z must have the same shape as mu: one sample per example and dimension.")
    expect(not close(z, mu), "z equals mu: no noise was added. A sample of N(μ, σ²) is μ plus σ times "
                             "standard normal noise ε.")
    expect(z.requires_grad, "z does not require grad: build it from mu and logvar with differentiable "
                            "torch operations (no .detach(), .data, .item() or torch.normal(mu, std)).")
    z.sum().backward()
    expect(mu.grad is not None, "no gradient reaches mu: z must be computed as mu + sigma * eps.")
    expect(logvar.grad is not None and bool(logvar.grad.abs().sum() > 0),
           "no gradient reaches logvar: z must be mu plus σ times the noise, with σ = exp(½ logvar) computed by "
           "differentiable operations (torch.normal(mu, std) and .detach() cut this path).")
    expect_close("dz/dmu", mu.grad, torch.ones_like(mu), hint="z = mu + sigma * eps has dz/dmu = 1.")
    eps_times_sigma = (z - mu).detach()
    if close(logvar.grad, eps_times_sigma, rtol=1e-3):
        raise CheckError("dz/dlogvar is (z - mu) but should be ½ (z - mu): the noise is scaled by exp(logvar) = σ² "
                         "(or you used σ = exp(logvar)); logvar is log σ², so σ = exp(½ logvar).")
    expect_close("dz/dlogvar", logvar.grad, 0.5 * eps_times_sigma,
                 hint="With σ = exp(½ logvar), dz/dlogvar = ½ σ ε.")

    with torch.no_grad():
        again = call(reparameterize, mu, logvar)
    expect(not close(again, z), "z is the same on every call: draw fresh noise ε ~ N(0, I) on every call "
                                "(do not seed or store the noise inside the function).")

    n = 100_000
    target_mu, target_sigma = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    with torch.no_grad():
        samples = call(reparameterize, target_mu.expand(n, 2), (2 * target_sigma.log()).expand(n, 2))
    expect_tensor("z for 100,000 examples", samples, shape=(n, 2))
    eps = (samples - target_mu) / target_sigma
    expect(bool(eps.std(0).min() > 1e-3),
           "every example got the same noise ε: one ε is shared by the whole batch. Draw one ε per example and "
           "per dimension (ε has the shape of mu).")
    correlation = torch.corrcoef(eps.T)[0, 1].item()
    expect(abs(correlation) < 0.05,
           f"the noise of the two latent dimensions is correlated (correlation {correlation:.3f} over 100,000 "
           "examples): one ε per example is shared by all dimensions. Draw an independent ε for every "
           "dimension: ε must have the shape of mu, not [B, 1].")
    lag_correlation = torch.corrcoef(torch.stack([eps[1:, 0], eps[:-1, 0]]))[0, 1].item()
    expect(abs(lag_correlation) < 0.05, f"the noise of consecutive examples is correlated ({lag_correlation:.3f}): "
                                        "draw an independent ε for every example.")
    mean, std = samples.mean(0), samples.std(0)
    expect_close("the mean of 100,000 samples", mean, target_mu, rtol=0, atol=0.03,
                 hint="The samples should be centred on mu: ε must have mean 0 (standard normal, not uniform: "
                      "torch.randn_like, not torch.rand_like).")
    expect_close("the standard deviation of 100,000 samples", std, target_sigma, rtol=0.03, atol=0,
                 hint="ε must be standard normal, scaled by σ = exp(½ logvar).")
    expect_same_device("reparameterize", reparameterize, mu, logvar)
    passed("check_reparameterize")


def check_vae_loss(vae_loss: Callable) -> None:
    """``vae_loss(logits, x, mu, logvar, beta=1.0) → (loss, reconstruction, kl)``, batch means in nats."""
    g = torch.Generator().manual_seed(2)
    logits = (2 * torch.randn(4, 1, 28, 28, generator=g)).requires_grad_()
    x = torch.rand(4, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    recon_ref = bernoulli_nll(logits, x).mean().detach()
    kl_ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()

    out = call(vae_loss, logits, x, mu, logvar)
    expect(isinstance(out, tuple) and len(out) == 3,
           f"vae_loss should return a tuple (loss, reconstruction, kl), got {type(out).__name__}.")
    loss, recon, kl = out
    for name, value in (("loss", loss), ("reconstruction", recon), ("kl", kl)):
        expect_tensor(name, value, shape=(), hint="Return scalars: means over the batch.")

    per_pixel_mean = F.binary_cross_entropy_with_logits(logits, x)
    double_sigmoid = bernoulli_nll(torch.sigmoid(logits), x).mean()
    mse = F.mse_loss(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1).mean()
    if close(loss, -(recon_ref + kl_ref), rtol=1e-3) or close(recon, -recon_ref, rtol=1e-3):
        hint = "You returned the ELBO itself: the loss to minimise is its negative, reconstruction + beta * kl ≥ 0."
    elif close(recon, per_pixel_mean, rtol=1e-3):
        hint = "You averaged over pixels: sum the BCE over the 784 pixels of each image, then average over the batch."
    elif close(recon, recon_ref * 4, rtol=1e-3):
        hint = "You summed over the batch: average over the batch (the 4 images), sum over pixels."
    elif close(recon, double_sigmoid, rtol=1e-3):
        hint = "The decoder returns logits: pass them to binary_cross_entropy_with_logits without a sigmoid."
    elif close(recon, mse, rtol=1e-3) or close(recon, F.mse_loss(logits, x, reduction="sum") / 4, rtol=1e-3):
        hint = ("That is a squared error: a Bernoulli decoder's −log p(x|z) is the binary cross-entropy "
                "(section 4), from the logits.")
    else:
        hint = "−log p(x|z) for a Bernoulli decoder: the BCE of the logits, summed over the pixels of each image."
    expect_close("the reconstruction term", recon, recon_ref, rtol=1e-4, hint=hint)
    kl_hint = ("You summed the KL over the batch: average it, like the reconstruction term."
               if close(kl, 4 * kl_ref, rtol=1e-3) else "Average kl_divergence(mu, logvar) over the batch.")
    expect_close("the KL term", kl, kl_ref, rtol=1e-4, hint=kl_hint)
    expect_close("loss", loss, recon_ref + kl_ref, rtol=1e-4, hint="The loss is reconstruction + beta * kl.")
    expect(loss.requires_grad, "loss carries no gradient: compute it from the logits with torch operations "
                               "(no .detach(), .item() or float()).")
    (grad,) = torch.autograd.grad(loss, logits)
    expect_close("d loss / d logits", grad, (torch.sigmoid(logits) - x).detach() / 4, rtol=1e-3, atol=1e-7,
                 hint="Per pixel, d BCE / d logit = sigmoid(logit) − x, divided by the batch size.")

    loss4, recon4, kl4 = call(vae_loss, logits, x, mu, logvar, beta=4.0)
    if close(loss4, 4 * recon_ref + kl_ref, rtol=1e-4):
        raise CheckError("with beta=4 the reconstruction term was weighted: beta multiplies the KL term only.")
    expect_close("loss with beta=4", loss4, recon_ref + 4 * kl_ref, rtol=1e-4,
                 hint="Weight the KL term (only) by beta; report the unweighted kl.")
    expect_close("kl with beta=4", kl4, kl_ref, rtol=1e-4, hint="Report the unweighted kl; beta only enters the loss.")
    passed("check_vae_loss")


def _estimates(fn: Callable, name: str, f: Callable, mu: float, sigma: float, n: int) -> torch.Tensor:
    estimate = call(fn, f, mu, sigma, n, name=name)
    expect_tensor(f"{name}(...)", estimate)
    expect(estimate.numel() == 1, f"{name} should return one number (the gradient), got shape {list(estimate.shape)}.")
    return estimate.reshape(())


def check_gradient_estimators(score_function_grad: Callable, reparam_grad: Callable) -> None:
    """Both estimators of d/dmu E_{N(mu, sigma²)}[f(z)]: unbiased for several f, with the variance that
    independent samples give, and the score function needs no df/dz."""
    mu, sigma, c = 0.3, 0.8, 1.0
    square = lambda z: (z - c) ** 2  # noqa: E731
    true_grad = 2 * (mu - c)  # d/dmu [(mu - c)² + sigma²]

    rsample_value = -true_grad * (0.5 + math.log(sigma * math.sqrt(2 * math.pi)))  # E[f'(z) log q(z)]
    wrong = {rsample_value: "f(z) is differentiated as well, through a z drawn with gradient (rsample): the "
                            "score-function surrogate treats f(z) as a constant and z as a fixed sample (draw it "
                            "without gradient, .sample()).",
             0.0: "the estimate is 0: the gradient must come from ∂/∂μ log q(z) = (z − μ)/σ² with z held fixed; "
                  "draw z without gradient (Normal(...).sample(), not .rsample()) and weight log q(z) by f(z).",
             sigma ** 2 * true_grad: "the estimate is σ² times too small: ∂/∂μ log q(z) = (z − μ)/σ².",
             -true_grad: "the estimate has the wrong sign: the surrogate whose gradient is the estimator is +f(z) · log q(z)."}
    # the spread of 10-sample estimates against what independent samples give: Var = Var_1 / 10
    torch.manual_seed(1)
    repeats, n = 150, 10
    z = mu + sigma * torch.randn(2_000_000, generator=torch.Generator().manual_seed(2))
    one_sample = {"score": (square(z) * (z - mu) / sigma ** 2).var().item(), "reparam": 4 * sigma ** 2}
    for key, fn, name in (("score", score_function_grad, "score_function_grad"), ("reparam", reparam_grad, "reparam_grad")):
        values = torch.stack([_estimates(fn, name, square, mu, sigma, n) for _ in range(repeats)])
        variance, expected = values.var().item(), one_sample[key] / n
        if key == "score":
            expect(not close(values, torch.zeros_like(values), atol=1e-7), wrong[0.0])
        expect(not close(values, values[:1].expand_as(values), atol=1e-7),
               f"{name} returns the same estimate on every call: its samples are not fresh random draws (no "
               "noise in z, or a seed set inside the function). Draw new samples on every call.")
        if key == "score":
            expect(variance > expected / 3,
                   f"with {n} samples the variance of score_function_grad is {variance:.3f}, far below the "
                   f"{expected:.3f} the score function has: it behaves like the pathwise estimator, which "
                   "differentiates f. The score-function estimator uses only the values of f (detach f(z)), "
                   "weighted by ∂/∂μ log q(z) for z drawn without gradient.")
        expect(variance < 6 * expected,
               f"with {n} samples the variance of {name} is {variance:.3f}, about that of a single sample "
               f"({one_sample[key]:.3f}; {n} independent samples give {expected:.3f}): the samples are not "
               "independent. Draw n_samples independent values, one per sample, not one shared by all.")
        expect(variance > expected / 3,
               f"with {n} samples the variance of {name} is {variance:.4f}, expected about {expected:.3f}: "
               "the estimate is (almost) not random. Check that z = mu + sigma * eps carries the noise.")

    torch.manual_seed(0)
    estimate = _estimates(score_function_grad, "score_function_grad", square, mu, sigma, 100_000)
    for value, hint in wrong.items():
        if abs(estimate.item() - value) < 0.1 and abs(estimate.item() - true_grad) >= 0.1:
            raise CheckError(f"score_function_grad for f(z) = (z - 1)², mu = 0.3, sigma = 0.8 (100,000 samples) "
                             f"returned {estimate.item():.3f}, expected {true_grad:.2f}: {hint}")
    expect_close("score_function_grad for f(z) = (z - 1)², mu = 0.3, sigma = 0.8 (100,000 samples)",
                 estimate, torch.tensor(true_grad), rtol=0, atol=0.1,
                 hint=f"The true gradient is 2(mu - c) = {true_grad:.2f}; the score-function estimator averages "
                      "f(z) · ∂/∂μ log q(z) over samples z ~ q.")

    step = lambda z: (z > 0.5).float()  # noqa: E731  not differentiable: df/dz = 0 almost everywhere
    density = math.exp(Normal(mu, sigma).log_prob(torch.tensor(0.5)).item())  # d/dmu P(z > 0.5)
    try:
        estimate = _estimates(score_function_grad, "score_function_grad", step, mu, sigma, 200_000)
    except CheckError as err:
        raise CheckError(f"{err}\nscore_function_grad failed on the step function f(z) = [z > 0.5], which has no "
                         "useful derivative: use only the values of f (detach f(z)) and differentiate log q(z) "
                         "with respect to mu.") from None
    expect_close("score_function_grad for the step function f(z) = [z > 0.5]", estimate,
                 torch.tensor(density), rtol=0, atol=0.02,
                 hint="The score-function estimator must use only the values of f, never its derivative: "
                      "detach f(z) and differentiate log q(z) with respect to mu.")

    # the pathwise estimator on f(z) = z³, where E[f'(z)] = 3(mu² + sigma²) differs from f'(mu) = 3 mu²
    cube = lambda z: z ** 3  # noqa: E731
    true_cube = 3 * (mu ** 2 + sigma ** 2)
    estimate = _estimates(reparam_grad, "reparam_grad", cube, mu, sigma, 100_000)
    name = "reparam_grad for f(z) = z³, mu = 0.3, sigma = 0.8 (100,000 samples)"
    if abs(estimate.item() - 3 * mu ** 2) < 0.05:
        raise CheckError(f"{name} returned {estimate.item():.3f} = f'(mu), expected {true_cube:.2f}: z carries no "
                         "noise. The pathwise estimator averages f'(mu + sigma * eps) over eps ~ N(0, 1).")
    if abs(estimate.item() - 3 * (mu ** 2 + sigma ** 4)) < 0.05:
        raise CheckError(f"{name} returned {estimate.item():.3f}, expected {true_cube:.2f}: the noise is scaled by "
                         "sigma² instead of sigma (z = mu + sigma * eps has variance sigma²).")
    expect_close(name, estimate, torch.tensor(true_cube), rtol=0, atol=0.05,
                 hint=f"E[f'(z)] = 3(mu² + sigma²) = {true_cube:.2f}: average the derivative of f(mu + sigma * eps) "
                      "over standard normal eps.")
    estimate = _estimates(reparam_grad, "reparam_grad", square, mu, sigma, 100_000)
    expect_close("reparam_grad for f(z) = (z - 1)², mu = 0.3, sigma = 0.8 (100,000 samples)", estimate,
                 torch.tensor(true_grad), rtol=0, atol=0.03,
                 hint="Average df/dmu of f(mu + sigma * eps) over eps ~ N(0, 1).")

    passed("check_gradient_estimators")


def _check_parameter_count(cls: type, reference: type, name: str, latent_dim: int) -> nn.Module:
    model = call(cls, latent_dim, name=f"{name}.__init__")
    expect(isinstance(model, nn.Module), f"{name}({latent_dim}) should be an nn.Module.")
    want = count_parameters(reference(latent_dim))
    got = count_parameters(model)
    expect(got == want, f"{name}({latent_dim}) has {got:,} parameters, expected {want:,}: "
                        f"build exactly the layers listed in the docstring (yours: {parameter_shapes(model)}, "
                        f"expected: {parameter_shapes(reference(latent_dim))}).")
    return model


class _Relu(nn.Module):
    def forward(self, x):
        return torch.relu(x)


def _encoder_variants(reference: MLPEncoder) -> dict[str, Callable]:
    """What the reference encoder (holding the student's parameters) computes with the usual mistakes."""
    linears = [m for m in reference.features if isinstance(m, nn.Linear)]

    def run(x, acts=(F.relu, F.relu), head=lambda h: h):
        h = x.flatten(1)
        for layer, act in zip(linears, acts):
            h = act(layer(h))
        return head(reference.head(h))

    same = lambda h: h  # noqa: E731
    variants = {"has no ReLU between its linear layers: a stack of linear layers is one linear map":
                lambda x: run(x, acts=(same, same)),
                "uses LeakyReLU: the architecture uses ReLU after each hidden layer":
                lambda x: run(x, acts=(F.leaky_relu, F.leaky_relu)),
                "applies a ReLU to the μ/logvar head: μ and log σ² can be any real numbers (a ReLU forces "
                "σ ≥ 1 and μ ≥ 0); the head is a plain linear layer": lambda x: run(x, head=F.relu),
                "applies a sigmoid or tanh to the μ/logvar head: the head is a plain linear layer":
                lambda x: run(x, head=torch.sigmoid)}
    for k in range(2):
        acts = tuple(same if j == k else F.relu for j in range(2))
        variants[f"lacks the ReLU after hidden layer {k + 1}: each hidden linear layer is followed by ReLU"] = \
            (lambda a: lambda x: run(x, acts=a))(acts)
    variants["applies a tanh to the μ/logvar head: the head is a plain linear layer"] = \
        lambda x: run(x, head=torch.tanh)
    return variants


def check_encoder(Encoder: type) -> None:
    """``Encoder(latent_dim)``: ``[B, 1, 28, 28] → (mu, logvar)``, each ``[B, latent_dim]``; computes what
    :class:`~course_utils.models.vae.MLPEncoder` computes (its parameters are loaded into the reference)."""
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28)
    for latent_dim in (2, 5):
        encoder = perturb(_check_parameter_count(Encoder, MLPEncoder, "Encoder", latent_dim))
        out = call(encoder, x, name="Encoder.forward")
        expect(isinstance(out, tuple) and len(out) == 2, "Encoder.forward should return a tuple (mu, logvar).")
        for part, value in zip(("mu", "logvar"), out):
            expect_tensor(part, value, shape=(3, latent_dim), dtype=torch.float32)
        expect(not close(out[0], out[1]), "mu and logvar are identical: split the linear layer's output in two.")
        got = torch.cat(out, dim=1).detach()
        reference = MLPEncoder(latent_dim)
        with torch.no_grad():
            agrees = lambda: columns_match(got, torch.cat(reference(x), dim=1))  # noqa: E731
            same = any(transfer_parameters(params, reference, agrees)
                       for params in encoder_parameter_layouts(encoder, latent_dim))
        if not same:
            with torch.no_grad():
                for mistake, variant in _encoder_variants(reference).items():
                    if columns_match(got, variant(x)):
                        raise CheckError(f"the encoder {mistake}.")
            raise CheckError("the encoder computes something else than the architecture in its docstring (its "
                             "parameters were loaded into the reference encoder and the outputs differ): check the "
                             "order flatten → Linear → ReLU → Linear → ReLU → Linear, and that mu and logvar are "
                             "the two halves of the last linear layer's output.")
        (out[0].sum() + out[1].sum()).backward()
        missing = [n for n, p in encoder.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}: every layer should be used in forward.")
    passed("check_encoder", f"{count_parameters(Encoder(2)):,} parameters for a 2-D latent")


def _decoder_variants(reference: MLPDecoder) -> dict[str, Callable]:
    linears = [m for m in reference.net if isinstance(m, nn.Linear)]

    def run(z, act=F.relu, out=lambda h: h):
        for layer in linears[:-1]:
            z = act(layer(z))
        return out(linears[-1](z)).view(-1, 1, 28, 28)

    return {"applies a sigmoid to its output: return logits, the loss applies the sigmoid stably":
            lambda z: run(z, out=torch.sigmoid),
            "applies a tanh to its output: return logits (any real number), not values in (-1, 1)":
            lambda z: run(z, out=torch.tanh),
            "applies a ReLU to its output: return logits, which must be able to be negative (pixel "
            "probabilities below ½)": lambda z: run(z, out=F.relu),
            "has no ReLU between its linear layers: a stack of linear layers is one linear map":
            lambda z: run(z, act=lambda h: h),
            "uses LeakyReLU: the architecture uses ReLU between the linear layers": lambda z: run(z, act=F.leaky_relu)}


def check_decoder(Decoder: type) -> None:
    """``Decoder(latent_dim)``: ``[B, latent_dim] → logits [B, 1, 28, 28]``; computes what
    :class:`~course_utils.models.vae.MLPDecoder` computes (its parameters are loaded into the reference)."""
    torch.manual_seed(0)
    for latent_dim in (2, 5):
        z = 2 * torch.randn(3, latent_dim)
        decoder = perturb(_check_parameter_count(Decoder, MLPDecoder, "Decoder", latent_dim))
        logits = call(decoder, z, name="Decoder.forward")
        expect_tensor("the decoder output", logits, shape=(3, 1, 28, 28), dtype=torch.float32,
                      hint="Reshape the 784 outputs to [B, 1, 28, 28].")
        reference = MLPDecoder(latent_dim)
        with torch.no_grad():
            same = transfer_parameters(decoder, reference, lambda: close(reference(z), logits))
            if not same:
                for mistake, variant in _decoder_variants(reference).items():
                    if close(variant(z), logits):
                        raise CheckError(f"the decoder {mistake}.")
        expect(bool((logits < 0).any()) and bool((logits > 0).any()),
               "the decoder output is all of one sign: return logits (no sigmoid, no ReLU on the last layer).")
        expect(same, "the decoder computes something else than the architecture in its docstring (its parameters "
                     "were loaded into the reference decoder and the outputs differ): check the order "
                     "Linear → ReLU → Linear → ReLU → Linear and the reshape to [B, 1, 28, 28].")
        logits.sum().backward()
        missing = [n for n, p in decoder.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}: every layer should be used in forward.")
    passed("check_decoder", f"{count_parameters(Decoder(2)):,} parameters for a 2-D latent")
