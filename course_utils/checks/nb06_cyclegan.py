"""Self-checks for notebook 06 (CycleGAN). The networks are compared with the reference implementation by loading
the same weights into both and comparing outputs, layer by layer where they differ; the losses, the pool and the
step by what they do.

The mistakes they name:

* ``check_residual_block``: no skip connection, a ReLU after the addition, zero padding instead of reflection
  (``nn.ReflectionPad2d``, ``padding_mode="reflect"`` and ``F.pad(..., mode="reflect")`` all pass), BatchNorm
  (which mixes the images of a batch) instead of InstanceNorm, a ReLU at the end of the residual branch, a missing
  InstanceNorm, learnable norm parameters.
* ``check_resnet_generator``: missing or extra blocks, upsample + conv where transposed convs are asked, zero
  padding in the 7×7 convs, a missing InstanceNorm or ReLU (the first layer whose input differs is named), no tanh.
* ``check_patch_discriminator``: ReLU (or PyTorch's default slope 0.01) where LeakyReLU(0.2) is asked, a norm on
  the first layer, BatchNorm instead of InstanceNorm, the norm after the activation, a sigmoid at the end, a last
  stride of 2 (a wrong footprint), the wrong number of layers; ``receptive_field`` walked forwards or summed.
* ``check_cycle_losses``: MSE instead of L1, λ already applied, only one direction, the wrong fakes translated
  back (G_BA(fake_a) for a), a sum instead of a mean, the identity loss on the wrong domain, no gradient to the
  generators, detached fakes (the cycle's gradient stops at the first translation).
* ``check_image_pool``: no history, always swapping, one coin per batch instead of per image, stored images that
  are live (attached to G's graph) or views of the caller's tensor instead of copies, a pool larger than ``size``,
  images moved to the CPU (tried on PyTorch's "meta" device), ``size = 0`` not passing through; no generator of
  its own (``self.random``), Python's global ``random`` used in ``query``, the ``seed`` ignored.
* ``check_cyclegan_step`` (called twice, stale gradients planted): the discriminators not frozen during the
  generators' update, a missing ``zero_grad``, undetached fakes for D, the λs missing or ignored, the identity
  weighted by λ_identity alone, MSE cycle losses, unhalved D losses, no pool, Python floats.
* ``check_edge_correlation``: one number for the batch instead of one per image, pixels correlated instead of
  edges, no centring (a cosine similarity), the squared magnitude, |g_x| + |g_y|, g_x alone, padded filters,
  edges per colour channel; edge correlation of an image with itself and with a brighter copy must be 1.
"""

from __future__ import annotations

import copy
import random
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import cycle_loss
from ..metrics.content import SOBEL_X, grey
from ..metrics.content import edge_correlation as reference_edge_correlation
from ..models.cyclegan import CycleGAN, ImagePool, PatchDiscriminator, ResnetBlock, ResnetGenerator
from ..models.cyclegan import receptive_field as reference_receptive_field
from ..training import cyclegan_step
from ._behaviour import Watch, batch_norm, instance_norm, name_link, plant, same, stale, trace, touched
from ._core import CheckError, call, count_parameters, expect, expect_close, expect_tensor, passed

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, _CONVS)]


def _load_reference_weights(name: str, mine: nn.Module, reference: nn.Module, layout: str) -> None:
    """Copy the reference's conv weights into ``mine``, in module order, after comparing the layers' kinds."""
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


def _first_difference(name: str, mine: nn.Module, reference: nn.Module, x: torch.Tensor, layout: str) -> None:
    """Trace both networks conv by conv and name the first layer whose input differs from the reference's."""
    out, got = trace(mine, x, kinds=_CONVS)
    want_out, want = trace(reference, x, kinds=_CONVS)
    for k, (a, b) in enumerate(zip(got, want)):
        if not same(a.input, b.input, rtol=1e-3, atol=1e-4):
            where = ("it should be the padded input image: check the padding before it" if k == 0 else
                     f"it should come from the output of conv {k}, which matched: check the padding, InstanceNorm "
                     "and activation between them")
            raise CheckError(f"{name}: with the reference's weights the input of conv {k + 1} ({b.kind} "
                             f"{tuple(b.module.weight.shape)}) differs from the reference's; {where}. {layout}")
    raise CheckError(f"{name}: every conv sees the reference's inputs, but the output differs: check what comes "
                     f"after the last conv. {layout}")


