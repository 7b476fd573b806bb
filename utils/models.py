"""The book's own models, defined once and imported by every chapter that uses them.

A chapter that teaches a model shows this code (``inspect.getsource``) instead of keeping a
second copy that could drift.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def lenet(*, activation: type[nn.Module] = nn.Sigmoid, pool: type[nn.Module] = nn.AvgPool2d,
          num_classes: int = 10, norm2d: type[nn.Module] | None = None,
          norm1d: type[nn.Module] | None = None) -> nn.Sequential:
    """LeNet-5 as d2l writes it for 28x28 Fashion-MNIST: conv(5, pad 2)->6, pool, conv(5)->16,
    pool, dense 120-84-10, with sigmoid activations and average pooling by default.

    ``norm2d``/``norm1d`` put a normalisation layer after each convolution / hidden dense
    layer, before the activation (``bn_lenet``); without them nothing is added."""
    def norm(kind, channels):
        return [kind(channels)] if kind is not None else []

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), *norm(norm2d, 6),
        activation(),                                                # [B, 6, 28, 28]
        pool(kernel_size=2, stride=2),                               # [B, 6, 14, 14]
        nn.Conv2d(6, 16, kernel_size=5), *norm(norm2d, 16),
        activation(),                                                # [B, 16, 10, 10]
        pool(kernel_size=2, stride=2),                               # [B, 16, 5, 5]
        nn.Flatten(),                                                # [B, 400]
        nn.Linear(16 * 5 * 5, 120), *norm(norm1d, 120), activation(),  # [B, 120]
        nn.Linear(120, 84), *norm(norm1d, 84), activation(),         # [B, 84]
        nn.Linear(84, num_classes))                                  # [B, 10]


def alexnet(*, in_channels: int = 1, num_classes: int = 10, image_size: int = 224,
            dropout: float = 0.5, activation: type[nn.Module] = nn.ReLU,
            pool_kernel: int = 3, lrn: bool = False) -> nn.Sequential:
    """AlexNet as d2l trains it (one GPU's worth, ``in_channels`` 1 for Fashion-MNIST).

    ``image_size`` sets the first dense layer's width (224 -> 256*5*5 = 6,400 as in d2l), so
    the cpu scale can train on smaller images. ``pool_kernel`` 3 is the paper's overlapping
    pooling (3x3, stride 2); 2 gives non-overlapping 2x2/2. ``lrn`` adds the paper's local
    response normalisation after the first two convolutions.
    """
    def norm():
        return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []

    def pool():
        return nn.MaxPool2d(kernel_size=pool_kernel, stride=2)

    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), activation(),
        *norm(), pool(),                                                # [B, 96, 26, 26] @224
        nn.Conv2d(96, 256, kernel_size=5, padding=2), activation(), *norm(), pool(),  # 12x12
        nn.Conv2d(256, 384, kernel_size=3, padding=1), activation(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), activation(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), activation(), pool(),  # [B, 256, 5, 5]
        nn.Flatten())
    with torch.no_grad():
        flat = features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
    return nn.Sequential(
        *features,
        nn.Linear(flat, 4096), activation(), nn.Dropout(p=dropout),
        nn.Linear(4096, 4096), activation(), nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes))


def vgg_block(num_convs: int, in_channels: int, out_channels: int, *,
              lrn: bool = False, one_by_one_last: bool = False) -> nn.Sequential:
    """``num_convs`` 3x3 convolutions (padding 1) with ReLU, then 2x2/2 max-pooling.

    ``one_by_one_last`` makes the last convolution 1x1 (the paper's configuration C);
    ``lrn`` adds local response normalisation after the first convolution (configuration A-LRN).
    """
    layers = []
    for i in range(num_convs):
        k = 1 if one_by_one_last and i == num_convs - 1 else 3
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=k, padding=k // 2), nn.ReLU()]
        if lrn and i == 0:
            layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


# The paper's configurations (Simonyan & Zisserman 2015, Table 1): (convs, channels) per block.
VGG_CONFIGS = {
    "A": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),       # VGG-11
    "A-LRN": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    "B": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),       # VGG-13
    "C": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),       # VGG-16 with 1x1 convs
    "D": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),       # VGG-16
    "E": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),       # VGG-19
}


def vgg(config="A", *, in_channels: int = 1, num_classes: int = 10, image_size: int = 224,
        width_divisor: int = 1, dropout: float = 0.5) -> nn.Sequential:
    """VGG from a configuration name (``"A"`` ... ``"E"``) or a tuple of (convs, channels).

    ``width_divisor`` 4 gives d2l's slim VGG-11 for Fashion-MNIST; the three dense layers stay
    4096 wide as in the paper and d2l.
    """
    name = config if isinstance(config, str) else None
    arch = VGG_CONFIGS[name] if name else config
    blocks = []
    for i, (num_convs, channels) in enumerate(arch):
        out = channels // width_divisor
        blocks.append(vgg_block(num_convs, in_channels, out, lrn=name == "A-LRN" and i == 0,
                                one_by_one_last=name == "C" and i >= 2))
        in_channels = out
    side = image_size // 2 ** len(arch)                                 # 224 -> 7
    return nn.Sequential(
        *blocks, nn.Flatten(),
        nn.Linear(in_channels * side * side, 4096), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4096, num_classes))


def nin_block(in_channels: int, out_channels: int, *, kernel_size: int, stride: int,
              padding: int) -> nn.Sequential:
    """One k x k convolution followed by two 1x1 convolutions: a per-pixel MLP (NiN)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(*, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """Network in Network as d2l trains it: four NiN blocks, the last with ``num_classes``
    channels, then global average pooling instead of dense layers."""
    return nn.Sequential(
        nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),                                   # [B, classes, 1, 1]
        nn.Flatten())                                                   # [B, classes]


def bn_lenet(*, batch_norm: type[nn.Module] | None = None,
             num_classes: int = 10) -> nn.Sequential:
    """LeNet with batch normalisation after every conv and dense layer, before the sigmoid
    (d2l's BN-LeNet). ``batch_norm`` picks the 2D class (a from-scratch one, or the default
    ``nn.BatchNorm2d``); the dense layers use the matching 1D behaviour via ``nn.BatchNorm1d``
    unless the from-scratch class handles both (it must accept ``num_features``)."""
    return lenet(num_classes=num_classes, norm2d=batch_norm or nn.BatchNorm2d,
                 norm1d=batch_norm or nn.BatchNorm1d)


class SparseConv2d(nn.Module):
    """A convolution in which output map p sees only the input maps d with table[d, p] (C3).

    Only the kernels the table lists are parameters; the forward pass scatters them into a
    dense [C_out, C_in, k, k] weight (zeros elsewhere) and runs one ``F.conv2d``. That computes
    every zero kernel too, so ``macs`` reports the true cost, which ``utils.count_macs`` and
    ``utils.layer_table`` use: K kernels x k*k weights per output position.
    """

    def __init__(self, table: torch.Tensor, kernel_size: int):
        super().__init__()
        self.register_buffer("table", table.bool())                    # [C_in, C_out]
        out_idx, in_idx = torch.nonzero(self.table.T, as_tuple=True)   # the K kernels that exist
        self.register_buffer("out_idx", out_idx)
        self.register_buffer("in_idx", in_idx)
        fan_in = self.table.sum(0)[out_idx].view(-1, 1, 1) * kernel_size ** 2
        bound = 1 / fan_in.sqrt()                                      # nn.Conv2d's default range
        self.weight = nn.Parameter(
            (torch.rand(len(out_idx), kernel_size, kernel_size) * 2 - 1) * bound)  # [K, k, k]
        self.bias = nn.Parameter(torch.zeros(self.table.shape[1]))

    def dense_weight(self) -> torch.Tensor:
        """[C_out, C_in, k, k] with the stored kernels where the table says so, zeros elsewhere."""
        c_in, c_out = self.table.shape
        w = self.weight.new_zeros(c_out, c_in, *self.weight.shape[1:])
        return w.index_put((self.out_idx, self.in_idx), self.weight)

    def forward(self, x):                     # [B, C_in, H, W] -> [B, C_out, H-k+1, W-k+1]
        return F.conv2d(x, self.dense_weight(), self.bias)

    def macs(self, inputs, output) -> int:
        """Multiply-adds of the connections that exist: (B*H*W outputs per map) x K*k*k."""
        return output[:, 0].numel() * self.weight.numel()


class Inception(nn.Module):
    """GoogLeNet's block: four parallel paths concatenated along channels.

    c1: 1x1;  c2 = (1x1 reduce, 3x3);  c3 = (1x1 reduce, 5x5);  c4: 3x3 max-pool then 1x1.
    """

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int],
                 c4: int):
        super().__init__()
        self.p1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.p2 = nn.Sequential(nn.Conv2d(in_channels, c2[0], 1), nn.ReLU(),
                                nn.Conv2d(c2[0], c2[1], 3, padding=1), nn.ReLU())
        self.p3 = nn.Sequential(nn.Conv2d(in_channels, c3[0], 1), nn.ReLU(),
                                nn.Conv2d(c3[0], c3[1], 5, padding=2), nn.ReLU())
        self.p4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                nn.Conv2d(in_channels, c4, 1), nn.ReLU())

    def forward(self, x):                       # [B, C, H, W] -> [B, c1+c2+c3+c4, H, W]
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], dim=1)


