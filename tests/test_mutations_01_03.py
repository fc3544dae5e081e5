"""Mutation tests for the self-checks of notebooks 01-03.

Each mutant is a wrong answer that students actually write; its check must reject it with a message
naming the mistake (asserted on the words). Each alternative is a correct answer written another way;
its check must accept it.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence as torch_kl

from course_utils.checks import (CheckError, check_condition_on_label, check_cvae, check_cvae_loss, check_decoder,
                                 check_encoder, check_gan_losses, check_gan_steps, check_gradient_estimators,
                                 check_kl_divergence, check_mlp_gan, check_one_hot, check_reparameterize,
                                 check_vae_loss)
from course_utils.estimators import reparam_grad, score_function_grad
from course_utils.losses import d_loss_bce, g_loss_nonsaturating, kl_divergence, vae_loss
from course_utils.models import CVAE, ConvEncoder, MLPDecoder, MLPEncoder, condition_on_label, reparameterize
from course_utils.models.gan import MLPDiscriminator, MLPGenerator
from course_utils.training import discriminator_step, generator_step


def rejects(check, *args, words: str) -> None:
    with pytest.raises(CheckError) as caught:
        check(*args)
    assert words in str(caught.value), f"expected {words!r} in: {caught.value}"


# === 01: kl_divergence ================================================================================

KL_MUTANTS = {
    "summed over the batch": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).sum(0),
    "averaged over the latent dimensions": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).mean(1),
    "missing the factor ½": lambda mu, lv: (mu**2 + lv.exp() - lv - 1).sum(1),
    "KL is negative": lambda mu, lv: -0.5 * (mu**2 + lv.exp() - lv - 1).sum(1),
    "not exp(2·logvar)": lambda mu, lv: 0.5 * (mu**2 + lv.exp()**2 - 2 * lv - 1).sum(1),
    "check the '- 1' term": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(1),
    "no gradient reaches mu": lambda mu, lv: 0.5 * (mu.detach()**2 + lv.exp() - lv - 1).sum(1),
}


@pytest.mark.parametrize("words", KL_MUTANTS)
def test_kl_divergence_mutants(words):
    rejects(check_kl_divergence, KL_MUTANTS[words], words=words)


def test_kl_divergence_logvar_taken_as_the_variance():
    rejects(check_kl_divergence, lambda mu, lv: 0.5 * (mu**2 + lv - lv.abs().log() - 1).sum(1), words="KL")


# === 01: reparameterize ================================================================================

def _seeded_inside(mu, logvar):
    g = torch.Generator().manual_seed(0)
    return mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)


REPARAM_MUTANTS = {
    "no noise was added": lambda mu, lv: mu + 0 * lv,
    "scaled by exp(logvar)": lambda mu, lv: mu + lv.exp() * torch.randn_like(mu),
    "shared by all dimensions": lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape[0], 1),
    "every example got the same noise": lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape[1]),
    "not uniform": lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu),
    "torch.normal(mu, std) and .detach() cut this path": lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()),
    "does not require grad": lambda mu, lv: (mu + (0.5 * lv).exp() * torch.randn_like(mu)).detach(),
    "same on every call": _seeded_inside,
    "creates a tensor on the CPU": lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape),
    "same shape as mu": lambda mu, lv: (mu + (0.5 * lv).exp() * torch.randn_like(mu))[:, :1],
}


@pytest.mark.parametrize("words", REPARAM_MUTANTS)
def test_reparameterize_mutants(words):
    rejects(check_reparameterize, REPARAM_MUTANTS[words], words=words)


# === 01: vae_loss =====================================================================================

def _loss(recon_fn, kl_fn=lambda mu, lv: kl_divergence(mu, lv).mean(), combine=lambda r, k, beta: r + beta * k):
    def loss(logits, x, mu, logvar, beta=1.0):
        recon, kl = recon_fn(logits, x), kl_fn(mu, logvar)
        return combine(recon, kl, beta), recon, kl
    return loss


def _bce_sum(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)


VAE_LOSS_MUTANTS = {
    "averaged over pixels": _loss(lambda l, x: F.binary_cross_entropy_with_logits(l, x)),
    "summed over the batch": _loss(lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="sum")),
    "without a sigmoid": _loss(lambda l, x: _bce_sum(torch.sigmoid(l), x)),
    "squared error": _loss(lambda l, x: F.mse_loss(torch.sigmoid(l), x, reduction="sum") / len(x)),
    "the reconstruction term was weighted": _loss(_bce_sum, combine=lambda r, k, beta: beta * r + k),
    "Weight the KL term": _loss(_bce_sum, combine=lambda r, k, beta: r + k),
    "ELBO itself": _loss(lambda l, x: -_bce_sum(l, x), lambda mu, lv: -kl_divergence(mu, lv).mean()),
    "summed the KL over the batch": _loss(_bce_sum, lambda mu, lv: kl_divergence(mu, lv).sum()),
    "Python number": lambda *a, **k: tuple(v.item() for v in vae_loss(*a, **k)),
    "carries no gradient": lambda logits, *a, **k: vae_loss(logits.detach(), *a, **k),
    "should return a tuple": lambda *args, **kw: vae_loss(*args, **kw)[0],
}


@pytest.mark.parametrize("words", VAE_LOSS_MUTANTS)
def test_vae_loss_mutants(words):
    rejects(check_vae_loss, VAE_LOSS_MUTANTS[words], words=words)


# === 01: gradient estimators ===========================================================================

def sf_rsample_no_detach(f, mu, sigma, n):
    mu = torch.tensor(float(mu), requires_grad=True)
    q = Normal(mu, sigma)
    z = q.rsample((n,))
    (grad,) = torch.autograd.grad((f(z) * q.log_prob(z)).mean(), mu)
    return grad


def sf_rsample_detached(f, mu, sigma, n):
    mu = torch.tensor(float(mu), requires_grad=True)
    q = Normal(mu, sigma)
    z = q.rsample((n,))
    (grad,) = torch.autograd.grad((f(z).detach() * q.log_prob(z)).mean(), mu)
    return grad


def sf_manual(score_scale=1.0, sign=1.0, shared=False, seeded=False, as_float=False):
    def estimator(f, mu, sigma, n):
        g = torch.Generator().manual_seed(0) if seeded else None
        z = mu + sigma * (torch.randn(1, generator=g).expand(n) if shared else torch.randn(n, generator=g))
        grad = sign * (f(z) * (z - mu) / sigma**2 * score_scale).mean()
        return grad.item() if as_float else grad
    return estimator


def pathwise(noise_scale=lambda sigma: sigma, shared=False, factor=1.0, as_float=False):
    def estimator(f, mu, sigma, n):
        mu_t = torch.tensor(float(mu), requires_grad=True)
        eps = torch.randn(1).expand(n) if shared else torch.randn(n)
        (grad,) = torch.autograd.grad(f(mu_t + noise_scale(sigma) * eps).mean(), mu_t)
        return grad.item() if as_float else factor * grad
    return estimator


SCORE_MUTANTS = {
    "through a z drawn with gradient (rsample)": sf_rsample_no_detach,
    "the estimate is 0": sf_rsample_detached,
    "σ² times too small": sf_manual(score_scale=0.8**2),
    "wrong sign": sf_manual(sign=-1.0),
    "only the values of f": reparam_grad,  # the pathwise estimator in place of the score function
    "same estimate on every call": sf_manual(seeded=True),
    "not independent": sf_manual(shared=True),
    "Python number": sf_manual(as_float=True),
}
PATHWISE_MUTANTS = {
    "same estimate on every call": pathwise(noise_scale=lambda sigma: 0.0),  # z = mu
    "scaled by sigma² instead of sigma": pathwise(noise_scale=lambda sigma: sigma**2),
    "not independent": pathwise(shared=True),
    "reparam_grad for f(z) = z³": pathwise(factor=2.0),
    "Python number": pathwise(as_float=True),
}


@pytest.mark.parametrize("words", SCORE_MUTANTS)
def test_score_function_mutants(words):
    rejects(check_gradient_estimators, SCORE_MUTANTS[words], reparam_grad, words=words)


@pytest.mark.parametrize("words", PATHWISE_MUTANTS)
def test_pathwise_mutants(words):
    rejects(check_gradient_estimators, score_function_grad, PATHWISE_MUTANTS[words], words=words)


# === 01: encoder and decoder ===========================================================================

class Encoder(MLPEncoder):
    """The reference architecture with one mistake, chosen by the class attributes."""
    acts = (F.relu, F.relu)
    head_fn = staticmethod(lambda h: h)

    def forward(self, x):
        h = x.flatten(1)
        for layer, act in zip([m for m in self.features if isinstance(m, nn.Linear)], self.acts):
            h = act(layer(h))
        return self.head_fn(self.head(h)).chunk(2, dim=1)


class NoReluEncoder(Encoder):
    acts = (lambda h: h, lambda h: h)


class OneReluMissingEncoder(Encoder):
    acts = (F.relu, lambda h: h)


class LeakyEncoder(Encoder):
    acts = (F.leaky_relu, F.leaky_relu)


class ReluHeadEncoder(Encoder):
    head_fn = staticmethod(F.relu)


class TanhHeadEncoder(Encoder):
    head_fn = staticmethod(torch.tanh)


class SameHeadsEncoder(MLPEncoder):
    def forward(self, x):
        mu, _ = super().forward(x)
        return mu, mu


class SwappedWidthsEncoder(nn.Module):
    """784 → 256 → 512: the decoder's widths in the encoder."""

    def __init__(self, latent_dim=2):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU())
        self.head = nn.Linear(512, 2 * latent_dim)

    def forward(self, x):
        return self.head(self.features(x)).chunk(2, dim=1)