def _same_function(name: str, mine: nn.Module, reference: nn.Module, x: torch.Tensor, layout: str) -> torch.Tensor:
    """Load the reference's weights into ``mine`` and compare the outputs (and, if they differ, layer by layer)."""
    _load_reference_weights(name, mine, reference, layout)
    out = call(mine, x, name=f"{name}.forward")
    want = reference(x)
    expect_tensor(f"{name}(x)", out, shape=tuple(want.shape), hint=layout)
    if not same(out, want, rtol=1e-3, atol=1e-4):
        _first_difference(name, mine, reference, x, layout)
    return out


def _mixes_batch(name: str, model: nn.Module, x: torch.Tensor) -> None:
    """Each image must be processed on its own (InstanceNorm), not with statistics of the batch (BatchNorm)."""
    with torch.no_grad():
        together, alone = call(model, x, name=f"{name}.forward"), call(model, x[:1], name=f"{name}.forward")
    expect(same(together[:1], alone, rtol=1e-3, atol=1e-4),
           f"{name} gives an image a different output when other images share its batch: it normalises with "
           "batch statistics (BatchNorm). CycleGAN uses InstanceNorm2d: statistics per image and channel.")


def _block(x: torch.Tensor, convs: list[nn.Module], pad: str = "reflect", norms=(True, True), relu_end=False,
           skip=True, relu_after=False) -> torch.Tensor:
    h = x
    for k, conv in enumerate(convs):
        h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode=pad), conv.weight, conv.bias)
        h = instance_norm(h) if norms[k] else h
        h = F.relu(h) if k == 0 or relu_end else h
    out = x + h if skip else h
    return F.relu(out) if relu_after else out


def check_residual_block(ResidualBlock: type) -> None:
    """``ResidualBlock(dim)``: ``[B, dim, H, W]`` → ``[B, dim, H, W]``."""
    torch.manual_seed(0)
    block = call(ResidualBlock, 16, name="ResidualBlock.__init__")
    reference = ResnetBlock(16)
    expect(count_parameters(block) == count_parameters(reference),
           f"ResidualBlock(16) has {count_parameters(block):,} parameters, expected {count_parameters(reference):,}: "
           "two 3×3 convs dim → dim (with bias), InstanceNorm without learnable parameters (affine=False).")
    layout = "x + [ReflectionPad2d(1), Conv 3×3, InstanceNorm, ReLU, ReflectionPad2d(1), Conv 3×3, InstanceNorm](x)."
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        for conv in _convs(block):
            conv.weight.zero_()
            conv.bias.zero_()
        zeroed = call(block, x, name="ResidualBlock.forward")
        expect_tensor("ResidualBlock(x)", zeroed, shape=tuple(x.shape))
        if same(zeroed, F.relu(x)):
            raise CheckError("with all conv weights at zero the block returns ReLU(x): a ReLU after the addition. "
                             "The block returns x + F(x) with nothing after the sum.")
        expect_close("ResidualBlock(x) with all conv weights at zero", zeroed, x,
                     hint="The block must return x + F(x): add the input back (the skip connection).")
        _load_reference_weights("ResidualBlock", block, reference, layout)
        _mixes_batch("ResidualBlock", block, x)
        out, want = call(block, x, name="ResidualBlock.forward"), reference(x)
        if not same(out, want, rtol=1e-3, atol=1e-4):
            convs = _convs(reference)
            variants = {"zero padding: pad by reflection (the paper's choice: no dark borders)": dict(pad="constant"),
                        "a ReLU at the end of the residual branch: F ends with InstanceNorm, no activation":
                            dict(relu_end=True),
                        "no InstanceNorm after the second conv": dict(norms=(True, False)),
                        "no InstanceNorm after the first conv": dict(norms=(False, True)),
                        "no skip connection": dict(skip=False)}
            for mistake, options in variants.items():
                if same(out, _block(x, convs, **options), rtol=1e-3, atol=1e-4):
                    raise CheckError(f"ResidualBlock: same weights as the reference, different output: {mistake}.")
            expect_close("ResidualBlock(x) with the reference's weights", out, want, rtol=1e-3, atol=1e-4,
                         hint=f"Check the order of padding, conv, InstanceNorm and activation. {layout}")
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
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _load_reference_weights("Generator", G, reference, layout)
        out = call(G, x, name="Generator.forward")
        want = reference(x)
        expect_tensor("Generator(x)", out, shape=tuple(want.shape), hint=layout)
        if same(out, torch.atanh(want.clamp(-1 + 1e-6, 1 - 1e-6)), rtol=1e-3, atol=1e-3):
            raise CheckError("the generator's output is the last conv's raw output: end with tanh, so that images "
                             "lie in (-1, 1) like the data.")
        _mixes_batch("Generator", G, x)
        if not same(out, want, rtol=1e-3, atol=1e-4):
            _first_difference("Generator", G, reference, x, layout)
    expect(bool(out.abs().max() < 1), "the output should lie in (-1, 1): end with tanh.")
    passed("check_resnet_generator", "; ".join(lines) + " parameters")


