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


# The paper's C3 connection table (LeCun et al. 1998, Table I): rows S2 maps, columns C3 maps.
C3_TABLE = torch.tensor([[c == "X" for c in row.split()] for row in """
    X . . . X X X . . X X X X . X X
    X X . . . X X X . . X X X X . X
    X X X . . . X X X . . X . X X X
    . X X X . . X X X X . . X . X X
    . . X X X . . X X X X . X X . X
    . . . X X X . . X X X X . X X X""".strip().splitlines()])


def lenet5_stand_in():
    """LeNet-5's geometry with standard layers, except the sparse C3. The subsampling layers
    are depthwise 2x2/2 convolutions (as in the chapter) and the RBF head a linear 84 -> 10."""
    return nn.Sequential(
        nn.ZeroPad2d(2), nn.Conv2d(1, 6, 5), nn.Tanh(),                  # C1: [B, 6, 28, 28]
        nn.Conv2d(6, 6, 2, stride=2, groups=6), nn.Tanh(),               # S2: [B, 6, 14, 14]
        utils.models.SparseConv2d(C3_TABLE, kernel_size=5), nn.Tanh(),   # C3: [B, 16, 10, 10]
        nn.Conv2d(16, 16, 2, stride=2, groups=16), nn.Tanh(),            # S4: [B, 16, 5, 5]
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),                  # C5: [B, 120]
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))                # F6, output


def test_sparse_c3_counts_only_its_connections():
    """60 connections x 25 weights x 10x10 outputs, not the 96 kernels of the dense weight."""
    assert int(C3_TABLE.sum()) == 60
    c3 = utils.models.SparseConv2d(C3_TABLE, kernel_size=5)
    assert utils.count_macs(c3, torch.zeros(1, 6, 14, 14)) == 60 * 25 * 100 == 150_000
    assert utils.count_macs(c3, torch.zeros(3, 6, 14, 14)) == 3 * 150_000
    rows = utils.layer_table(lenet5_stand_in(), (1, 1, 28, 28))
    c3_row = next(r for r in rows if r["type"] == "SparseConv2d")
    assert (c3_row["params"], c3_row["macs"]) == (60 * 25 + 16, 60 * 25 * 100)
    # C1 117,600 + S2 4,704 + C3 150,000 + S4 1,600 + C5 48,000 + F6 10,080 + output 840
    assert rows[-1]["macs"] == sum(r["macs"] for r in rows[:-1]) == 332_824
    assert utils.count_macs(lenet5_stand_in(), torch.zeros(1, 1, 28, 28)) == 332_824


def test_layer_table_does_not_move_the_model():
    meta = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 3)).to("meta")
    rows = utils.layer_table(meta, (2, 1, 28, 28))                 # runs where the model is
    assert [r["output"] for r in rows] == [(2, 4, 26, 26), (2, 2704), (2, 3), (2, 3)]
    assert all(p.is_meta for p in meta.parameters())

    cpu = utils.models.lenet()
    before = {n: p.detach().clone() for n, p in cpu.named_parameters()}
    objects = list(cpu.parameters())
    on_meta = utils.layer_table(cpu, (1, 1, 28, 28), device="meta")   # a copy runs on meta
    assert on_meta == utils.layer_table(cpu, (1, 1, 28, 28))
    assert list(cpu.parameters()) == objects and objects[0].device.type == "cpu"
    assert all(torch.equal(p, before[n]) for n, p in cpu.named_parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_layer_table_on_cuda_stays_on_cuda():
    net = utils.models.lenet().cuda()
    assert utils.layer_table(net, (1, 1, 28, 28))[-1]["macs"] == 416_520
    assert all(p.is_cuda for p in net.parameters())


def test_every_modules_train_flag_is_restored():
    net = utils.models.bn_lenet().train()
    net[1].eval()                                       # a frozen BN inside a training model
    flags = [m.training for m in net.modules()]
    utils.count_macs(net, torch.zeros(1, 1, 28, 28))
    assert [m.training for m in net.modules()] == flags
    utils.layer_table(net, (1, 1, 28, 28))
    assert [m.training for m in net.modules()] == flags

    class Fails(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    broken = nn.Sequential(nn.Linear(2, 2), Fails()).train()
    for count in (lambda: utils.count_macs(broken, torch.zeros(1, 2)),
                  lambda: utils.layer_table(broken, (1, 2))):
        with pytest.raises(RuntimeError, match="boom"):
            count()
        assert all(m.training for m in broken.modules())


def _by_hand(modules, x):
    """The reference: run the modules one after another, counting each one on its own."""
    rows = []
    for m in modules:
        rows.append((tuple(m(x).shape), utils.count_params(m), utils.count_macs(m, x)))
        x = m(x)
    return rows


def test_depth_one_groups_per_top_level_module():
    net, x = utils.models.resnet18().eval(), torch.zeros(1, 1, 64, 64)
    rows = utils.layer_table(net, x, depth=1)
    assert [r["name"] for r in rows] == [str(i) for i in range(len(net))] + ["total"]
    assert [r["type"] for r in rows[4:8]] == ["Sequential"] * 4           # the four stages
    with torch.no_grad():
        assert [(r["output"], r["params"], r["macs"]) for r in rows[:-1]] == _by_hand(net, x)
    assert rows[-1] == utils.layer_table(net, x)[-1]                      # total unchanged


def test_depth_two_groups_per_block():
    net, x = utils.models.resnet18().eval(), torch.zeros(1, 1, 64, 64)
    rows = utils.layer_table(net, x, depth=2)
    stages = [f"{i}.{j}" for i in range(4, 8) for j in range(2)]
    assert [r["name"] for r in rows] == ["0", "1", "2", "3", *stages, "8", "9", "10", "total"]
    blocks = [b for stage in net[4:8] for b in stage]                   # Residual blocks
    with torch.no_grad():
        ref = _by_hand(net[:4], x)
        x = net[:4](x)
        ref += _by_hand(blocks, x)
        ref += _by_hand(net[8:], net[4:8](x))
    assert [(r["output"], r["params"], r["macs"]) for r in rows[:-1]] == ref
    assert rows[-1] == utils.layer_table(net, (1, 1, 64, 64))[-1]


def test_summary_passes_depth_on(capsys):
    rows = utils.summary(utils.models.resnet18(), (1, 1, 64, 64), depth=1)
    out = capsys.readouterr().out
    assert len(rows) == 12 and out.count("Sequential") == 4 and "11,178,378" in out
