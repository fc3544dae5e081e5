"""The checks of notebooks 04-06 pass on the reference implementations and fail, with a useful message,
on typical mistakes."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import (CheckError, check_clip_weights, check_cycle_losses, check_cyclegan_step,
                                 check_edge_correlation,
                                 check_dc_discriminator, check_dc_generator, check_gan_iteration, check_gradient_penalty,
                                 check_image_pool, check_lsgan_losses, check_patch_discriminator, check_power_iteration,
                                 check_residual_block, check_resnet_generator, check_wgan_losses)
from course_utils.checks.nb05_wgan import check_wgan_iteration
from course_utils.losses import (clip_weights, cycle_loss, gradient_penalty, lsgan_d_loss, lsgan_g_loss,
                                 wgan_critic_loss, wgan_generator_loss)
from course_utils.metrics.content import edge_correlation
from course_utils.models.cyclegan import ImagePool, PatchDiscriminator, ResnetBlock, ResnetGenerator
from course_utils.models.dcgan import DCDiscriminator, DCGenerator, power_iteration
from course_utils.training import cyclegan_step, gan_iteration


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def receptive_field(layers):
    r = 1
    for kernel, stride in reversed(layers):
        r = stride * r + (kernel - stride)
    return r


def cycle_losses(G_AB, G_BA, a, b, fake_b, fake_a):
    return (cycle_loss(a, G_BA(fake_b)) + cycle_loss(b, G_AB(fake_a)),
            cycle_loss(b, G_AB(b)) + cycle_loss(a, G_BA(a)))


def test_checks_pass_on_the_references_with_one_fixed_line(capsys):
    check_dc_discriminator(DCDiscriminator)
    check_dc_generator(DCGenerator)
    check_lsgan_losses(lsgan_d_loss, lsgan_g_loss)
    check_power_iteration(power_iteration)
    check_gan_iteration(gan_iteration)
    check_wgan_losses(wgan_critic_loss, wgan_generator_loss)
    check_clip_weights(clip_weights)
    check_gradient_penalty(gradient_penalty)
    check_residual_block(ResnetBlock)
    check_resnet_generator(lambda ngf, n_blocks: ResnetGenerator(ngf=ngf, n_blocks=n_blocks))
    check_patch_discriminator(lambda ndf, n_layers: PatchDiscriminator(ndf=ndf, n_layers=n_layers), receptive_field)
    check_cycle_losses(cycle_losses)
    check_image_pool(ImagePool)
    check_cyclegan_step(cyclegan_step)
    check_edge_correlation(edge_correlation)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 15 and all(line.startswith("✓ check_") for line in lines)
    assert "conv_dim=32: 262,273" in lines[0] and "conv_dim=32: 469,635" in lines[1]
    assert "receptive field 70 px, gradient footprint 70 px" in lines[10]


@pytest.mark.parametrize("check, args", [
    (check_dc_discriminator, (not_implemented,)), (check_dc_generator, (not_implemented,)),
    (check_lsgan_losses, (not_implemented, not_implemented)), (check_power_iteration, (not_implemented,)),
    (check_gan_iteration, (not_implemented,)), (check_wgan_losses, (not_implemented, not_implemented)),
    (check_clip_weights, (not_implemented,)), (check_gradient_penalty, (not_implemented,)),
    (check_residual_block, (not_implemented,)), (check_resnet_generator, (not_implemented,)),
    (check_patch_discriminator, (not_implemented, receptive_field)), (check_cycle_losses, (not_implemented,)),
    (check_image_pool, (not_implemented,)), (check_cyclegan_step, (not_implemented,)),
    (check_edge_correlation, (not_implemented,)),
    (check_wgan_iteration, (not_implemented,)),
])
def test_unfinished_exercises_are_reported_as_such(check, args):
    with pytest.raises(CheckError, match="is not implemented yet"):
        check(*args)


class NoBatchNormD(DCDiscriminator):
    def __init__(self, conv_dim, spectral_norm):
        super().__init__(conv_dim, spectral_norm, batch_norm=False)


class SigmoidD(DCDiscriminator):
    def __init__(self, conv_dim, spectral_norm):
        super().__init__(conv_dim, spectral_norm)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(super().forward(x))


class TransposedG(DCGenerator):
    def __init__(self, noise_size, conv_dim, spectral_norm):
        super().__init__(noise_size, conv_dim, spectral_norm)
        self.extra = nn.ConvTranspose2d(1, 1, 1)


def reused_batch_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_train_iters=1):
    (x,) = next(batches)
    for _ in range(d_train_iters):
        with torch.no_grad():
            fake = G(*noise(len(x)))
        loss_d = d_loss(D(x), D(fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    loss_g = g_loss(D(G(*noise(len(x)))))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"d_loss": loss_d, "g_loss": loss_g}


def no_detach_iteration(G, D, opt_g, opt_d, batches, noise, d_loss, g_loss, d_train_iters=1):
    for _ in range(d_train_iters):
        (x,) = next(batches)
        fake = G(*noise(len(x)))                     # G gets gradients from the D loss...
        loss_d = d_loss(D(x), D(fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    loss_g = g_loss(D(G(*noise(len(x)))))
    loss_g.backward()                                # ...and they are not cleared before G's step
    opt_g.step()
    return {"d_loss": loss_d, "g_loss": loss_g}


@pytest.mark.parametrize("check, wrong, message", [
    (check_dc_discriminator, NoBatchNormD, "BatchNorm2d after the first three"),
    (check_dc_discriminator, SigmoidD, "sigmoid"),
    (check_dc_discriminator, lambda c, sn: DCDiscriminator(c, False), "spectral norm"),
    (check_dc_generator, TransposedG, "uses ConvTranspose2d"),
    (check_dc_generator, lambda n, c, sn: DCGenerator(n, c, False), "spectral norm"),
    (check_power_iteration, lambda W, it: torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), "fro"), "Frobenius"),
    (check_power_iteration, lambda W, it: power_iteration(W, 1), "σ of"),
    (check_gan_iteration, reused_batch_iteration, "fresh batch"),
    (check_gan_iteration, no_detach_iteration, "sent gradients into G"),
])
def test_04_mistakes(check, wrong, message):
    with pytest.raises(CheckError, match=message):
        check(wrong)


@pytest.mark.parametrize("d_loss, g_loss, message", [
    (lambda r, f: 2 * lsgan_d_loss(r, f), lsgan_g_loss, "twice"),
    (lambda r, f: lsgan_d_loss(f, r), lsgan_g_loss, "swapped"),
    (lambda r, f: lsgan_d_loss(torch.sigmoid(r), torch.sigmoid(f)), lsgan_g_loss, "sigmoid"),
    (lsgan_d_loss, lambda f: ((f - 1) ** 2).mean(), "twice"),
    (lsgan_d_loss, lambda f: 0.5 * (f ** 2).mean(), "towards the fake target"),
])
def test_lsgan_mistakes(d_loss, g_loss, message):
    with pytest.raises(CheckError, match=message):
        check_lsgan_losses(d_loss, g_loss)


def clip_by_copy(module, clip=0.01):
    for name, p in list(module.named_parameters()):
        parent = module
        *path, leaf = name.split(".")
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, leaf, nn.Parameter(p.detach().clamp(-clip, clip)))


def penalty_squared_norm(critic, real, fake, weight=10.0):
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return weight * (grad.flatten(1).pow(2).sum(1) - 1).pow(2).mean()


def penalty_without_graph(critic, real, fake, weight=10.0):
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def penalty_at_real(critic, real, fake, weight=10.0):
    x = real.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def penalty_one_epsilon(critic, real, fake, weight=10.0):
    eps = torch.rand(())
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def penalty_channel_norm(critic, real, fake, weight=10.0):
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return weight * (grad.norm(2, dim=1) - 1).pow(2).mean()


@pytest.mark.parametrize("check, args, message", [
    (check_wgan_losses, (lambda r, f: r.mean() - f.mean(), wgan_generator_loss), "wrong sign"),
    (check_wgan_losses, (lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(), wgan_generator_loss),
     "sigmoid"),
    (check_wgan_losses, (wgan_critic_loss, lambda f: f.mean()), "wrong sign"),
    (check_clip_weights, (clip_by_copy,), "in place"),
    (check_clip_weights, (lambda m, clip=0.01: clip_weights(m, 0.01),), "use the clip argument"),
    (check_gradient_penalty, (penalty_squared_norm,), "squared norm"),
    (check_gradient_penalty, (penalty_without_graph,), "create_graph"),
    (check_gradient_penalty, (penalty_at_real,), "real samples only"),
    (check_gradient_penalty, (penalty_one_epsilon,), "same ε"),
    (check_gradient_penalty, (penalty_channel_norm,), "flatten"),
    (check_gradient_penalty, (lambda c, r, f, weight=10.0: gradient_penalty(c, r, f, 1.0),), "weight"),
])
def test_05_mistakes(check, args, message):
    with pytest.raises(CheckError, match=message):
        check(*args)


class NoSkipBlock(ResnetBlock):
    def forward(self, x):
        return self.block(x)


class ZeroPadBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                   nn.Conv2d(dim, dim, 3, padding=1), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.block(x)


class BatchNormBlock(ResnetBlock):
    def __init__(self, dim):
        super().__init__(dim)
        self.block[2] = nn.BatchNorm2d(dim, affine=False)
        self.block[6] = nn.BatchNorm2d(dim, affine=False)


class UpsamplingGenerator(nn.Module):
    """Two blocks fewer than asked: a wrong architecture the parameter count catches."""

    def __init__(self, ngf, n_blocks):
        super().__init__()
        self.net = ResnetGenerator(ngf=ngf, n_blocks=max(n_blocks - 2, 0))

    def forward(self, x):
        return self.net(x)


class ReluPatchGAN(PatchDiscriminator):
    def __init__(self, ndf, n_layers):
        super().__init__(ndf=ndf, n_layers=n_layers)
        for i, m in enumerate(self.model):
            if isinstance(m, nn.LeakyReLU):
                self.model[i] = nn.ReLU()


def identity_swapped(G_AB, G_BA, a, b, fake_b, fake_a):
    return (cycle_loss(a, G_BA(G_AB(a))) + cycle_loss(b, G_AB(G_BA(b))),
            cycle_loss(a, G_AB(a)) + cycle_loss(b, G_BA(b)))


def cycle_mse(G_AB, G_BA, a, b, fake_b, fake_a):
    return (F.mse_loss(G_BA(fake_b), a) + F.mse_loss(G_AB(fake_a), b), cycle_losses(G_AB, G_BA, a, b, fake_b, fake_a)[1])


class NoHistoryPool:
    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        return images.detach()


class AlwaysSwapPool(ImagePool):
    def __init__(self, size):
        super().__init__(size)
        self.random = random.Random(0)
        self.random.random = lambda: 0.0


def step_without_halving(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5):
    out = cyclegan_step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=lambda_cycle,
                        lambda_identity=lambda_identity)
    return {**out, "D_A": 2 * out["D_A"], "D_B": 2 * out["D_B"]}


def step_ignoring_lambdas(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5):
    return cyclegan_step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b)


def step_without_pool(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5):
    detach = NoHistoryPool(0)                          # the newest fakes only, detached
    return cyclegan_step(model, opt_g, opt_d, real_a, real_b, detach, detach, lambda_cycle=lambda_cycle,
                         lambda_identity=lambda_identity)


def step_bce(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5):
    out = cyclegan_step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=lambda_cycle,
                        lambda_identity=lambda_identity)
    return {**out, "G": out["G"] + 0.1}


@pytest.mark.parametrize("check, args, message", [
    (check_residual_block, (NoSkipBlock,), "skip connection"),
    (check_residual_block, (ZeroPadBlock,), "zero padding"),
    (check_residual_block, (BatchNormBlock,), "BatchNorm"),
    (check_resnet_generator, (UpsamplingGenerator,), "parameters, expected"),
    (check_patch_discriminator, (lambda ndf, n: PatchDiscriminator(ndf=ndf, n_layers=2), receptive_field), "parameters"),
    (check_patch_discriminator, (ReluPatchGAN, receptive_field), "found ReLU where LeakyReLU\\(0.2\\) is asked"),
    (check_patch_discriminator, (lambda ndf, n: PatchDiscriminator(ndf=ndf, n_layers=n),
                                 lambda layers: sum(k for k, _ in layers)), "receptive_field for"),
    (check_cycle_losses, (identity_swapped,), "identity feeds"),
    (check_cycle_losses, (cycle_mse,), "squared error"),
    (check_image_pool, (NoHistoryPool,), "½"),
    (check_image_pool, (AlwaysSwapPool,), "½"),
    (check_cyclegan_step, (step_without_halving,), "D_A"),
    (check_cyclegan_step, (step_ignoring_lambdas,), "lambda"),
    (check_cyclegan_step, (step_without_pool,), "pool"),
    (check_cyclegan_step, (step_bce,), "G \\(default"),
])
def test_06_mistakes(check, args, message):
    with pytest.raises(CheckError, match=message):
        check(*args)


# --- the behavioural tools the checks are built from ------------------------------------------------------------

def test_name_link_names_activation_norm_and_their_order():
    from course_utils.checks._behaviour import instance_norm, name_link
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    norms = {"no norm": lambda t: t, "InstanceNorm": instance_norm}
    assert name_link(x, F.leaky_relu(x, 0.2), norms) == "no norm then LeakyReLU(0.2)"
    assert name_link(x, F.relu(instance_norm(x)), norms) == "InstanceNorm then ReLU"
    assert name_link(x, instance_norm(F.leaky_relu(x, 0.2)), norms) == "LeakyReLU(0.2) then InstanceNorm"
    assert name_link(x, F.leaky_relu(x, 0.01), norms).endswith("PyTorch's default slope")
    assert name_link(x, F.elu(x), norms) is None


def test_negative_slope_and_trace():
    from course_utils.checks._behaviour import negative_slope, trace
    x = torch.randn(100)
    assert abs(negative_slope(x, F.leaky_relu(x, 0.3)) - 0.3) < 1e-6
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(4, 1, 3))
    out, records = trace(net, torch.randn(2, 3, 8, 8))
    assert [r.kind for r in records] == ["Conv2d", "Conv2d"]
    assert torch.allclose(records[1].input, F.leaky_relu(records[0].output, 0.2))   # cloned before the in-place op
    assert torch.equal(out, records[1].output)


def test_planted_gradients_and_optimizer_watch():
    from course_utils.checks._behaviour import STALE, Watch, plant, stale, touched
    layer = nn.Linear(2, 1)
    plant(layer.parameters())
    assert stale(layer.parameters()) and not touched(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()                 # accumulates onto the planted value
    assert stale(layer.parameters()) and touched(layer.parameters())
    opt = torch.optim.SGD(layer.parameters(), 0.1)
    seen = []
    watch = Watch(opt, lambda: seen.append(stale(layer.parameters())))
    opt.zero_grad()
    layer(torch.ones(1, 2)).sum().backward()
    opt.step()
    watch.remove()
    opt.step()
    assert watch.steps == 1 and seen == [False] and STALE > 100
