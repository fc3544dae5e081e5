"""The style-based generator of notebook 08 (Karras et al., 2019): shapes, the paper's formulas, style mixing,
noise inputs and truncation."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.models.stylegan import (AdaIN, MappingNetwork, NoiseInjection, StyleGenerator, adain, mix_styles,
                                          per_pixel_std, pixel_norm, truncate)


def test_pixel_norm_puts_each_sample_on_the_sphere_of_radius_sqrt_n():
    z = torch.randn(5, 16) * torch.tensor([0.1, 1, 3, 10, 100])[:, None]
    out = pixel_norm(z)
    assert torch.allclose(out.norm(dim=1), torch.full((5,), 4.0), atol=1e-4)
    assert torch.allclose(pixel_norm(z[:2]), out[:2])              # per sample: the batch does not matter


def test_adain_is_eq_1_per_sample_and_channel():
    x = torch.randn(3, 4, 5, 5) * 2 + 7
    scale, bias = torch.randn(3, 4), torch.randn(3, 4)
    out = adain(x, scale, bias)
    mu, sigma = x.mean((2, 3), keepdim=True), (x.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    assert torch.allclose(out, scale[..., None, None] * (x - mu) / sigma + bias[..., None, None], atol=1e-5)
    assert torch.allclose(out.mean((2, 3)), bias, atol=1e-5)
    assert torch.allclose(out.std((2, 3), unbiased=False), scale.abs(), atol=1e-4)


def test_adain_module_starts_as_identity_scale_and_uses_one_style_per_sample():
    m = AdaIN(4, 6)
    with torch.no_grad():
        m.affine.weight.zero_()
    x = torch.randn(2, 4, 3, 3)
    assert torch.allclose(m(x, torch.randn(2, 6)), F.instance_norm(x, eps=1e-5), atol=1e-6)
    m = AdaIN(4, 6)
    w = torch.randn(2, 6)
    x = torch.randn(1, 4, 3, 3).expand(2, -1, -1, -1)
    out = m(x, w)
    assert not torch.allclose(out[0], out[1])                       # same features, different styles


def test_mapping_network_shapes_and_scale_invariance():
    f = MappingNetwork(8, 5, 3)
    z = torch.randn(7, 8)
    w = f(z)
    assert w.shape == (7, 5) and len(f.layers) == 3
    assert torch.allclose(f(3 * z), w, atol=1e-5)
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for layer in f.layers:                                          # LeakyReLU(0.2) after every layer, the last too
        x = F.leaky_relu(layer(x), 0.2)
    assert torch.allclose(w, x, atol=1e-6)


def test_noise_injection_is_one_image_per_sample_scaled_per_channel():
    m = NoiseInjection(3)
    x = torch.randn(4, 3, 5, 5)
    assert torch.equal(m(x), x)                                     # weights start at 0
    with torch.no_grad():
        m.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
    noise = torch.randn(4, 1, 5, 5)
    assert torch.allclose(m(x, noise), x + torch.tensor([1.0, 2.0, -1.0]).view(1, 3, 1, 1) * noise)
    d = m(x) - x
    assert torch.allclose(d[:, 1], 2 * d[:, 0]) and not torch.allclose(d[0], d[1])


def test_generator_shapes_layers_and_parameter_groups():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=16, w_dim=16, channels=(16, 16, 8, 8), mapping_layers=2)
    assert G.num_layers == 8 and G.layer_resolutions() == [4, 4, 8, 8, 16, 16, 32, 32]
    G.eval()
    assert G(torch.randn(3, 16)).shape == (3, 3, 32, 32)
    groups = G.param_groups(1e-3)
    assert groups[0]["lr"] == pytest.approx(1e-5) and groups[1]["lr"] == 1e-3
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in G.parameters())
    with pytest.raises(ValueError, match="one w per layer"):
        G.synthesis(torch.randn(3, 16))
    with pytest.raises(ValueError, match="one entry per resolution"):
        StyleGenerator(channels=(8, 8, 8))


def test_fixed_noise_and_style_mixing_are_deterministic_and_local():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, channels=(8, 8, 8, 8), mapping_layers=2).eval()
    for layer in G.layers:
        torch.nn.init.normal_(layer.noise.weight, 0, 0.5)
    w = G.mapping(torch.randn(2, 8))
    ws = w[:1, None].expand(-1, 8, -1)
    noise = G.make_noise(1, torch.Generator().manual_seed(0))
    assert [n.shape[-1] for n in noise] == G.layer_resolutions()
    with torch.no_grad():
        a, b = G.synthesis(ws, noise), G.synthesis(ws, noise)
        c = G.synthesis(ws)                                          # fresh noise
    assert torch.equal(a, b) and not torch.allclose(a, c)
    mixed = mix_styles(w[0:1], w[1:2], crossover=4)
    assert mixed.shape == (1, 8, 8)
    assert torch.equal(mixed[0, :4], w[0].expand(4, -1)) and torch.equal(mixed[0, 4:], w[1].expand(4, -1))
    assert torch.equal(mix_styles(w[0:1], w[1:2], 8), w[0:1, None].expand(-1, 8, -1))
    with pytest.raises(ValueError, match="crossover"):
        mix_styles(w, w, 9)


def test_style_mixing_regularisation_only_in_training_mode():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, channels=(8, 8, 8, 8), mapping_layers=2, mixing_prob=1.0)
    z = torch.randn(2, 8)
    noise = G.make_noise(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        G.eval()
        a, b = G(z, noise), G(z, noise)
        G.train()
        c = G(z, noise)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_truncation_and_mean_w():
    G = StyleGenerator(z_dim=8, w_dim=8, channels=(8, 8, 8, 8), mapping_layers=2)
    w_avg = G.mean_w(2000)
    assert w_avg.shape == (8,) and torch.equal(w_avg, G.mean_w(2000))
    w = torch.randn(5, 8)
    assert torch.allclose(truncate(w, w_avg, 1.0), w)
    assert torch.allclose(truncate(w, w_avg, 0.0), w_avg.expand(5, -1))
    assert torch.allclose(truncate(w, w_avg, 0.5) - w_avg, 0.5 * (w - w_avg))


def test_per_pixel_std():
    images = torch.zeros(4, 3, 2, 2)
    images[:, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0, 1.0])[:, None]
    std = per_pixel_std(images)
    assert std.shape == (2, 2) and std[0, 0] == pytest.approx(torch.tensor([0.0, 1, 0, 1]).std().item())
    assert std[1, 1] == 0


def test_generator_learns_with_the_course_losses():
    """A few steps of the notebook's training on a fixed batch lower D's loss: every part gets a gradient."""
    from course_utils.losses import d_loss_bce, g_loss_nonsaturating
    from course_utils.models.dcgan import DCDiscriminator
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, channels=(8, 8, 8, 8), mapping_layers=2)
    for layer in G.layers:
        torch.nn.init.constant_(layer.noise.weight, 0.1)
    D = DCDiscriminator(4, spectral_norm=True, batch_norm=False)
    loss = g_loss_nonsaturating(D(G(torch.randn(4, 8))))
    loss.backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    real = torch.rand(8, 3, 32, 32) * 2 - 1
    assert torch.isfinite(d_loss_bce(D(real), D(G(torch.randn(8, 8)).detach())))
