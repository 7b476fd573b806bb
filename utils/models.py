"""The book's own models, defined once and imported by every chapter that uses them.

A chapter that teaches a model shows this code (``inspect.getsource``) instead of keeping a
second copy that could drift.
"""
from __future__ import annotations

from torch import nn


def lenet(*, activation: type[nn.Module] = nn.Sigmoid, pool: type[nn.Module] = nn.AvgPool2d,
          num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 as d2l writes it for 28x28 Fashion-MNIST: conv(5, pad 2)->6, pool, conv(5)->16,
    pool, dense 120-84-10, with sigmoid activations and average pooling by default."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), activation(),     # [B, 6, 28, 28]
        pool(kernel_size=2, stride=2),                               # [B, 6, 14, 14]
        nn.Conv2d(6, 16, kernel_size=5), activation(),               # [B, 16, 10, 10]
        pool(kernel_size=2, stride=2),                               # [B, 16, 5, 5]
        nn.Flatten(),                                                # [B, 400]
        nn.Linear(16 * 5 * 5, 120), activation(),                    # [B, 120]
        nn.Linear(120, 84), activation(),                            # [B, 84]
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
    import torch

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
