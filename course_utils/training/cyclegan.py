"""One CycleGAN iteration (notebook 06; looped by :class:`~course_utils.cyclegan_trainer.CycleGANTrainer`)."""

from __future__ import annotations

import torch
from torch import nn

from ..losses import cycle_loss, lsgan_loss


def cyclegan_step(model: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  real_a: torch.Tensor, real_b: torch.Tensor, pool_a, pool_b, *, lambda_cycle: float = 10.0,
                  lambda_identity: float = 0.5) -> dict[str, torch.Tensor]:
    """One CycleGAN iteration (Zhu et al., 2017, sec. 3 and 7.1), as in the authors' implementation.

    Generators: LSGAN loss of G_AB(a) against D_B and of G_BA(b) against D_A, plus ``lambda_cycle`` × the
    two cycle losses, plus ``lambda_identity × lambda_cycle`` × the two identity losses; the
    discriminators are frozen meanwhile. Discriminators: each on real images and on a fake drawn from its
    image pool, the loss halved. ``model`` is a :class:`~course_utils.models.cyclegan.CycleGAN`;
    ``real_a``, ``real_b``: ``[B, 3, H, W]`` in [-1, 1].
    """
    fake_b, fake_a = model.G_AB(real_a), model.G_BA(real_b)
    rec_a, rec_b = model.G_BA(fake_b), model.G_AB(fake_a)
    for p in model.discriminators():
        p.requires_grad_(False)
    adversarial = lsgan_loss(model.D_B(fake_b), True) + lsgan_loss(model.D_A(fake_a), True)
    cycle = cycle_loss(real_a, rec_a) + cycle_loss(real_b, rec_b)
    identity = (cycle_loss(real_b, model.G_AB(real_b)) + cycle_loss(real_a, model.G_BA(real_a))
                if lambda_identity > 0 else torch.zeros((), device=real_a.device))
    g_total = adversarial + lambda_cycle * cycle + lambda_identity * lambda_cycle * identity
    opt_g.zero_grad(set_to_none=True)
    g_total.backward()
    opt_g.step()
    for p in model.discriminators():
        p.requires_grad_(True)

    d_a = 0.5 * (lsgan_loss(model.D_A(real_a), True) + lsgan_loss(model.D_A(pool_a.query(fake_a)), False))
    d_b = 0.5 * (lsgan_loss(model.D_B(real_b), True) + lsgan_loss(model.D_B(pool_b.query(fake_b)), False))
    opt_d.zero_grad(set_to_none=True)
    (d_a + d_b).backward()
    opt_d.step()
    return {"G": g_total, "G_adv": adversarial, "cycle": cycle, "identity": identity, "D_A": d_a, "D_B": d_b}
