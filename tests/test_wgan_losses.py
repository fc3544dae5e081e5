import pytest
import torch

from course_utils.losses import clip_weights, gradient_penalty, wgan_critic_loss, wgan_generator_loss


def test_critic_and_generator_losses():
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[1.0], [0.0]])
    assert wgan_critic_loss(real, fake).item() == pytest.approx(0.5 - 3.0)
    assert wgan_generator_loss(fake).item() == pytest.approx(-0.5)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic_has_a_closed_form(scale):
    w = torch.tensor([[3.0, 4.0]]) * scale / 5.0            # ||w|| = scale everywhere
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(w)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    penalty = gradient_penalty(critic, real, fake, weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * (scale - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_is_differentiable_for_the_critic():
    critic = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(8, 2), torch.randn(8, 2, requires_grad=True)
    gradient_penalty(critic, real, fake).backward()
    weights = [p for name, p in critic.named_parameters() if name != "2.bias"]  # the output bias does not move ∇f
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert fake.grad is None  # the fakes are detached: the penalty trains only the critic


def test_clip_weights():
    layer = torch.nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.mul_(100)
    clip_weights(layer, 0.01)
    assert layer.weight.abs().max() <= 0.01 and layer.bias.abs().max() <= 0.01
