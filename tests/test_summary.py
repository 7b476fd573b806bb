import pytest
import torch
import torchvision
from torch import nn

import utils

# Parameter counts that torchvision publishes with its pretrained weights (weights.meta).
TORCHVISION = {
    "alexnet": torchvision.models.AlexNet_Weights.IMAGENET1K_V1,
    "vgg11": torchvision.models.VGG11_Weights.IMAGENET1K_V1,
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    "googlenet": torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1,
    "densenet121": torchvision.models.DenseNet121_Weights.IMAGENET1K_V1,
    "mobilenet_v2": torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1,
    "shufflenet_v2_x1_0": torchvision.models.ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1,
}


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_totals_equal_torchvision(name):
    weights = TORCHVISION[name]
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(**kwargs)
    rows = utils.layer_table(model, (1, 3, 224, 224))
    total = rows[-1]
    assert total["params"] == weights.meta["num_params"]
    assert sum(r["params"] for r in rows[:-1]) == total["params"]   # every parameter in a leaf
    # torchvision's "GFLOPS" are multiply-adds of conv and linear layers, our MACs
    assert total["macs"] / 1e9 == pytest.approx(weights.meta["_ops"], rel=0.01)


def test_alexnet_first_layer_matches_the_paper():
    conv = nn.Conv2d(3, 96, kernel_size=11, stride=4)
    rows = utils.layer_table(nn.Sequential(conv), (1, 3, 227, 227))
    assert rows[0]["output"] == (1, 96, 55, 55)
    assert rows[0]["params"] == (11 * 11 * 3 + 1) * 96 == 34_944
    assert rows[0]["macs"] == 55 * 55 * 96 * 363 == 105_415_200


def test_non_sequential_and_functional_ops():
    class TwoPath(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 3, 3, padding=1)
            self.b = nn.Conv2d(2, 3, 1)
            self.head = nn.Linear(6 * 4 * 4, 5)

        def forward(self, x):
            y = torch.cat([self.a(x), self.b(x)], dim=1)       # [B, 6, 4, 4]
            return self.head(y.flatten(1))

    rows = utils.layer_table(TwoPath(), (1, 2, 4, 4))
    assert [r["name"] for r in rows] == ["a", "b", "head", "total"]
    assert [r["macs"] for r in rows] == [16 * 3 * 18, 16 * 3 * 2, 96 * 5, 16 * 3 * 20 + 480]
    assert rows[-1]["params"] == (18 + 1) * 3 + (2 + 1) * 3 + 96 * 5 + 5


def test_shared_module_counted_once():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    rows = utils.layer_table(nn.Sequential(conv, conv), (1, 1, 5, 5))
    assert [r["params"] for r in rows] == [10, 0, 10]


def test_count_macs_of_lenet():
    net = utils.models.lenet()
    # conv1 28*28*6*25, conv2 10*10*16*150, dense 400*120 + 120*84 + 84*10
    expected = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert utils.count_macs(net, torch.zeros(1, 1, 28, 28)) == expected
    assert utils.count_params(net) == 61_706


def test_summary_prints_units(capsys):
    utils.summary(utils.models.lenet(), (1, 1, 28, 28))
    out = capsys.readouterr().out
    assert "MACs" in out and "FLOPs = 2 x MACs" in out and "61,706" in out