class ConvHomeworkEncoder(ConvEncoder):
    """The homework's convolutional encoder instead of the MLP of the docstring."""


ENCODER_MUTANTS = {
    "has no ReLU between its linear layers": NoReluEncoder,
    "lacks the ReLU after hidden layer 2": OneReluMissingEncoder,
    "uses LeakyReLU": LeakyEncoder,
    "applies a ReLU to the μ/logvar head": ReluHeadEncoder,
    "applies a tanh to the μ/logvar head": TanhHeadEncoder,
    "mu and logvar are identical": SameHeadsEncoder,
    "parameters, expected 534,276": SwappedWidthsEncoder,
    "has 15,204 parameters, expected 534,276": ConvHomeworkEncoder,
}


@pytest.mark.parametrize("words", ENCODER_MUTANTS)
def test_encoder_mutants(words):
    rejects(check_encoder, ENCODER_MUTANTS[words], words=words)


class Decoder(MLPDecoder):
    act = staticmethod(F.relu)
    out = staticmethod(lambda h: h)

    def forward(self, z):
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        for layer in linears[:-1]:
            z = self.act(layer(z))
        return self.out(linears[-1](z)).view(-1, 1, 28, 28)


class SigmoidDecoder(Decoder):
    out = staticmethod(torch.sigmoid)


