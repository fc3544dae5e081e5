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
