import math
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence as torch_kl

from course_utils.estimators import estimator_variance, reparam_grad, score_function_grad
from course_utils.losses import bernoulli_nll, kl_divergence, vae_loss
from course_utils.models import VAE, ConvEncoder, MLPDecoder, MLPEncoder, reparameterize


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
    assert sum(p.numel() for p in MLPEncoder(2).parameters()) == 534_276
    mu, logvar = MLPEncoder(3)(x)
    assert mu.shape == logvar.shape == (5, 3)


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


def test_bernoulli_entropy_is_the_floor_of_the_bce():
    from course_utils.losses import bernoulli_entropy
    x = torch.rand(3, 1, 28, 28)
    floor = bernoulli_entropy(x)
    assert torch.allclose(floor, bernoulli_nll(torch.logit(x), x), rtol=1e-4)     # reached at p = x
    assert (bernoulli_nll(torch.randn(3, 1, 28, 28), x) >= floor).all()
    assert torch.equal(bernoulli_entropy((x > 0.5).float()), torch.zeros(3))        # binary pixels: 0
    assert torch.allclose(bernoulli_entropy(torch.full((1, 784), 0.5)), torch.tensor([784 * 0.6931472]))


def test_mlp_decoder_hidden_widths():
    assert sum(p.numel() for p in MLPDecoder(2, hidden=(32, 64)).parameters()) == 53_168
    assert MLPDecoder(2, extra_inputs=10, hidden=(32, 64))(torch.randn(4, 12)).shape == (4, 1, 28, 28)


def _tiny_bernoulli_model(latent_dim=1, pixels=4):
    torch.manual_seed(0)
    decoder = torch.nn.Linear(latent_dim, pixels)
    head = torch.nn.Linear(pixels, 2 * latent_dim)
    encode = lambda x: head(x.flatten(1)).chunk(2, dim=1)
    return encode, decoder


def test_importance_weighted_bound_is_exact_for_a_decoder_that_ignores_z():
    from course_utils.training import importance_weighted_bound
    x = torch.rand(5, 4)
    logits = torch.randn(4)
    decode = lambda z: logits.expand(len(z), 4)
    bound = importance_weighted_bound(lambda x: (torch.zeros(len(x), 2), torch.zeros(len(x), 2)), decode, x, k=3)
    assert torch.allclose(bound, -bernoulli_nll(logits.expand(5, 4), x), atol=1e-5)   # q = prior: exact log p(x)


def test_importance_weighted_bound_tightens_towards_the_exact_likelihood():
    from course_utils.training import importance_weighted_bound
    encode, decoder = _tiny_bernoulli_model()
    x = torch.rand(6, 4)
    with torch.no_grad():                      # exact log p(x) by quadrature over the 1-D latent
        z = torch.linspace(-8, 8, 4001)[:, None]
        log_joint = -bernoulli_nll(decoder(z)[:, None, :].expand(-1, 6, -1).reshape(-1, 4),
                                   x.repeat(len(z), 1)).view(len(z), 6) + Normal(0.0, 1.0).log_prob(z)
        exact = torch.logsumexp(log_joint, dim=0) + torch.log(z[1] - z[0])
    elbo_like = importance_weighted_bound(encode, decoder, x, k=1, seed=0)
    tight = importance_weighted_bound(encode, decoder, x, k=2000, seed=0)
    assert torch.allclose(tight, exact, atol=3e-2) and tight.mean() <= exact.mean() + 1e-2   # a bound in expectation
    assert importance_weighted_bound(encode, decoder, x, k=200, seed=1).mean() >= elbo_like.mean()
    again = importance_weighted_bound(encode, decoder, x, k=2000, seed=0)
    assert torch.equal(tight, again)                                                   # seeded


def test_importance_weighted_bound_passes_labels_to_a_conditional_model():
    from course_utils.training import importance_weighted_bound
    seen = []
    x, y = torch.rand(3, 4), torch.tensor([1, 2, 3])

    def encode(x, y):
        seen.append(("q", y.tolist()))
        return torch.zeros(len(x), 2), torch.zeros(len(x), 2)

    def decode(z, y):
        seen.append(("p", y.tolist()))
        return y.float()[:, None].expand(-1, 4)

    bound = importance_weighted_bound(encode, decode, x, y, k=2)
    assert seen == [("q", [1, 2, 3]), ("p", [1, 2, 3, 1, 2, 3])]
    assert torch.allclose(bound, -bernoulli_nll(y.float()[:, None].expand(-1, 4), x), atol=1e-5)


def test_train_vae_cosine_schedule_reaches_zero():
    from torch.utils.data import TensorDataset
    from course_utils.training import train_vae
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(64, 1, 28, 28), torch.zeros(64, dtype=torch.long))
    model = VAE(latent_dim=2)
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        train_vae(model, data, epochs=2, batch_size=16, lr=1e-3, lr_schedule="cosine")
    finally:
        torch.optim.Adam.step = original
    assert len(seen) == 8 and abs(seen[0] - 1e-3) < 1e-12 and seen == sorted(seen, reverse=True)
    assert abs(seen[4] - 1e-3 * 0.5 * (1 + math.cos(math.pi * 4 / 8))) < 1e-12


def test_train_vae_cosine_schedule_continues_across_epoch_by_epoch_calls():
    """The resumable recipes call train_vae one epoch at a time: the schedule must follow the whole run."""
    from torch.utils.data import TensorDataset
    from course_utils.training import History, train_vae
    data = TensorDataset(torch.rand(32, 1, 28, 28), torch.zeros(32, dtype=torch.long))
    lrs = {}
    for mode in ("once", "by_epoch"):
        torch.manual_seed(0)
        model = VAE(latent_dim=2)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        seen, original = [], torch.optim.Adam.step

        def spy(self, *args, **kwargs):
            seen.append(self.param_groups[0]["lr"])
            return original(self, *args, **kwargs)

        torch.optim.Adam.step = spy
        try:
            if mode == "once":
                train_vae(model, data, epochs=3, batch_size=16, lr=2e-3, optimizer=optimizer, lr_schedule="cosine")
            else:
                history = History()
                for _ in range(3):
                    train_vae(model, data, epochs=1, batch_size=16, lr=2e-3, optimizer=optimizer, history=history,
                              lr_schedule="cosine", schedule_epochs=3)
        finally:
            torch.optim.Adam.step = original
        lrs[mode] = seen
    assert len(lrs["once"]) == 6 and lrs["once"] == lrs["by_epoch"]