class TanhDecoder(Decoder):
    out = staticmethod(torch.tanh)


class ReluOutputDecoder(Decoder):
    out = staticmethod(F.relu)


class LinearDecoder(Decoder):
    act = staticmethod(lambda h: h)


class LeakyDecoder(Decoder):
    act = staticmethod(F.leaky_relu)


class FlatDecoder(MLPDecoder):
    def forward(self, z):
        return self.net(z)


DECODER_MUTANTS = {
    "applies a sigmoid to its output": SigmoidDecoder,
    "applies a tanh to its output": TanhDecoder,
    "applies a ReLU to its output": ReluOutputDecoder,
    "has no ReLU between its linear layers": LinearDecoder,
    "uses LeakyReLU": LeakyDecoder,
    "Reshape the 784 outputs": FlatDecoder,
}


@pytest.mark.parametrize("words", DECODER_MUTANTS)
def test_decoder_mutants(words):
    rejects(check_decoder, DECODER_MUTANTS[words], words=words)


# === 01: correct alternatives ==========================================================================

class TwoHeadsEncoder(nn.Module):
    """Explicit layers, F.relu, view instead of Flatten, separate mu and logvar heads."""

    def __init__(self, latent_dim=2):
        super().__init__()
        self.logvar_head = nn.Linear(256, latent_dim)  # registered first on purpose
        self.fc1, self.fc2 = nn.Linear(784, 512), nn.Linear(512, 256)
        self.mu_head = nn.Linear(256, latent_dim)

    def forward(self, x):
        h = F.relu(self.fc2(F.relu(self.fc1(x.view(len(x), -1)))))
        return self.mu_head(h), self.logvar_head(h)