def _difference(found: str, wanted: str) -> str:
    """Say how the link ``found`` ("<a> then <b>") differs from ``wanted``."""
    (f1, f2), (w1, w2) = found.split(" then "), wanted.split(" then ")
    if f1 == w1:
        return f"found {f2} where {w2} is asked"
    if f2 == w2:
        return f"found {f1} where {w1} is asked" + (": InstanceNorm normalises each image on its own"
                                                     if f1 == "BatchNorm" else "")
    if (f1, f2) == (w2, w1):
        return f"the norm comes after the activation ({found}), expected {wanted}"
    return f"found {found}, expected {wanted}"


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
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _load_reference_weights("PatchGAN", D, reference, layout)
        _mixes_batch("PatchGAN", D, x)
        out, records = call(trace, D, x, kinds=_CONVS, name="PatchGAN.forward")
        for k, (a, b) in enumerate(zip(records, records[1:])):
            wanted = "no norm then LeakyReLU(0.2)" if k == 0 else "InstanceNorm then LeakyReLU(0.2)"
            found = name_link(a.output, b.input, {"no norm": lambda t: t, "InstanceNorm": instance_norm,
                                                  "BatchNorm": batch_norm})
            if found is not None and found != wanted:
                raise CheckError(f"PatchGAN: between conv {k + 1} and conv {k + 2}: {_difference(found, wanted)}"
                                 + (" (no norm on the first layer)." if k == 0 else ".") + f" {layout}")
        if records and same(out, torch.sigmoid(records[-1].output)):
            raise CheckError("PatchGAN ends with a sigmoid: the LSGAN loss scores raw outputs, no sigmoid.")
        want_out = reference(x)
        expect_tensor("PatchGAN(x)", out, shape=tuple(want_out.shape), hint=layout)
        if not same(out, want_out, rtol=1e-3, atol=1e-4):
            _first_difference("PatchGAN", D, reference, x, layout)

    cases = {"the 70×70 PatchGAN": [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],
             "one 3×3 conv": [(3, 1)], "two 3×3 convs": [(3, 1), (3, 1)], "a 2×2 stride-2 conv, then a 3×3": [(2, 2), (3, 1)],
             "the 1×1 PixelGAN": [(1, 1), (1, 1), (1, 1)]}
    for name, layers in cases.items():
        convs = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s) for k, s in layers])
        got = call(receptive_field, layers)
        want_rf = reference_receptive_field(convs)
        expect(got == want_rf, f"receptive_field for {name} {layers} is {got}, expected {want_rf}. Walk back from one "
                               "output pixel, last layer first: a pixel after a layer of kernel k and stride s depends "
                               "on s·r + (k − s) of its inputs when it depended on r of its outputs; start from r = 1.")
    # the gradient footprint: which input pixels can change one output of the student's own network
    x = torch.zeros(1, 3, 160, 160, requires_grad=True)
    D = call(PatchGAN, 8, 3)
    for parent in list(D.modules()):       # InstanceNorm mixes all pixels through its statistics: drop it here
        for child_name, child in list(parent.named_children()):
            if isinstance(child, (nn.InstanceNorm2d, nn.BatchNorm2d)):
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
    """``cycle_losses(G_AB, G_BA, real_a, real_b, fake_b, fake_a)`` → ``(cycle, identity)``, each summed over both
    directions; ``fake_b = G_AB(real_a)`` and ``fake_a = G_BA(real_b)`` are the step's translations."""
    torch.manual_seed(0)
    G_AB, G_BA = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    fake_b, fake_a = G_AB(a), G_BA(b)
    out = call(cycle_losses, G_AB, G_BA, a, b, fake_b, fake_a)
    expect(isinstance(out, tuple) and len(out) == 2, "return a pair (cycle, identity).")
    cycle, identity = out
    expect_tensor("cycle", cycle, shape=())
    expect_tensor("identity", identity, shape=())
    with torch.no_grad():
        aba, bab, ab, ba = G_BA(G_AB(a)), G_AB(G_BA(b)), G_AB(b), G_BA(a)
    want_cycle = cycle_loss(a, aba) + cycle_loss(b, bab)
    want_identity = cycle_loss(b, ab) + cycle_loss(a, ba)
    if same(cycle, F.mse_loss(aba, a) + F.mse_loss(bab, b)):
        raise CheckError("cycle uses the squared error: CycleGAN's cycle loss is the L1 distance (mean |F(G(a)) − a|).")
    if same(cycle, 10 * want_cycle) or same(identity, 5 * want_identity) or same(identity, 0.5 * want_identity):
        raise CheckError("the losses are already weighted by λ: return the unweighted sums, the training step "
                         "multiplies them by λ_cycle and λ_identity·λ_cycle.")
    if same(cycle, cycle_loss(a, aba)) or same(cycle, cycle_loss(b, bab)):
        raise CheckError("cycle covers one direction only: add a → G_AB → G_BA → a and b → G_BA → G_AB → b.")
    with torch.no_grad():
        crossed = cycle_loss(a, G_BA(fake_a)) + cycle_loss(b, G_AB(fake_b))
    if same(cycle, crossed):
        raise CheckError("cycle translates the wrong fakes back: a's round trip is a → fake_b = G_AB(a) → G_BA(fake_b), "
                         "so a is compared with G_BA(fake_b) (and b with G_AB(fake_a)).")
    if same(cycle, a[0].numel() * len(a) * want_cycle, rtol=1e-3):
        raise CheckError("cycle sums the absolute errors: take their mean over pixels and batch.")
    expect_close("cycle", cycle, want_cycle, hint="cycle = E|G_BA(G_AB(a)) − a| + E|G_AB(G_BA(b)) − b|, L1 means.")
    if same(identity, cycle_loss(a, G_AB(a).detach()) + cycle_loss(b, G_BA(b).detach())):
        raise CheckError("identity feeds each generator its own input domain: G_AB maps A → B, so the identity "
                         "loss asks G_AB(b) ≈ b (a photo given to the painting-to-photo generator stays as it is).")
    if same(identity, F.mse_loss(ab, b) + F.mse_loss(ba, a)):
        raise CheckError("identity uses the squared error: it is an L1 distance too.")
    expect_close("identity", identity, want_identity, hint="identity = E|G_AB(b) − b| + E|G_BA(a) − a|.")
    expect(cycle.requires_grad and identity.requires_grad,
           "the losses pass no gradient to the generators (.item(), .detach() or torch.no_grad()?).")
    params = [*G_AB.parameters(), *G_BA.parameters()]
    got = torch.autograd.grad(cycle, params, allow_unused=True)
    want = torch.autograd.grad(cycle_loss(a, G_BA(G_AB(a))) + cycle_loss(b, G_AB(G_BA(b))), params)
    expect(all(g is not None and same(g, w, rtol=1e-3, atol=1e-6) for g, w in zip(got, want)),
           "cycle's gradient does not reach both generators along the whole round trip: the first translation "
           "(fake_b, fake_a) must stay on the graph (no .detach() on the fakes), so that G_AB learns from a's cycle.")
    identity.backward()
    expect(all(p.grad is not None for p in params), "some generator parameters receive no gradient from the identity loss.")
    passed("check_cycle_losses")


