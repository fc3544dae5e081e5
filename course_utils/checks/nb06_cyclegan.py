"""Self-checks for notebook 06 (CycleGAN): the networks are compared with the reference implementation by
loading the same weights into both and comparing outputs, the losses and the step by value."""

from __future__ import annotations

import copy
import random
from typing import Callable

import torch
from torch import nn

from ..losses import cycle_loss
from ..models.cyclegan import CycleGAN, ImagePool, PatchDiscriminator, ResnetBlock, ResnetGenerator
from ..models.cyclegan import receptive_field as reference_receptive_field
from ..training import cyclegan_step
from ._core import CheckError, call, count_parameters, expect, expect_close, expect_tensor, passed


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _same_function(name: str, mine: nn.Module, reference: nn.Module, x: torch.Tensor, layout: str) -> torch.Tensor:
    """Copy the reference's conv weights into ``mine`` (in module order) and compare the outputs."""
    got_convs, want_convs = _convs(mine), _convs(reference)
    got_kinds = [(type(c).__name__, tuple(c.weight.shape)) for c in got_convs]
    want_kinds = [(type(c).__name__, tuple(c.weight.shape)) for c in want_convs]
    if got_kinds != want_kinds:
        first = next((i for i, (a, b) in enumerate(zip(got_kinds, want_kinds)) if a != b), min(len(got_kinds), len(want_kinds)))
        got_at = got_kinds[first] if first < len(got_kinds) else "nothing"
        want_at = want_kinds[first] if first < len(want_kinds) else "nothing"
        raise CheckError(f"{name}: layer {first + 1} is {got_at}, expected {want_at} "
                         f"({len(got_kinds)} conv layers, expected {len(want_kinds)}). {layout}")
    with torch.no_grad():
        for a, b in zip(got_convs, want_convs):
            a.weight.copy_(b.weight)
            expect((a.bias is None) == (b.bias is None), f"{name}: keep the convs' biases (bias=True), "
                                                         "as the reference implementation does with InstanceNorm.")
            if a.bias is not None:
                a.bias.copy_(b.bias)
    out = call(mine, x, name=f"{name}.forward")
    want = reference(x)
    expect_tensor(f"{name}(x)", out, shape=tuple(want.shape), hint=layout)
    expect_close(f"{name}(x) with the reference's weights", out, want, rtol=1e-3, atol=1e-4,
                 hint=f"Same weights, different output: check the order of padding, conv, InstanceNorm and "
                      f"activation. {layout}")
    return out


def check_residual_block(ResidualBlock: type) -> None:
    """``ResidualBlock(dim)``: ``[B, dim, H, W]`` → ``[B, dim, H, W]``."""
    torch.manual_seed(0)
    block = call(ResidualBlock, 16, name="ResidualBlock.__init__")
    reference = ResnetBlock(16)
    expect(count_parameters(block) == count_parameters(reference),
           f"ResidualBlock(16) has {count_parameters(block):,} parameters, expected {count_parameters(reference):,}: "
           "two 3×3 convs dim → dim (with bias), InstanceNorm without learnable parameters.")
    expect(any(isinstance(m, nn.ReflectionPad2d) for m in block.modules()),
           "pad with nn.ReflectionPad2d(1) before each 3×3 conv (the paper's choice: no zero borders).")
    layout = "x + [ReflectionPad2d(1), Conv 3×3, InstanceNorm, ReLU, ReflectionPad2d(1), Conv 3×3, InstanceNorm](x)."
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        for conv in _convs(block):
            conv.weight.zero_()
            conv.bias.zero_()
        expect_close("ResidualBlock(x) with all conv weights at zero", call(block, x), x,
                     hint="The block must return x + F(x): add the input back (the skip connection).")
        _same_function("ResidualBlock", block, reference, x, layout)
    passed("check_residual_block")