class ExplicitDecoder(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(latent_dim, 256), nn.Linear(256, 512), nn.Linear(512, 784)

    def forward(self, z):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(z))))).unflatten(1, (1, 28, 28))


def distribution_reparameterize(mu, logvar):
    return Normal(mu, (0.5 * logvar).exp()).rsample()


def device_aware_reparameterize(mu, logvar):
    return mu + torch.randn(mu.shape, device=mu.device) * torch.sqrt(torch.exp(logvar))


def distribution_vae_loss(logits, x, mu, logvar, beta=1.0):
    reconstruction = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(dim=(1, 2, 3)).mean()
    kl = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean()
    return reconstruction + beta * kl, reconstruction, kl


def logsigmoid_vae_loss(logits, x, mu, logvar, beta=1.0):
    log_p = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    reconstruction = -log_p.flatten(1).sum(1).mean()
    kl = (-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)).mean()
    return reconstruction + beta * kl, reconstruction, kl


def manual_score_function(f, mu, sigma, n):
    z = Normal(float(mu), float(sigma)).sample((n,))
    return (f(z) * (z - mu) / sigma**2).mean()


def test_notebook_01_accepts_correct_alternatives(capsys):
    check_kl_divergence(lambda mu, lv: torch_kl(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0)).sum(-1))
    check_kl_divergence(lambda mu, lv: -0.5 * torch.sum(1 + lv - mu**2 - torch.exp(lv), dim=1))
    check_reparameterize(distribution_reparameterize)
    check_reparameterize(device_aware_reparameterize)
    check_vae_loss(distribution_vae_loss)
    check_vae_loss(logsigmoid_vae_loss)
    check_gradient_estimators(manual_score_function, pathwise())
    check_encoder(TwoHeadsEncoder)
    check_decoder(ExplicitDecoder)
    assert capsys.readouterr().out.count("passed") == 9


# === 02 ================================================================================================

ONE_HOT_MUTANTS = {
    "float32": lambda y, num_classes=10: F.one_hot(y, num_classes),
    "num_classes argument": lambda y, num_classes=10: F.one_hot(y, 10).float(),
    "one column off": lambda y, num_classes=10: F.one_hot((y + 1) % num_classes, num_classes).float(),
    "one row per label": lambda y, num_classes=10: F.one_hot(y, num_classes).float().T,
    "on cpu for inputs on another device": lambda y, num_classes=10: torch.eye(num_classes)[y],
}


@pytest.mark.parametrize("words", ONE_HOT_MUTANTS)
def test_one_hot_mutants(words):
    rejects(check_one_hot, ONE_HOT_MUTANTS[words], words=words)


def _planes(x, y, n=10):
    return F.one_hot(y, n).float()[:, :, None, None].expand(-1, -1, *x.shape[2:])


CONDITION_MUTANTS = {
    "not one channel holding its value":
        lambda x, y, num_classes=10: torch.cat([x, y.float()[:, None, None, None].expand(-1, 1, *x.shape[2:])], 1),
    "Plane k is all ones": lambda x, y, num_classes=10: torch.cat([x, torch.ones(len(x), 10, *x.shape[2:])], 1),
    "come before the image": lambda x, y, num_classes=10: torch.cat([_planes(x, y, num_classes), x], 1),
    "along the batch dimension":
        lambda x, y, num_classes=10: torch.cat([x.expand(-1, 10, -1, -1), _planes(x, y, num_classes)], 0),
    "Use the num_classes argument": lambda x, y, num_classes=10: torch.cat([x, _planes(x, y)], 1),
    "the image's own H and W":
        lambda x, y, num_classes=10: torch.cat([x, F.one_hot(y, num_classes).float()[:, :, None, None]
                                                .expand(-1, -1, 28, 28)], 1),
}


@pytest.mark.parametrize("words", CONDITION_MUTANTS)
def test_condition_on_label_mutants(words):
    rejects(check_condition_on_label, CONDITION_MUTANTS[words], words=words)


class LabelBlindDecoderCVAE(CVAE):
    def decode(self, z, y):
        return super().decode(z, torch.zeros_like(y))


