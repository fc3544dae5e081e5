"""Self-checks for notebook 02 (conditional VAE)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..losses import vae_loss
from ..models.cvae import CVAE as ReferenceCVAE
from ..models.cvae import condition_on_label as reference_condition
from ._core import call, close, count_parameters, expect, expect_close, expect_tensor, passed


def check_one_hot(one_hot: Callable) -> None:
    """``one_hot(labels, num_classes=10)``: ``[B]`` int64 → ``[B, num_classes]`` float32."""
    labels = torch.tensor([3, 0, 9, 3])
    got = call(one_hot, labels)
    expect_tensor("one_hot(labels)", got, shape=(4, 10),
                  hint="One row per label, one column per class (num_classes=10).")
    expect(got.dtype == torch.float32, f"one_hot should return float32 (it is concatenated to images and "
                                       f"latent codes), got {got.dtype}: add .float().")
    expect_close("one_hot(tensor([3, 0, 9, 3]))", got, F.one_hot(labels, 10).float(),
                 hint="Row b has a single 1, in column labels[b].")
    expect_close("one_hot(..., num_classes=4)", call(one_hot, torch.tensor([1, 3]), num_classes=4),
                 torch.tensor([[0.0, 1, 0, 0], [0, 0, 0, 1]]), hint="Use the num_classes argument.")
    passed("check_one_hot")


def check_condition_on_label(condition_on_label: Callable) -> None:
    """``condition_on_label(x, labels)``: ``[B, 1, H, W], [B]`` → ``[B, 1 + 10, H, W]``."""
    g = torch.Generator().manual_seed(0)
    x, labels = torch.rand(3, 1, 28, 28, generator=g), torch.tensor([2, 7, 2])
    got = call(condition_on_label, x, labels)
    expect_tensor("condition_on_label(x, labels)", got, shape=(3, 11, 28, 28),
                  hint="Concatenate 10 label planes to the image along the channel dimension (dim=1).")
    expect_close("channel 0 (the image)", got[:, :1], x, hint="Keep the image as the first channel.")
    expect_close("the label planes", got[:, 1:], reference_condition(x, labels)[:, 1:],
                 hint="Plane k is all ones where the label is k and all zeros otherwise: "
                      "one_hot(labels)[:, :, None, None].expand(-1, -1, H, W).")
    passed("check_condition_on_label")


def check_cvae(CVAE: type) -> None:
    """``CVAE(latent_dim)``: ``forward(x, y)`` → ``(logits, mu, logvar)``; ``decode(z, y)`` → logits."""
    torch.manual_seed(0)
    model = call(CVAE, 2, name="CVAE.__init__")
    want = count_parameters(ReferenceCVAE(2))
    got_params = count_parameters(model)
    expect(got_params == want, f"CVAE(2) has {got_params:,} parameters, expected {want:,}: the encoder takes "
                               "1 + 10 input channels and the decoder 2 + 10 inputs.")
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = call(model, x, y, name="CVAE.forward")
    expect(isinstance(out, tuple) and len(out) == 3, "CVAE.forward should return (logits, mu, logvar).")
    logits, mu, logvar = out
    expect_tensor("logits", logits, shape=(4, 1, 28, 28))
    expect_tensor("mu", mu, shape=(4, 2))
    expect_tensor("logvar", logvar, shape=(4, 2))

    with torch.no_grad():
        mu_a, _ = model.encoder(reference_condition(x, y))
        mu_b, _ = model.encoder(reference_condition(x, (y + 1) % 10))
        z = torch.zeros(4, 2)
        a = call(model.decode, z, y, name="CVAE.decode")
        b = call(model.decode, z, (y + 1) % 10, name="CVAE.decode")
    expect_tensor("decode(z, y)", a, shape=(4, 1, 28, 28))
    expect(not close(mu_a, mu_b), "the encoder ignores the label: feed it condition_on_label(x, y).")
    expect(not close(a, b), "decode(z, y) gives the same image for every label: concatenate one_hot(y) to z.")
    torch.manual_seed(1)
    logits_1, mu_1, _ = model(x, y)
    expect_close("mu from forward", mu_1, mu_a, hint="forward should encode condition_on_label(x, y).")
    torch.manual_seed(1)
    logits_2, _, _ = model(x, y)
    expect_close("forward with the same seed", logits_2, logits_1)
    with torch.no_grad():
        mean_decode = model.decode(mu_1, y)
    expect(not close(logits_1, mean_decode), "forward decodes mu itself: sample z = reparameterize(mu, logvar).")
    logits_1.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    expect(not missing, f"no gradient reaches {missing}.")
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
    for name, got, want in zip(("loss", "reconstruction", "kl"), out, expected):
        expect_tensor(name, got, shape=())
        expect_close(name, got, want, rtol=1e-4,
                     hint="Run model(x, y) once and pass its outputs to vae_loss(logits, x, mu, logvar, beta).")
    torch.manual_seed(3)
    loss4 = call(cvae_loss, model, x, y, beta=4.0)[0]
    expect_close("loss with beta=4", loss4, expected[1] + 4 * expected[2], rtol=1e-4,
                 hint="Pass beta on to vae_loss.")
    passed("check_cvae_loss")