def check_resnet_generator(Generator: type) -> None:
    """``Generator(ngf, n_blocks)``: ``[B, 3, H, W]`` → ``[B, 3, H, W]`` in (-1, 1)."""
    layout = ("ReflectionPad2d(3), Conv 7×7 3 → ngf, IN, ReLU; two Conv 3×3 stride 2 (ngf → 2ngf → 4ngf), IN, ReLU; "
              "n_blocks ResidualBlock(4ngf); two ConvTranspose 3×3 stride 2 padding 1 output_padding 1 "
              "(4ngf → 2ngf → ngf), IN, ReLU; ReflectionPad2d(3), Conv 7×7 ngf → 3, tanh.")
    lines = []
    for ngf, n_blocks in ((64, 9), (32, 6)):
        torch.manual_seed(0)
        G = call(Generator, ngf, n_blocks, name="Generator.__init__")
        want = count_parameters(ResnetGenerator(ngf=ngf, n_blocks=n_blocks))
        got = count_parameters(G)
        expect(got == want, f"Generator(ngf={ngf}, n_blocks={n_blocks}) has {got:,} parameters, expected {want:,}. {layout}")
        lines.append(f"ngf={ngf}, {n_blocks} blocks: {got:,}")
    torch.manual_seed(0)
    G, reference = call(Generator, 8, 2, name="Generator.__init__"), ResnetGenerator(ngf=8, n_blocks=2)
    with torch.no_grad():
        out = _same_function("Generator", G, reference, torch.randn(2, 3, 32, 32), layout)
    expect(bool(out.abs().max() < 1), "the output should lie in (-1, 1): end with tanh.")
    passed("check_resnet_generator", "; ".join(lines) + " parameters")


def check_patch_discriminator(PatchGAN: type, receptive_field: Callable) -> None:
    """``PatchGAN(ndf, n_layers)``: ``[B, 3, H, W]`` → ``[B, 1, h, w]``; ``receptive_field(layers)`` for a list
    of ``(kernel, stride)`` pairs, first layer first."""
    layout = ("Conv 4×4 s2 3 → ndf, LeakyReLU(0.2); for n = 1..n_layers: Conv 4×4 (stride 2, the last stride 1) "
              "to ndf·min(2ⁿ, 8), InstanceNorm, LeakyReLU(0.2); Conv 4×4 s1 → 1; padding 1 everywhere.")
    torch.manual_seed(0)
    D = call(PatchGAN, 64, 3, name="PatchGAN.__init__")
    want = count_parameters(PatchDiscriminator(ndf=64, n_layers=3))
    expect(count_parameters(D) == want, f"PatchGAN(64, 3) has {count_parameters(D):,} parameters, expected {want:,}. {layout}")
    torch.manual_seed(0)
    D, reference = call(PatchGAN, 8, 3, name="PatchGAN.__init__"), PatchDiscriminator(ndf=8, n_layers=3)
    with torch.no_grad():
        out = _same_function("PatchGAN", D, reference, torch.randn(2, 3, 64, 64), layout)
    expect(not any(isinstance(m, nn.Sigmoid) for m in D.modules()), "no sigmoid: LSGAN scores raw outputs.")

    cases = {"the 70×70 PatchGAN": [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],
             "one 3×3 conv": [(3, 1)], "two 3×3 convs": [(3, 1), (3, 1)], "a 2×2 stride-2 conv, then a 3×3": [(2, 2), (3, 1)],
             "the 1×1 PixelGAN": [(1, 1), (1, 1), (1, 1)]}
    for name, layers in cases.items():
        convs = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s) for k, s in layers])
        got = call(receptive_field, layers)
        want_rf = reference_receptive_field(convs)
        expect(got == want_rf, f"receptive_field for {name} {layers} is {got}, expected {want_rf}. Walk back from one "
                               "output pixel, last layer first: r ← r·stride + (kernel − stride), starting from r = 1.")
    # the gradient footprint: which input pixels can change one output of the student's own network
    x = torch.zeros(1, 3, 160, 160, requires_grad=True)
    D = call(PatchGAN, 8, 3)
    for parent in list(D.modules()):       # InstanceNorm mixes all pixels through its statistics: drop it here
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(parent, child_name, nn.Identity())
    with torch.no_grad():
        for conv in _convs(D):
            conv.weight.fill_(0.01)
    out = D(x + 0.1 * torch.randn_like(x))
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    footprint = int(rows.max() - rows.min() + 1)
    expect(footprint == 70, f"one output of your PatchGAN depends on {footprint} input rows, expected 70.")
    passed("check_patch_discriminator", f"output {list(out.shape[1:])} for 160×160 input; receptive field "
                                        f"{call(receptive_field, cases['the 70×70 PatchGAN'])} px, gradient footprint {footprint} px")