def _own_random_numbers(Pool: type) -> None:
    """The pool draws from ``self.random``, a ``random.Random(seed)`` of its own (saved and restored with a
    training checkpoint), never from Python's global generator."""
    pool = call(Pool, 2, seed=3, name="Pool.__init__")
    expect(isinstance(getattr(pool, "random", None), random.Random),
           "the pool has no random number generator of its own: create `self.random = random.Random(seed)` in "
           "__init__ and draw from it in query (its state is what a checkpoint saves, so that a resumed run "
           "continues exactly).")

    def draws(seed: int, global_seed: int) -> tuple[list[float], bool]:
        random.seed(global_seed)
        before = random.getstate()
        p = call(Pool, 2, seed=seed, name="Pool.__init__")
        values = []
        for step in range(30):
            values.append(float(call(p.query, torch.full((1, 1, 1, 1), float(step)), name="Pool.query")[0, 0, 0, 0]))
        return values, random.getstate() == before

    first, untouched = draws(seed=3, global_seed=0)
    expect(untouched, "query draws from Python's global `random` (random.random(), random.randrange()): draw from "
                      "the pool's own generator, self.random, whose state a checkpoint can save and restore.")
    again, _ = draws(seed=3, global_seed=1)
    expect(first == again, "two pools built with the same seed return different images: seed the pool's generator "
                           "with the `seed` argument (random.Random(seed)).")
    other, _ = draws(seed=4, global_seed=0)
    expect(first != other, "pools built with seeds 3 and 4 return the same images: seed self.random with `seed`.")


