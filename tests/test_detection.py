"""Detection pieces against references: torchvision.ops, torchmetrics' mAP, d2l's worked example."""
import pytest
import torch
import torchvision

import utils
from utils import canvas
from utils import detection as det


def random_boxes(n, *, seed, side=64.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * side * 0.8
    wh = torch.rand(n, 2, generator=g) * side * 0.3 + 1
    return torch.cat([xy, xy + wh], 1)


def test_corner_and_center_are_inverse():
    b = random_boxes(20, seed=0)
    c = det.corner_to_center(b)
    assert torch.allclose(c[:, 2:], b[:, 2:] - b[:, :2])
    assert torch.allclose(det.center_to_corner(c), b, atol=1e-5)


def test_anchors_per_cell_centres_and_shapes():
    a = det.anchors(4, image_size=64, sizes=(0.5, 0.25), ratios=(1.0, 2.0, 0.5))
    assert a.shape == (4 * 4 * 4, 4)                               # n + m - 1 = 4 per cell
    c = det.corner_to_center(a)
    assert torch.allclose(c[:4, :2], torch.tensor([8.0, 8.0]).expand(4, 2))
    assert torch.allclose(c[-1, :2], torch.tensor([56.0, 56.0]))
    assert torch.allclose(c[:4, 2:], torch.tensor([[32, 32], [16, 16],
                                                   [32 * 2 ** 0.5, 32 / 2 ** 0.5],
                                                   [32 / 2 ** 0.5, 32 * 2 ** 0.5]]).float())


def test_box_iou_equals_torchvision():
    a, b = random_boxes(30, seed=1), random_boxes(40, seed=2)
    assert torch.allclose(det.box_iou(a, b), torchvision.ops.box_iou(a, b), atol=1e-6)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_equals_torchvision(threshold):
    for seed in range(5):
        boxes = random_boxes(200, seed=seed)
        scores = torch.rand(200, generator=torch.Generator().manual_seed(seed + 100))
        ref = torchvision.ops.nms(boxes, scores, threshold)
        assert torch.equal(det.nms(boxes, scores, threshold), ref)


def test_assignment_reproduces_d2ls_worked_example():
    truth = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.55, 0.2, 0.9, 0.88]])
    anchors = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                            [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])
    assert det.assign_anchors(truth, anchors).tolist() == [-1, 0, 1, -1, 1]
    targets = torch.cat([torch.tensor([[0.0], [1.0]]), truth], 1)[None]  # classes dog, cat
    classes, offsets, pos = det.anchor_targets(anchors, targets)
    assert classes.tolist() == [[0, 1, 2, 0, 2]]                    # d2l: background 0
    assert (offsets[~pos] == 0).all()


def test_batched_targets_equal_the_per_image_assignment():
    scenes = canvas.compose_scenes(16, size=64, seed=5)
    a = det.anchors(8, image_size=64, sizes=(0.2, 0.3), ratios=(1.0, 2.0, 0.5))
    classes, offsets, pos = det.anchor_targets(a, scenes.targets)
    for i, t in enumerate(scenes.targets):
        t = t[t[:, 0] >= 0]
        idx = det.assign_anchors(t[:, 1:], a)
        assert torch.equal(pos[i], idx >= 0)
        assert torch.equal(classes[i][idx >= 0], t[idx[idx >= 0], 0].long() + 1)
        back = det.apply_offsets(a[idx >= 0], offsets[i][idx >= 0])
        assert torch.allclose(back, t[idx[idx >= 0], 1:], atol=1e-3)


def test_offsets_are_inverse():
    a, b = random_boxes(10, seed=3), random_boxes(10, seed=4)
    assert torch.allclose(det.apply_offsets(a, det.box_offsets(a, b)), b, atol=1e-3)


