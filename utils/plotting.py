"""Pictures: training curves, labelled image grids, filter grids, feature maps, receptive
fields and confusion matrices. Every function draws on a matplotlib Axes/Figure and returns it,
so a notebook can restyle or save it."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid


def plot_history(history: dict, *, ax=None, title: str | None = None):
    """Training loss and accuracies per epoch, on one pair of axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ep = history["epoch"]
    ax.plot(ep, history["train_loss"], "-", label="train loss")
    ax.plot(ep, history["train_acc"], "--", label="train acc")
    ax.plot(ep, history["test_acc"], "-.", label="test acc")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))        # epochs are whole numbers
    ax.set_xlim(0.9, max(ep) + 0.1 if len(ep) > 1 else 1.1)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def compare_histories(histories: dict[str, dict], *, key: str = "test_acc", ax=None):
    """One curve per run (e.g. sigmoid vs ReLU): ``key`` against epoch."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, h in histories.items():
        ax.plot(h["epoch"], h[key], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def show_images(images, *, titles=None, ncols: int = 8, scale: float = 1.4, cmap="gray"):
    """A grid of images ([N, H, W], [N, 1, H, W] or [N, 3, H, W]) with optional titles."""
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images.permute(0, 2, 3, 1).squeeze(-1)          # [N, H, W(, 3)]
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, min(ncols, n), figsize=(min(ncols, n) * scale, nrows * scale),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].float().numpy(), cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def show_filters(weight: torch.Tensor, *, nrow: int = 8, title: str | None = None, ax=None):
    """First-layer filters [C_out, C_in, k, k] as a grid, each normalised to its own range.

    RGB filters (C_in = 3) are shown in colour; otherwise each input channel's slice of each
    filter is one grey tile.
    """
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.reshape(-1, 1, *w.shape[-2:])                       # one tile per 2D slice
    grid = make_grid(w, nrow=nrow, normalize=True, scale_each=True, padding=1, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.45, -(-len(w) // nrow) * 0.45 + 0.3))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """The output of ``layer`` (a submodule of ``model``) for input ``x``, via a forward hook."""
    captured = []
    handle = layer.register_forward_hook(lambda m, i, out: captured.append(out.detach()))
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0]


def show_feature_maps(maps: torch.Tensor, *, nrow: int = 8, max_maps: int = 32,
                      title: str | None = None, ax=None):
    """Channels of one feature map tensor [1, C, H, W] (or [C, H, W]) as a grid."""
    maps = maps.detach().float().cpu()
    maps = maps[0] if maps.ndim == 4 else maps                     # [C, H, W]
    grid = make_grid(maps[:max_maps].unsqueeze(1), nrow=nrow, normalize=True, scale_each=True,
                     padding=1, pad_value=1.0)
    if ax is None:
        rows = -(-min(len(maps), max_maps) // nrow)
        _, ax = plt.subplots(figsize=(nrow * 0.9, rows * 0.9 + 0.3))
    ax.imshow(grid[0].numpy(), cmap="viridis", interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def show_receptive_field(image: torch.Tensor, *, box=None, grad: torch.Tensor | None = None,
                         title: str | None = None, ax=None):
    """An input image with a unit's receptive field drawn on it.

    ``box`` = (top, bottom, left, right), inclusive pixel indices (from ``analytic_box`` or
    ``empirical_receptive_field``); ``grad`` = a [H, W] gradient map laid over the image.
    """
    from matplotlib.patches import Rectangle

    img = torch.as_tensor(image).detach().float().cpu().squeeze()
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.imshow(img.permute(1, 2, 0).numpy() if img.ndim == 3 else img.numpy(), cmap="gray")
    if grad is not None:
        g = grad.detach().float().cpu()
        ax.imshow(np.ma.masked_where(g.numpy() <= 0, (g / g.max()).numpy()), cmap="autumn",
                  alpha=0.55)
    if box is not None:
        top, bottom, left, right = box
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, ec="cyan", lw=2))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    """Counts [true, predicted] as an int64 tensor."""
    idx = labels.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix: torch.Tensor, *, classes, ax=None, normalize: bool = True):
    """Confusion matrix with rows = true class, columns = predicted class."""
    m = matrix.float()
    if normalize:
        m = m / m.sum(dim=1, keepdim=True).clamp(min=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(m.numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            v = m[i, j].item()
            if v >= 0.01:
                ax.text(j, i, f"{v:.2f}" if normalize else int(v), ha="center", va="center",
                        fontsize=6, color="white" if v > 0.5 * m.max() else "black")
    return ax


def show_misclassified(images, labels, preds, probs, *, classes, n: int = 8, ncols: int = 8):
    """The ``n`` most confident mistakes, worst first, titled 'true -> predicted  p'.

    ``probs`` is [N, num_classes] (probabilities or scores) or [N] (the predicted class's).
    Returns the figure; ``fig.indices`` holds the chosen examples' indices.
    """
    labels, preds = torch.as_tensor(labels).cpu().long(), torch.as_tensor(preds).cpu().long()
    probs = torch.as_tensor(probs).detach().float().cpu()
    conf = probs.gather(1, preds[:, None])[:, 0] if probs.ndim == 2 else probs
    wrong = torch.nonzero(preds != labels).flatten()
    idx = wrong[conf[wrong].argsort(descending=True, stable=True)[:n]]
    if len(idx) == 0:
        fig, ax = plt.subplots(figsize=(3, 0.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    else:
        titles = [f"{classes[labels[i]]}\n-> {classes[preds[i]]}  {conf[i]:.2f}" for i in idx]
        fig = show_images(torch.as_tensor(images)[idx], titles=titles, ncols=ncols)
    fig.indices = idx
    return fig
