"""Data augmentation (数据增广) on whole batches, on the device: one tensor op per batch.

Every function maps a float batch ``x`` of shape [B, C, H, W] to a new batch and draws one
random choice *per image* (not one per batch). They plug into
``utils.fashion_mnist(train_transform=...)``::

    from functools import partial
    from utils import augment
    flip_crop = augment.compose(partial(augment.random_crop, size=67), augment.random_flip)
    train_iter, test_iter = utils.fashion_mnist(batch_size=128, device=device, resize=76,
                                                train_transform=flip_crop)

torchvision does the geometry where it has a batched op (``ten_crop``, ``center_crop``,
``roi_align``); what AlexNet's paper teaches (per-image flips and crops, PCA colour noise, the
ten-crop average) is written out. Randomness comes from ``torch``'s generator on ``x``'s device,
so ``utils.set_seed`` fixes it; tests pass their own ``generator``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align
from torchvision.transforms.v2 import functional as TF


def _rand(shape, x: torch.Tensor, generator=None) -> torch.Tensor:
    """Uniform [0, 1) numbers on the CPU generator (reproducible anywhere), moved to x's device."""
    return torch.rand(shape, generator=generator).to(x.device)


def compose(*transforms):
    """Chain batch transforms left to right: ``compose(f, g)(x) == g(f(x))``."""
    def composed(x: torch.Tensor) -> torch.Tensor:
        for t in transforms:
            x = t(x)
        return x
    return composed


def random_flip(x: torch.Tensor, *, p: float = 0.5, generator=None) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``.      [B, C, H, W] -> same"""
    flip = _rand(len(x), x, generator) < p                          # [B] bool
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def crop_at(x: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, *, size: int
            ) -> torch.Tensor:
    """Cut a size x size window at (tops[b], lefts[b]) out of image b.  -> [B, C, size, size]"""
    ar = torch.arange(size, device=x.device)
    rows = (tops.to(x.device)[:, None] + ar)[:, None, :, None]       # [B, 1, size, 1]
    cols = (lefts.to(x.device)[:, None] + ar)[:, None, None, :]      # [B, 1, 1, size]
    b = torch.arange(len(x), device=x.device)[:, None, None, None]   # [B, 1, 1, 1]
    c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]  # [1, C, 1, 1]
    return x[b, c, rows, cols]                                       # [B, C, size, size]


def random_crop(x: torch.Tensor, *, size: int, padding: int = 0, generator=None
                ) -> torch.Tensor:
    """A random size x size window of each image, after zero ``padding`` on every side.

    AlexNet's version: images resized to 256, random 224 crops (padding 0). CIFAR's version:
    32x32 images, padding 4, random 32 crops.                  [B, C, H, W] -> [B, C, size, size]
    """
    if padding:
        x = F.pad(x, (padding,) * 4)                                 # [B, C, H+2p, W+2p]
    h, w = x.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"crop {size} is larger than the (padded) image {h}x{w}")
    tops = (_rand(len(x), x, generator) * (h - size + 1)).long()     # uniform in 0..h-size
    lefts = (_rand(len(x), x, generator) * (w - size + 1)).long()
    return crop_at(x, tops, lefts, size=size)


def center_crop(x: torch.Tensor, *, size: int) -> torch.Tensor:
    """The central size x size window (torchvision's).       [B, C, H, W] -> [B, C, size, size]"""
    return TF.center_crop(x, [size, size])


def random_resized_crop(x: torch.Tensor, *, size: int, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), generator=None) -> torch.Tensor:
    """Inception-style crops: a random box covering ``scale`` of the area with aspect ``ratio``,
    resized to size x size by bilinear sampling (``torchvision.ops.roi_align``, one call for
    the whole batch).                                       [B, C, H, W] -> [B, C, size, size]
    """
    n, (h, w) = len(x), x.shape[-2:]
    area = h * w * (scale[0] + (scale[1] - scale[0]) * _rand(n, x, generator))
    log_r = torch.log(torch.tensor(ratio, device=x.device))
    aspect = torch.exp(log_r[0] + (log_r[1] - log_r[0]) * _rand(n, x, generator))
    bw = torch.sqrt(area * aspect).clamp(1, w)                      # box width, in pixels
    bh = torch.sqrt(area / aspect).clamp(1, h)
    x0 = _rand(n, x, generator) * (w - bw)
    y0 = _rand(n, x, generator) * (h - bh)
    boxes = torch.stack([torch.arange(n, device=x.device, dtype=x.dtype),
                         x0, y0, x0 + bw, y0 + bh], dim=1).to(x.dtype)  # [B, 5]: idx, x1 y1 x2 y2
    return roi_align(x, boxes, output_size=size, sampling_ratio=1, aligned=True)


def pca_basis(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues [C] (ascending) and eigenvectors [C, C] (columns) of the C x C covariance of
    the pixel colours of ``images`` [N, C, H, W]: AlexNet's PCA over RGB values."""
    pixels = images.permute(0, 2, 3, 1).reshape(-1, images.shape[1])  # [N*H*W, C]
    cov = torch.atleast_2d(torch.cov(pixels.T.double()))            # [C, C] (C = 1 too)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    return eigvals.to(images.dtype), eigvecs.to(images.dtype)


def pca_lighting(x: torch.Tensor, *, eigvals: torch.Tensor, eigvecs: torch.Tensor,
                 std: float = 0.1, generator=None) -> torch.Tensor:
    """AlexNet's colour noise: add  P @ (alpha * lambda)  to every pixel of an image, with
    P = eigvecs [C, C], lambda = eigvals [C] and a fresh alpha ~ N(0, std^2) [C] per image.

    For one grey channel (Fashion-MNIST) P = [[1]] and this is a random brightness offset.
    Returns the shifted batch; the shift is the same for every pixel of an image.
    """
    alpha = torch.randn(len(x), len(eigvals), generator=generator).to(x.device) * std  # [B, C]
    shift = (alpha * eigvals.to(x.device)) @ eigvecs.to(x.device).T  # [B, C]: sum_i a_i l_i p_i
    return x + shift[:, :, None, None]


def ten_crop(x: torch.Tensor, *, size: int) -> torch.Tensor:
    """The four corners and the centre, then the same five of the mirrored image (torchvision's
    order).                                            [B, C, H, W] -> [10, B, C, size, size]"""
    return torch.stack(TF.ten_crop(x, [size, size]))


@torch.no_grad()
def evaluate_ten_crop(model: torch.nn.Module, batches, *, crop: int, device) -> float:
    """Accuracy when each prediction averages the softmax over the 10 crops of an image."""
    from .evaluation import autocast

    device = torch.device(device)
    model.eval()
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    for X, y in batches:
        X, y = X.to(device), y.to(device)
        views = ten_crop(X, size=crop)                               # [10, B, C, crop, crop]
        with autocast(device):
            logits = model(views.flatten(0, 1))                      # [10*B, classes]
        probs = logits.float().softmax(dim=1).unflatten(0, (10, len(y)))  # [10, B, classes]
        correct += (probs.mean(dim=0).argmax(dim=1) == y).sum()
        total += len(y)
    return correct.item() / max(total, 1)


class Mapped:
    """``batches`` with ``fn`` applied to every x (e.g. a centre crop for the test set); it
    can be iterated again every epoch, like ``utils.Batches``."""

    def __init__(self, batches, fn):
        self.batches, self.fn = batches, fn

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for x, y in self.batches:
            yield self.fn(x), y