def check_image_pool(Pool: type) -> None:
    """``Pool(size, seed=0)`` with ``query(images) → images``: the history of fakes of Shrivastava et al. (2017),
    drawing its coins and indices from ``self.random = random.Random(seed)``."""
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
    stored = list(pool.images) if hasattr(pool, "images") else None
    if stored is not None:
        count = sum(len(t) if t.dim() == 4 else 1 for t in stored)
        expect(count == 5, f"the pool holds {count} images; it should keep exactly size = 5.")
        expect(not any(t.requires_grad or t.grad_fn is not None for t in stored),
               "the pool stores live fakes, still attached to the generator's graph: store detached copies "
               "(the graph of every stored image would stay in memory, and D's update could reach G).")

    # one coin per image: batches of 4 once the pool is full mix new and stored images
    mixed = 0
    for step in range(40):
        batch = torch.full((4, 3, 2, 2), 1000.0 + 10 * step) + torch.arange(4.0).view(4, 1, 1, 1)
        got = call(pool.query, batch, name="Pool.query")
        expect_tensor("query(4 images)", got.detach(), shape=(4, 3, 2, 2))
        fresh = [bool(torch.equal(g, n)) for g, n in zip(got, batch)]
        mixed += 0 < sum(fresh) < 4
    expect(mixed >= 20, f"in 40 batches of 4 images the output mixed new and stored images {mixed} times, expected "
                        "about 35: flip one coin per image of the batch, not one per batch.")

    # the stored images are the pool's own: changing the caller's tensor later must not change the history
    pool = call(Pool, 3, name="Pool.__init__")
    batch = torch.randn(3, 3, 2, 2)
    call(pool.query, batch, name="Pool.query")
    kept = [t.clone() for t in pool.images] if hasattr(pool, "images") else None
    batch.fill_(-7.0)
    if kept is not None:
        expect(all(torch.equal(a, b) for a, b in zip(kept, pool.images)),
               "the pool's images changed when the caller overwrote its own tensor afterwards: the pool stores views "
               "of the fakes. Store copies (detach and clone).")
    # the device: images must stay where they are (tried on PyTorch's shape-only "meta" device, as on a GPU)
    pool = call(Pool, 2, name="Pool.__init__")
    for _ in range(3):
        try:
            got = pool.query(torch.empty(3, 3, 2, 2, device="meta"))
        except Exception as err:                         # noqa: BLE001 - only device moves are reported
            if "meta" in str(err) or "device" in str(err):
                raise CheckError("the pool fails for images on another device than the CPU (here PyTorch's "
                                 f"'meta' device, as on a GPU): {type(err).__name__}: {err}. Keep the stored images "
                                 "on their device (no .cpu()).") from None
            break
        expect(got.device.type == "meta", f"for images on the 'meta' device query returned images on {got.device}: "
                                          "keep the stored images on their device (no .cpu()).")
    empty = call(Pool, 0, name="Pool.__init__")
    x = torch.randn(3, 3, 2, 2)
    expect(torch.equal(call(empty.query, x), x), "Pool(0) is no pool: query returns its input unchanged.")
    _own_random_numbers(Pool)
    passed("check_image_pool", f"stored image returned {100 * share:.0f} % of the time once full")


