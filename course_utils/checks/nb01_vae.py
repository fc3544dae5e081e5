"""Self-checks for notebook 01 (VAE theory and the reparameterization trick).

Each check runs the student's code on seeded inputs, compares with reference values (closed forms,
``torch.distributions``, the reference implementations in ``course_utils``) and explains failures.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence as torch_kl

from ..losses import bernoulli_nll
from ..models.vae import ConvEncoder, MLPDecoder
from ._core import CheckError, call, close, count_parameters, expect, expect_close, expect_tensor, passed


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
    wrong_sigma = 0.5 * (mu.pow(2) + logvar.exp().pow(2) - 2 * logvar - 1).sum(dim=1)
    hint = ("logvar is log σ², so σ² = exp(logvar)." if close(got, wrong_sigma, rtol=1e-3)
            else "Use ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1) with σ² = exp(logvar).")
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
    expect(z.requires_grad, "z does not require grad: build it from mu and logvar with differentiable "
                            "torch operations (no .detach(), .data, .item() or torch.normal(mu, std)).")
    z.sum().backward()
    expect(mu.grad is not None, "no gradient reaches mu: z must be computed as mu + sigma * eps.")
    expect(logvar.grad is not None and bool(logvar.grad.abs().sum() > 0),
           "no gradient reaches logvar: sigma must be computed from logvar (sigma = exp(0.5 * logvar)).")
    expect_close("dz/dmu", mu.grad, torch.ones_like(mu), hint="z = mu + sigma * eps has dz/dmu = 1.")
    eps_times_sigma = (z - mu).detach()
    if close(logvar.grad, eps_times_sigma, rtol=1e-3):
        raise CheckError("dz/dlogvar is sigma * eps but should be ½ sigma * eps: you used sigma = exp(logvar); "
                         "logvar is log σ², so σ = exp(0.5 * logvar).")
    expect_close("dz/dlogvar", logvar.grad, 0.5 * eps_times_sigma,
                 hint="With sigma = exp(0.5 * logvar), dz/dlogvar = 0.5 * sigma * eps.")

    with torch.no_grad():
        again = call(reparameterize, mu, logvar)
    expect(not close(again, z), "z is the same on every call: draw fresh noise eps ~ N(0, I) each time "
                                "(torch.randn_like(sigma)).")

    target_mu, target_sigma = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    with torch.no_grad():
        samples = call(reparameterize, target_mu.expand(100_000, 2), (2 * target_sigma.log()).expand(100_000, 2))
    mean, std = samples.mean(0), samples.std(0)
    expect_close("the mean of 100,000 samples", mean, target_mu, rtol=0, atol=0.03,
                 hint="The samples should be centred on mu: eps must have mean 0 (torch.randn_like, not rand_like).")
    expect_close("the standard deviation of 100,000 samples", std, target_sigma, rtol=0.03, atol=0,
                 hint="eps must be standard normal (torch.randn_like), scaled by sigma = exp(0.5 * logvar).")
    passed("check_reparameterize")


def check_vae_loss(vae_loss: Callable) -> None:
    """``vae_loss(logits, x, mu, logvar, beta=1.0) → (loss, reconstruction, kl)``, batch means in nats."""
    g = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(4, 1, 28, 28, generator=g)
    x = torch.rand(4, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    recon_ref = bernoulli_nll(logits, x).mean()
    kl_ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()

    out = call(vae_loss, logits, x, mu, logvar)
    expect(isinstance(out, tuple) and len(out) == 3,
           f"vae_loss should return a tuple (loss, reconstruction, kl), got {type(out).__name__}.")
    loss, recon, kl = out
    for name, value in (("loss", loss), ("reconstruction", recon), ("kl", kl)):
        expect_tensor(name, value, shape=(), hint="Return scalars: means over the batch.")

    per_pixel_mean = F.binary_cross_entropy_with_logits(logits, x)
    double_sigmoid = bernoulli_nll(torch.sigmoid(logits), x).mean()
    if close(recon, per_pixel_mean, rtol=1e-3):
        hint = "You averaged over pixels: sum the BCE over the 784 pixels of each image, then average over the batch."
    elif close(recon, recon_ref * 4, rtol=1e-3):
        hint = "You summed over the batch: average over the batch (the 4 images), sum over pixels."
    elif close(recon, double_sigmoid, rtol=1e-3):
        hint = "The decoder returns logits: pass them to binary_cross_entropy_with_logits without a sigmoid."
    else:
        hint = "Use binary_cross_entropy_with_logits(logits, x, reduction='none'), summed per image."
    expect_close("the reconstruction term", recon, recon_ref, rtol=1e-4, hint=hint)
    expect_close("the KL term", kl, kl_ref, rtol=1e-4, hint="Average kl_divergence(mu, logvar) over the batch.")
    expect_close("loss", loss, recon_ref + kl_ref, rtol=1e-4, hint="The loss is reconstruction + beta * kl.")

    loss4, recon4, kl4 = call(vae_loss, logits, x, mu, logvar, beta=4.0)
    expect_close("loss with beta=4", loss4, recon_ref + 4 * kl_ref, rtol=1e-4,
                 hint="Weight the KL term (only) by beta; report the unweighted kl.")
    expect_close("kl with beta=4", kl4, kl_ref, rtol=1e-4, hint="Report the unweighted kl; beta only enters the loss.")
    passed("check_vae_loss")


def check_gradient_estimators(score_function_grad: Callable, reparam_grad: Callable) -> None:
    """Both estimators of d/dmu E_{N(mu, sigma²)}[f(z)]: unbiased, and the score function needs no df/dz."""
    mu, sigma, c = 0.3, 0.8, 1.0
    f = lambda z: (z - c) ** 2  # noqa: E731
    true_grad = 2 * (mu - c)  # d/dmu [(mu - c)² + sigma²]

    torch.manual_seed(0)
    for name, fn, atol in (("score_function_grad", score_function_grad, 0.1), ("reparam_grad", reparam_grad, 0.03)):
        estimate = call(fn, f, mu, sigma, 100_000, name=name)
        expect_tensor(f"{name}(...)", estimate)
        expect(estimate.numel() == 1, f"{name} should return one number (the gradient), got shape {list(estimate.shape)}.")
        expect_close(f"{name} for f(z) = (z - 1)², mu = 0.3, sigma = 0.8 (100,000 samples)",
                     estimate.reshape(()), torch.tensor(true_grad), rtol=0, atol=atol,
                     hint=f"The true gradient is 2(mu - c) = {true_grad:.2f}. "
                          + ("Average f(z) * d/dmu log q(z) with z sampled without gradient."
                             if name == "score_function_grad" else
                             "Average df/dmu of f(mu + sigma * eps) over eps ~ N(0, 1)."))

    step = lambda z: (z > 0.5).float()  # noqa: E731  not differentiable: df/dz = 0 almost everywhere
    density = math.exp(Normal(mu, sigma).log_prob(torch.tensor(0.5)).item())  # d/dmu P(z > 0.5)
    try:
        estimate = call(score_function_grad, step, mu, sigma, 200_000, name="score_function_grad")
    except CheckError as err:
        raise CheckError(f"{err}\nscore_function_grad failed on the step function f(z) = [z > 0.5], which has no "
                         "useful derivative: use only the values of f (detach f(z)) and differentiate log q(z) "
                         "with respect to mu.") from None
    expect_close("score_function_grad for the step function f(z) = [z > 0.5]", estimate.reshape(()),
                 torch.tensor(density), rtol=0, atol=0.02,
                 hint="The score-function estimator must use only the values of f, never its derivative: "
                      "detach f(z) and differentiate log q(z) with respect to mu.")

    torch.manual_seed(1)
    spread = {name: torch.stack([call(fn, f, mu, sigma, 10).reshape(()) for _ in range(200)]).var()
              for name, fn in (("score", score_function_grad), ("reparam", reparam_grad))}
    expect(bool(spread["score"] > spread["reparam"]),
           f"with 10 samples the score-function estimator should vary more than the reparameterization one "
           f"(variances {spread['score']:.3f} vs {spread['reparam']:.3f}); check that each uses fresh samples.")
    passed("check_gradient_estimators")


def _check_parameter_count(cls: type, reference: type, name: str, latent_dim: int) -> None:
    model = call(cls, latent_dim, name=f"{name}.__init__")
    want = count_parameters(reference(latent_dim))
    got = count_parameters(model)
    expect(got == want, f"{name}({latent_dim}) has {got:,} parameters, expected {want:,}: "
                        f"build exactly the layers listed in the docstring.")


def check_encoder(Encoder: type) -> None:
    """``Encoder(latent_dim)``: ``[B, 1, 28, 28] → (mu, logvar)``, each ``[B, latent_dim]``."""
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28)
    for latent_dim in (2, 5):
        _check_parameter_count(Encoder, ConvEncoder, "Encoder", latent_dim)
        encoder = Encoder(latent_dim)
        out = call(encoder, x, name="Encoder.forward")
        expect(isinstance(out, tuple) and len(out) == 2, "Encoder.forward should return a tuple (mu, logvar).")
        for part, value in zip(("mu", "logvar"), out):
            expect_tensor(part, value, shape=(3, latent_dim), dtype=torch.float32)
        expect(not close(out[0], out[1]), "mu and logvar are identical: split the linear layer's output in two.")
        (out[0].sum() + out[1].sum()).backward()
        missing = [n for n, p in encoder.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}: every layer should be used in forward.")
    passed("check_encoder", f"{count_parameters(Encoder(2)):,} parameters for a 2-D latent")


def check_decoder(Decoder: type) -> None:
    """``Decoder(latent_dim)``: ``[B, latent_dim] → logits [B, 1, 28, 28]``."""
    torch.manual_seed(0)
    for latent_dim in (2, 5):
        z = torch.randn(3, latent_dim)
        _check_parameter_count(Decoder, MLPDecoder, "Decoder", latent_dim)
        decoder = Decoder(latent_dim)
        logits = call(decoder, z, name="Decoder.forward")
        expect_tensor("the decoder output", logits, shape=(3, 1, 28, 28), dtype=torch.float32,
                      hint="Reshape the 784 outputs to [B, 1, 28, 28].")
        expect(bool((logits < 0).any()) and bool((logits > 0).any()),
               "the decoder output is all of one sign: return logits (no sigmoid, no ReLU on the last layer).")
        logits.sum().backward()
        missing = [n for n, p in decoder.named_parameters() if p.grad is None]
        expect(not missing, f"no gradient reaches {missing}: every layer should be used in forward.")
    passed("check_decoder", f"{count_parameters(Decoder(2)):,} parameters for a 2-D latent")
