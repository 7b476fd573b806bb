"""Pictures: training curves, seed comparisons, image grids, filters, feature maps, receptive
fields, confusion matrices and mistakes.

Return values: a function that draws into one Axes takes ``ax=`` and returns that Axes;
``plot_history`` returns its (loss, metric) pair of Axes; a function that lays out a figure of
panels of its own returns the Figure (``show_mistakes_and_confusion`` returns plain data with
the figures inside). Tile grids leave NaN between tiles, drawn in a neutral colour, so a gap
never looks like a strong activation. pyplot is imported on the first drawing call.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

GAP_COLOUR = "white"          # the gaps between feature-map tiles: not a viridis colour
FILTER_GAP_COLOUR = "#b9d3ee"  # the gaps between grey filter tiles: not a grey


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))       # epochs are whole numbers
    ax.set_xlabel("epoch")


def _x(history: dict, key: str) -> list[float]:
    """x positions in epochs: step / steps_per_epoch for per-step keys, else the epoch."""
    if key.startswith("step"):
        spe = history.get("steps_per_epoch") or history["step"][-1] / max(history["epoch"] or [1])
        return [s / spe for s in history["step"]]
    return list(history["epoch"])


def _metric_keys(history: dict) -> list[str]:
    return [k for k, v in history.items() if k.startswith(("train_", "test_"))
            and not k.endswith("_loss") and isinstance(v, (list, tuple))]


def _twin(ax):
    """A fresh right-hand y axis on ``ax`` (an old twin from an earlier redraw is removed)."""
    for other in list(ax.figure.axes):
        if other is not ax and other.get_shared_x_axes().joined(ax, other) \
                and other.get_position().bounds == ax.get_position().bounds:
            other.remove()
    return ax.twinx()


def plot_history(history: dict, *, ax=None, axes=None, title: str | None = None):
    """Training curves: loss on the left panel, accuracy (every other metric) on the right.

    The loss panel has the per-step training loss (``history['step_loss']`` at x =
    step / steps_per_epoch) and each epoch's mean train loss as markers, drawn at the epoch's
    end when it is logged (plus test loss if present). Old histories without step keys get
    the per-epoch curves only. ``axes`` = a (loss, metric) pair to redraw into (a live plot);
    ``ax`` = one Axes, metrics then go on a twin right axis. Returns (loss_ax, metric_ax).
    """
    own = axes is None and ax is None
    if axes is None:
        axes = (ax, _twin(ax)) if ax is not None else \
            tuple(_plt().subplots(1, 2, figsize=(9, 3.2))[1])
    loss_ax, metric_ax = axes
    ep, twin = history["epoch"], ax is not None
    if history.get("step"):
        loss_ax.plot(_x(history, "step_loss"), history["step_loss"], lw=1, color="C0",
                     alpha=0.6, label="train loss (steps)")
    loss_ax.plot(ep, history["train_loss"], "o" if history.get("step") else "o-", ms=4,
                 color="C0", label="train loss (epoch)")
    if history.get("test_loss"):
        loss_ax.plot(ep, history["test_loss"], "s--", ms=4, color="C1", label="test loss")
    keys = _metric_keys(history)
    for i, k in enumerate(keys):
        metric_ax.plot(ep, history[k], marker="o^sv"[i % 4], ms=4, ls="--" if twin else "-",
                       color=f"C{i + 2 if twin else i}", label=k.replace("_", " "))
    accuracy = all(k.endswith("_acc") for k in keys)
    loss_ax.set_ylabel("loss")
    metric_ax.set_ylabel("accuracy" if accuracy else "metric")
    for a in (loss_ax, metric_ax):
        _integer_epochs(a)
        if history.get("step"):
            a.set_xlim(left=0)
        elif ep:
            a.set_xlim(0.9, max(ep) + 0.1 if len(ep) > 1 else 1.1)
        a.grid(alpha=0.3)
    if twin:          # one legend for both y axes
        handles = loss_ax.get_legend_handles_labels()[0] + metric_ax.get_legend_handles_labels()[0]
        metric_ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.85)
    else:
        loss_ax.legend(loc="best", fontsize="small", framealpha=0.85)
        metric_ax.legend(loc="best", fontsize="small", framealpha=0.85)
    if title:
        (loss_ax.figure.suptitle if not twin else loss_ax.set_title)(title)
    if own:
        loss_ax.figure.tight_layout()
    return loss_ax, metric_ax


def compare_histories(runs: dict, *, key: str = "test_acc", ax=None, legend: str | None = "best"):
    """One curve per run (e.g. sigmoid vs ReLU): ``key`` against epoch (``step_loss``: x =
    step / steps_per_epoch). ``runs`` maps label -> one history or a list of them (one per
    seed): a list is drawn as its mean with a band from the min to the max over the seeds.
    ``legend`` is a matplotlib ``loc``, ``"outside"`` (right of the axes) or None."""
    if ax is None:
        _, ax = _plt().subplots(figsize=(5, 3.2))
    banded = False
    for label, hs in runs.items():
        hs = [hs] if isinstance(hs, dict) else list(hs)
        n = min(len(h[key]) for h in hs)
        ys = np.array([h[key][:n] for h in hs], dtype=float)      # [seeds, points]
        x = _x(hs[0], key)[:n]
        step = key.startswith("step")
        (line,) = ax.plot(x, ys.mean(0), marker=None if step else "o", ms=3, lw=1.2 if step else 1.5,
                          label=label if len(hs) == 1 else f"{label} (mean of {len(hs)})")
        if len(hs) > 1:
            ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2, lw=0)
            banded = True
    _integer_epochs(ax)
    ax.set_ylabel("train loss (steps)" if key == "step_loss" else key.replace("_", " "))
    ax.grid(alpha=0.3)
    kw = dict(fontsize="small", title="band: min to max over seeds" if banded else None,
              title_fontsize="small")
    if legend == "outside":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kw)
    elif legend:
        ax.legend(loc=legend, framealpha=0.85, **kw)
    return ax


def plot_seed_bars(results: dict[str, list[float]], *, ylabel: str, ax=None,
                   reference: dict[str, float] | None = None, kind: str = "bar",
                   reference_label: str = "published"):
    """Mean ± sample std (ddof=1, as ``utils.spread``) per label, every seed as a black dot,
    and an optional published value per label as a red diamond. ``kind`` = "bar" (bars from 0)
    or "point" (for close numbers such as 0.80 vs 0.81, where bars from 0 hide the gap)."""
    from .repro import spread

    if ax is None:
        _, ax = _plt().subplots(figsize=(1.2 * len(results) + 2, 3.2))
    labels = list(results)
    unknown = set(reference or {}) - set(labels)
    if unknown:
        raise ValueError(f"reference has labels not in results: {sorted(unknown)}")
    stats = [spread(list(results[k])) for k in labels]
    xs = np.arange(len(labels))
    means, stds = [s["mean"] for s in stats], [s["std"] for s in stats]
    if kind == "bar":
        ax.bar(xs, means, width=0.6, yerr=stds, capsize=5, color="C0", alpha=0.55,
               label="mean ± std over seeds")
    elif kind == "point":
        ax.errorbar(xs, means, yerr=stds, fmt="_", ms=24, mew=2, capsize=5, color="C0",
                    label="mean ± std over seeds")
    else:
        raise ValueError(f"kind must be 'bar' or 'point', got {kind!r}")
    for i, s in enumerate(stats):
        offsets = np.linspace(-0.12, 0.12, s["n"]) if s["n"] > 1 else np.zeros(1)
        ax.plot(xs[i] + offsets, s["values"], "o", color="black", ms=4, ls="none",
                label="one seed" if i == 0 else None)
    ref = [(i, reference[k]) for i, k in enumerate(labels) if k in (reference or {})]
    if ref:
        ax.plot(*zip(*ref), "D", color="C3", ms=7, ls="none", label=reference_label)
    ax.set_xticks(xs, labels)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    return ax


def show_images(images, *, titles=None, ncols: int = 8, scale: float = 1.4, cmap="gray"):
    """A grid of images ([N, H, W], [N, 1, H, W] or [N, 3, H, W]) with optional titles."""
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images.permute(0, 2, 3, 1).squeeze(-1)          # [N, H, W(, 3)]
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = _plt().subplots(nrows, min(ncols, n), figsize=(min(ncols, n) * scale, nrows * scale),
                                squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].float().numpy(), cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def tile(tiles: torch.Tensor, *, nrow: int, pad: int | None = None) -> np.ndarray:
    """Tiles [N, H, W] (or [N, H, W, 3]) as one array, ``nrow`` tiles a row, NaN in the gaps.

    ``pad`` (gap width) defaults to about 1/14 of a tile, at least 1 pixel; no outer frame.
    """
    t = torch.as_tensor(tiles).detach().float().cpu().numpy()
    n, h, w = t.shape[:3]
    pad = max(1, h // 14) if pad is None else pad
    cols, rows = min(nrow, n), -(-n // nrow)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *t.shape[3:]), np.nan,
                  dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = t[i]
    return out


def _scale_each(t: torch.Tensor) -> torch.Tensor:
    """Each tile [N, ...] min-max scaled to [0, 1] on its own (a constant tile becomes 0)."""
    flat = t.reshape(len(t), -1)
    lo, hi = flat.min(1).values, flat.max(1).values
    shape = (-1,) + (1,) * (t.ndim - 1)
    return (t - lo.view(shape)) / (hi - lo).clamp(min=1e-12).view(shape)


def _cmap(name, bad):
    import matplotlib
    return matplotlib.colormaps[name].with_extremes(bad=bad)


def show_filters(weight: torch.Tensor, *, nrow: int = 8, title: str | None = None, ax=None):
    """First-layer filters [C_out, C_in, k, k] as a grid, each normalised to its own range.

    RGB filters (C_in = 3) are shown in colour with transparent gaps; otherwise each input
    channel's slice of each filter is one grey tile and the gaps are pale blue.
    """
    w = weight.detach().float().cpu()
    if ax is None:
        n = len(w) if w.shape[1] == 3 else w.shape[0] * w.shape[1]
        _, ax = _plt().subplots(figsize=(nrow * 0.45, -(-n // nrow) * 0.45 + 0.3))
    if w.shape[1] == 3:
        grid = tile(_scale_each(w).permute(0, 2, 3, 1), nrow=nrow, pad=1)     # [H, W, 3]
        alpha = ~np.isnan(grid[..., :1])
        ax.imshow(np.concatenate([np.nan_to_num(grid), alpha], axis=-1), interpolation="nearest")
    else:
        grid = tile(_scale_each(w.reshape(-1, *w.shape[-2:])), nrow=nrow, pad=1)
        ax.imshow(np.ma.masked_invalid(grid), cmap=_cmap("gray", FILTER_GAP_COLOUR), vmin=0,
                  vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def _capture(model: nn.Module, x: torch.Tensor, layers: list[nn.Module]) -> list[torch.Tensor]:
    """The outputs of ``layers`` (submodules of ``model``) in one eval-mode forward pass."""
    captured: dict[int, torch.Tensor] = {}
    handles = [layer.register_forward_hook(lambda m, i, out, j=j: captured.setdefault(j, out.detach()))
               for j, layer in enumerate(layers)]
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [captured[j] for j in range(len(layers))]


def feature_maps(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """The output of ``layer`` (a submodule of ``model``) for input ``x``, via a forward hook."""
    return _capture(model, x, [layer])[0]


def top_channels(maps: torch.Tensor, *, k: int) -> torch.Tensor:
    """Indices of the ``k`` channels of [1, C, H, W] (or [C, H, W]) maps with the largest mean
    activation, most active first."""
    maps = maps[0] if maps.ndim == 4 else maps
    return maps.float().mean(dim=(1, 2)).argsort(descending=True, stable=True)[:k].cpu()


def show_feature_maps(maps: torch.Tensor, *, nrow: int = 8, max_maps: int = 32,
                      top: int | None = None, scale_each: bool = True,
                      title: str | None = None, ax=None, cmap: str = "viridis"):
    """Channels of one feature map tensor [1, C, H, W] (or [C, H, W]) as a grid.

    ``top`` = show the ``top`` most active channels (by mean), most active first, instead of
    the first ``max_maps``. ``scale_each`` gives every tile its own colour range; False uses
    one range for all. Gaps are NaN, drawn white.
    """
    maps = maps.detach().float().cpu()
    maps = maps[0] if maps.ndim == 4 else maps                     # [C, H, W]
    maps = maps[top_channels(maps, k=top)] if top else maps[:max_maps]
    grid = tile(_scale_each(maps) if scale_each else maps, nrow=nrow)
    if ax is None:
        rows = -(-len(maps) // nrow)
        _, ax = _plt().subplots(figsize=(min(nrow, len(maps)) * 0.9, rows * 0.9 + 0.3))
    ax.imshow(np.ma.masked_invalid(grid), cmap=_cmap(cmap, GAP_COLOUR), interpolation="nearest",
              **(dict(vmin=0, vmax=1) if scale_each else {}))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def _show_input(ax, x: torch.Tensor) -> None:
    img = torch.as_tensor(x).detach().float().cpu().squeeze()
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy() if img.ndim == 3 else img.numpy(),
              cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def show_layer_maps(model: nn.Module, x: torch.Tensor, *, layers: dict[str, nn.Module],
                    top: int = 8, title: str | None = None, scale_each: bool = False):
    """The input image [1, C, H, W] on the left, then one row per named layer: the ``top``
    most active channels of its output on ``x`` (one forward pass, hooks). One colour range
    per row unless ``scale_each``. ``title`` heads the input panel. Returns the Figure."""
    outs = _capture(model, x, list(layers.values()))
    fig = _plt().figure(figsize=(1.1 * top + 1.2 * min(len(layers), 2), 1.15 * len(layers) + 0.3))
    grid = fig.add_gridspec(len(layers), 2, width_ratios=[min(len(layers), 2), top])
    ax = fig.add_subplot(grid[:, 0])
    _show_input(ax, x[0])
    ax.set_anchor("E")                                    # next to the rows, which start left
    ax.set_title(f"{title or 'input'}\n{x.shape[-2]}x{x.shape[-1]}", fontsize=9)
    for row, (name, out) in enumerate(zip(layers, outs)):
        maps = out[0].float() if out.ndim == 4 else out[0].float().reshape(-1, 1, 1)  # [C, h, w]
        k = min(top, len(maps))
        show_feature_maps(maps, nrow=top, top=k, scale_each=scale_each,
                          ax=fig.add_subplot(grid[row, 1]),
                          title=f"{name}: top {k} of {len(maps)} channels, "
                                f"{maps.shape[1]}x{maps.shape[2]}")
        fig.axes[-1].title.set_fontsize(9)
        fig.axes[-1].set_anchor("W")
    fig.tight_layout()
    return fig


def show_receptive_field(image: torch.Tensor, *, box=None, grad: torch.Tensor | None = None,
                         title: str | None = None, ax=None):
    """An input image with a unit's receptive field drawn on it.

    ``box`` = (top, bottom, left, right), inclusive pixel indices (from ``analytic_box`` or
    ``empirical_receptive_field``), or a list of such boxes; ``grad`` = a [H, W] gradient map
    laid over the image.
    """
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = _plt().subplots(figsize=(3.2, 3.2))
    _show_input(ax, image)
    if grad is not None:
        g = grad.detach().float().cpu()
        ax.imshow(np.ma.masked_where(g.numpy() <= 0, (g / g.max()).numpy()), cmap="autumn",
                  alpha=0.55)
    boxes = [] if box is None else [box] if np.isscalar(box[0]) else list(box)
    for top, bottom, left, right in boxes:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, ec="cyan", lw=2))
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def show_receptive_fields(image: torch.Tensor, boxes: dict, *, grads: dict | None = None,
                          size: float = 2.6):
    """One panel per named layer: ``image`` with that layer's box (or list of boxes) drawn,
    and its gradient map from ``grads`` (name -> [H, W]) if given. Returns the Figure."""
    fig, axes = _plt().subplots(1, len(boxes), figsize=(size * len(boxes), size + 0.4),
                                squeeze=False)
    for ax, (name, box) in zip(axes[0], boxes.items()):
        first = box if np.isscalar(box[0]) else box[0]
        show_receptive_field(image, box=box, grad=(grads or {}).get(name), ax=ax,
                             title=f"{name}: {first[1] - first[0] + 1}x{first[3] - first[2] + 1} px")
    fig.tight_layout()
    return fig


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    """Counts [true, predicted] as an int64 tensor."""
    idx = labels.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix: torch.Tensor, *, classes, ax=None, normalize: bool = True):
    """Confusion matrix with rows = true class, columns = predicted class (normalised: each row
    sums to 1, so the diagonal is each class's accuracy)."""
    m = matrix.float()
    if normalize:
        m = m / m.sum(dim=1, keepdim=True).clamp(min=1)
    if ax is None:
        _, ax = _plt().subplots(figsize=(5.5, 5))
    ax.imshow(m.numpy(), cmap="Blues", vmin=0)
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


def _worst_mistakes(labels, preds, probs, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``n`` most confident mistakes, worst first, and every example's confidence."""
    conf = probs.gather(1, preds[:, None])[:, 0] if probs.ndim == 2 else probs
    wrong = torch.nonzero(preds != labels).flatten()
    return wrong[conf[wrong].argsort(descending=True, stable=True)[:n]], conf


def show_misclassified(images, labels, preds, probs, *, classes, n: int = 8, ncols: int = 8):
    """The ``n`` most confident mistakes, worst first, titled 'true -> predicted  p'.

    ``probs`` is [N, num_classes] (probabilities or scores) or [N] (the predicted class's).
    Returns the figure; ``fig.indices`` holds the chosen examples' indices.
    """
    labels, preds = torch.as_tensor(labels).cpu().long(), torch.as_tensor(preds).cpu().long()
    idx, conf = _worst_mistakes(labels, preds, torch.as_tensor(probs).detach().float().cpu(), n)
    if len(idx) == 0:
        fig, ax = _plt().subplots(figsize=(3, 0.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    else:
        titles = [f"{classes[labels[i]]}\n-> {classes[preds[i]]}  {conf[i]:.2f}" for i in idx]
        fig = show_images(torch.as_tensor(images)[idx], titles=titles, ncols=ncols)
    fig.indices = idx
    return fig


def show_mistakes_and_confusion(model: nn.Module, batches, *, device, classes, n: int = 8,
                                ncols: int = 8) -> dict:
    """Evaluate ``model`` on ``batches`` (in a fixed order), draw the normalised confusion
    matrix and the ``n`` most confident mistakes, and return plain data:
    {'confusion': int64 [C, C] (rows = true), 'per_class_acc': [C] floats (NaN for a class
    with no examples), 'accuracy': float, 'mistakes': indices, worst first,
    'figures': {'confusion': Figure, 'mistakes': Figure}}."""
    from .evaluation import probabilities

    probs, labels = probabilities(model, batches, device=device)     # [N, C], [N]
    preds = probs.argmax(dim=1)
    idx, _ = _worst_mistakes(labels, preds, probs, n)
    images, seen, start = {}, [], 0
    for X, y in batches:                        # a second pass, keeping only the shown images
        seen.append(y.cpu())
        for i in idx[(idx >= start) & (idx < start + len(y))].tolist():
            images[i] = X[i - start].detach().cpu()
        start += len(y)
    if not torch.equal(torch.cat(seen), labels):
        raise ValueError("batches came out in another order the second time: pass unshuffled "
                         "(test) batches")
    matrix = confusion_matrix(preds, labels, num_classes=len(classes))
    rows = matrix.sum(dim=1)                                        # examples per true class
    per_class = [float(matrix[c, c] / rows[c]) if rows[c] else float("nan")
                 for c in range(len(classes))]
    accuracy = float((preds == labels).float().mean())
    ax = plot_confusion_matrix(matrix, classes=classes)
    ax.set_title(f"accuracy {accuracy:.3f}; rows sum to 1", fontsize=9)
    ax.figure.tight_layout()
    shown = torch.stack([images[i] for i in idx.tolist()]) if len(idx) else torch.zeros(0)
    mistakes = show_misclassified(shown, labels[idx], preds[idx], probs[idx], classes=classes,
                                  n=n, ncols=ncols)
    mistakes.indices = idx                                           # into the whole of batches
    return {"confusion": matrix, "per_class_acc": per_class, "accuracy": accuracy,
            "mistakes": idx.tolist(), "figures": {"confusion": ax.figure, "mistakes": mistakes}}