def googlenet(*, in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """GoogLeNet as d2l trains it: 5 stages, 9 Inception blocks, global average pooling."""
    def pool():
        return nn.MaxPool2d(3, stride=2, padding=1)

    b1 = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3), nn.ReLU(), pool())
    b2 = nn.Sequential(nn.Conv2d(64, 64, 1), nn.ReLU(),
                       nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), pool())
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                       Inception(256, 128, (128, 192), (32, 96), 64), pool())
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                       Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64),
                       Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128), pool())
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, num_classes))


class Residual(nn.Module):
    """ResNet's basic block: two 3x3 convs with batch norm, plus the input (f(x) = x + g(x)).

    ``use_1x1conv`` adds a 1x1 projection on the shortcut, needed when ``strides`` > 1 or the
    channel count changes. ``shortcut=False`` drops the addition: the same block, "plain".
    """

    def __init__(self, in_channels: int, out_channels: int, *, use_1x1conv: bool = False,
                 strides: int = 1, shortcut: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv3 = (nn.Conv2d(in_channels, out_channels, 1, stride=strides)
                      if use_1x1conv and shortcut else None)
        self.bn1, self.bn2 = nn.BatchNorm2d(out_channels), nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut

    def forward(self, x):
        y = nn.functional.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.shortcut:
            y = y + (self.conv3(x) if self.conv3 is not None else x)
        return nn.functional.relu(y)


def resnet_stage(in_channels: int, out_channels: int, num_blocks: int, *,
                 first_stage: bool = False, shortcut: bool = True) -> nn.Sequential:
    """``num_blocks`` residual blocks; all but the first stage halve the size first."""
    blocks = []
    for i in range(num_blocks):
        if i == 0 and not first_stage:
            blocks.append(Residual(in_channels, out_channels, use_1x1conv=True, strides=2,
                                   shortcut=shortcut))
        else:
            blocks.append(Residual(out_channels, out_channels, shortcut=shortcut))
    return nn.Sequential(*blocks)


def resnet18(*, in_channels: int = 1, num_classes: int = 10, shortcut: bool = True,
             blocks_per_stage: int = 2) -> nn.Sequential:
    """ResNet-18 as d2l trains it on Fashion-MNIST (a 7x7 stem, 4 stages of 2 blocks).

    ``shortcut=False`` gives the same network without residual connections (a plain net), and
    ``blocks_per_stage`` makes it deeper, for the degradation experiment.
    """
    n = blocks_per_stage
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        resnet_stage(64, 64, n, first_stage=True, shortcut=shortcut),
        resnet_stage(64, 128, n, shortcut=shortcut),
        resnet_stage(128, 256, n, shortcut=shortcut),
        resnet_stage(256, 512, n, shortcut=shortcut),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, num_classes))


