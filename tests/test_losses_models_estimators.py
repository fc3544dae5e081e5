import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence as torch_kl

from course_utils.estimators import estimator_variance, reparam_grad, score_function_grad
from course_utils.losses import bernoulli_nll, kl_divergence, vae_loss
from course_utils.models import VAE, ConvEncoder, MLPDecoder, reparameterize


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-5)
    assert torch.equal(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_bernoulli_nll_is_bce_summed_over_pixels():
    logits, x = torch.randn(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    p = torch.sigmoid(logits)
    manual = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(bernoulli_nll(logits, x), manual, rtol=1e-4)


def test_vae_loss_weights_only_the_kl_by_beta():
    logits, x = torch.randn(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    mu, logvar = torch.randn(4, 2), torch.randn(4, 2)
    loss1, recon, kl = vae_loss(logits, x, mu, logvar)
    loss4, recon4, kl4 = vae_loss(logits, x, mu, logvar, beta=4.0)
    assert torch.allclose(loss1, recon + kl) and torch.allclose(loss4, recon + 4 * kl)
    assert torch.equal(recon, recon4) and torch.equal(kl, kl4)
    assert torch.allclose(recon, F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 4)


def test_reparameterize_statistics_and_gradients():
    mu = torch.full((50_000, 1), 2.0, requires_grad=True)
    logvar = torch.full((50_000, 1), 2 * torch.log(torch.tensor(0.5)).item(), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 2.0) < 0.02 and abs(z.std().item() - 0.5) < 0.01
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert torch.allclose(logvar.grad, 0.5 * (z - mu).detach(), atol=1e-6)


def test_encoder_decoder_shapes_and_sizes():
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = ConvEncoder(3)(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert MLPDecoder(3)(mu).shape == (5, 1, 28, 28)
    assert sum(p.numel() for p in ConvEncoder(2).parameters()) == 15_204
    assert sum(p.numel() for p in MLPDecoder(2).parameters()) == 534_544


def test_vae_forward_sample_and_encode_means_use_the_given_parts():
    calls = []

    def spy(mu, logvar):
        calls.append(mu.shape)
        return mu

    model = VAE(latent_dim=2, reparameterize=spy)
    logits, mu, logvar = model(torch.rand(4, 1, 28, 28))
    assert logits.shape == (4, 1, 28, 28) and calls == [torch.Size([4, 2])]
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    means = model.encode_means(torch.rand(7, 1, 28, 28), batch_size=3)
    assert means.shape == (7, 2)


def test_estimators_are_unbiased_and_reparam_has_lower_variance():
    f = lambda z: (z - 1.0) ** 2  # noqa: E731
    torch.manual_seed(0)
    assert abs(score_function_grad(f, 0.3, 0.8, 200_000).item() - (-1.4)) < 0.05
    assert abs(reparam_grad(f, 0.3, 0.8, 200_000).item() - (-1.4)) < 0.01
    sizes = [1, 10, 100]
    v_sf = estimator_variance(score_function_grad, f, 0.3, 0.8, sizes, repeats=100)
    v_rp = estimator_variance(reparam_grad, f, 0.3, 0.8, sizes, repeats=100)
    assert v_sf.shape == v_rp.shape == (3,)
    assert bool((v_sf > v_rp).all())
    assert v_rp[0] > v_rp[2]  # variance falls with the number of samples