def check_cycle_losses(cycle_losses: Callable) -> None:
    """``cycle_losses(G_AB, G_BA, real_a, real_b)`` → ``(cycle, identity)``, each summed over both directions."""
    torch.manual_seed(0)
    G_AB, G_BA = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    out = call(cycle_losses, G_AB, G_BA, a, b)
    expect(isinstance(out, tuple) and len(out) == 2, "return a pair (cycle, identity).")
    cycle, identity = out
    expect_tensor("cycle", cycle, shape=())
    expect_tensor("identity", identity, shape=())
    want_cycle = cycle_loss(a, G_BA(G_AB(a))) + cycle_loss(b, G_AB(G_BA(b)))
    want_identity = cycle_loss(b, G_AB(b)) + cycle_loss(a, G_BA(a))
    if torch.allclose(cycle, ((G_BA(G_AB(a)) - a) ** 2).mean() + ((G_AB(G_BA(b)) - b) ** 2).mean(), rtol=1e-4):
        raise CheckError("cycle uses the squared error: CycleGAN's cycle loss is the L1 distance (mean |F(G(a)) − a|).")
    expect_close("cycle", cycle, want_cycle, hint="cycle = mean|G_BA(G_AB(a)) − a| + mean|G_AB(G_BA(b)) − b|.")
    wrong_identity = cycle_loss(a, G_AB(a)) + cycle_loss(b, G_BA(b))
    if torch.allclose(identity, wrong_identity, rtol=1e-4):
        raise CheckError("identity feeds each generator its own input domain: G_AB maps A → B, so the identity "
                         "loss asks G_AB(b) ≈ b (a photo given to the painting-to-photo generator stays as it is).")
    expect_close("identity", identity, want_identity, hint="identity = mean|G_AB(b) − b| + mean|G_BA(a) − a|.")
    passed("check_cycle_losses")


def check_image_pool(Pool: type) -> None:
    """``Pool(size)`` with ``query(images) → images``: the history of fakes of Shrivastava et al. (2017).
    Seeds ``random`` and ``torch`` first, so that the printed share is the same on every run."""
    random.seed(0)
    torch.manual_seed(0)
    pool = call(Pool, 5, name="Pool.__init__")
    first = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 3, 2, 2).clone()
    out = call(pool.query, first, name="Pool.query")
    expect_tensor("query(first 5 images)", out, shape=(5, 3, 2, 2))
    expect(torch.equal(out, first), "while the pool is not full, query returns the new images themselves (and stores them).")
    seen = {float(v) for v in range(5)}
    from_history = 0
    for step in range(400):
        image = torch.full((1, 3, 2, 2), 100.0 + step, requires_grad=True)
        got = call(pool.query, image, name="Pool.query")
        expect_tensor("query(one image)", got.detach(), shape=(1, 3, 2, 2))
        value = float(got[0, 0, 0, 0])
        expect(value == 100.0 + step or value in seen, f"query returned an image ({value}) that is neither the new one "
                                                       "nor one stored earlier.")
        from_history += value != 100.0 + step
        seen.add(100.0 + step)
        expect(not got.requires_grad, "the pool returns detached images: D's update must not reach G.")
    share = from_history / 400
    expect(0.4 <= share <= 0.6, f"once full, query returned a stored image {100 * share:.0f} % of the time; "
                                "it should be ½: with probability ½ swap the new image for a random stored one.")
    stored = [float(v) for v in torch.cat(pool.images)[:, 0, 0, 0]] if hasattr(pool, "images") else None
    if stored is not None:
        expect(len(stored) == 5, f"the pool holds {len(stored)} images; it should keep exactly size = 5.")
    empty = call(Pool, 0, name="Pool.__init__")
    x = torch.randn(3, 3, 2, 2)
    expect(torch.equal(call(empty.query, x), x), "Pool(0) is no pool: query returns its input unchanged.")
    passed("check_image_pool", f"stored image returned {100 * share:.0f} % of the time once full")


