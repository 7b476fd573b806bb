"""Segmentation pieces against references: F.interpolate, torchmetrics and a hand count."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import utils
from utils import segmentation as seg


def test_bilinear_transposed_convolution_equals_interpolate_inside_the_border():
    x = torch.rand(2, 3, 8, 8)
    up = seg.upsample(3, 2)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        out = up(x)
    assert out.shape == ref.shape == (2, 3, 16, 16)
    assert torch.allclose(out[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)
    k = seg.bilinear_kernel(1, 4)[0, 0]
    assert torch.allclose(k[0], torch.tensor([0.25, 0.75, 0.75, 0.25]) * 0.25)
    assert seg.bilinear_kernel(2, 4)[0, 1].abs().sum() == 0          # no mixing of channels


def vgg_trunk():
    return list(utils.models.vgg("A", in_channels=3, width_divisor=8, image_size=64)[:5])


@pytest.mark.parametrize("skips", [True, False])
def test_fcn_predicts_every_pixel(skips):
    net = seg.FCN(vgg_trunk(), num_classes=11, skips=skips)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 11, 64, 64)
    assert hasattr(net, "score3") == skips


def test_scores_by_hand():
    masks = torch.tensor([[[0, 0], [1, 2]]])
    preds = torch.tensor([[[0, 1], [1, 1]]])
    m = seg.confusion(preds, masks, num_classes=3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    s = seg.scores(m)
    assert s["pixel_acc"] == pytest.approx(2 / 4)
    assert s["iou"][:3] == pytest.approx([1 / 2, 1 / 3, 0.0])
    assert s["miou"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)


def test_scores_equal_torchmetrics():
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex
    g = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 5, (4, 16, 16), generator=g)
    preds = torch.where(torch.rand(4, 16, 16, generator=g) < 0.6, masks,
                        torch.randint(0, 5, (4, 16, 16), generator=g))
    s = seg.scores(seg.confusion(preds, masks, num_classes=5))
    assert s["miou"] == pytest.approx(
        MulticlassJaccardIndex(num_classes=5, average="macro")(preds, masks).item(), abs=1e-6)
    assert s["pixel_acc"] == pytest.approx(
        MulticlassAccuracy(num_classes=5, average="micro")(preds, masks).item(), abs=1e-6)


def test_pixel_metric_and_segment_scores_agree():
    net = nn.Conv2d(3, 4, 1)
    X = torch.rand(6, 3, 8, 8)
    y = torch.randint(0, 4, (6, 8, 8))
    with torch.no_grad():
        per_image = seg.pixel_correct(net(X), y) / len(X)
    s = seg.segment_scores(net, [(X[:3], y[:3]), (X[3:], y[3:])], device="cpu", num_classes=4)
    assert per_image.item() == pytest.approx(s["pixel_acc"])
