"""The book's models: output shapes at d2l's image sizes, and the papers' parameter counts."""
import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

import utils
from utils import models


BUILDERS = [
    (models.lenet, 28), (models.bn_lenet, 28), (models.alexnet, 224),
    (lambda **kw: models.alexnet(image_size=96, **kw), 96),
    (lambda **kw: models.vgg("A", width_divisor=8, **kw), 224),
    (lambda **kw: models.vgg("A", width_divisor=4, image_size=32, **kw), 32), (models.nin, 224),
    (models.nin, 96), (models.googlenet, 96), (models.resnet18, 96), (models.densenet, 96),
]


@pytest.mark.parametrize("make, size", BUILDERS)
def test_ten_class_output(make, size):
    net = make().eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, size, size)).shape == (2, 10)


@pytest.mark.parametrize("make, size", BUILDERS)
def test_num_classes_sets_the_output_width(make, size):
    net = make(num_classes=7).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, size, size)).shape == (2, 7)


def d2l_bn_lenet(num_classes):
    """BN-LeNet exactly as d2l types it (the layout the chapters' state_dicts and tables use)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def test_bn_lenet_is_d2ls_layout():
    ours, ref = models.bn_lenet(num_classes=7), d2l_bn_lenet(7)
    shapes = lambda net: [(k, tuple(v.shape)) for k, v in net.state_dict().items()]  # noqa: E731
    assert shapes(ours) == shapes(ref)                   # same names, order and shapes
    assert [type(m) for m in ours] == [type(m) for m in ref]
    ours.load_state_dict(ref.state_dict())
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(ours(x), ref(x))
    assert utils.count_params(models.bn_lenet()) == 61_706 + 2 * (6 + 16 + 120 + 84) == 62_158
    # LeNet itself: no norm layers, d2l's 12 layers
    assert [k for k in models.lenet().state_dict()] == [
        f"{i}.{w}" for i in (0, 3, 7, 9, 11) for w in ("weight", "bias")]

    class Norm(nn.BatchNorm1d):                 # a from-scratch class serves 2D and 1D layers
        pass

    assert sum(isinstance(m, Norm) for m in models.bn_lenet(batch_norm=Norm)) == 4


def test_sparse_conv_is_a_masked_convolution():
    """Reference: F.conv2d with the full weight zeroed outside the table, and the 16 small
    convolutions of the chapter's Exercise 3."""
    table = torch.rand(6, 16, generator=torch.Generator().manual_seed(0)) < 0.6
    c3 = models.SparseConv2d(table, kernel_size=5)
    assert utils.count_params(c3) == int(table.sum()) * 25 + 16
    x = torch.randn(2, 6, 14, 14)
    dense = torch.randn(16, 6, 5, 5)
    with torch.no_grad():
        c3.weight.copy_(dense[c3.out_idx, c3.in_idx])
    masked = dense * table.T[:, :, None, None]
    y = c3(x)
    assert torch.allclose(y, F.conv2d(x, masked, c3.bias), atol=1e-5)
    for p in range(16):                                  # output map p reads its inputs only
        inputs = table[:, p].nonzero().flatten()
        alone = F.conv2d(x[:, inputs], dense[p:p + 1, inputs], c3.bias[p:p + 1])
        assert torch.allclose(y[:, p:p + 1], alone, atol=1e-5)


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
