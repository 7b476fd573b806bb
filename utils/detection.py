"""Object detection, written out: boxes, anchors, IoU, anchor assignment and offsets,
non-maximum suppression, mean average precision, and a small single-shot detector (SSD).

Each piece the book teaches is hand-written here and tested against an established
implementation: ``box_iou`` and ``nms`` against ``torchvision.ops``, ``mean_average_precision``
against torchmetrics' ``MeanAveragePrecision``. Boxes are (x1, y1, x2, y2) corners in pixels
unless a name says "center" (cx, cy, w, h).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def corner_to_center(boxes: torch.Tensor) -> torch.Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h), [..., 4]."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def center_to_corner(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2), [..., 4]."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def anchors(fmap_size: int, *, image_size: int, sizes, ratios) -> torch.Tensor:
    """Anchor boxes centred on each cell of a ``fmap_size`` x ``fmap_size`` feature map, [A, 4].

    ``sizes`` are sides as fractions of the image, ``ratios`` width/height. As in SSD and d2l,
    a cell gets len(sizes) + len(ratios) - 1 anchors: every size at ratios[0], and sizes[0] at
    every other ratio (all pairs would be len(sizes) x len(ratios), mostly redundant).
    """
    shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
    wh = torch.tensor([[s * r ** 0.5, s / r ** 0.5] for s, r in shapes]) * image_size  # [k, 2]
    step = image_size / fmap_size
    c = (torch.arange(fmap_size) + 0.5) * step
    cy, cx = torch.meshgrid(c, c, indexing="ij")
    centres = torch.stack([cx, cy], -1).reshape(-1, 1, 2)              # [H*W, 1, 2]
    boxes = torch.cat([centres.expand(-1, len(shapes), 2), wh.expand(len(centres), -1, 2)], -1)
    return center_to_corner(boxes.reshape(-1, 4))                       # [H*W*k, 4]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box in ``a`` [N, 4] with every box in ``b`` [M, 4]: [N, M]."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])            # [N, M, 2]
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)             # [N, M]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union


def assign_anchors(truth: torch.Tensor, anchor_boxes: torch.Tensor, *,
                   iou_threshold: float = 0.5) -> torch.Tensor:
    """For each anchor the index of the ground-truth box it must predict, or -1 (background).

    First every ground-truth box takes its best anchor (greedily, highest IoU first, so each
    box gets one even if no anchor reaches the threshold); then every other anchor takes the box
    it overlaps most if that IoU reaches ``iou_threshold``. ``truth`` [G, 4], anchors [A, 4] -> [A].
    """
    iou = box_iou(anchor_boxes, truth)                                   # [A, G]
    best, idx = iou.max(1) if len(truth) else (iou.new_zeros(len(anchor_boxes)), None)
    assigned = torch.full((len(anchor_boxes),), -1, dtype=torch.long, device=iou.device)
    if not len(truth):
        return assigned
    assigned = torch.where(best >= iou_threshold, idx, assigned)
    iou = iou.clone()
    for _ in range(len(truth)):                                          # G small passes
        flat = iou.argmax()
        a, gt = flat // iou.shape[1], flat % iou.shape[1]
        if iou[a, gt] < 0:
            break
        assigned[a] = gt
        iou[a, :], iou[:, gt] = -1, -1
    return assigned


# Offsets are normalised as in SSD (and d2l): centre shifts in units of 0.1 anchor sides,
# log side ratios in units of 0.2, so that the regression targets have a spread near 1.
CENTER_SCALE, SIZE_SCALE = 10.0, 5.0


def box_offsets(anchor_boxes: torch.Tensor, boxes: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """What a detector regresses: ``boxes`` [..., 4] relative to ``anchor_boxes`` [..., 4]."""
    a, b = corner_to_center(anchor_boxes), corner_to_center(boxes)
    xy = CENTER_SCALE * (b[..., :2] - a[..., :2]) / a[..., 2:]
    wh = SIZE_SCALE * torch.log(eps + b[..., 2:] / a[..., 2:])
    return torch.cat([xy, wh], -1)


def apply_offsets(anchor_boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The inverse of ``box_offsets``: predicted corners from anchors and offsets."""
    a = corner_to_center(anchor_boxes)
    xy = offsets[..., :2] * a[..., 2:] / CENTER_SCALE + a[..., :2]
    wh = torch.exp(offsets[..., 2:] / SIZE_SCALE) * a[..., 2:]
    return center_to_corner(torch.cat([xy, wh], -1))


