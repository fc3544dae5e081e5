import torch

from course_utils.models.cyclegan import (ImagePool, PatchDiscriminator, ResnetBlock, ResnetGenerator,
                                          init_weights, receptive_field)


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_paper_sizes_match_the_reference_implementation():
    # junyanz/pytorch-CycleGAN-and-pix2pix prints 11.378 M (resnet_9blocks) and 2.765 M (basic PatchGAN)
    assert count(ResnetGenerator(3, 3, ngf=64, n_blocks=9)) == 11_378_179
    assert count(PatchDiscriminator(3, ndf=64, n_layers=3)) == 2_764_737


def test_shapes():
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    G = ResnetGenerator(ngf=8, n_blocks=2)
    y = G(x)
    assert y.shape == x.shape and y.abs().max() < 1
    assert ResnetBlock(8)(torch.rand(1, 8, 5, 5)).shape == (1, 8, 5, 5)
    assert PatchDiscriminator(ndf=8)(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert PatchDiscriminator(ndf=8)(x).shape == (2, 1, 6, 6)


def test_patchgan_receptive_field_is_70():
    assert receptive_field(PatchDiscriminator(n_layers=3)) == 70
    assert receptive_field(PatchDiscriminator(n_layers=1)) == 16


def test_receptive_field_matches_the_gradient_footprint():
    D = PatchDiscriminator(ndf=4, n_layers=3)
    for index, layer in enumerate(D.model):  # InstanceNorm mixes whole images; the convolutions alone see 70 px
        if isinstance(layer, torch.nn.InstanceNorm2d):
            D.model[index] = torch.nn.Identity()
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    D(x)[0, 0, 6, 6].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == receptive_field(D) == 70


def test_init_weights_uses_n_0_002():
    G = init_weights(ResnetGenerator(ngf=16, n_blocks=1))
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002


def test_image_pool_fills_then_mixes_history():
    pool = ImagePool(size=3, seed=0)
    first = torch.arange(3).float().view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)
    new = torch.full((100, 1, 1, 1), 9.0)
    out = pool.query(new)
    old = (out < 9).sum().item()
    assert out.shape == new.shape and 0 < old <= 3  # some stored fakes come back, each at most once
    assert len(pool.images) == 3
    assert torch.equal(ImagePool(size=0).query(new), new)


# --- losses, schedule and one training step -----------------------------------------------------------

import pytest  # noqa: E402

from course_utils.losses import cycle_loss, lsgan_loss  # noqa: E402
from course_utils.models.cyclegan import CycleGAN, linear_decay  # noqa: E402
from course_utils.training import cyclegan_step  # noqa: E402


def test_lsgan_and_cycle_losses():
    pred = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    assert lsgan_loss(pred, True).item() == pytest.approx((1 + 0 + 1 + 4) / 4)
    assert lsgan_loss(pred, False).item() == pytest.approx((0 + 1 + 4 + 1) / 4)
    assert cycle_loss(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)).item() == pytest.approx(0.5)


def test_linear_decay_schedule():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = linear_decay(opt, n_epochs=2, n_epochs_decay=2)
    rates = []
    for _ in range(4):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3])


def _tiny():
    torch.manual_seed(0)
    model = CycleGAN(ngf=4, n_blocks=1, ndf=4)
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    return model, a, b


@pytest.mark.parametrize("frozen", ["G", "D"])
def test_cyclegan_step_updates_each_side_with_its_own_optimizer(frozen):
    model, a, b = _tiny()
    opt_g = torch.optim.Adam(model.generators(), 0.0 if frozen == "G" else 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.discriminators(), 0.0 if frozen == "D" else 2e-4, betas=(0.5, 0.999))
    g_before = [p.clone() for p in model.generators()]
    d_before = [p.clone() for p in model.discriminators()]
    losses = cyclegan_step(model, opt_g, opt_d, a, b, ImagePool(50), ImagePool(50))
    assert set(losses) == {"G", "G_adv", "cycle", "identity", "D_A", "D_B"}
    assert all(torch.isfinite(v) for v in losses.values())
    g_same = all(torch.equal(x, y) for x, y in zip(g_before, model.generators()))
    d_same = all(torch.equal(x, y) for x, y in zip(d_before, model.discriminators()))
    assert (g_same, d_same) == ((True, False) if frozen == "G" else (False, True))
    assert all(p.requires_grad for p in model.discriminators())


def test_cyclegan_step_weights_and_pools():
    model, a, b = _tiny()
    opt_g = torch.optim.SGD(model.generators(), 0.0)
    opt_d = torch.optim.SGD(model.discriminators(), 0.0)
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    losses = cyclegan_step(model, opt_g, opt_d, a, b, pool_a, pool_b, lambda_identity=0.0)
    assert losses["identity"].item() == 0.0
    assert losses["G"].item() == pytest.approx(losses["G_adv"].item() + 10 * losses["cycle"].item(), rel=1e-5)
    assert len(pool_a.images) == len(pool_b.images) == 1
    losses = cyclegan_step(model, opt_g, opt_d, a, b, pool_a, pool_b)
    expected = losses["G_adv"] + 10 * losses["cycle"] + 5 * losses["identity"]
    assert losses["G"].item() == pytest.approx(expected.item(), rel=1e-5)
