"""Notebook 08's checks kill the mistakes students make (each with a message naming it) and accept correct
answers written in other ways."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import CheckError, check_adain, check_mapping_network, check_noise_injection
from course_utils.models.stylegan import AdaIN, MappingNetwork, NoiseInjection


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# --- AdaIN ---------------------------------------------------------------------------------------------

class AdaINBase(nn.Module):
    """The notebook's given __init__; subclasses write `normalise` and `forward` as a student might."""

    def __init__(self, channels, w_dim):
        super().__init__()
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.affine.bias)

    def styles(self, w):
        scale, bias = self.affine(w).chunk(2, dim=1)
        return (1 + scale)[:, :, None, None], bias[:, :, None, None]


def adain_variant(normalise=None, styles=None, eps=1e-5):
    def default_normalise(x):
        mean, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps)

    class Variant(AdaINBase):
        def forward(self, x, w):
            scale, bias = (styles or AdaINBase.styles)(self, w)
            return scale * (normalise or default_normalise)(x) + bias
    return Variant


def no_plus_one(self, w):
    scale, bias = self.affine(w).chunk(2, dim=1)
    return scale[:, :, None, None], bias[:, :, None, None]


def swapped(self, w):
    scale, bias = self.affine(w).chunk(2, dim=1)
    return (1 + bias)[:, :, None, None], scale[:, :, None, None]


def interleaved(self, w):
    style = self.affine(w).view(w.shape[0], -1, 2)
    return (1 + style[..., 0])[:, :, None, None], style[..., 1][:, :, None, None]


def batch_mean_style(self, w):
    return AdaINBase.styles(self, w.mean(0, keepdim=True))


def detached_style(self, w):
    return AdaINBase.styles(self, w.detach())


def batch_norm(x):
    return (x - x.mean((0, 2, 3), keepdim=True)) / torch.sqrt(x.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5)


def layer_norm(x):
    return F.layer_norm(x, x.shape[1:])


def unbiased(x):
    return (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5)


def no_eps(x):
    return (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), unbiased=False, keepdim=True)


def not_normalised(x):
    return x


def mean_only(x):
    return x - x.mean((2, 3), keepdim=True)


@pytest.mark.parametrize("wrong, message", [
    (adain_variant(styles=no_plus_one), "lacks its \\+1"),
    (adain_variant(styles=swapped), "swapped"),
    (adain_variant(styles=interleaved), "split the wrong way"),
    (adain_variant(styles=batch_mean_style), "batch's mean w"),
    (adain_variant(styles=detached_style), "no gradient reaches w"),
    (adain_variant(normalise=batch_norm), "over the batch"),
    (adain_variant(normalise=layer_norm), "all channels together"),
    (adain_variant(normalise=unbiased), "unbiased"),
    (adain_variant(normalise=no_eps), "add ε"),
    (adain_variant(normalise=not_normalised), "not normalised"),
    (adain_variant(normalise=mean_only), "mean 0 and std 1"),
])
def test_adain_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_adain(wrong)


class AdaINInstanceNorm(AdaINBase):
    def forward(self, x, w):
        scale, bias = self.affine(w).chunk(2, dim=1)
        return (1 + scale).view(*scale.shape, 1, 1) * F.instance_norm(x) + bias.view(*bias.shape, 1, 1)


class AdaINVarMean(AdaINBase):
    def forward(self, x, w):
        style = self.affine(w).unsqueeze(-1).unsqueeze(-1)
        c = x.shape[1]
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return (1 + style[:, :c]) * (x - mean) * torch.rsqrt(var + 1e-8) + style[:, c:]


@pytest.mark.parametrize("right", [AdaIN, AdaINInstanceNorm, AdaINVarMean,
                                   adain_variant(normalise=lambda x: (x - x.mean((2, 3), keepdim=True))
                                                 / (x.std((2, 3), unbiased=False, keepdim=True) + 1e-5))])
def test_adain_correct_answers_pass(right, capsys):
    check_adain(right)
    assert capsys.readouterr().out.startswith("✓ check_adain passed")


# --- the mapping network -------------------------------------------------------------------------------

class MappingBase(nn.Module):
    def __init__(self, z_dim, w_dim, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(z_dim if i == 0 else w_dim, w_dim) for i in range(num_layers))


def mapping_variant(norm, act=lambda t: F.leaky_relu(t, 0.2), last=True):
    class Variant(MappingBase):
        def forward(self, z):
            x = norm(z)
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if last or i < len(self.layers) - 1:
                    x = act(x)
            return x
    return Variant


def pn(z):
    return z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)


