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