def check_cyclegan_step(step: Callable) -> None:
    """``step(model, opt_g, opt_d, real_a, real_b, pool_a, pool_b, lambda_cycle=10.0, lambda_identity=0.5)``,
    called twice per setting with stale gradients planted before each call."""
    for lambdas in ({}, {"lambda_cycle": 5.0, "lambda_identity": 0.0}):
        torch.manual_seed(0)
        model = CycleGAN(ngf=4, n_blocks=1, ndf=4)
        reference = copy.deepcopy(model)

        def optimizers(m):
            return (torch.optim.Adam(m.generators(), 2e-4, betas=(0.5, 0.999)),
                    torch.optim.Adam(m.discriminators(), 2e-4, betas=(0.5, 0.999)))

        opt_g, opt_d = optimizers(model)
        ref_opts = optimizers(reference)
        pools, ref_pools = (ImagePool(50), ImagePool(50)), (ImagePool(50), ImagePool(50))
        g_grads: list[torch.Tensor | None] = []

        def before_g_step():
            if stale(model.generators()):
                raise CheckError("the generators were updated with stale gradients: call opt_g.zero_grad() before "
                                 "their backward.")
            if touched(model.discriminators()):
                raise CheckError("the generators' loss sent gradients into the discriminators: freeze them during the "
                                 "generators' update (requires_grad_(False) on their parameters, back to True after).")
            g_grads[:] = [None if p.grad is None else p.grad.clone() for p in model.generators()]

        def before_d_step():
            if stale(model.discriminators()):
                raise CheckError("the discriminators were updated with stale gradients: call opt_d.zero_grad() before "
                                 "their backward.")
            now = [p.grad for p in model.generators()]
            if any(b is not None and bool(b.abs().sum() > 0) and (a is None or not torch.equal(a, b))
                   for a, b in zip(g_grads, now)):
                raise CheckError("the discriminators' loss sent gradients into the generators: D must see detached "
                                 "fakes (those the pools return).")

        watches = Watch(opt_g, before_g_step), Watch(opt_d, before_d_step)
        settings = ", ".join(f"{k}={v}" for k, v in lambdas.items()) or "default λs"
        try:
            for call_number in (1, 2):
                a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
                plant([*model.generators(), *model.discriminators()])
                for w in watches:
                    w.steps = 0
                try:
                    out = call(step, model, opt_g, opt_d, a, b, *pools, **lambdas, name="cyclegan_training_step")
                except CheckError as err:
                    if "a second time" in str(err):
                        raise CheckError("the discriminators' loss reaches back into the generators' graph, which "
                                         "their own backward already freed: the discriminators must see detached "
                                         "fakes (those the pools return).") from None
                    raise
                want = cyclegan_step(reference, *ref_opts, a, b, *ref_pools, **lambdas)
                _compare_step(out, want, lambdas, settings, call_number, watches)
                expect(sum(len(p.images) for p in pools) == 4 * call_number,
                       "the discriminators should see fakes through the pools: pool_a.query(fake_a), pool_b.query(fake_b).")
                for name in ("G_AB", "G_BA", "D_A", "D_B"):
                    same_weights = all(torch.allclose(x, y, atol=1e-6) for x, y in
                                       zip(getattr(model, name).parameters(), getattr(reference, name).parameters()))
                    expect(same_weights, f"after the step ({settings}, call {call_number}) {name}'s weights differ from "
                                         "the reference's: update the generators with opt_g on G's loss "
                                         "(discriminators frozen), then the discriminators with opt_d on D_A + D_B.")
                expect(all(p.requires_grad for p in model.discriminators()),
                       "after the step the discriminators are still frozen: set requires_grad_(True) again.")
        finally:
            for w in watches:
                w.remove()
    passed("check_cyclegan_step")