class BatchNormMapping(MappingBase):
    def forward(self, z):
        x = F.batch_norm(z, None, None, training=True)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class DetachedLayersMapping(MappingBase):
    def forward(self, z):
        x = pn(z)
        for i, layer in enumerate(self.layers):
            x = F.leaky_relu(layer(x), 0.2)
            if i == 0:
                x = x.detach()
        return x


@pytest.mark.parametrize("wrong, message", [
    (mapping_variant(lambda z: z), "not pixel-normalised"),
    (mapping_variant(lambda z: z * torch.rsqrt(z.pow(2).mean(0, keepdim=True) + 1e-8)), "over the batch"),
    (mapping_variant(lambda z: F.normalize(z, dim=1)), "unit length"),
    (mapping_variant(lambda z: z / (z.pow(2).mean(1, keepdim=True) + 1e-8)), "square root"),
    (mapping_variant(lambda z: z / z.std(1, keepdim=True)), "standard deviation"),
    (mapping_variant(pn, F.relu), "ReLU instead of LeakyReLU"),
    (mapping_variant(pn, nn.LeakyReLU()), "default slope 0.01"),
    (mapping_variant(pn, last=False), "last layer has no activation"),
    (mapping_variant(pn, torch.tanh), "tanh"),
    (BatchNormMapping, "depends on the other samples"),
    (DetachedLayersMapping, "get no gradient"),
])
def test_mapping_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_mapping_network(wrong)


class SequentialMapping(MappingBase):
    def forward(self, z):
        z = F.normalize(z, dim=1) * math.sqrt(z.shape[1])
        return nn.Sequential(*[m for layer in self.layers for m in (layer, nn.LeakyReLU(0.2))])(z)


@pytest.mark.parametrize("right", [MappingNetwork, SequentialMapping,
                                   mapping_variant(lambda z: z / z.pow(2).mean(1, keepdim=True).add(1e-8).sqrt())])
def test_mapping_correct_answers_pass(right, capsys):
    check_mapping_network(right)
    assert capsys.readouterr().out.startswith("✓ check_mapping_network passed")


# --- noise injection -----------------------------------------------------------------------------------

class NoiseBase(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))


def noise_variant(draw, combine=lambda self, x, n: x + self.weight.view(1, -1, 1, 1) * n, use_given=True):
    class Variant(NoiseBase):
        def forward(self, x, noise=None):
            if noise is None or not use_given:
                noise = draw(x)
            return combine(self, x, noise)
    return Variant


def good_draw(x):
    return torch.randn(x.shape[0], 1, *x.shape[2:])


@pytest.mark.parametrize("wrong, message", [
    (noise_variant(lambda x: torch.randn_like(x)), "each channel got its own noise"),
    (noise_variant(lambda x: torch.randn(1, 1, *x.shape[2:]).expand(x.shape[0], -1, -1, -1)), "same noise image"),
    (noise_variant(lambda x: torch.rand(x.shape[0], 1, *x.shape[2:])), "torch.rand is uniform"),
    (noise_variant(lambda x: torch.randn(x.shape[0], 1, *x.shape[2:], generator=torch.Generator().manual_seed(0))),
     "same at every call"),
    (noise_variant(good_draw, use_given=False), "given noise is ignored"),
    (noise_variant(good_draw, combine=lambda self, x, n: x + n), "not scaled"),
    (noise_variant(good_draw, combine=lambda self, x, n: x + self.weight * n), "last dimension"),
    (noise_variant(good_draw, combine=lambda self, x, n: x), "was not added"),
    (noise_variant(good_draw, combine=lambda self, x, n: x + self.weight.detach().view(1, -1, 1, 1) * n),
     "no gradient reaches self.weight"),
])
def test_noise_mistakes_are_named(wrong, message):
    with pytest.raises(CheckError, match=message):
        check_noise_injection(wrong)


class NoiseEinsum(NoiseBase):
    def forward(self, x, noise=None):
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + torch.einsum("c,bhw->bchw", self.weight, noise[:, 0])


def addcmul(self, x, n):
    return torch.addcmul(x, self.weight[:, None, None], n)


@pytest.mark.parametrize("right", [NoiseInjection, NoiseEinsum,
                                   noise_variant(lambda x: torch.randn_like(x[:, :1]), combine=addcmul)])
def test_noise_correct_answers_pass(right, capsys):
    check_noise_injection(right)
    assert capsys.readouterr().out.startswith("✓ check_noise_injection passed")


@pytest.mark.parametrize("check", [check_adain, check_mapping_network, check_noise_injection])
def test_unfinished_exercises_are_reported_as_such(check):
    with pytest.raises(CheckError, match="is not implemented yet"):
        check(not_implemented)