def check_cyclegan_step(step: Callable) -> None:
    """``step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5)``."""
    for lambdas in ({}, {"lambda_cycle": 5.0, "lambda_identity": 0.0}):
        torch.manual_seed(0)
        model = CycleGAN(ngf=4, n_blocks=1, ndf=4)
        reference = copy.deepcopy(model)
        a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1

        def optimizers(m):
            return (torch.optim.Adam(m.generators(), 2e-4, betas=(0.5, 0.999)),
                    torch.optim.Adam(m.discriminators(), 2e-4, betas=(0.5, 0.999)))

        pools = ImagePool(50), ImagePool(50)
        out = call(step, model, *optimizers(model), a, b, *pools, **lambdas, name="cyclegan_training_step")
        want = cyclegan_step(reference, *optimizers(reference), a, b, ImagePool(50), ImagePool(50), **lambdas)
        expect(isinstance(out, dict) and {"G", "cycle", "identity", "D_A", "D_B"} <= set(out),
               "return a dict with the keys 'G', 'cycle', 'identity', 'D_A' and 'D_B'.")
        settings = ", ".join(f"{k}={v}" for k, v in lambdas.items()) or "default λs"
        hints = {"cycle": "cycle = L1(G_BA(G_AB(a)), a) + L1(G_AB(G_BA(b)), b), unweighted.",
                 "identity": "identity = L1(G_AB(b), b) + L1(G_BA(a), a), unweighted.",
                 "G": "G = LSGAN(D_B(G_AB(a)), real) + LSGAN(D_A(G_BA(b)), real) + λ_cycle·cycle "
                      "+ λ_identity·λ_cycle·identity; use the lambda arguments.",
                 "D_A": "D_A = ½ [LSGAN(D_A(a), real) + LSGAN(D_A(pool_a.query(fake_a)), fake)].",
                 "D_B": "D_B = ½ [LSGAN(D_B(b), real) + LSGAN(D_B(pool_b.query(fake_b)), fake)]."}
        for key, hint in hints.items():
            if key == "identity" and not lambdas.get("lambda_identity", 0.5):
                continue                                  # unused (and not computed by the reference) when λ_id = 0
            expect_close(f"{key} ({settings})", out[key], want[key], rtol=1e-3, atol=1e-5, hint=hint)
        expect(len(pools[0].images) == 2 and len(pools[1].images) == 2,
               "the discriminators should see fakes through the pools: pool_a.query(fake_a), pool_b.query(fake_b).")
        for name in ("G_AB", "G_BA", "D_A", "D_B"):
            same = all(torch.allclose(x, y, atol=1e-6) for x, y in
                       zip(getattr(model, name).parameters(), getattr(reference, name).parameters()))
            expect(same, f"after the step {name}'s weights differ from the reference's: update the generators with "
                         "opt_g on G's loss (discriminators frozen), then the discriminators with opt_d on D_A + D_B.")
    passed("check_cyclegan_step")
