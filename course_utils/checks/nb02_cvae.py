"""Self-checks for notebook 02 (conditional VAE; Sohn et al., 2015).

The mistakes each check names:

* ``check_one_hot``: int64 instead of float32; ``num_classes`` ignored; labels shifted by one; a
  wrong shape (``[num_classes, B]``, a missing class); the one-hot created on the CPU whatever the
  labels' device.
* ``check_condition_on_label``: the label as one channel of its value instead of 10 planes; planes
  that ignore the label; the image not first; concatenated along the wrong dimension;
  ``num_classes`` ignored.
* ``check_cvae``: the wrong layers (parameter count: the encoder needs 1 + 10 input channels, the
  decoder 2 + 10 inputs); an encoder or decoder that ignores the label; ``forward`` that decodes μ
  instead of a sample, decodes with another label, or returns the wrong triple; no ``self.encoder``
  (which ``encode_means`` uses) or one that is not the encoder of ``forward``; no gradient to a layer.
* ``check_cvae_loss``: β ignored or applied to the reconstruction; the mean code μ decoded instead
  of a sample; sums over the batch; the reconstruction or KL of the wrong tensors; not a tuple.

Accepted as correct: ``torch.eye(n, device=labels.device)[labels]``, ``F.one_hot``, scatter; planes by broadcasting,
``expand`` or ``repeat``; any encoder/decoder (``ConvEncoder``/``MLPDecoder`` or own layers) and any
sampler that computes z = μ + σ·ε from the global random stream (``reparameterize``, ``rsample``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import vae_loss
from ..models.cvae import CVAE as ReferenceCVAE
from ..models.cvae import condition_on_label as reference_condition
from ._core import (CheckError, call, close, count_parameters, expect, expect_close, expect_same_device,
                    expect_tensor, parameter_shapes, passed)


def check_one_hot(one_hot: Callable) -> None:
    """``one_hot(labels, num_classes=10)``: ``[B]`` int64 → ``[B, num_classes]`` float32."""
    labels = torch.tensor([3, 0, 9, 3])
    got = call(one_hot, labels)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (10, 4):
        raise CheckError("one_hot(labels) has shape [10, 4] but should be [4, 10]: one row per label, one column "
                         "per class.")
    expect_tensor("one_hot(labels)", got, shape=(4, 10),
                  hint="One row per label, one column per class (num_classes=10).")
    expect(got.dtype == torch.float32, f"one_hot should return float32 (it is concatenated to images and "
                                       f"latent codes), got {got.dtype}: convert the result to float.")
    expected = F.one_hot(labels, 10).float()
    hint = ("The 1 is one column off: column k stands for class k (labels are 0 … 9, no shift)."
            if close(got, F.one_hot((labels + 1) % 10, 10).float()) or close(got, F.one_hot((labels - 1) % 10, 10).float())
            else "Row b has a single 1, in column labels[b].")
    expect_close("one_hot(tensor([3, 0, 9, 3]))", got, expected, hint=hint)
    small = call(one_hot, torch.tensor([1, 3]), num_classes=4)
    expect_tensor("one_hot(tensor([1, 3]), num_classes=4)", small, shape=(2, 4),
                  hint="Use the num_classes argument for the number of columns.")
    expect_close("one_hot(..., num_classes=4)", small, torch.tensor([[0.0, 1, 0, 0], [0, 0, 0, 1]]),
                 hint="Use the num_classes argument.")
    expect_same_device("one_hot", one_hot, labels)
    passed("check_one_hot")


def check_condition_on_label(condition_on_label: Callable) -> None:
    """``condition_on_label(x, labels)``: ``[B, 1, H, W], [B]`` → ``[B, 1 + 10, H, W]``."""
    g = torch.Generator().manual_seed(0)
    x, labels = torch.rand(3, 1, 28, 28, generator=g), torch.tensor([2, 7, 2])
    got = call(condition_on_label, x, labels)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 2, 28, 28):
        raise CheckError("condition_on_label(x, labels) has 2 channels but needs 1 + 10: the label must become "
                         "10 label planes (its one-hot vector), not one channel holding its value.")
    if isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[0] != 3:
        raise CheckError(f"condition_on_label(x, labels) has shape {list(got.shape)}: you concatenated along the "
                         "batch dimension; the label planes are extra channels (dim=1).")
    expect_tensor("condition_on_label(x, labels)", got, shape=(3, 11, 28, 28),
                  hint="Concatenate 10 label planes to the image along the channel dimension (dim=1).")
    expected = reference_condition(x, labels)
    if close(got[:, -1:], x) and close(got[:, :10], expected[:, 1:]):
        raise CheckError("the label planes come before the image: keep the image as channel 0 and append the "
                         "10 planes after it (the encoder's first convolution expects that order).")
    expect_close("channel 0 (the image)", got[:, :1], x, hint="Keep the image as the first channel.")
    expect_close("the label planes", got[:, 1:], expected[:, 1:],
                 hint="Plane k is all ones where the label is k and all zeros elsewhere: the one-hot vector "
                      "of each label, broadcast over the H × W positions.")
    try:
        small = call(condition_on_label, torch.rand(2, 1, 5, 6), torch.tensor([0, 3]), num_classes=4)
    except CheckError as err:
        raise CheckError(f"{err}\ncondition_on_label failed on images [2, 1, 5, 6] with num_classes=4: use the "
                         "num_classes argument, and the image's own H and W (not 28 × 28).") from None
    expect_tensor("condition_on_label(x [2, 1, 5, 6], labels, num_classes=4)", small, shape=(2, 5, 5, 6),
                  hint="Use the num_classes argument, and the image's own H and W.")
    passed("check_condition_on_label")


def check_cvae(CVAE: type) -> None:
    """``CVAE(latent_dim)``: ``forward(x, y)`` → ``(logits, mu, logvar)``; ``decode(z, y)`` → logits."""
    torch.manual_seed(0)
    model = call(CVAE, 2, name="CVAE.__init__")
    expect(isinstance(model, nn.Module), "CVAE(2) should be an nn.Module.")
    want = count_parameters(ReferenceCVAE(2))
    got_params = count_parameters(model)
    expect(got_params == want, f"CVAE(2) has {got_params:,} parameters, expected {want:,}: the encoder takes "
                               "1 + 10 input channels and the decoder 2 + 10 inputs "
                               f"(yours: {parameter_shapes(model)}).")
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(4, 1, 28, 28, generator=g), torch.tensor([0, 1, 2, 3])
    other = (y + 1) % 10
    out = call(model, x, y, name="CVAE.forward")
    expect(isinstance(out, tuple) and len(out) == 3, "CVAE.forward should return (logits, mu, logvar).")
    logits, mu, logvar = out
    expect_tensor("logits", logits, shape=(4, 1, 28, 28))
    expect_tensor("mu", mu, shape=(4, 2))
    expect_tensor("logvar", logvar, shape=(4, 2))
    expect(not close(mu, logvar), "mu and logvar are identical: they are the two halves of the encoder's output.")

    with torch.no_grad():
        z = torch.randn(4, 2, generator=g)
        a = call(model.decode, z, y, name="CVAE.decode")
        expect_tensor("decode(z, y)", a, shape=(4, 1, 28, 28))
        b = call(model.decode, z, other, name="CVAE.decode")
        c = call(model.decode, z + 1, y, name="CVAE.decode")
        torch.manual_seed(1)
        _, mu_other, _ = model(x, other)
        torch.manual_seed(1)
        logits_1, mu_1, logvar_1 = model(x, y)
        torch.manual_seed(2)
        logits_2, mu_2, _ = model(x, y)
    expect(not close(a, b), "decode(z, y) gives the same image for every label: the decoder must see the "
                            "one-hot label next to z.")
    expect(not close(a, c), "decode(z, y) ignores z: the decoder's input is z together with the label.")
    expect(not close(mu_1, mu_other), "the encoder ignores the label: q(z | x, y) sees the image together with "
                                      "its label planes (condition_on_label).")
    expect_close("mu on a second call", mu_2, mu_1, hint="mu must not depend on the noise: the encoder is "
                                                         "deterministic, only z is sampled.")
    with torch.no_grad():
        mean_decode = model.decode(mu_1, y)
        torch.manual_seed(1)
        eps = torch.randn_like(mu_1)
        expected_logits = model.decode(mu_1 + (0.5 * logvar_1).exp() * eps, y)
        wrong_label = model.decode(mu_1 + (0.5 * logvar_1).exp() * eps, torch.zeros_like(y))
    expect(not close(logits_1, mean_decode), "forward decodes mu itself: decode a sample z = mu + sigma * eps "
                                             "(reparameterize), so that the loss sees the noise the ELBO needs.")
    expect(not close(logits_1, logits_2), "forward gives the same logits whatever the random seed: z must be a "
                                          "fresh sample on every call.")
    expect(not close(logits_1, wrong_label), "forward decodes with the label 0 instead of y: decode with the same "
                                             "label the encoder saw.")
    if not close(logits_1, expected_logits, rtol=1e-4, atol=1e-5):
        wrong_sigma = model.decode(mu_1 + logvar_1.exp() * eps, y)
        hint = (" σ is exp(½ logvar), not exp(logvar)." if close(logits_1, wrong_sigma) else "")
        raise CheckError("forward(x, y) should return decode(z, y) for z = reparameterize(mu, logvar) drawn from "
                         "the global random stream (seeded before the call), together with mu and logvar; the "
                         f"logits differ.{hint}")
    encoder = getattr(model, "encoder", None)
    expect(isinstance(encoder, nn.Module), "the CVAE has no module self.encoder: encode_means (in the class) and "
                                           "the cells below call it, so build the encoder under that name.")
    with torch.no_grad():
        encoded = call(encoder, reference_condition(x, y), name="CVAE.encoder")
    expect(isinstance(encoded, tuple) and len(encoded) == 2, "self.encoder should return (mu, logvar).")
    expect_close("self.encoder(condition_on_label(x, y))[0]", encoded[0], mu_1,
                 hint="self.encoder takes the image with its label planes and returns the (mu, logvar) of forward.")
    logits_1 = model(x, y)[0]
    logits_1.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    expect(not missing, f"no gradient reaches {missing}: forward should use every layer.")
    passed("check_cvae", f"{got_params:,} parameters")


def check_cvae_loss(cvae_loss: Callable, CVAE: type) -> None:
    """``cvae_loss(model, x, y, beta=1.0)`` → ``(loss, reconstruction, kl)`` of ``model(x, y)``."""
    torch.manual_seed(0)
    model = call(CVAE, 2, name="CVAE.__init__")
    with torch.no_grad():  # larger weights: a KL term far from 0, so that beta visibly matters
        for p in model.parameters():
            p.mul_(3.0)
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([4, 9, 4, 9, 1])
    torch.manual_seed(3)
    out = call(cvae_loss, model, x, y)
    expect(isinstance(out, tuple) and len(out) == 3, "cvae_loss should return (loss, reconstruction, kl).")
    torch.manual_seed(3)  # the same noise as the call above
    logits, mu, logvar = model(x, y)
    expected = vae_loss(logits, x, mu, logvar)
    mean_logits = model.decode(mu, y)
    if close(out[1], vae_loss(mean_logits, x, mu, logvar)[1], rtol=1e-4):
        raise CheckError("the reconstruction term decodes mu: it must use the sampled z of model(x, y), one sample "
                         "per image (the ELBO is an expectation over q(z | x, y)).")
    for name, got, want in zip(("loss", "reconstruction", "kl"), out, expected):
        expect_tensor(name, got, shape=(), hint="Average over the batch: return scalars.")
        hint = ("It is 5 times too large: average over the batch of 5 images, do not sum."
                if close(got, 5 * want, rtol=1e-4) else
                "The conditional ELBO has 01's two terms, computed from model(x, y)'s outputs (one call).")
        expect_close(name, got, want, rtol=1e-4, hint=hint)
    torch.manual_seed(3)
    loss4 = call(cvae_loss, model, x, y, beta=4.0)[0]
    if close(loss4, expected[0], rtol=1e-4):
        raise CheckError("cvae_loss ignores beta: with beta=4 the KL term should weigh 4 times as much.")
    if close(loss4, 4 * expected[1] + expected[2], rtol=1e-4):
        raise CheckError("with beta=4 the reconstruction term was weighted: beta multiplies the KL term only.")
    expect_close("loss with beta=4", loss4, expected[1] + 4 * expected[2], rtol=1e-4,
                 hint="loss = reconstruction + beta * kl.")
    model.zero_grad()
    torch.manual_seed(3)
    call(cvae_loss, model, x, y)[0].backward()
    expect(all(p.grad is not None for p in model.parameters()),
           "the loss does not reach every parameter of the model: compute it from model(x, y) with torch operations.")
    passed("check_cvae_loss")