def anchor_targets(anchor_boxes: torch.Tensor, targets: torch.Tensor, *,
                   iou_threshold: float = 0.5):
    """Training targets for a batch, ``assign_anchors`` for every image at once.

    ``targets`` [B, M, 5] (class, corners; class -1 = empty slot). Returns (classes [B, A] long
    with 0 = background and 1 + k = class k, offsets [B, A, 4], positive [B, A] bool: the anchors
    whose offsets count in the loss). One pass per slot M, none per image.
    """
    B, M, _ = targets.shape
    A = len(anchor_boxes)
    valid = targets[..., 0] >= 0                                         # [B, M]
    iou = box_iou(anchor_boxes, targets[..., 1:].reshape(-1, 4)).reshape(A, B, M)
    iou = iou.permute(1, 0, 2).masked_fill(~valid[:, None, :], -1.0)     # [B, A, M]
    best, idx = iou.max(2)                                               # [B, A]
    assigned = torch.where(best >= iou_threshold, idx, -1)
    work, rows = iou.clone(), torch.arange(B, device=iou.device)
    for _ in range(M):                                   # each box takes its best anchor
        value, flat = work.flatten(1).max(1)                             # [B]
        a, g = flat // M, flat % M
        ok = value >= 0
        assigned[rows[ok], a[ok]] = g[ok]
        work[rows, a, :] = -1.0
        work[rows, :, g] = -1.0
    pos = assigned >= 0
    matched = targets.gather(1, assigned.clamp(min=0)[..., None].expand(-1, -1, 5))  # [B, A, 5]
    classes = torch.where(pos, matched[..., 0].long() + 1, 0)
    offsets = torch.where(pos[..., None], box_offsets(anchor_boxes, matched[..., 1:]), 0.0)
    return classes, offsets, pos


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: keep the highest-scoring box, drop every box that overlaps it
    by more than ``iou_threshold``, repeat. Returns the kept indices, best first."""
    order = scores.argsort(descending=True)
    iou = box_iou(boxes, boxes)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        order = order[1:][iou[i, order[1:]] <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


# --- mean average precision ---------------------------------------------------------------

def average_precision(scores: torch.Tensor, is_true: torch.Tensor, n_truth: int) -> float:
    """AP of one class: the area under its precision-recall curve, with COCO's convention
    (precision made non-increasing, then read at the 101 recalls 0, 0.01, ..., 1)."""
    if n_truth == 0:
        return float("nan")
    order = scores.argsort(descending=True, stable=True)
    tp = is_true[order].double().cumsum(0)
    fp = (~is_true[order]).double().cumsum(0)
    recall = tp / n_truth
    precision = tp / (tp + fp).clamp(min=1)
    precision = precision.flip(0).cummax(0).values.flip(0)               # the envelope
    # The 101 recalls as torchmetrics makes them (float32, so 0.07 is a hair above 0.07): a
    # class with exactly 100 boxes then reads the same points as the reference does.
    at = torch.searchsorted(recall, torch.linspace(0, 1, 101).double(), right=False)
    padded = torch.cat([precision, precision.new_zeros(1)])              # no such recall: 0
    return padded[at].mean().item()


def match_detections(pred: dict, truth: dict, *, iou_threshold: float) -> torch.Tensor:
    """For one image and one class: which predictions (best score first) hit a ground-truth
    box not already taken by a better-scored prediction. Returns a bool per prediction."""
    hit = torch.zeros(len(pred["scores"]), dtype=torch.bool)
    if not len(truth["boxes"]) or not len(pred["boxes"]):
        return hit
    order = pred["scores"].argsort(descending=True, stable=True)
    iou = box_iou(pred["boxes"][order], truth["boxes"])                  # [P, G]
    taken = torch.zeros(len(truth["boxes"]), dtype=torch.bool)
    for rank, i in enumerate(order.tolist()):
        cand = torch.where(taken, -1.0, iou[rank].double())
        best = int(cand.argmax())
        if cand[best] >= iou_threshold:
            hit[i], taken[best] = True, True
    return hit


def mean_average_precision(preds: list[dict], truths: list[dict], *,
                           iou_threshold: float = 0.5) -> dict:
    """mAP at one IoU threshold over a dataset. ``preds``: per image a dict of boxes [P, 4],
    scores [P] and labels [P]; ``truths``: per image boxes [G, 4] and labels [G] (torchmetrics'
    format). Returns {'map': mean over classes with ground truth, 'ap': {class: AP}}."""
    classes = sorted({int(c) for t in truths for c in t["labels"]})
    ap = {}
    for c in classes:
        scores, hits, n_truth = [], [], 0
        for p, t in zip(preds, truths):
            pc = {k: p[k][p["labels"] == c].cpu() for k in ("boxes", "scores")}
            tc = {"boxes": t["boxes"][t["labels"] == c].cpu()}
            n_truth += len(tc["boxes"])
            scores.append(pc["scores"])
            hits.append(match_detections(pc, tc, iou_threshold=iou_threshold))
        ap[c] = average_precision(torch.cat(scores), torch.cat(hits), n_truth)
    values = list(ap.values())
    return {"map": sum(values) / len(values) if values else float("nan"), "ap": ap}


# --- a small single-shot detector -----------------------------------------------------------

class TinySSD(nn.Module):
    """A single-shot multi-scale detector on a VGG-style trunk (SSD used VGG-16).

    ``stages`` are the trunk's blocks; each block whose output is listed in ``scales`` gets a
    3x3 class head and a 3x3 box head over its feature map, and a last global max-pool adds a
    1x1 map for the largest objects. The forward pass returns one tensor [B, A, 1 + C + 4]:
    per anchor, background + C class logits and 4 box offsets. ``anchor_boxes`` [A, 4] is a
    buffer, so the loss and the decoder use the very anchors the heads were built for.
    """

    def __init__(self, stages: list[nn.Module], *, num_classes: int, image_size: int,
                 scales: list[int], sizes: list[tuple[float, ...]], ratios=(1.0, 2.0, 0.5)):
        super().__init__()
        if len(sizes) != len(scales) + 1:
            raise ValueError(f"need one sizes tuple per detecting scale plus one for the global "
                             f"map: {len(scales) + 1}, got {len(sizes)}")
        self.stages, self.scales, self.num_classes = nn.ModuleList(stages), list(scales), num_classes
        k = len(sizes[0]) + len(ratios) - 1
        with torch.no_grad():
            x = torch.zeros(1, next(stages[0].parameters()).shape[1], image_size, image_size)
            shapes = []
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i in self.scales:
                    shapes.append(tuple(x.shape[1:3]))
        shapes.append((x.shape[1], 1))              # the global 1x1 map pools the last stage
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, k * (num_classes + 1), 3, padding=1)
                                       for c, _ in shapes)
        self.box_heads = nn.ModuleList(nn.Conv2d(c, k * 4, 3, padding=1) for c, _ in shapes)
        boxes = [anchors(side, image_size=image_size, sizes=s, ratios=ratios)
                 for (_, side), s in zip(shapes, sizes)]
        self.register_buffer("anchor_boxes", torch.cat(boxes))          # [A, 4]

    def _heads(self, x, i):
        b = x.shape[0]
        cls = self.cls_heads[i](x).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes + 1)
        box = self.box_heads[i](x).permute(0, 2, 3, 1).reshape(b, -1, 4)
        return torch.cat([cls, box], -1)                                 # [B, H*W*k, C+5]

    def forward(self, x):
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.scales:
                outs.append(self._heads(x, len(outs)))
        outs.append(self._heads(F.adaptive_max_pool2d(x, 1), len(outs)))
        return torch.cat(outs, 1)                                        # [B, A, C+5]


class DetectionLoss(nn.Module):
    """SSD's loss as d2l writes it: cross-entropy over every anchor's class (background
    included) plus the L1 distance of the positive anchors' offsets, both per image."""

    def __init__(self, anchor_boxes: torch.Tensor, *, iou_threshold: float = 0.5):
        super().__init__()
        self.register_buffer("anchor_boxes", anchor_boxes)
        self.iou_threshold = iou_threshold

    def forward(self, y_hat: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        anchor_boxes = self.anchor_boxes.to(y_hat.device)                # fit moves only the model
        cls_t, off_t, pos = anchor_targets(anchor_boxes, targets,
                                           iou_threshold=self.iou_threshold)
        logits, offsets = y_hat[..., :-4].float(), y_hat[..., -4:].float()
        cls = F.cross_entropy(logits.flatten(0, 1), cls_t.flatten(), reduction="none")
        box = ((offsets - off_t).abs() * pos[..., None]).sum(-1)         # [B, A]
        return (cls.view_as(box).mean(1) + box.sum(1) / pos.sum(1).clamp(min=1)).mean()


def decode(y_hat: torch.Tensor, anchor_boxes: torch.Tensor, *, score_threshold: float = 0.05,
           nms_threshold: float = 0.45, max_detections: int = 100) -> list[dict]:
    """A detector's output [B, A, C+5] -> per image {boxes, scores, labels}: each anchor's best
    class (background excluded), its box, then per-class NMS (torchvision's batched_nms)."""
    from torchvision.ops import batched_nms

    probs = y_hat[..., :-4].float().softmax(-1)[..., 1:]                # [B, A, C]
    boxes = apply_offsets(anchor_boxes, y_hat[..., -4:].float())         # [B, A, 4]
    out = []
    for p, b in zip(probs, boxes):
        scores, labels = p.max(-1)
        keep = scores > score_threshold
        b, scores, labels = b[keep], scores[keep], labels[keep]
        keep = batched_nms(b, scores, labels, nms_threshold)[:max_detections]
        out.append({"boxes": b[keep].cpu(), "scores": scores[keep].cpu(), "labels": labels[keep].cpu()})
    return out


def detect(model: nn.Module, batches, *, device, **decode_kw) -> tuple[list[dict], list[dict]]:
    """Predictions and ground truths of ``model`` over ``batches`` of (images, targets), in
    the format of ``mean_average_precision`` (and torchmetrics)."""
    model.eval().to(device)
    preds, truths = [], []
    with torch.no_grad():
        for X, T in batches:
            preds += decode(model(X.to(device)), model.anchor_boxes, **decode_kw)
            for t in T.cpu():
                t = t[t[:, 0] >= 0]
                truths.append({"boxes": t[:, 1:], "labels": t[:, 0].long()})
    return preds, truths
