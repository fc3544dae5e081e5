"""course_utils.models.ensemble: S independent MLPs evaluated together behave like S separate runs."""

import pytest
import torch

from course_utils.losses import gradient_penalty, wgan_critic_loss
from course_utils.models.ensemble import Ensemble, member_groups, tile_rows
from course_utils.models.gan import MLPDiscriminator, MLPGenerator


def _generator(batch_norm):
    return lambda seed: MLPGenerator(2, (2,), hidden=(8, 8), activation="relu", batch_norm=batch_norm, tanh_output=False)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_members_match_separate_networks(batch_norm):
    G = Ensemble(_generator(batch_norm), [0, 1, 2])
    torch.manual_seed(1)
    assert all(torch.equal(a, b) for a, b in zip(_generator(batch_norm)(1).state_dict().values(),
                                                 G.members[1].state_dict().values()))
    x = torch.randn(3 * 5, 2)
    for mode in ("train", "eval"):
        getattr(G, mode)()
        out = G(x)
        for s, member in enumerate(G.members):
            getattr(member, mode)()
            torch.testing.assert_close(G.split(out)[s], member(x[5 * s:5 * (s + 1)]))
    if batch_norm:   # the training pass above updated each member's running statistics with its own rows
        running = [m.net[1].running_mean.clone() for m in G.members]
        assert not torch.allclose(running[0], running[1])


def test_mean_loss_and_penalty_give_each_member_its_own_gradient():
    D = Ensemble(lambda s: MLPDiscriminator((2,), hidden=(8, 8)), [0, 1])
    real, fake = torch.randn(2 * 6, 2), torch.randn(2 * 6, 2)
    torch.manual_seed(0)
    loss = wgan_critic_loss(D(real), D(fake)) + gradient_penalty(D, real, fake, 10.0)
    loss.backward()
    torch.manual_seed(0)
    eps = torch.rand(12, 1)      # the same interpolates, member by member
    for s, member in enumerate(D.members):
        rows = slice(6 * s, 6 * (s + 1))
        copy = MLPDiscriminator((2,), hidden=(8, 8))
        copy.load_state_dict(member.state_dict())
        mixed = (eps[rows] * real[rows] + (1 - eps[rows]) * fake[rows]).requires_grad_(True)
        (grad,) = torch.autograd.grad(copy(mixed).sum(), mixed, create_graph=True)
        own = wgan_critic_loss(copy(real[rows]), copy(fake[rows])) + 10.0 * (grad.norm(dim=1) - 1).pow(2).mean()
        own.backward()
        for a, b in zip(member.parameters(), copy.parameters()):
            torch.testing.assert_close(a.grad * 2, b.grad)   # scaled by 1/S, S = 2


def test_member_groups_and_tile_rows():
    G = Ensemble(_generator(False), [0, 1])
    opt = torch.optim.Adam(member_groups(G, lr=[1e-4, 1e-2]))
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-2]
    with pytest.raises(ValueError, match="3 values for 2 members"):
        member_groups(G, lr=[1, 2, 3])
    assert torch.equal(tile_rows(torch.arange(3.0).view(3, 1), 2).flatten(), torch.tensor([0.0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match="cannot be split"):
        G(torch.randn(3, 2))
