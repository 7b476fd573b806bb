"""The book's models: output shapes at d2l's image sizes, and the papers' parameter counts."""
import pytest
import torch
import torchvision

import utils
from utils import models


@pytest.mark.parametrize("make, size", [
    (models.lenet, 28), (models.bn_lenet, 28), (models.alexnet, 224),
    (lambda: models.alexnet(image_size=96), 96), (lambda: models.vgg("A", width_divisor=8), 224),
    (lambda: models.vgg("A", width_divisor=4, image_size=32), 32), (models.nin, 224),
    (models.nin, 96), (models.googlenet, 96), (models.resnet18, 96), (models.densenet, 96),
])
def test_ten_class_output(make, size):
    net = make().eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, size, size)).shape == (2, 10)


def test_vgg_configurations_match_the_paper():
    """Simonyan & Zisserman, Table 2: 133, 133, 134, 138, 144 million parameters."""
    millions = {c: round(utils.count_params(models.vgg(c, in_channels=3, num_classes=1000)) / 1e6)
                for c in models.VGG_CONFIGS}
    assert millions == {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
    # configurations A, B, D, E are torchvision's vgg11/13/16/19 (without the adaptive pool)
    for cfg, name in [("A", "vgg11"), ("B", "vgg13"), ("D", "vgg16"), ("E", "vgg19")]:
        ours = utils.count_params(models.vgg(cfg, in_channels=3, num_classes=1000))
        assert ours == utils.count_params(getattr(torchvision.models, name)())


def test_vgg19_compute():
    macs = utils.count_macs(models.vgg("E", in_channels=3, num_classes=1000),
                            torch.zeros(1, 3, 224, 224))
    assert round(macs / 1e9, 1) == 19.6


def test_inception_block_cost():
    block = models.Inception(192, 64, (96, 128), (16, 32), 32)
    x = torch.zeros(1, 192, 28, 28)
    assert block(x).shape == (1, 256, 28, 28)
    assert round(utils.count_params(block) / 1e6, 2) == 0.16
    assert round(utils.count_macs(block, x) / 1e6) == 128


def test_lenet_and_resnet_counts():
    assert utils.count_params(models.lenet()) == 61_706
    assert utils.count_params(models.resnet18()) == 11_178_378
    plain = models.resnet18(shortcut=False)
    assert utils.count_params(plain) < utils.count_params(models.resnet18())  # no projections


def test_residual_block_shapes():
    x = torch.rand(4, 3, 6, 6)
    assert models.Residual(3, 3)(x).shape == (4, 3, 6, 6)
    assert models.Residual(3, 6, use_1x1conv=True, strides=2)(x).shape == (4, 6, 3, 3)
