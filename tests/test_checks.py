"""Every check passes on the reference implementation and fails, with a useful message, on typical mistakes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import (CheckError, check_decoder, check_encoder, check_gradient_estimators,
                                 check_kl_divergence, check_reparameterize, check_vae_loss)
from course_utils.estimators import reparam_grad, score_function_grad
from course_utils.losses import kl_divergence, vae_loss
from course_utils.models import ConvEncoder, MLPDecoder, MLPEncoder, notebook01_vae, reparameterize


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def test_checks_pass_on_the_reference_with_one_fixed_line(capsys):
    check_kl_divergence(kl_divergence)
    check_reparameterize(reparameterize)
    check_vae_loss(vae_loss)
    check_gradient_estimators(score_function_grad, reparam_grad)
    check_encoder(MLPEncoder)
    check_decoder(MLPDecoder)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "✓ check_kl_divergence passed",
        "✓ check_reparameterize passed",
        "✓ check_vae_loss passed",
        "✓ check_gradient_estimators passed",
        "✓ check_encoder passed (534,276 parameters for a 2-D latent)",
        "✓ check_decoder passed (534,544 parameters for a 2-D latent)",
    ]


@pytest.mark.parametrize("check, args", [
    (check_kl_divergence, (not_implemented,)),
    (check_reparameterize, (not_implemented,)),
    (check_vae_loss, (not_implemented,)),
    (check_gradient_estimators, (not_implemented, not_implemented)),
])
def test_unfinished_exercises_are_reported_as_such(check, args):
    with pytest.raises(CheckError, match="is not implemented yet"):
        check(*args)


@pytest.mark.parametrize("wrong, message", [
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).sum(0), "summed over the batch"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1), "sum over the latent dimension"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).sum(), "one value per example"),
    (lambda mu, lv: (mu**2 + lv.exp() - lv - 1).sum(1), "missing the factor ½"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(1), "check the '- 1' term"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp()**2 - 2 * lv - 1).sum(1), "σ² = exp\\(logvar\\)"),
    (lambda mu, lv: 0.5 * (mu**2 - lv.exp() + lv + 1).sum(1), "KL is negative|'- 1' term"),
    (lambda mu, lv: 0.5 * (mu.detach()**2 + lv.exp() - lv - 1).sum(1), "dKL/dmu|gradient"),
])
def test_kl_mistakes(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_kl_divergence(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "σ = exp\\(½ logvar\\)"),
    (lambda mu, lv: mu.detach() + (0.5 * lv).exp() * torch.randn_like(mu), "no gradient reaches mu"),
    (lambda mu, lv: mu + (0.5 * lv.detach()).exp() * torch.randn_like(mu), "no gradient reaches logvar"),
    (lambda mu, lv: (mu + (0.5 * lv).exp() * torch.randn_like(mu)).detach(), "does not require grad"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu), "mean of 100,000 samples"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * torch.ones_like(mu), "same on every call"),
    (lambda mu, lv: (mu + (0.5 * lv).exp() * torch.randn_like(mu))[:, :1], "same shape as mu"),
])
def test_reparameterize_mistakes(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_reparameterize(wrong)


def _loss(recon_fn, beta_on_kl=True):
    def loss(logits, x, mu, logvar, beta=1.0):
        recon = recon_fn(logits, x)
        kl = kl_divergence(mu, logvar).mean()
        return recon + (beta if beta_on_kl else 1.0) * kl, recon, kl
    return loss


@pytest.mark.parametrize("wrong, message", [
    (_loss(lambda l, x: F.binary_cross_entropy_with_logits(l, x)), "averaged over pixels"),
    (_loss(lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="sum")), "summed over the batch"),
    (_loss(lambda l, x: F.binary_cross_entropy_with_logits(torch.sigmoid(l), x, reduction="sum") / 4),
     "without a sigmoid"),
    (_loss(lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="sum") / 4, beta_on_kl=False),
     "Weight the KL term"),
    (lambda *args, **kw: vae_loss(*args, **kw)[0], "should return a tuple"),
])
def test_vae_loss_mistakes(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_vae_loss(wrong)


def test_gradient_estimator_mistakes():
    with pytest.raises(CheckError, match="only the values of f"):
        check_gradient_estimators(reparam_grad, reparam_grad)  # pathwise in place of the score function
    biased = lambda f, mu, sigma, n: 2 * reparam_grad(f, mu, sigma, n)  # noqa: E731
    with pytest.raises(CheckError, match="reparam_grad .* is wrong"):
        check_gradient_estimators(score_function_grad, biased)


class TooSmallEncoder(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 2 * latent_dim))

    def forward(self, x):
        return self.net(x).chunk(2, dim=1)


class SameHeadsEncoder(MLPEncoder):
    def forward(self, x):
        mu, _ = super().forward(x)
        return mu, mu


class SigmoidDecoder(MLPDecoder):
    def forward(self, z):
        return torch.sigmoid(super().forward(z))


class FlatDecoder(MLPDecoder):
    def forward(self, z):
        return self.net(z)


@pytest.mark.parametrize("check, cls, message", [
    (check_encoder, TooSmallEncoder, "parameters, expected 534,276"),
    (check_encoder, SameHeadsEncoder, "mu and logvar are identical"),
    (check_decoder, SigmoidDecoder, "return logits"),
    (check_decoder, FlatDecoder, "Reshape the 784 outputs"),
])
def test_module_mistakes(check, cls, message):
    with pytest.raises(CheckError, match=message):
        check(cls)


# --- notebook 02 ------------------------------------------------------------------------------------

from course_utils.checks import (check_condition_on_label, check_cvae, check_cvae_loss,  # noqa: E402
                                 check_gan_losses, check_gan_steps, check_mlp_gan, check_one_hot)
from course_utils.losses import d_loss_bce, g_loss_nonsaturating, g_loss_saturating  # noqa: E402
from course_utils.models import CVAE, condition_on_label, one_hot  # noqa: E402
from course_utils.models.gan import MLPDiscriminator, MLPGenerator  # noqa: E402
from course_utils.training import discriminator_step, generator_step  # noqa: E402


def reference_cvae_loss(model, x, y, beta=1.0):
    logits, mu, logvar = model(x, y)
    return vae_loss(logits, x, mu, logvar, beta)


def test_notebook_02_checks_pass_on_the_reference(capsys):
    check_one_hot(one_hot)
    check_condition_on_label(condition_on_label)
    check_cvae(CVAE)
    check_cvae_loss(reference_cvae_loss, CVAE)
    assert capsys.readouterr().out.splitlines() == [
        "✓ check_one_hot passed", "✓ check_condition_on_label passed", "✓ check_cvae passed (553,748 parameters)",
        "✓ check_cvae_loss passed"]


class LabelBlindDecoderCVAE(CVAE):
    def decode(self, z, y):
        return super().decode(z, torch.zeros_like(y))


class MeanDecodingCVAE(CVAE):
    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(mu, y), mu, logvar


@pytest.mark.parametrize("check, args, message", [
    (check_one_hot, (lambda y, num_classes=10: F.one_hot(y, num_classes),), "float32"),
    (check_one_hot, (lambda y, num_classes=10: F.one_hot(y, 10).float(),), "num_classes argument"),
    (check_condition_on_label, (lambda x, y: torch.cat([x, y.float()[:, None, None, None].expand(-1, 1, 28, 28)], 1),),
     "10 label planes"),
    (check_condition_on_label, (lambda x, y: torch.cat([x, torch.ones(len(x), 10, 28, 28)], 1),), "Plane k is all ones"),
    (check_cvae, (LabelBlindDecoderCVAE,), "same image for every label"),
    (check_cvae, (MeanDecodingCVAE,), "decodes mu itself"),
    (check_cvae_loss, (lambda m, x, y, beta=1.0: reference_cvae_loss(m, x, y), CVAE), "ignores beta"),
])
def test_notebook_02_mistakes(check, args, message):
    with pytest.raises(CheckError, match=message):
        check(*args)


# --- notebook 03 ------------------------------------------------------------------------------------

def test_notebook_03_checks_pass_on_the_reference(capsys):
    check_gan_losses(d_loss_bce, g_loss_nonsaturating)
    check_mlp_gan(lambda n: MLPGenerator(n, (1, 28, 28)), lambda: MLPDiscriminator((1, 28, 28)))
    check_gan_steps(discriminator_step, generator_step)
    assert capsys.readouterr().out.splitlines() == [
        "✓ check_gan_losses passed", "✓ check_mlp_gan passed (G: 1,489,936 parameters, D: 533,505 parameters)",
        "✓ check_gan_steps passed"]


def unstable_d_loss(real, fake):
    return -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())


def leaky_d_step(G, D, opt_d, real, g_inputs, d_loss):
    real_logits, fake_logits = D(*real), D(G(*g_inputs), *g_inputs[1:])  # fakes not detached
    loss = d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return {"d_loss": loss, "D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}


def label_blind_d_step(G, D, opt_d, real, g_inputs, d_loss):
    with torch.no_grad():
        fake = G(*g_inputs)
    real_logits, fake_logits = D(real[0]), D(fake)
    loss = d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return {"d_loss": loss, "D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}


def both_players_g_step(G, D, opt_g, g_inputs, g_loss):
    opt_d = torch.optim.SGD(D.parameters(), 0.1)
    loss = g_loss(D(G(*g_inputs), *g_inputs[1:]))
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    opt_d.step()
    return {"g_loss": loss}


@pytest.mark.parametrize("check, args, message", [
    (check_gan_losses, (lambda r, f: d_loss_bce(f, r), g_loss_nonsaturating), "swapped the targets"),
    (check_gan_losses, (d_loss_bce, g_loss_saturating), "saturating loss"),
    (check_gan_losses, (unstable_d_loss, g_loss_nonsaturating), "from logits"),
    (check_mlp_gan, (lambda n: MLPGenerator(n, (1, 28, 28), tanh_output=False),
                     lambda: MLPDiscriminator((1, 28, 28))), "end with tanh"),
    (check_mlp_gan, (lambda n: MLPGenerator(n, (1, 28, 28), batch_norm=False),
                     lambda: MLPDiscriminator((1, 28, 28))), "parameters, expected 1,489,936"),
    (check_mlp_gan, (lambda n: MLPGenerator(n, (1, 28, 28)),
                     lambda: MLPDiscriminator((1, 28, 28), activation="relu")), "LeakyReLU"),
    (check_gan_steps, (leaky_d_step, generator_step), "sent gradients into G"),
    (check_gan_steps, (label_blind_d_step, generator_step), "Pass the labels on"),
    (check_gan_steps, (discriminator_step, both_players_g_step), "g_step changed D"),
])
def test_notebook_03_mistakes(check, args, message):
    with pytest.raises(CheckError, match=message):
        check(*args)


# --- behaviour helpers and the 01 → 02 conversion ----------------------------------------------------

from course_utils.checks._core import columns_match, expect_same_device, perturb, plant_gradients  # noqa: E402
from course_utils.models import VAE  # noqa: E402
from course_utils.models.vae import as_reference_vae, encoder_parameter_layouts, transfer_parameters  # noqa: E402


class RenamedDecoder(nn.Module):
    """01's decoder written with other names, the last layer registered first."""

    def __init__(self, latent_dim=2):
        super().__init__()
        self.out = nn.Linear(512, 784)
        self.hidden = nn.ModuleList([nn.Linear(latent_dim, 256), nn.Linear(256, 512)])

    def forward(self, z):
        for layer in self.hidden:
            z = torch.relu(layer(z))
        return self.out(z).view(-1, 1, 28, 28)