class LabelBlindEncoderCVAE(CVAE):
    def encode(self, x, y):
        return self.encoder(condition_on_label(x, torch.zeros_like(y)))


class MeanDecodingCVAE(CVAE):
    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(mu, y), mu, logvar


class WrongLabelForwardCVAE(CVAE):
    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(reparameterize(mu, logvar), torch.zeros_like(y)), mu, logvar


class WrongSigmaCVAE(CVAE):
    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(mu + logvar.exp() * torch.randn_like(mu), y), mu, logvar


class UnconditionalDecoderCVAE(CVAE):
    def __init__(self, latent_dim=2, num_classes=10):
        super().__init__(latent_dim, num_classes)
        self.decoder = MLPDecoder(latent_dim)

    def decode(self, z, y):
        return self.decoder(z)


class RenamedEncoderCVAE(CVAE):
    def __init__(self, latent_dim=2, num_classes=10):
        super().__init__(latent_dim, num_classes)
        self.q = self.encoder
        del self.encoder

    def encode(self, x, y):
        return self.q(condition_on_label(x, y))


CVAE_MUTANTS = {
    "no module self.encoder": RenamedEncoderCVAE,
    "same image for every label": LabelBlindDecoderCVAE,
    "the encoder ignores the label": LabelBlindEncoderCVAE,
    "decodes mu itself": MeanDecodingCVAE,
    "decodes with the label 0": WrongLabelForwardCVAE,
    "σ is exp(½ logvar)": WrongSigmaCVAE,
    "the decoder 2 + 10 inputs": UnconditionalDecoderCVAE,
}


@pytest.mark.parametrize("words", CVAE_MUTANTS)
def test_cvae_mutants(words):
    rejects(check_cvae, CVAE_MUTANTS[words], words=words)


def reference_cvae_loss(model, x, y, beta=1.0):
    logits, mu, logvar = model(x, y)
    return vae_loss(logits, x, mu, logvar, beta)


def mean_decoding_cvae_loss(model, x, y, beta=1.0):
    _, mu, logvar = model(x, y)
    return vae_loss(model.decode(mu, y), x, mu, logvar, beta)


def summed_cvae_loss(model, x, y, beta=1.0):
    return tuple(len(x) * v for v in reference_cvae_loss(model, x, y, beta))


def beta_on_reconstruction_cvae_loss(model, x, y, beta=1.0):
    _, recon, kl = reference_cvae_loss(model, x, y)
    return beta * recon + kl, recon, kl


CVAE_LOSS_MUTANTS = {
    "ignores beta": lambda m, x, y, beta=1.0: reference_cvae_loss(m, x, y),
    "the reconstruction term was weighted": beta_on_reconstruction_cvae_loss,
    "decodes mu": mean_decoding_cvae_loss,
    "5 times too large": summed_cvae_loss,
    "should return (loss, reconstruction, kl)": lambda m, x, y, beta=1.0: reference_cvae_loss(m, x, y, beta)[0],
    "raised TypeError": lambda m, x, y, beta=1.0: vae_loss(*m(x), x, beta=beta),
}


@pytest.mark.parametrize("words", CVAE_LOSS_MUTANTS)
def test_cvae_loss_mutants(words):
    rejects(check_cvae_loss, CVAE_LOSS_MUTANTS[words], CVAE, words=words)


class OwnLayersCVAE(nn.Module):
    """Written from scratch: own encoder, the label *before* z in the decoder, rsample."""

    def __init__(self, latent_dim=2, num_classes=10):
        super().__init__()
        self.num_classes = num_classes
        self.encoder = ConvEncoder(latent_dim, extra_channels=num_classes)
        self.dec = nn.Sequential(nn.Linear(num_classes + latent_dim, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                 nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))

    def decode(self, z, y):
        return self.dec(torch.cat([torch.eye(self.num_classes, device=z.device)[y], z], dim=1))

    def forward(self, x, y):
        planes = torch.eye(self.num_classes)[y][:, :, None, None] * torch.ones_like(x)
        mu, logvar = self.encoder(torch.cat([x, planes], dim=1))
        return self.decode(Normal(mu, torch.exp(0.5 * logvar)).rsample(), y), mu, logvar