class DenseBlock(nn.Module):
    """DenseNet's block: each conv sees the concatenation of all earlier outputs."""

    def __init__(self, num_convs: int, in_channels: int, growth_rate: int):
        super().__init__()
        self.net = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(in_channels + i * growth_rate), nn.ReLU(),
                          nn.Conv2d(in_channels + i * growth_rate, growth_rate, 3, padding=1))
            for i in range(num_convs))

    def forward(self, x):                  # [B, C, H, W] -> [B, C + num_convs*growth, H, W]
        for layer in self.net:
            x = torch.cat([x, layer(x)], dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN, 1x1 conv to fewer channels, 2x2 average pooling: DenseNet's down-sampling."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, 1), nn.AvgPool2d(2, stride=2))


def densenet(*, in_channels: int = 1, num_classes: int = 10, growth_rate: int = 32,
             convs_in_blocks: tuple[int, ...] = (4, 4, 4, 4)) -> nn.Sequential:
    """DenseNet as d2l trains it on Fashion-MNIST: 4 dense blocks, transitions halve channels."""
    channels = 64
    layers = [nn.Conv2d(in_channels, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, stride=2, padding=1)]
    for i, num_convs in enumerate(convs_in_blocks):
        layers.append(DenseBlock(num_convs, channels, growth_rate))
        channels += num_convs * growth_rate
        if i != len(convs_in_blocks) - 1:
            layers.append(transition_block(channels, channels // 2))
            channels //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.ReLU(),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(channels, num_classes))