def test_transfer_parameters_matches_by_shape_and_behaviour():
    torch.manual_seed(0)
    source, target = RenamedDecoder(), MLPDecoder()
    z = torch.randn(3, 2)
    assert transfer_parameters(source, target, lambda: torch.allclose(target(z), source(z)))
    assert torch.allclose(target(z), source(z))
    assert not transfer_parameters(nn.Linear(3, 4), MLPDecoder())  # shapes differ
    tied_a, tied_b = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    x = torch.randn(2, 4)
    swapped = nn.Sequential(tied_a[1], tied_a[0])  # the same layers, registered in the other order
    assert transfer_parameters(swapped, tied_b, lambda: torch.allclose(tied_b(x), tied_a(x)))


def test_as_reference_vae_converts_a_vae_written_another_way():
    torch.manual_seed(0)
    from tests.test_mutations_01_03 import TwoHeadsEncoder
    model = VAE(TwoHeadsEncoder(2), RenamedDecoder(2))
    converted = as_reference_vae(model, 2)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        for got, want in zip(converted.encoder(x), model.encoder(x)):
            assert torch.allclose(got, want, atol=1e-6)
    assert set(converted.state_dict()) == set(notebook01_vae(2).state_dict())
    conv = VAE(ConvEncoder(2), MLPDecoder(2))          # the homework's encoder converts to the default VAE
    assert set(as_reference_vae(conv, 2).state_dict()) == set(VAE(latent_dim=2).state_dict())
    assert len(encoder_parameter_layouts(TwoHeadsEncoder(2), 2)) == 3
    with pytest.raises(ValueError, match="the decoder does not compute"):
        as_reference_vae(VAE(ConvEncoder(2), nn.Sequential(nn.Linear(2, 784), nn.Unflatten(1, (1, 28, 28)))), 2)


def test_behaviour_helpers():
    expect_same_device("f", lambda t: t * 2, torch.ones(3))
    with pytest.raises(CheckError, match="creates a tensor on the CPU"):
        expect_same_device("f", lambda t: t + torch.ones(3), torch.ones(3))
    layer = perturb(nn.BatchNorm1d(4))
    assert not torch.equal(layer.weight, torch.ones(4))
    a = torch.randn(5, 3)
    assert columns_match(a[:, [2, 0, 1]], a) and not columns_match(a + 1, a)
    stale = plant_gradients(layer, seed=0)
    assert torch.equal(layer.weight.grad, stale[0])