def handwritten_cvae_loss(model, x, y, beta=1.0):
    logits, mu, logvar = model(x, y)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum() / len(x)
    return reconstruction + beta * kl, reconstruction, kl


def test_notebook_02_accepts_correct_alternatives(capsys):
    check_one_hot(lambda y, num_classes=10: torch.eye(num_classes, device=y.device)[y])
    check_one_hot(lambda y, num_classes=10: torch.zeros(len(y), num_classes, device=y.device)
                  .scatter_(1, y[:, None], 1.0))
    check_condition_on_label(lambda x, y, num_classes=10: torch.cat(
        [x, F.one_hot(y, num_classes).float()[:, :, None, None] * torch.ones_like(x)], dim=1))
    check_condition_on_label(lambda x, y, num_classes=10: torch.cat(
        [x, F.one_hot(y, num_classes).to(x)[..., None, None].repeat(1, 1, x.shape[2], x.shape[3])], dim=1))
    check_cvae(OwnLayersCVAE)
    check_cvae_loss(handwritten_cvae_loss, OwnLayersCVAE)
    assert capsys.readouterr().out.count("passed") == 6


# === 03: losses ========================================================================================

bce = F.binary_cross_entropy_with_logits


def bce_on_probabilities_d(real, fake):
    return (F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real))
            + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros_like(fake)))


D_LOSS_MUTANTS = {
    "you computed the BCE from torch.sigmoid(logits)": bce_on_probabilities_d,
    "from logits": lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()),
    "swapped the targets": lambda r, f: d_loss_bce(f, r),
    "not the mean of the two": lambda r, f: d_loss_bce(r, f) / 2,
    "do not sum": lambda r, f: bce(r, torch.ones_like(r), reduction="sum") + bce(f, torch.zeros_like(f), reduction="sum"),
    "double sigmoid": lambda r, f: bce(torch.sigmoid(r), torch.ones_like(r)) + bce(torch.sigmoid(f), torch.zeros_like(f)),
    "The real target is 0.9": lambda r, f: bce(r, torch.full_like(r, 0.9)) + bce(f, torch.zeros_like(f)),
    "least-squares": lambda r, f: F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f)),
    "creates a tensor on the CPU": lambda r, f: bce(r, torch.ones(r.shape)) + bce(f, torch.zeros(f.shape)),
}
G_LOSS_MUTANTS = {
    "saturating loss": lambda f: -bce(f, torch.zeros_like(f)),
    "wrong sign": lambda f: -bce(f, torch.ones_like(f)),
    "you computed the BCE from torch.sigmoid(logits)":
        lambda f: F.binary_cross_entropy(torch.sigmoid(f), torch.ones_like(f)),
    "do not sum": lambda f: bce(f, torch.ones_like(f), reduction="sum"),
    "double sigmoid": lambda f: bce(torch.sigmoid(f), torch.ones_like(f)),
    "creates a tensor on the CPU": lambda f: bce(f, torch.ones(f.shape)),
}


@pytest.mark.parametrize("words", D_LOSS_MUTANTS)
def test_d_loss_mutants(words):
    rejects(check_gan_losses, D_LOSS_MUTANTS[words], g_loss_nonsaturating, words=words)


@pytest.mark.parametrize("words", G_LOSS_MUTANTS)
def test_g_loss_mutants(words):
    rejects(check_gan_losses, d_loss_bce, G_LOSS_MUTANTS[words], words=words)


def test_bce_on_sigmoid_reports_the_saturated_gradient():
    with pytest.raises(CheckError) as caught:
        check_gan_losses(d_loss_bce, G_LOSS_MUTANTS["you computed the BCE from torch.sigmoid(logits)"])
    assert "-0.0936" in str(caught.value) and "-1.0000" in str(caught.value)  # at logit -30: -0.094 instead of -1


# === 03: generator and discriminator ===================================================================

def generator(**options):
    return lambda n: MLPGenerator(n, (1, 28, 28), **options)


class BnAfterActivationG(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        layers, width = [], noise_dim
        for size in (256, 512, 1024):
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), nn.BatchNorm1d(size)]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class DefaultSlopeG(BnAfterActivationG):
    def __init__(self, noise_dim=100):
        super().__init__(noise_dim)
        layers, width = [], noise_dim
        for size in (256, 512, 1024):
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.LeakyReLU()]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, 784), nn.Tanh())


