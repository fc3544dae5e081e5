import pytest
import torch
from PIL import Image
from torch.nn.utils import parametrize

from course_utils.data import DatasetNotFoundError
from course_utils.data.images import load_image_folder
from course_utils.losses import lsgan_d_loss, lsgan_g_loss
from course_utils.models.dcgan import DCDiscriminator, DCGenerator, power_iteration


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_discriminator_shapes_and_size():
    D = DCDiscriminator(conv_dim=32)
    assert D(torch.rand(4, 3, 32, 32)).shape == (4, 1)
    # convs: 3·32·25+32, 32·64·25+64, 64·128·25+128, 128·1·25+1; BatchNorm: 2·(32+64+128)
    assert count(D) == (2432 + 51264 + 204928 + 3201) + 2 * (32 + 64 + 128)


def test_generator_shapes_range_and_size():
    G = DCGenerator(noise_size=100, conv_dim=32)
    x = G(torch.randn(4, 100))
    assert x.shape == (4, 3, 32, 32) and x.abs().max() < 1
    linear = 100 * 2048 + 2048 + 2 * 2048
    convs = (128 * 64 * 25 + 64) + (64 * 32 * 25 + 32) + (32 * 3 * 25 + 3)
    assert count(G) == linear + convs + 2 * (64 + 32)


def test_spectral_norm_uses_pytorch_parametrization():
    D = DCDiscriminator(conv_dim=8, spectral_norm=True)
    convs = [D.conv1[0], D.conv2[0], D.conv3[0], D.conv4[0]]
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    assert not parametrize.is_parametrized(DCDiscriminator(conv_dim=8).conv1[0])
    G = DCGenerator(conv_dim=8, spectral_norm=True)
    assert parametrize.is_parametrized(G.upconv3[0], "weight")
    D.train()
    for _ in range(30):  # the parametrization refines its power iteration on every training forward
        D(torch.rand(2, 3, 32, 32))
    weight = D.conv2[0].weight.reshape(16, -1)
    assert torch.linalg.matrix_norm(weight, 2).item() == pytest.approx(1.0, abs=0.05)


def test_power_iteration_matches_the_spectral_norm():
    torch.manual_seed(0)
    for shape in [(5, 7), (16, 8, 5, 5)]:
        w = torch.randn(*shape)
        expected = torch.linalg.matrix_norm(w.reshape(shape[0], -1), 2)
        assert power_iteration(w, iterations=200).item() == pytest.approx(expected.item(), rel=1e-4)


def test_lsgan_losses():
    real, fake = torch.tensor([[1.0], [0.0]]), torch.tensor([[0.0], [1.0]])
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.5 * (0.5 + 0.5))
    assert lsgan_g_loss(torch.ones(3, 1)).item() == 0.0
    assert lsgan_g_loss(torch.zeros(3, 1)).item() == pytest.approx(0.5)


def test_image_folder_loads_resized_images_in_order(tmp_path):
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (64, 48), colour).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images, labels = load_image_folder(tmp_path, size=16).tensors
    assert images.shape == (2, 3, 16, 16) and labels.tolist() == [0, 0]
    assert images[0, 0].mean() > 0.9 and images[0, 2].mean() < -0.9 and images[1, 2].mean() > 0.9
    assert len(load_image_folder(tmp_path, size=8, limit=1)) == 1
    with pytest.raises(DatasetNotFoundError, match="no images"):
        load_image_folder(tmp_path / "missing")
