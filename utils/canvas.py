"""Scenes the book composes itself, for segmentation and detection: several Fashion-MNIST
garments at random positions and sizes on one canvas, over a background cut from one of
scikit-image's photographs or textures. Each scene carries its boxes, class labels and a
per-pixel mask, so no annotation has to be downloaded.

Everything is made from a seed as whole tensors on the device: one ``F.grid_sample`` call cuts
the backgrounds, one more places every garment, and the boxes follow from each garment's tight
box on its 28x28 grid, so nothing is drawn pixel by pixel in Python.

    scenes = utils.canvas.compose_scenes(1000, split="train", seed=0, device=device)
    scenes.images   # uint8  [N, 3, S, S]   RGB
    scenes.masks    # uint8  [N, S, S]      0 = background, 1 + k = garment class k
    scenes.targets  # float  [N, M, 5]      (class, x1, y1, x2, y2) in pixels; class -1 = no object
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import CLASSES, load_fashion_mnist

# Photographs and textures inside scikit-image's wheel (no download): colour and grey.
BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "brick", "grass", "gravel", "camera", "moon", "text")
SEGMENT_CLASSES = ("background",) + CLASSES          # mask values 0..10
BANK_SIDE = 128                                       # each photo kept as [3, 128, 128]


@functools.lru_cache(maxsize=1)
def _photo_bank() -> torch.Tensor:
    """All background photos as float [P, 3, 128, 128] in [0, 1] (centre square, resized)."""
    from skimage import data as photos

    bank = []
    for name in BACKGROUNDS:
        x = torch.as_tensor(getattr(photos, name)()).float()
        x = x / 255 if x.max() > 1 else x
        x = x[..., :3].permute(2, 0, 1) if x.ndim == 3 else x[None].expand(3, -1, -1)
        side = min(x.shape[-2:])
        top, left = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
        x = x[:, top:top + side, left:left + side][None]               # [1, 3, side, side]
        bank.append(F.interpolate(x, size=BANK_SIDE, mode="bilinear", antialias=True,
                                  align_corners=False)[0].clamp(0, 1))
    return torch.stack(bank)                                           # [P, 3, 128, 128]


def tight_boxes(images: torch.Tensor, *, threshold: int = 25) -> torch.Tensor:
    """Each 28x28 garment's tight box (x1, y1, x2, y2) in its own pixel grid, [N, 4] float:
    the first and one-past-the-last row and column holding a pixel brighter than threshold."""
    on = images > threshold                                            # [N, 28, 28] bool
    cols, rows = on.any(dim=1), on.any(dim=2)                          # [N, 28] each
    ar = torch.arange(images.shape[-1], device=images.device)
    first = lambda m: torch.where(m, ar, images.shape[-1]).amin(1)     # noqa: E731
    last = lambda m: torch.where(m, ar, -1).amax(1) + 1                # noqa: E731
    return torch.stack([first(cols), first(rows), last(cols), last(rows)], 1).float()


@dataclass
class Scenes:
    """A set of composed scenes, whole tensors on one device (see the module docstring)."""
    images: torch.Tensor       # uint8 [N, 3, S, S]
    masks: torch.Tensor        # uint8 [N, S, S]
    targets: torch.Tensor      # float [N, M, 5]: class, x1, y1, x2, y2; class -1 = empty slot

    def __len__(self) -> int:
        return len(self.images)


def compose_scenes(n: int, *, size: int = 64, max_objects: int = 3, split: str = "train",
                   object_size=(0.3, 0.55), seed: int = 0, device="cpu",
                   chunk: int = 1024) -> Scenes:
    """``n`` scenes of ``size`` x ``size`` pixels with 1 to ``max_objects`` (at most 4) garments.

    Garments come from Fashion-MNIST's ``split`` ("train" or "test"), so test scenes hold
    garments no training scene shows. Each garment gets its own quadrant of the canvas (which
    keeps overlaps small), a side of ``object_size`` x ``size`` pixels, a jitter and a tint.
    Boxes are the garments' tight boxes; where garments overlap, the later one is on top in
    the image and the mask. The same arguments give the same scenes on every device: the
    random numbers are drawn on the CPU from ``seed``.
    """
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 scenes of size >= 16 pixels, got n={n}, size={size}")
    if not 1 <= max_objects <= 4:
        raise ValueError(f"max_objects must be 1 to 4 (one garment per quadrant), got {max_objects}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    device = torch.device(device)
    garments = load_fashion_mnist()[0 if split == "train" else 1]
    draws = _draw(n, size=size, m=max_objects, n_garments=len(garments),
                  object_size=object_size, g=torch.Generator().manual_seed(seed))
    parts = [_render({k: v[start:start + chunk] for k, v in draws.items()}, size=size,
                     garments=garments, device=device)
             for start in range(0, n, chunk)]           # chunks bound the memory, not the result
    return Scenes(*(torch.cat(t) for t in zip(*parts)))


def _draw(n, *, size, m, n_garments, object_size, g) -> dict:
    """Every random number of ``n`` scenes, drawn on the CPU from ``g`` (a few dozen each)."""
    zoom = torch.empty(n).uniform_(0.25, 1.0, generator=g)
    d = {"photo": torch.randint(len(BACKGROUNDS), (n,), generator=g), "zoom": zoom,
         "shift": (torch.rand(n, 2, generator=g) * 2 - 1) * (1 - zoom)[:, None],
         "flip": torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)}
    # Slot j of a scene sits in quadrant perm[j]; slots past the scene's count are empty.
    count = torch.randint(1, m + 1, (n,), generator=g)
    d["present"] = torch.arange(m)[None] < count[:, None]                       # [n, m]
    quadrant = torch.rand(n, 4, generator=g).argsort(1)[:, :m]                  # [n, m]
    d["pick"] = torch.randint(n_garments, (n, m), generator=g)
    w = torch.empty(n, m).uniform_(*object_size, generator=g) * size            # side, pixels
    q_centre = torch.stack([(quadrant % 2) * 0.5 + 0.25, (quadrant // 2) * 0.5 + 0.25], -1) * size
    centre = q_centre + (torch.rand(n, m, 2, generator=g) - 0.5) * (size / 4)   # + jitter
    d["centre"] = torch.maximum(torch.minimum(centre, size - w[..., None] / 2), w[..., None] / 2)
    d["w"], d["tint"] = w, torch.empty(n, m, 3).uniform_(0.35, 1.0, generator=g)
    return d


def _render(d: dict, *, size, garments, device):
    """Draw the scenes that ``d`` (from ``_draw``) describes, on ``device``."""
    n, m = d["pick"].shape
    bank = _photo_bank().to(device)
    # Backgrounds: a random square of a random photo, zoomed and flipped; theta maps the
    # canvas's [-1, 1] coordinates to the photo's.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = d["zoom"] * d["flip"], d["zoom"], d["shift"]
    grid = F.affine_grid(theta.to(device), [n, 3, size, size], align_corners=False)
    image = F.grid_sample(bank[d["photo"].to(device)], grid, align_corners=False)  # [n, 3, S, S]

    # Garments: sprite i covers the square of side w around its centre (theta: canvas -> sprite).
    present, pick, w, centre = d["present"], d["pick"], d["w"], d["centre"]
    sprites = garments.images[pick.flatten()].to(device).float().div(255)      # [n*m, 28, 28]
    half = (w / size).flatten()                                  # half side, in [-1, 1] units
    c_norm = (centre / size * 2 - 1).reshape(-1, 2)
    theta = torch.zeros(n * m, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / half
    theta[:, :, 2] = -c_norm / half[:, None]
    grid = F.affine_grid(theta.to(device), [n * m, 1, size, size], align_corners=False)
    placed = F.grid_sample(sprites[:, None], grid, align_corners=False)       # [n*m, 1, S, S]
    placed = placed.reshape(n, m, size, size) * present.to(device)[..., None, None]

    mask = torch.zeros(n, size, size, dtype=torch.uint8, device=device)
    labels = garments.labels[pick].to(device)                                  # [n, m]
    for j in range(m):                                           # m <= 4 layers, in order
        a = placed[:, j, None]                                                 # [n, 1, S, S]
        alpha = (3 * a).clamp(max=1)
        colour = d["tint"][:, j].to(device)[..., None, None] * (0.4 + 0.6 * a)
        image = image * (1 - alpha) + colour * alpha
        mask = torch.where(a[:, 0] > 0.1, (labels[:, j, None, None] + 1).to(torch.uint8), mask)

    box28 = tight_boxes(garments.images[pick.flatten()]).reshape(n, m, 4)
    corner = centre - w[..., None] / 2                                         # top-left
    boxes = corner.repeat(1, 1, 2) + box28 * (w / 28)[..., None]
    cls = torch.where(present, garments.labels[pick], -1).float()
    targets = torch.cat([cls[..., None], boxes], -1)                           # [n, m, 5]
    targets[~present] = torch.tensor([-1.0, 0, 0, 0, 0])
    return (image.mul(255).round().clamp(0, 255).to(torch.uint8), mask, targets.to(device))


class SceneBatches:
    """(x, y) minibatches of ``scenes``: x float [B, 3, S, S] in [0, 1]; y the masks
    (long [B, S, S], ``task="segment"``) or the targets (float [B, M, 5], ``task="detect"``).
    The order comes from ``generator`` or, without one, from the global seed."""

    def __init__(self, scenes: Scenes, *, batch_size: int, task: str, shuffle: bool,
                 generator: torch.Generator | None = None):
        if task not in ("segment", "detect"):
            raise ValueError(f"task must be 'segment' or 'detect', got {task!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.scenes, self.batch_size, self.task = scenes, batch_size, task
        self.shuffle, self.generator = shuffle, generator

    def __len__(self) -> int:
        return -(-len(self.scenes) // self.batch_size)

    def __iter__(self):
        n, s = len(self.scenes), self.scenes
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(s.images.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = s.images[idx].float().div_(255)                                # [B, 3, S, S]
            yield x, (s.masks[idx].long() if self.task == "segment" else s.targets[idx])


def scene_data(*, n_train: int, n_test: int, batch_size: int, task: str, device,
               size: int = 64, max_objects: int = 3, seed: int = 0):
    """Train and test batches of composed scenes (test: Fashion-MNIST's test garments, another
    seed). Returns (train_batches, test_batches)."""
    train = compose_scenes(n_train, size=size, max_objects=max_objects, split="train",
                           seed=seed, device=device)
    test = compose_scenes(n_test, size=size, max_objects=max_objects, split="test",
                          seed=seed + 10_000, device=device)
    return (SceneBatches(train, batch_size=batch_size, task=task, shuffle=True),
            SceneBatches(test, batch_size=batch_size, task=task, shuffle=False))


def mask_colours(num_classes: int = len(SEGMENT_CLASSES)) -> torch.Tensor:
    """A fixed colour per mask value, [K, 3] in [0, 1]; background black."""
    import matplotlib

    colours = torch.tensor(matplotlib.colormaps["tab10"].colors[:num_classes - 1])
    return torch.cat([torch.zeros(1, 3), colours.float()])


def colour_masks(masks: torch.Tensor) -> torch.Tensor:
    """uint8/long masks [N, S, S] -> RGB pictures [N, S, S, 3] (numpy-ready, on the CPU)."""
    return mask_colours()[masks.long().cpu()]


def draw_boxes(ax, targets: torch.Tensor, *, scores=None, colour=None, names=CLASSES) -> None:
    """Draw rows (class, x1, y1, x2, y2) of ``targets`` [K, 5] on ``ax``; class -1 is skipped."""
    from matplotlib.patches import Rectangle

    palette = mask_colours()
    for i, (c, x1, y1, x2, y2) in enumerate(targets.tolist()):
        if c < 0:
            continue
        col = colour or palette[int(c) + 1].tolist()
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=col, lw=1.5))
        text = names[int(c)] + (f" {scores[i]:.2f}" if scores is not None else "")
        ax.text(x1 - 0.5, y1 - 1.5, text, color="white", fontsize=6,
                bbox=dict(facecolor=col, edgecolor="none", pad=0.8, alpha=0.85))


def show_scenes(scenes: Scenes, *, n: int = 6, masks: bool = True, ncols: int | None = None,
                scale: float = 2.2):
    """The first ``n`` scenes with their boxes drawn and (``masks``) their masks below."""
    import matplotlib.pyplot as plt

    ncols = ncols or n
    rows = 2 if masks else 1
    fig, axes = plt.subplots(rows, ncols, figsize=(scale * ncols, scale * rows), squeeze=False)
    for i in range(ncols):
        axes[0, i].imshow(scenes.images[i].permute(1, 2, 0).cpu().numpy())
        draw_boxes(axes[0, i], scenes.targets[i].cpu())
        if masks:
            axes[1, i].imshow(colour_masks(scenes.masks[i:i + 1])[0].numpy())
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if masks:
        axes[1, 0].set_ylabel("mask", fontsize=9)
    return fig