class SigmoidOutputG(MLPGenerator):
    def __init__(self, noise_dim=100):
        super().__init__(noise_dim, (1, 28, 28))
        self.net[-1] = nn.Sigmoid()


def discriminator(**options):
    return lambda: MLPDiscriminator((1, 28, 28), **options)


class SigmoidD(MLPDiscriminator):
    def __init__(self):
        super().__init__((1, 28, 28))

    def forward(self, x, y=None):
        return torch.sigmoid(super().forward(x))


class DefaultSlopeD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(), nn.Linear(512, 256),
                                 nn.LeakyReLU(), nn.Linear(256, 1))

    def forward(self, x):
        return self.net(x)


class NoFlattenD(DefaultSlopeD):
    def forward(self, x):
        return self.net[1:](x)


G_OK, D_OK = generator(), discriminator()
MLP_MUTANTS = {
    "Generator uses ReLU where LeakyReLU(0.2) is asked": (generator(activation="relu"), D_OK),
    "Generator uses LeakyReLU with PyTorch's default slope 0.01": (DefaultSlopeG, D_OK),
    "puts BatchNorm after the activation": (BnAfterActivationG, D_OK),
    "does not end with tanh": (generator(tanh_output=False), D_OK),
    "ends with a sigmoid: the images are scaled to [-1, 1]": (SigmoidOutputG, D_OK),
    "parameters, expected 1,489,936": (generator(batch_norm=False), D_OK),
    "silent double sigmoid": (G_OK, SigmoidD),
    "Discriminator uses ReLU where LeakyReLU(0.2) is asked": (G_OK, discriminator(activation="relu")),
    "Discriminator uses LeakyReLU with PyTorch's default slope 0.01": (G_OK, DefaultSlopeD),
    "flatten the image first": (G_OK, NoFlattenD),
}


@pytest.mark.parametrize("words", MLP_MUTANTS)
def test_mlp_gan_mutants(words):
    rejects(check_mlp_gan, *MLP_MUTANTS[words], words=words)


# === 03: steps ===========================================================================================

def make_d_step(zero_grad=True, detach=True, labels=True, as_float=False, keys=("d_loss", "D(x)", "D(G(z))"),
                zero_after_backward=False, measure_after=False):
    def d_step(G, D, opt_d, real, g_inputs, d_loss):
        if detach:
            with torch.no_grad():
                fake = G(*g_inputs)
        else:
            fake = G(*g_inputs)
        cond = g_inputs[1:] if labels else ()
        real_logits, fake_logits = D(*(real if labels else real[:1])), D(fake, *cond)
        loss = d_loss(real_logits, fake_logits)
        if zero_grad and not zero_after_backward:
            opt_d.zero_grad()
        loss.backward()
        if zero_after_backward:
            opt_d.zero_grad()
        opt_d.step()
        if measure_after:
            with torch.no_grad():
                real_logits, fake_logits = D(*real), D(fake, *cond)
        out = {"d_loss": loss, "D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}
        return {k: (v.item() if as_float else v) for k, v in out.items() if k in keys}
    return d_step


def make_g_step(zero_grad=True, detach=False, as_float=False, step_d=False, labels=True):
    def g_step(G, D, opt_g, g_inputs, g_loss):
        fake = G(*(g_inputs if labels else g_inputs[:1]))
        loss = g_loss(D(fake.detach() if detach else fake, *g_inputs[1:]))
        if zero_grad:
            opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if step_d:
            torch.optim.SGD(D.parameters(), 0.1).step()
        return {"g_loss": loss.item() if as_float else loss}
    return g_step


D_STEP_MUTANTS = {
    "d_step never clears D's old gradients": make_d_step(zero_grad=False),
    "sent gradients into G": make_d_step(detach=False),
    "as the Python number": make_d_step(as_float=True),
    "missing ['D(x)', 'D(G(z))']": make_d_step(keys=("d_loss",)),
    "Pass the labels on": make_d_step(labels=False),
    "did not update D": make_d_step(zero_after_backward=True),
    "before the update": make_d_step(measure_after=True),
}
G_STEP_MUTANTS = {
    "g_step never clears G's old gradients": make_g_step(zero_grad=False),
    "the fakes must keep their gradient": make_g_step(detach=True),
    "as the Python number": make_g_step(as_float=True),
    "g_step changed D": make_g_step(step_d=True),
    "Pass the labels on": make_g_step(labels=False),
}


@pytest.mark.parametrize("words", D_STEP_MUTANTS)
def test_d_step_mutants(words):
    rejects(check_gan_steps, D_STEP_MUTANTS[words], generator_step, words=words)


@pytest.mark.parametrize("words", G_STEP_MUTANTS)
def test_g_step_mutants(words):
    rejects(check_gan_steps, discriminator_step, G_STEP_MUTANTS[words], words=words)


# === 03: correct alternatives ============================================================================

class ExplicitG(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(noise_dim, 256), nn.BatchNorm1d(256)
        self.fc2, self.bn2 = nn.Linear(256, 512), nn.BatchNorm1d(512)
        self.fc3, self.bn3 = nn.Linear(512, 1024), nn.BatchNorm1d(1024)
        self.out = nn.Linear(1024, 784)

    def forward(self, z):
        for fc, bn in ((self.fc1, self.bn1), (self.fc2, self.bn2), (self.fc3, self.bn3)):
            z = F.leaky_relu(bn(fc(z)), 0.2)
        return torch.tanh(self.out(z)).reshape(-1, 1, 28, 28)


class ExplicitD(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 1)])

    def forward(self, x):
        h = x.view(len(x), -1)
        for layer in self.layers[:-1]:
            h = F.leaky_relu(layer(h), negative_slope=0.2)
        return self.layers[-1](h)