def _compare_step(out, want, lambdas: dict, settings: str, call_number: int, watches) -> None:
    keys = ("G", "cycle", "identity", "D_A", "D_B")
    expect(isinstance(out, dict) and set(keys) <= set(out),
           "return a dict with the keys 'G', 'cycle', 'identity', 'D_A' and 'D_B'.")
    for key in keys:
        expect(isinstance(out[key], torch.Tensor) and out[key].dim() == 0,
               f"out['{key}'] is a {type(out[key]).__name__}; return the loss tensors (0-d), not .item() floats.")
    expect(watches[0].steps == 1 and watches[1].steps == 1,
           f"opt_g stepped {watches[0].steps} and opt_d {watches[1].steps} times; each steps once per call.")
    lam_c, lam_i = lambdas.get("lambda_cycle", 10.0), lambdas.get("lambda_identity", 0.5)
    where = f"{settings}, call {call_number}"
    cycle, identity = out["cycle"].detach(), out["identity"].detach()
    adversarial = want["G_adv"]
    if lam_i and same(out["G"], adversarial + cycle + identity, rtol=1e-3):
        raise CheckError("G's loss adds the cycle and identity losses unweighted: multiply them by λ_cycle and "
                         "λ_identity·λ_cycle (the lambda arguments).")
    if lam_i and same(out["G"], adversarial + lam_c * cycle + lam_i * identity, rtol=1e-3):
        raise CheckError(f"the identity loss is weighted by λ_identity = {lam_i:g} alone: the paper weighs it "
                         f"λ_identity·λ_cycle = {lam_i * lam_c:g} (λ_identity is relative to λ_cycle).")
    hints = {"cycle": "cycle = L1(G_BA(G_AB(a)), a) + L1(G_AB(G_BA(b)), b), unweighted: L1 means, not squared errors.",
             "identity": "identity = L1(G_AB(b), b) + L1(G_BA(a), a), unweighted.",
             "G": "G = LSGAN(D_B(G_AB(a)), real) + LSGAN(D_A(G_BA(b)), real) + λ_cycle·cycle "
                  "+ λ_identity·λ_cycle·identity; use the lambda arguments.",
             "D_A": "D_A = ½ [LSGAN(D_A(a), real) + LSGAN(D_A(a fake from pool_a), fake)]: the halved loss.",
             "D_B": "D_B = ½ [LSGAN(D_B(b), real) + LSGAN(D_B(a fake from pool_b), fake)]: the halved loss."}
    for key, hint in hints.items():
        if key == "identity" and not lam_i:
            continue                                  # unused (and not computed by the reference) when λ_id = 0
        expect_close(f"{key} ({where})", out[key], want[key], rtol=1e-3, atol=1e-5, hint=hint)