def test_map_equals_torchmetrics():
    from torchmetrics.detection import MeanAveragePrecision
    g = torch.Generator().manual_seed(0)
    preds, truths = [], []
    for i in range(12):
        t = random_boxes(3, seed=10 + i)
        labels = torch.randint(0, 3, (3,), generator=g)
        noisy = t.repeat(2, 1) + torch.randn(6, 4, generator=g) * 3       # near misses and hits
        extra = random_boxes(4, seed=50 + i)
        boxes = torch.cat([noisy, extra])
        boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], 1)
        preds.append({"boxes": boxes, "scores": torch.rand(10, generator=g),
                      "labels": torch.cat([labels.repeat(2), torch.randint(0, 3, (4,), generator=g)])})
        truths.append({"boxes": t, "labels": labels})
    ours = det.mean_average_precision(preds, truths, iou_threshold=0.5)
    metric = MeanAveragePrecision(iou_thresholds=[0.5], class_metrics=True)
    metric.update(preds, truths)
    ref = metric.compute()
    assert 0.05 < ours["map"] < 0.95                                # a case that tests something
    assert ours["map"] == pytest.approx(ref["map"].item(), abs=1e-4)
    per_class = dict(zip(ref["classes"].tolist(), ref["map_per_class"].tolist()))
    for c, ap in ours["ap"].items():
        assert ap == pytest.approx(per_class[c], abs=1e-4)


def test_ap_reads_recall_points_as_torchmetrics_does():
    # 100 boxes of one class: every recall is a multiple of 1/100, where float32 and float64
    # recall points differ. A float64 linspace gave 0.3099 here against the reference's 0.3061.
    from torchmetrics.detection import MeanAveragePrecision
    g = torch.Generator().manual_seed(0)
    preds, truths = [], []
    for _ in range(100):
        t = torch.tensor([[10.0, 10, 40, 40]])
        hit = bool(torch.rand(1, generator=g) < 0.7)
        p = t.clone() if hit else torch.tensor([[50.0, 50, 60, 60]])
        preds.append({"boxes": torch.cat([p, torch.tensor([[0.0, 0, 5, 5]])]),
                      "scores": torch.rand(2, generator=g), "labels": torch.tensor([0, 0])})
        truths.append({"boxes": t, "labels": torch.tensor([0])})
    ours = det.mean_average_precision(preds, truths, iou_threshold=0.5)["map"]
    metric = MeanAveragePrecision(iou_thresholds=[0.5])
    metric.update(preds, truths)
    assert ours == pytest.approx(metric.compute()["map"].item(), abs=1e-6)


def test_perfect_and_empty_predictions():
    t = [{"boxes": random_boxes(3, seed=0), "labels": torch.tensor([0, 1, 1])}]
    perfect = [{"boxes": t[0]["boxes"], "scores": torch.ones(3), "labels": t[0]["labels"]}]
    assert det.mean_average_precision(perfect, t)["map"] == pytest.approx(1.0)
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}]
    assert det.mean_average_precision(empty, t)["map"] == 0.0


def tiny_ssd():
    trunk = list(utils.models.vgg("A", in_channels=3, width_divisor=8, image_size=64)[:5])
    return det.TinySSD(trunk, num_classes=10, image_size=64, scales=[2, 3, 4],
                       sizes=[(0.2, 0.28), (0.37, 0.45), (0.54, 0.62), (0.75, 0.9)])


def test_ssd_output_matches_its_anchors_and_learns_one_batch():
    net = tiny_ssd()
    assert len(net.anchor_boxes) == (8 * 8 + 4 * 4 + 2 * 2 + 1) * 4
    scenes = canvas.compose_scenes(8, size=64, seed=0)
    X, T = scenes.images.float() / 255, scenes.targets
    y_hat = net(X)
    assert y_hat.shape == (8, len(net.anchor_boxes), 10 + 1 + 4)
    loss_fn = det.DetectionLoss(net.anchor_boxes)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = loss_fn(net(X), T).item()
    for _ in range(30):
        loss = loss_fn(net(X), T)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    preds = det.decode(net(X), net.anchor_boxes)
    assert len(preds) == 8 and all(len(p["boxes"]) <= 100 for p in preds)
    assert all(((p["labels"] >= 0) & (p["labels"] < 10)).all() for p in preds)


def test_ssd_whose_last_stage_is_not_a_detecting_scale():
    trunk = list(utils.models.vgg("A", in_channels=3, width_divisor=8, image_size=64)[:5])
    trunk[4] = torch.nn.Sequential(torch.nn.Conv2d(64, 24, 3, padding=1), torch.nn.MaxPool2d(2))
    net = det.TinySSD(trunk, num_classes=10, image_size=64, scales=[2, 3],
                      sizes=[(0.2, 0.28), (0.37, 0.45), (0.75, 0.9)])
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, (64 + 16 + 1) * 4, 15)
