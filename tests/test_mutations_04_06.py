"""Mutation tests for the checks of notebooks 04–06: the wrong answers students write must be rejected with a
message that names the mistake, and correct answers written another way must pass."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from course_utils.checks import (CheckError, check_clip_weights, check_cycle_losses, check_cyclegan_step,
                                 check_edge_correlation,
                                 check_dc_discriminator, check_dc_generator, check_gan_iteration, check_gradient_penalty,
                                 check_image_pool, check_lsgan_losses, check_patch_discriminator, check_power_iteration,
                                 check_residual_block, check_resnet_generator, check_wgan_losses)
from course_utils.losses import (clip_weights, gradient_penalty, lsgan_d_loss, lsgan_g_loss, lsgan_loss,
                                 wgan_critic_loss, wgan_generator_loss)
from course_utils.metrics.content import edge_correlation
from course_utils.models.cyclegan import ImagePool, PatchDiscriminator, ResnetBlock
from course_utils.models.dcgan import power_iteration
from course_utils.checks.nb05_wgan import check_wgan_iteration
from course_utils.training import cyclegan_step, gan_iteration, wgan_iteration


def rejected(check, *args, match):
    with pytest.raises(CheckError, match=match):
        check(*args)


# --- 04: the discriminator ---------------------------------------------------------------------------------------

def make_discriminator(act=lambda x: F.leaky_relu(x, 0.2), norm_after_act=False, sigmoid=False, bias=True,
                       sn_fn=parametrizations.spectral_norm, ignore_sn=False, last_norm=False):
    class Discriminator(nn.Module):
        def __init__(self, conv_dim=64, spectral_norm=False):
            super().__init__()
            sn = spectral_norm and not ignore_sn
            widths = [3, conv_dim, 2 * conv_dim, 4 * conv_dim, 1]
            self.convs = nn.ModuleList()
            self.norms = nn.ModuleList()
            for k in range(4):
                conv = nn.Conv2d(widths[k], widths[k + 1], 5, stride=2, padding=2 if k < 3 else 1,
                                 bias=bias or k == 3)
                self.convs.append(sn_fn(conv) if sn else conv)
                if k < 3 or last_norm:
                    self.norms.append(nn.BatchNorm2d(widths[k + 1]))

        def forward(self, x):
            for k in range(3):
                x = self.convs[k](x)
                x = self.norms[k](act(x)) if norm_after_act else act(self.norms[k](x))
            x = self.convs[3](x)
            if last_norm:
                x = self.norms[3](x)
            x = x.flatten(1)
            return torch.sigmoid(x) if sigmoid else x
    return Discriminator


class SequentialDiscriminator(nn.Module):
    """A correct alternative: one nn.Sequential, LeakyReLU modules in place, bias-free convs before BatchNorm,
    the old-style torch.nn.utils.spectral_norm."""

    def __init__(self, conv_dim=64, spectral_norm=False):
        super().__init__()
        sn = torch.nn.utils.spectral_norm if spectral_norm else (lambda m: m)
        c = conv_dim
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, c, 5, 2, 2, bias=False)), nn.BatchNorm2d(c), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(c, 2 * c, 5, 2, 2, bias=False)), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(2 * c, 4 * c, 5, 2, 2, bias=False)), nn.BatchNorm2d(4 * c), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(4 * c, 1, 5, 2, 1)), nn.Flatten())

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("wrong, message", [
    (make_discriminator(sigmoid=True), "double sigmoid|sigmoid"),
    (make_discriminator(act=F.relu), "found ReLU where LeakyReLU\\(0.2\\) is asked"),
    (make_discriminator(act=F.leaky_relu), "LeakyReLU\\(0.01\\), PyTorch's default slope"),
    (make_discriminator(norm_after_act=True), "BatchNorm goes right after the conv, before the activation"),
    (make_discriminator(ignore_sn=True), "have no spectral norm"),
    (make_discriminator(sn_fn=lambda m: m), "spectral norm|σ"),
    (make_discriminator(last_norm=True), "BatchNorm2d after the first three"),
    (make_discriminator(act=torch.tanh), "tanh where LeakyReLU"),
])
def test_04_discriminator_mutants(wrong, message):
    rejected(check_dc_discriminator, wrong, match=message)


def test_04_discriminator_fake_spectral_norm_is_caught_by_its_effect():
    def fake_sn(conv):                           # looks like spectral norm, but the conv uses the raw weight
        conv.weight_orig = nn.Parameter(torch.zeros(1))
        return conv
    rejected(check_dc_discriminator, make_discriminator(sn_fn=fake_sn, bias=True), match="largest singular values|parameters")


@pytest.mark.parametrize("right", [make_discriminator(), SequentialDiscriminator,
                                   make_discriminator(bias=False, sn_fn=torch.nn.utils.spectral_norm)])
def test_04_discriminator_alternatives(right, capsys):
    check_dc_discriminator(right)
    assert capsys.readouterr().out.startswith("✓ check_dc_discriminator passed")


# --- 04: the generator -------------------------------------------------------------------------------------------

def make_generator(act=F.relu, up="before", transposed=False, norm_after_act=False, out=torch.tanh, linear_act=True,
                   channel_norm=False, upsample_module=False, mode="nearest"):
    class Generator(nn.Module):
        def __init__(self, noise_size=100, conv_dim=64, spectral_norm=False):
            super().__init__()
            sn = parametrizations.spectral_norm if spectral_norm else (lambda m: m)
            self.c = c = conv_dim
            self.linear = nn.Linear(noise_size, 4 * c * 16)
            self.norm0 = nn.BatchNorm2d(4 * c) if channel_norm else nn.BatchNorm1d(4 * c * 16)
            widths = [4 * c, 2 * c, c, 3]
            if transposed:
                self.convs = nn.ModuleList(sn(nn.ConvTranspose2d(widths[k], widths[k + 1], 5, 2, 2, output_padding=1))
                                           for k in range(3))
            else:
                self.convs = nn.ModuleList(sn(nn.Conv2d(widths[k], widths[k + 1], 5, 1, 2)) for k in range(3))
            self.norms = nn.ModuleList(nn.BatchNorm2d(widths[k + 1]) for k in range(2))
            self.up = (nn.Upsample(scale_factor=2, mode=mode) if upsample_module
                       else (lambda t: F.interpolate(t, scale_factor=2, mode=mode)))

        def block(self, k, x):
            if transposed:
                return self.convs[k](x)
            if up == "before":
                return self.convs[k](self.up(x))
            return self.up(self.convs[k](x))

        def forward(self, z):
            x = self.linear(z)
            if channel_norm:
                x = self.norm0(x.view(-1, 4 * self.c, 4, 4))
            else:
                x = self.norm0(x).view(-1, 4 * self.c, 4, 4)
            x = act(x) if linear_act else x
            for k in range(2):
                x = self.block(k, x)
                x = self.norms[k](act(x)) if norm_after_act else act(self.norms[k](x))
            return out(self.block(2, x))
    return Generator


@pytest.mark.parametrize("wrong, message", [
    (make_generator(transposed=True), "uses ConvTranspose2d"),
    (make_generator(up="after"), "upsample ×2 first, then convolve"),
    (make_generator(norm_after_act=True), "BatchNorm goes right after the conv"),
    (make_generator(act=lambda x: F.leaky_relu(x, 0.2)), "found LeakyReLU\\(0.2\\) where ReLU is asked"),
    (make_generator(out=lambda x: x), "end with tanh"),
    (make_generator(out=torch.sigmoid), "sigmoid"),
    (make_generator(linear_act=False), "between the linear block and the first conv: found no activation"),
])
def test_04_generator_mutants(wrong, message):
    rejected(check_dc_generator, wrong, match=message)


@pytest.mark.parametrize("right", [make_generator(), make_generator(channel_norm=True, upsample_module=True),
                                   make_generator(mode="bilinear")])
def test_04_generator_alternatives(right, capsys):
    check_dc_generator(right)
    assert capsys.readouterr().out.startswith("✓ check_dc_generator passed")


# --- 04: LSGAN losses --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d_loss, g_loss, message", [
    (lambda r, f: 2 * lsgan_d_loss(r, f), lsgan_g_loss, "twice"),
    (lambda r, f: lsgan_d_loss(f, r), lsgan_g_loss, "swapped"),
    (lambda r, f: lsgan_d_loss(torch.sigmoid(r), torch.sigmoid(f)), lsgan_g_loss, "applies a sigmoid"),
    (lambda r, f: 0.5 * ((r - 1) ** 2).sum() + 0.5 * (f ** 2).sum(), lsgan_g_loss, "sum over the batch"),
    (lambda r, f: lsgan_d_loss(r, f).item(), lsgan_g_loss, "should be a torch.Tensor"),
    (lambda r, f: lsgan_d_loss(r.detach(), f.detach()), lsgan_g_loss, "no gradient"),
    (lsgan_d_loss, lambda f: 0.5 * (f ** 2).mean(), "towards the fake target"),
    (lsgan_d_loss, lambda f: ((f - 1) ** 2).mean(), "twice"),
    (lsgan_d_loss, lambda f: 0.5 * ((f - 1) ** 2).sum(), "sum over the batch"),
])
def test_04_lsgan_mutants(d_loss, g_loss, message):
    rejected(check_lsgan_losses, d_loss, g_loss, match=message)


@pytest.mark.parametrize("d_loss, g_loss", [
    (lambda r, f: 0.5 * F.mse_loss(r, torch.ones_like(r)) + 0.5 * F.mse_loss(f, torch.zeros_like(f)),
     lambda f: 0.5 * F.mse_loss(f, torch.ones_like(f))),
    (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean(), lambda f: 0.5 * (f ** 2).mean()),
])
def test_04_lsgan_alternatives(d_loss, g_loss, capsys):
    check_lsgan_losses(d_loss, g_loss)
    assert capsys.readouterr().out == "✓ check_lsgan_losses passed\n"


# --- 04: power iteration -----------------------------------------------------------------------------------------

def power_no_reshape(W, iterations=50):
    u = F.normalize(torch.randn(W.shape[0]), dim=0)
    for _ in range(iterations):
        v = F.normalize(W.t() @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return u @ W @ v


def power_squared(W, iterations=50):
    W = W.reshape(W.shape[0], -1)
    u = F.normalize(torch.randn(W.shape[0]), dim=0)
    for _ in range(iterations):
        u = F.normalize(W @ (W.t() @ u), dim=0)
    return u @ W @ W.t() @ u


@pytest.mark.parametrize("wrong, message", [
    (lambda W, it: torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), 2), "cannot have converged"),
    (lambda W, it: torch.linalg.svdvals(W.reshape(W.shape[0], -1))[0], "cannot have converged"),
    (lambda W, it: torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), "fro"), "Frobenius"),
    (power_squared, "σ²"),
    (power_no_reshape, "reshape it to \\[out_channels, -1\\]"),
    (lambda W, it: float(power_iteration(W, it)), "returned a float"),
    (lambda W, it: power_iteration(W, 1), "σ of"),
    (lambda W, it: power_iteration(W, 1000), "cannot have converged"),
])
def test_04_power_iteration_mutants(wrong, message):
    rejected(check_power_iteration, wrong, match=message)


def power_with_mv(W, iterations=50):
    W = W.flatten(1)
    v = torch.ones(W.shape[1]) / W.shape[1] ** 0.5
    for _ in range(iterations):
        u = torch.mv(W, v)
        u = u / u.norm()
        v = torch.mv(W.T, u)
        v = v / v.norm()
    return torch.dot(u, torch.mv(W, v))


@pytest.mark.parametrize("right", [power_iteration, power_with_mv])
def test_04_power_iteration_alternatives(right, capsys):
    check_power_iteration(right)
    assert capsys.readouterr().out.startswith("✓ check_power_iteration passed")


# --- 04: the iteration with d_train_iters ------------------------------------------------------------------------

def make_iteration(reuse_batch=False, zero_d=True, zero_g=True, detach=True, g_on_detached=False, floats=False,
                   set_to_none=True):
    def iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_train_iters=1):
        x = next(batches)[0] if reuse_batch else None
        for _ in range(d_train_iters):
            if not reuse_batch:
                x = next(batches)[0]
            fake = G(*noise(len(x)))
            if detach:
                fake = fake.detach()
            loss_d = d_loss(D(x), D(fake))
            if zero_d:
                opt_d.zero_grad(set_to_none=set_to_none)
            loss_d.backward()
            opt_d.step()
        if zero_g:
            opt_g.zero_grad(set_to_none=set_to_none)
        loss_g = g_loss(D(fake if g_on_detached else G(*noise(len(x)))))
        if loss_g.requires_grad:
            loss_g.backward()
        opt_g.step()
        return {"d_loss": loss_d.item(), "g_loss": loss_g.item()} if floats else {"d_loss": loss_d, "g_loss": loss_g}
    return iteration


@pytest.mark.parametrize("wrong, message", [
    (make_iteration(reuse_batch=True), "fresh batch"),
    (make_iteration(zero_d=False), "opt_d.zero_grad"),
    (make_iteration(zero_g=False), "opt_g.zero_grad"),
    (make_iteration(detach=False), "sent gradients into G"),
    (make_iteration(g_on_detached=True), "G has no gradient"),
    (make_iteration(floats=True), "not .item\\(\\) floats"),
])
def test_04_iteration_mutants(wrong, message):
    rejected(check_gan_iteration, wrong, match=message)


@pytest.mark.parametrize("right", [gan_iteration, make_iteration(set_to_none=False)])
def test_04_iteration_alternatives(right, capsys):
    check_gan_iteration(right)
    assert capsys.readouterr().out == "✓ check_gan_iteration passed\n"


# --- 05: the Wasserstein losses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("critic, generator, message", [
    (lambda r, f: r.mean() - f.mean(), wgan_generator_loss, "critic_loss has the wrong sign"),
    (lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(), wgan_generator_loss, "sigmoid or a log"),
    (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
     + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)), wgan_generator_loss, "sigmoid or a log|critic_loss"),
    (lambda r, f: f.sum() - r.sum(), wgan_generator_loss, "sums over the batch"),
    (lambda r, f: (f.mean() - r.mean()).item(), wgan_generator_loss, "should be a torch.Tensor"),
    (lambda r, f: (f.mean() - r.mean()).detach(), wgan_generator_loss, "passes no gradient"),
    (wgan_critic_loss, lambda f: f.mean(), "generator_loss has the wrong sign"),
    (wgan_critic_loss, lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)), "a sigmoid and a log"),
    (wgan_critic_loss, lambda f: -f.sum(), "generator_loss sums"),
])
def test_05_loss_mutants(critic, generator, message):
    rejected(check_wgan_losses, critic, generator, match=message)


@pytest.mark.parametrize("critic, generator", [
    (lambda r, f: (f - r).mean(), lambda f: torch.mean(-f)),
    (lambda r, f: torch.mean(f) + torch.mean(-r), lambda f: -1.0 * f.mean(dim=0).squeeze()),
])
def test_05_loss_alternatives(critic, generator, capsys):
    check_wgan_losses(critic, generator)
    assert capsys.readouterr().out == "✓ check_wgan_losses passed\n"


# --- 05: weight clipping -----------------------------------------------------------------------------------------

def clip_by_copy(module, clip=0.01):
    for name, p in list(module.named_parameters()):
        parent = module
        *path, leaf = name.split(".")
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, leaf, nn.Parameter(p.detach().clamp(-clip, clip)))


def clip_without_no_grad(module, clip=0.01):
    for p in module.parameters():
        p.clamp_(-clip, clip)


def clip_weights_only(module, clip=0.01):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight"):
                p.clamp_(-clip, clip)


def clip_top_level(module, clip=0.01):
    with torch.no_grad():
        for layer in module.children():
            for p in layer.parameters(recurse=False):
                p.clamp_(-clip, clip)
        for p in module.parameters(recurse=False):
            p.clamp_(-clip, clip)


def clip_gradients(module, clip=0.01):
    torch.nn.utils.clip_grad_value_(module.parameters(), clip)


def clip_positive(module, clip=0.01):
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(0, clip)


@pytest.mark.parametrize("wrong, message", [
    (clip_by_copy, "in place"),
    (clip_without_no_grad, "torch.no_grad"),
    (lambda m, clip=0.01: clip_weights(m, 0.01), "use the clip argument"),
    (clip_weights_only, "a bias"),
    (clip_top_level, "nested layer's weight"),
    (clip_gradients, "not their .grad"),
    (clip_positive, "symmetric"),
])
def test_05_clip_mutants(wrong, message):
    rejected(check_clip_weights, wrong, match=message)


def clip_with_data(module, clip=0.01):
    for p in module.parameters():
        p.data = p.data.clamp(-clip, clip)


def clip_with_copy(module, clip=0.01):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.clamp(p, min=-clip, max=clip))


@pytest.mark.parametrize("right", [clip_weights, clip_with_data, clip_with_copy])
def test_05_clip_alternatives(right, capsys):
    check_clip_weights(right)
    assert capsys.readouterr().out == "✓ check_clip_weights passed\n"


# --- 05: the gradient penalty ------------------------------------------------------------------------------------

def make_penalty(eps_shape="sample", point="mix", norm="flat", squared=False, graph=True, one_sided=False,
                 weight_used=True, reduce="mean", eps_dist="uniform", device=True):
    def penalty(critic, real, fake, weight=10.0):
        shape = {"sample": (real.shape[0], *([1] * (real.dim() - 1))), "element": real.shape, "batch": ()}[eps_shape]
        where = {"device": real.device} if device else {}
        eps = torch.rand(shape, **where) if eps_dist == "uniform" else torch.randn(shape, **where)
        x = {"mix": eps * real + (1 - eps) * fake, "real": real.clone()}[point].requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=graph)
        n = grad.flatten(1).norm(2, dim=1) if norm == "flat" else grad.norm(2, dim=1)
        gap = (n ** 2 if squared else n) - 1
        gap = gap.clamp_min(0) if one_sided else gap
        value = getattr(gap.pow(2), reduce)()
        return (weight if weight_used else 10.0) * value
    return penalty


@pytest.mark.parametrize("wrong, message", [
    (make_penalty(eps_shape="element"), "one ε per element"),
    (make_penalty(eps_shape="batch"), "same ε"),
    (make_penalty(point="real"), "real samples only"),
    (make_penalty(eps_dist="normal"), "torch.rand, not torch.randn"),
    (make_penalty(squared=True), "squared norm"),
    (make_penalty(norm="channel"), "over dim=1 only"),
    (make_penalty(graph=False), "create_graph"),
    (make_penalty(one_sided=True), "two-sided"),
    (make_penalty(weight_used=False), "weight argument"),
    (make_penalty(reduce="sum"), "sums over the batch"),
    (lambda c, r, f, weight=10.0: gradient_penalty(c, r, f, 1.0), "lacks its weight"),
    (make_penalty(device=False), "created on the CPU"),
])
def test_05_penalty_mutants(wrong, message):
    rejected(check_gradient_penalty, wrong, match=message)


def penalty_with_distributions(critic, real, fake, weight=10.0):
    zero = torch.zeros((), device=real.device)
    eps = torch.distributions.Uniform(zero, zero + 1).sample((real.size(0), 1, 1, 1)[:real.dim()])
    x_hat = torch.lerp(fake, real, eps).detach().requires_grad_()
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores, x_hat, grad_outputs=torch.ones_like(scores), create_graph=True)
    return weight * ((torch.linalg.vector_norm(grad.reshape(len(grad), -1), dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("right", [gradient_penalty, penalty_with_distributions,
                                   make_penalty()])
def test_05_penalty_alternatives(right, capsys):
    check_gradient_penalty(right)
    assert capsys.readouterr().out.startswith("✓ check_gradient_penalty passed")


# --- 06: the residual block --------------------------------------------------------------------------------------

def make_block(pad="reflect", norm="instance", relu_end=False, skip=True, relu_after=False, affine=False):
    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(dim, dim, 3), nn.Conv2d(dim, dim, 3)
            make = {"instance": lambda: nn.InstanceNorm2d(dim, affine=affine),
                    "batch": lambda: nn.BatchNorm2d(dim, affine=False), "none": lambda: nn.Identity()}[norm]
            self.n1, self.n2 = make(), make()

        def forward(self, x):
            h = F.relu(self.n1(self.c1(F.pad(x, (1, 1, 1, 1), mode=pad))))
            h = self.n2(self.c2(F.pad(h, (1, 1, 1, 1), mode=pad)))
            h = F.relu(h) if relu_end else h
            out = x + h if skip else h
            return F.relu(out) if relu_after else out
    return Block


@pytest.mark.parametrize("wrong, message", [
    (make_block(skip=False), "skip connection"),
    (make_block(relu_after=True), "ReLU after the addition"),
    (make_block(pad="constant"), "zero padding"),
    (make_block(norm="batch"), "BatchNorm"),
    (make_block(relu_end=True), "ReLU at the end of the residual branch"),
    (make_block(affine=True), "affine=False"),
])
def test_06_block_mutants(wrong, message):
    rejected(check_residual_block, wrong, match=message)


class ReflectConvBlock(nn.Module):
    """A correct alternative: the convs pad by reflection themselves."""

    def __init__(self, dim):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(dim),
                                  nn.ReLU(), nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect"),
                                  nn.InstanceNorm2d(dim))

    def forward(self, x):
        return self.body(x) + x


@pytest.mark.parametrize("right", [ResnetBlock, make_block(), ReflectConvBlock])
def test_06_block_alternatives(right, capsys):
    check_residual_block(right)
    assert capsys.readouterr().out == "✓ check_residual_block passed\n"


# --- 06: the ResNet generator ------------------------------------------------------------------------------------

def make_resnet(stem_pad="reflect", down_norm=True, up="transposed", tanh=True, block=ResnetBlock, n_extra=0):
    class Generator(nn.Module):
        def __init__(self, ngf=64, n_blocks=9):
            super().__init__()
            stem = ([nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7)] if stem_pad == "reflect"
                    else [nn.Conv2d(3, ngf, 7, padding=3)])
            layers = [*stem, nn.InstanceNorm2d(ngf), nn.ReLU(True)]
            for mult in (1, 2):
                layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                           *([nn.InstanceNorm2d(ngf * mult * 2)] if down_norm else []), nn.ReLU(True)]
            layers += [block(ngf * 4) for _ in range(n_blocks + n_extra)]
            for mult in (4, 2):
                if up == "transposed":
                    layers.append(nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, padding=1, output_padding=1))
                else:
                    layers += [nn.Upsample(scale_factor=2), nn.Conv2d(ngf * mult, ngf * mult // 2, 3, padding=1)]
                layers += [nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), *([nn.Tanh()] if tanh else [])]
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)
    return Generator


@pytest.mark.parametrize("wrong, message", [
    (make_resnet(n_extra=-2), "parameters, expected"),
    (make_resnet(up="upsample"), "is \\('Conv2d'.*expected \\('ConvTranspose2d'"),
    (make_resnet(stem_pad="zero"), "the input of conv 1 .* padding before it"),
    (make_resnet(down_norm=False), "the input of conv 3 .* differs"),
    (make_resnet(tanh=False), "end with tanh"),
    (make_resnet(block=make_block(norm="batch")), "BatchNorm"),
])
def test_06_generator_mutants(wrong, message):
    rejected(check_resnet_generator, wrong, match=message)


@pytest.mark.parametrize("right", [make_resnet(), make_resnet(block=ReflectConvBlock)])
def test_06_generator_alternatives(right, capsys):
    check_resnet_generator(right)
    assert capsys.readouterr().out.startswith("✓ check_resnet_generator passed (ngf=64, 9 blocks: 11,378,179")


# --- 06: the PatchGAN and its receptive field --------------------------------------------------------------------

def make_patchgan(act=lambda: nn.LeakyReLU(0.2, True), first_norm=False, norm=nn.InstanceNorm2d, norm_after=False,
                  sigmoid=False, last_stride=1):
    class PatchGAN(nn.Module):
        def __init__(self, ndf=64, n_layers=3):
            super().__init__()
            layers = [nn.Conv2d(3, ndf, 4, 2, 1), *([norm(ndf)] if first_norm else []), act()]
            channels = ndf
            for n in range(1, n_layers + 1):
                out = ndf * min(2 ** n, 8)
                pair = [norm(out), act()] if not norm_after else [act(), norm(out)]
                layers += [nn.Conv2d(channels, out, 4, 2 if n < n_layers else last_stride, 1), *pair]
                channels = out
            layers += [nn.Conv2d(channels, 1, 4, 1, 1), *([nn.Sigmoid()] if sigmoid else [])]
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)
    return PatchGAN


def rf_forwards(layers):
    r = 1
    for kernel, stride in layers:
        r = stride * r + (kernel - stride)
    return r


def rf_no_product(layers):
    return 1 + sum((k - 1) * s for k, s in layers)


def rf_kernel_sum(layers):
    return sum(k for k, _ in layers)


def rf_minus_one(layers):
    r = 1
    for kernel, stride in reversed(layers):
        r = r * stride + kernel - 1
    return r


def rf_reference(layers):
    r = 1
    for kernel, stride in reversed(layers):
        r = r * stride + kernel - stride
    return r


@pytest.mark.parametrize("D, rf, message", [
    (make_patchgan(act=nn.ReLU), rf_reference, "found ReLU where LeakyReLU\\(0.2\\) is asked"),
    (make_patchgan(act=nn.LeakyReLU), rf_reference, "LeakyReLU\\(0.01\\), PyTorch's default slope where"),
    (make_patchgan(first_norm=True), rf_reference, "no norm on the first layer"),
    (make_patchgan(norm=lambda c: nn.BatchNorm2d(c, affine=False)), rf_reference, "BatchNorm"),
    (make_patchgan(norm_after=True), rf_reference, "the norm comes after the activation"),
    (make_patchgan(sigmoid=True), rf_reference, "sigmoid"),
    (make_patchgan(last_stride=2), rf_reference, "shape|depends on"),
    (lambda ndf, n: PatchDiscriminator(ndf=ndf, n_layers=2), rf_reference, "parameters"),
    (make_patchgan(), rf_forwards, "receptive_field for"),
    (make_patchgan(), rf_no_product, "receptive_field for"),
    (make_patchgan(), rf_kernel_sum, "receptive_field for"),
    (make_patchgan(), rf_minus_one, "receptive_field for"),
])
def test_06_patchgan_mutants(D, rf, message):
    rejected(check_patch_discriminator, D, rf, match=message)


@pytest.mark.parametrize("D", [make_patchgan(), lambda ndf, n: PatchDiscriminator(ndf=ndf, n_layers=n)])
def test_06_patchgan_alternatives(D, capsys):
    check_patch_discriminator(D, rf_reference)
    assert capsys.readouterr().out.startswith("✓ check_patch_discriminator passed (output [1, 18, 18]")


# --- 06: cycle and identity losses -------------------------------------------------------------------------------

def make_cycle(dist=F.l1_loss, weight=1.0, one_way=False, swapped_identity=False, reduction="mean", detach=False,
               crossed=False, detach_fakes=False, use_fakes=True):
    def losses(G_AB, G_BA, a, b, fake_b, fake_a):
        d = (lambda x, y: dist(x, y, reduction=reduction))
        if not use_fakes:                                  # recomputed: slower, but right
            fake_b, fake_a = G_AB(a), G_BA(b)
        if detach_fakes:
            fake_b, fake_a = fake_b.detach(), fake_a.detach()
        if crossed:
            fake_b, fake_a = fake_a, fake_b
        cycle = d(G_BA(fake_b), a) + (0 if one_way else d(G_AB(fake_a), b))
        identity = d(G_AB(a), a) + d(G_BA(b), b) if swapped_identity else d(G_AB(b), b) + d(G_BA(a), a)
        out = weight * cycle, (weight / 2 if weight != 1 else 1.0) * identity
        return tuple(o.detach() for o in out) if detach else out
    return losses


@pytest.mark.parametrize("wrong, message", [
    (make_cycle(dist=F.mse_loss), "squared error"),
    (make_cycle(weight=10.0), "already weighted by λ"),
    (make_cycle(one_way=True), "one direction only"),
    (make_cycle(reduction="sum"), "sums the absolute errors"),
    (make_cycle(swapped_identity=True), "identity feeds"),
    (make_cycle(detach=True), "no gradient"),
    (make_cycle(crossed=True), "translates the wrong fakes back"),
    (make_cycle(detach_fakes=True), "no .detach\\(\\) on the fakes"),
])
def test_06_cycle_mutants(wrong, message):
    rejected(check_cycle_losses, wrong, match=message)


def cycle_with_abs(G_AB, G_BA, a, b, fake_b, fake_a):
    cycle = (G_BA(fake_b) - a).abs().mean() + torch.mean(torch.abs(G_AB(fake_a) - b))
    identity = nn.L1Loss()(G_AB(b), b) + nn.L1Loss()(G_BA(a), a)
    return cycle, identity


@pytest.mark.parametrize("right", [make_cycle(), make_cycle(use_fakes=False), cycle_with_abs])
def test_06_cycle_alternatives(right, capsys):
    check_cycle_losses(right)
    assert capsys.readouterr().out == "✓ check_cycle_losses passed\n"


# --- 06: the image pool ------------------------------------------------------------------------------------------

class NoHistoryPool:
    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        return images.detach()


class BatchCoinPool:
    """One coin per batch: the whole batch is new, or the whole batch comes from the history."""

    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        if self.size == 0:
            return images
        if len(self.images) < self.size:
            self.images += [i.unsqueeze(0) for i in images.detach().clone()]
            return images.detach()
        if random.random() < 0.5:
            out = []
            for image in images.detach().clone():
                k = random.randrange(self.size)
                out.append(self.images[k])
                self.images[k] = image.unsqueeze(0)
            return torch.cat(out)
        return images.detach()


def make_pool(detach=True, clone=True, always_swap=False, grow=False, to_cpu=False, own_random=True,
              global_draws=False, ignore_seed=False):
    class Pool:
        def __init__(self, size, seed=0):
            self.size, self.images = size, []
            if own_random:
                self.random = random.Random() if ignore_seed else random.Random(seed)
            rng = random if global_draws or not own_random else self.random
            self.coin, self.index = rng.random, rng.randrange

        def query(self, images):
            if self.size == 0:
                return images
            out = []
            for image in images:
                image = image.unsqueeze(0)
                kept = image.detach() if detach else image
                kept = kept.clone() if clone else kept
                kept = kept.cpu() if to_cpu else kept
                if len(self.images) < self.size:
                    self.images.append(kept)
                    out.append(image.detach())
                elif always_swap or self.coin() < 0.5:
                    k = self.index(len(self.images))
                    out.append(self.images[k].detach().clone())
                    if grow:
                        self.images.append(kept)             # added instead of replacing the one returned
                    else:
                        self.images[k] = kept
                else:
                    out.append(image.detach())
            return torch.cat(out)
    return Pool


@pytest.mark.parametrize("wrong, message", [
    (NoHistoryPool, "½"),
    (make_pool(always_swap=True), "½"),
    (BatchCoinPool, "one coin per image"),
    (make_pool(detach=False), "live fakes"),
    (make_pool(clone=False), "views of the fakes"),
    (make_pool(grow=True), "the pool holds"),
    (make_pool(to_cpu=True), "no .cpu\\(\\)"),
    (make_pool(own_random=False), "no random number generator of its own"),
    (make_pool(global_draws=True), "global `random`"),
    (make_pool(ignore_seed=True), "same seed return different images"),
])
def test_06_pool_mutants(wrong, message):
    rejected(check_image_pool, wrong, match=message)


@pytest.mark.parametrize("right", [ImagePool, make_pool()])
def test_06_pool_alternatives(right, capsys):
    check_image_pool(right)
    assert capsys.readouterr().out.startswith("✓ check_image_pool passed (stored image returned")


# --- 06: the training step ---------------------------------------------------------------------------------------

def make_step(freeze=True, zero_g=True, zero_d=True, detach_fakes=True, lambda_weight="both", cycle_dist=F.l1_loss,
              halve=True, floats=False, use_pool=True, ignore_lambdas=False):
    def step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, *, lambda_cycle=10.0, lambda_identity=0.5):
        if ignore_lambdas:
            lambda_cycle, lambda_identity = 10.0, 0.5
        if zero_g:
            opt_g.zero_grad()
        fake_b, fake_a = model.G_AB(real_a), model.G_BA(real_b)
        if freeze:
            for p in model.discriminators():
                p.requires_grad_(False)
        adversarial = lsgan_loss(model.D_B(fake_b), True) + lsgan_loss(model.D_A(fake_a), True)
        cycle = cycle_dist(model.G_BA(fake_b), real_a) + cycle_dist(model.G_AB(fake_a), real_b)
        identity = F.l1_loss(model.G_AB(real_b), real_b) + F.l1_loss(model.G_BA(real_a), real_a)
        w_c, w_i = {"both": (lambda_cycle, lambda_identity * lambda_cycle), "none": (1.0, 1.0),
                    "identity alone": (lambda_cycle, lambda_identity)}[lambda_weight]
        g_total = adversarial + w_c * cycle + w_i * identity
        g_total.backward()
        opt_g.step()
        for p in model.discriminators():
            p.requires_grad_(True)
        fa, fb = (fake_a.detach(), fake_b.detach()) if detach_fakes else (fake_a, fake_b)
        if use_pool:
            fa, fb = pool_a.query(fa), pool_b.query(fb)
            if not detach_fakes:
                fa, fb = fake_a, fake_b
        half = 0.5 if halve else 1.0
        d_a = half * (lsgan_loss(model.D_A(real_a), True) + lsgan_loss(model.D_A(fa), False))
        d_b = half * (lsgan_loss(model.D_B(real_b), True) + lsgan_loss(model.D_B(fb), False))
        if zero_d:
            opt_d.zero_grad()
        (d_a + d_b).backward()
        opt_d.step()
        out = {"G": g_total, "G_adv": adversarial, "cycle": cycle, "identity": identity, "D_A": d_a, "D_B": d_b}
        return {k: v.item() for k, v in out.items()} if floats else out
    return step


@pytest.mark.parametrize("wrong, message", [
    (make_step(freeze=False), "freeze them"),
    (make_step(zero_g=False), "opt_g.zero_grad"),
    (make_step(zero_d=False), "opt_d.zero_grad"),
    (make_step(detach_fakes=False), "detached"),
    (make_step(lambda_weight="none"), "unweighted: multiply them"),
    (make_step(lambda_weight="identity alone"), "λ_identity = 0.5 alone"),
    (make_step(cycle_dist=F.mse_loss), "not squared errors"),
    (make_step(halve=False), "halved"),
    (make_step(floats=True), "not .item\\(\\) floats"),
    (make_step(use_pool=False), "pool"),
    (make_step(ignore_lambdas=True), "lambda arguments"),
])
def test_06_step_mutants(wrong, message):
    rejected(check_cyclegan_step, wrong, match=message)


@pytest.mark.parametrize("right", [cyclegan_step, make_step()])
def test_06_step_alternatives(right, capsys):
    check_cyclegan_step(right)
    assert capsys.readouterr().out == "✓ check_cyclegan_step passed\n"


# --- 05: the n_critic loop ---------------------------------------------------------------------------------------

def make_wgan_iteration(reuse_batch=False, zero_d=True, detach=True, clip_when="after", use_penalty=True,
                        g_on_detached=False, sign=1, floats=False):
    def iteration(G, D, opt_g, opt_d, batches, noise, critic_loss, generator_loss, n_critic=5, clip=None,
                  penalty=None):
        x = next(batches)[0] if reuse_batch else None
        for k in range(n_critic):
            if not reuse_batch:
                x = next(batches)[0]
            fake = G(*noise(len(x)))
            fake = fake.detach() if detach else fake
            real_scores, fake_scores = D(x), D(fake)
            loss = critic_loss(real_scores, fake_scores)
            gp = penalty(D, x, fake) if penalty is not None and use_penalty else torch.zeros(())
            if clip is not None and clip_when == "before":
                clip_weights(D, clip)
            if zero_d:
                opt_d.zero_grad()
            (loss + gp).backward()
            opt_d.step()
            if clip is not None and clip_when == "after":
                clip_weights(D, clip)
        if clip is not None and clip_when == "end":
            clip_weights(D, clip)
        opt_g.zero_grad()
        g = generator_loss(D(fake.detach() if g_on_detached else G(*noise(len(x)))))
        if g.requires_grad:
            g.backward()
        opt_g.step()
        out = {"wasserstein": sign * (real_scores.mean() - fake_scores.mean()).detach(), "critic_loss": loss,
               "gp": gp, "g_loss": g}
        return {k: float(v.detach()) for k, v in out.items()} if floats else out
    return iteration


@pytest.mark.parametrize("wrong, message", [
    (make_wgan_iteration(reuse_batch=True), "fresh batch"),
    (make_wgan_iteration(zero_d=False), "opt_d.zero_grad"),
    (make_wgan_iteration(detach=False), "sent gradients into G"),
    (make_wgan_iteration(clip_when="end"), "after every critic update"),
    (make_wgan_iteration(clip_when="before"), "after every critic update"),
    (make_wgan_iteration(use_penalty=False), "although a penalty was given"),
    (make_wgan_iteration(g_on_detached=True), "G has no gradient"),
    (make_wgan_iteration(sign=-1), "wrong sign"),
    (make_wgan_iteration(floats=True), "not .item\\(\\) floats"),
])
def test_05_wgan_iteration_mutants(wrong, message):
    rejected(check_wgan_iteration, wrong, match=message)


def wgan_iteration_from_builder(G, D, opt_g, opt_d, batches, noise, critic_loss, generator_loss, n_critic=5,
                                clip=None, penalty=None):
    return wgan_iteration(critic_loss, generator_loss, clip=clip, penalty=penalty)(
        G, D, opt_g, opt_d, batches, noise, None, None, n_critic)


@pytest.mark.parametrize("right", [wgan_iteration_from_builder, make_wgan_iteration()])
def test_05_wgan_iteration_alternatives(right, capsys):
    check_wgan_iteration(right)
    assert capsys.readouterr().out == "✓ check_wgan_iteration passed\n"


# --- 06: the edge correlation (content kept by a translation) ---------------------------------------------------

def make_edges(edges=True, centre=True, square=False, l1=False, only_x=False, padding=0, per_channel=False,
               per_batch=False):
    def edge_correlation(x, y):
        def magnitude(images):
            g = images if per_channel else images.mean(1, keepdim=True)
            c = g.shape[1]
            k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
            gx = F.conv2d(g, k.expand(c, 1, 3, 3), padding=padding, groups=c)
            gy = F.conv2d(g, k.T.expand(c, 1, 3, 3), padding=padding, groups=c)
            if only_x:
                return gx.abs()
            if l1:
                return gx.abs() + gy.abs()
            return gx ** 2 + gy ** 2 if square else torch.sqrt(gx ** 2 + gy ** 2)

        u, v = (magnitude(x), magnitude(y)) if edges else (x.mean(1, keepdim=True), y.mean(1, keepdim=True))
        u, v = (u.reshape(1, -1), v.reshape(1, -1)) if per_batch else (u.flatten(1), v.flatten(1))
        if centre:
            u, v = u - u.mean(1, keepdim=True), v - v.mean(1, keepdim=True)
        r = (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1))
        return r[0] if per_batch else r
    return edge_correlation


def edges_with_corrcoef(x, y):
    """Another correct answer: Sobel kernels flipped (a convolution), scaled by 1/8, and torch.corrcoef."""
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
    kernels = torch.stack([k, k.T]).unsqueeze(1)
    out = []
    for a, b in zip(x, y):
        ga, gb = (F.conv2d(t.mean(0)[None, None], kernels).pow(2).sum(1).sqrt().flatten() for t in (a, b))
        out.append(torch.corrcoef(torch.stack([ga, gb]))[0, 1])
    return torch.stack(out)


@pytest.mark.parametrize("wrong, message", [
    (make_edges(per_batch=True), "one number for the whole batch"),
    (make_edges(edges=False), "pixels are correlated, not their edges"),
    (make_edges(centre=False), "not centred"),
    (make_edges(square=True), "squared magnitude"),
    (make_edges(l1=True), "\\|g_x\\| \\+ \\|g_y\\|"),
    (make_edges(only_x=True), "only the horizontal gradient"),
    (make_edges(padding=1), "with padding"),
    (make_edges(per_channel=True), "per colour channel"),
])
def test_06_edge_correlation_mutants(wrong, message):
    rejected(check_edge_correlation, wrong, match=message)


@pytest.mark.parametrize("right", [edge_correlation, make_edges(), edges_with_corrcoef])
def test_06_edge_correlation_alternatives(right, capsys):
    check_edge_correlation(right)
    assert capsys.readouterr().out.startswith("✓ check_edge_correlation passed (mean ")