def _edge_variants(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """What typical wrong edge correlations return, by mistake."""
    def magnitude(images, *, padding=0, square=False, l1=False, per_channel=False, only_x=False):
        k = torch.stack([SOBEL_X, SOBEL_X.T]).unsqueeze(1)
        g = images.float() if per_channel else images.float().mean(1, keepdim=True)
        c = g.shape[1]
        out = F.conv2d(g, k.repeat(c, 1, 1, 1), padding=padding, groups=c)      # [N, 2c, h, w]
        gx, gy = out[:, 0::2], out[:, 1::2]
        if only_x:
            return gx.abs()
        if l1:
            return gx.abs() + gy.abs()
        m2 = gx ** 2 + gy ** 2
        return m2 if square else m2.sqrt()

    def pearson(u, v, centre=True):
        u, v = u.flatten(1), v.flatten(1)
        if centre:
            u, v = u - u.mean(1, keepdim=True), v - v.mean(1, keepdim=True)
        return (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1)).clamp_min(1e-12)

    return {
        "the pixels are correlated, not their edges: correlate the Sobel gradient magnitudes": pearson(grey(x), grey(y)),
        "the edge maps are not centred (a cosine similarity): subtract each map's mean before correlating":
            pearson(magnitude(x), magnitude(y), centre=False),
        "the squared magnitude g_x² + g_y² is correlated: take its square root": pearson(magnitude(x, square=True),
                                                                                        magnitude(y, square=True)),
        "|g_x| + |g_y| is correlated: the magnitude is √(g_x² + g_y²)": pearson(magnitude(x, l1=True), magnitude(y, l1=True)),
        "only the horizontal gradient g_x is used: combine g_x and g_y": pearson(magnitude(x, only_x=True),
                                                                               magnitude(y, only_x=True)),
        "the Sobel filters are applied with padding: use valid positions only (F.conv2d without padding)":
            pearson(magnitude(x, padding=1), magnitude(y, padding=1)),
        "the edges are taken per colour channel: take them on the grey levels (the mean over channels)":
            pearson(magnitude(x, per_channel=True), magnitude(y, per_channel=True)),
    }


def check_edge_correlation(edge_correlation: Callable) -> None:
    """``edge_correlation(x, y)``: ``[N, C, H, W]`` twice → ``[N]``, the Pearson correlation per image of the Sobel
    gradient magnitudes of the grey levels (no padding)."""
    torch.manual_seed(0)
    base = F.avg_pool2d(torch.rand(4, 3, 28, 28) * 2 - 1, 3, stride=1)             # [4, 3, 26, 26], smooth shapes
    y = torch.flip(base, dims=(1,)) * 0.6 + 0.1 * torch.randn_like(base) - 0.2     # other colours, some noise
    got = call(edge_correlation, base, y)
    expect_tensor("edge_correlation(x, y)", got, hint="one correlation per image: shape [N].")
    if got.dim() == 0:
        raise CheckError("edge_correlation returns one number for the whole batch: compute one correlation per image, "
                         "shape [N] (flatten each image's edge map separately).")
    expect_tensor("edge_correlation(x, y)", got, shape=(4,))
    want = reference_edge_correlation(base, y)
    if not same(got, want, rtol=1e-3, atol=1e-4):
        for mistake, value in _edge_variants(base, y).items():
            if same(got, value, rtol=1e-3, atol=1e-4):
                raise CheckError(f"edge_correlation: {mistake}.")
        expect_close("edge_correlation(x, y)", got, want, rtol=1e-3, atol=1e-4,
                     hint="grey = mean over channels; Sobel g_x, g_y by F.conv2d (no padding); magnitude √(g_x² + g_y²); "
                          "Pearson correlation of the two magnitude maps of each image.")
    same_image = call(edge_correlation, base, base)
    expect_close("edge_correlation(x, x)", same_image, torch.ones(4), atol=1e-4, hint="an image's edges correlate "
                                                                                     "perfectly with themselves.")
    brighter = call(edge_correlation, base, 0.5 * base + 0.3)
    expect_close("edge_correlation(x, 0.5·x + 0.3)", brighter, torch.ones(4), atol=1e-4,
                 hint="brightness and contrast do not move the edges: the correlation should stay 1.")
    passed("check_edge_correlation", f"mean {float(got.mean()):.3f} for 4 recoloured noisy images")
