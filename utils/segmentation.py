"""Semantic segmentation, written out: transposed convolution initialised as bilinear
upsampling, a fully convolutional network (FCN) on a VGG trunk with and without skip
connections, and the two scores (pixel accuracy, mean IoU) from one confusion matrix.

``bilinear_kernel`` is checked against ``F.interpolate`` and the scores against torchmetrics in
``tests/test_segmentation.py``.
"""
from __future__ import annotations

import torch
from torch import nn


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights [channels, channels, k, k] that make ``nn.ConvTranspose2d(channels, channels, k,
    stride=k // 2, padding=k // 4)`` upsample each channel bilinearly (channel c to channel c
    only). The kernel is the outer product of a triangle ('tent') with itself."""
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    tent = 1 - (og - centre).abs() / factor                              # [k]
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = tent[:, None] * tent[None, :]
    return weight


def upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A learnable x``factor`` upsampling that starts as bilinear interpolation."""
    k = 2 * factor
    up = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, k))
    return up


class FCN(nn.Module):
    """A fully convolutional network (Long et al., 2015) on the trunk of a VGG.

    ``stages`` are five VGG blocks (strides 2, 4, 8, 16, 32). A 1x1 convolution scores every
    position of the last block's map for every class; with ``skips`` (FCN-8s) the scores are
    upsampled x2 and added to the scores of block 4, again x2 and added to block 3's, and
    then upsampled x8 to the input size. Without skips (FCN-32s) the last scores go up x32 in
    one step. Output [B, classes, H, W].
    """

    def __init__(self, stages: list[nn.Module], *, num_classes: int, skips: bool = True):
        super().__init__()
        if len(stages) != 5:
            raise ValueError(f"FCN expects the 5 blocks of a VGG trunk, got {len(stages)}")
        self.stages, self.skips = nn.ModuleList(stages), skips
        width = [_out_channels(s) for s in stages]
        self.score5 = nn.Conv2d(width[4], num_classes, 1)
        if skips:
            self.score4 = nn.Conv2d(width[3], num_classes, 1)
            self.score3 = nn.Conv2d(width[2], num_classes, 1)
            self.up2a, self.up2b = upsample(num_classes, 2), upsample(num_classes, 2)
            self.up_last = upsample(num_classes, 8)
        else:
            self.up_last = upsample(num_classes, 32)

    def forward(self, x):
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)                          # strides 2, 4, 8, 16, 32
        s = self.score5(feats[4])                    # [B, K, H/32, W/32]
        if self.skips:
            s = self.up2a(s) + self.score4(feats[3])     # [B, K, H/16, W/16]
            s = self.up2b(s) + self.score3(feats[2])     # [B, K, H/8, W/8]
        return self.up_last(s)                       # [B, K, H, W]


def _out_channels(stage: nn.Module) -> int:
    convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def pixel_correct(y_hat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per image, the fraction of pixels whose class is right, summed over the batch (a
    ``fit`` metric: fit divides by the number of images)."""
    return (y_hat.argmax(1) == masks).float().flatten(1).mean(1).sum()


def confusion(preds: torch.Tensor, masks: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    """[K, K] counts of pixels with true class i (row) predicted as j (column)."""
    idx = masks.flatten().long() * num_classes + preds.flatten().long()
    return torch.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def scores(matrix: torch.Tensor) -> dict:
    """Pixel accuracy, per-class IoU and mean IoU from a confusion matrix. A class absent from
    both truth and prediction has no IoU (NaN) and is left out of the mean."""
    m = matrix.double()
    tp = m.diag()
    union = m.sum(0) + m.sum(1) - tp
    iou = tp / union                                  # NaN where union == 0
    return {"pixel_acc": (tp.sum() / m.sum()).item(), "iou": iou.tolist(),
            "miou": iou[union > 0].mean().item()}


def segment_scores(model: nn.Module, batches, *, device, num_classes: int) -> dict:
    """``scores`` of ``model`` over ``batches`` of (images, masks), with its predictions kept
    off: one confusion matrix summed on the device."""
    model.eval().to(device)
    total = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
    with torch.no_grad():
        for X, y in batches:
            total += confusion(model(X.to(device)).argmax(1), y.to(device), num_classes=num_classes)
    return scores(total)


def predict_masks(model: nn.Module, images: torch.Tensor, *, device) -> torch.Tensor:
    """Predicted class per pixel for a batch of images [B, 3, H, W] -> long [B, H, W] (CPU)."""
    model.eval().to(device)
    with torch.no_grad():
        return model(images.to(device)).argmax(1).cpu()