def set_to_none_false_d_step(G, D, opt_d, real, g_inputs, d_loss):
    fake = G(*g_inputs).detach()
    opt_d.zero_grad(set_to_none=False)
    real_logits, fake_logits = D(*real), D(fake, *g_inputs[1:])
    loss = d_loss(real_logits, fake_logits)
    loss.backward()
    opt_d.step()
    return {"d_loss": loss.detach(), "D(x)": real_logits.sigmoid().mean(), "D(G(z))": fake_logits.sigmoid().mean()}


def module_zero_grad_g_step(G, D, opt_g, g_inputs, g_loss):
    G.zero_grad()
    loss = g_loss(D(G(*g_inputs), *g_inputs[1:]))
    loss.backward()
    opt_g.step()
    return {"g_loss": loss}


def test_notebook_03_accepts_correct_alternatives(capsys):
    check_gan_losses(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), lambda f: -F.logsigmoid(f).mean())
    criterion = nn.BCEWithLogitsLoss()
    check_gan_losses(lambda r, f: criterion(r, torch.ones_like(r)) + criterion(f, torch.zeros_like(f)),
                     lambda f: criterion(f, torch.ones_like(f)))
    check_mlp_gan(ExplicitG, ExplicitD)
    check_gan_steps(set_to_none_false_d_step, module_zero_grad_g_step)
    check_gan_steps(discriminator_step, generator_step)
    assert capsys.readouterr().out.count("passed") == 5


def test_mutation_suite_covers_every_exercise():
    suites = {"kl_divergence": KL_MUTANTS, "reparameterize": REPARAM_MUTANTS, "vae_loss": VAE_LOSS_MUTANTS,
              "score_function_grad": SCORE_MUTANTS, "reparam_grad": PATHWISE_MUTANTS, "Encoder": ENCODER_MUTANTS,
              "Decoder": DECODER_MUTANTS, "one_hot": ONE_HOT_MUTANTS, "condition_on_label": CONDITION_MUTANTS,
              "CVAE": CVAE_MUTANTS, "cvae_loss": CVAE_LOSS_MUTANTS, "d_loss": D_LOSS_MUTANTS, "g_loss": G_LOSS_MUTANTS,
              "Generator": {k: v for k, v in MLP_MUTANTS.items() if v[1] is D_OK},
              "Discriminator": {k: v for k, v in MLP_MUTANTS.items() if v[0] is G_OK},
              "d_step": D_STEP_MUTANTS, "g_step": G_STEP_MUTANTS}
    assert {name: len(m) for name, m in suites.items() if len(m) < 4} == {}
