"""Receptive fields (感受野): analytic, layer by layer, and empirical, from gradients.

Analytic recurrences for a chain of conv/pool layers (per spatial axis; ``k_eff = d(k-1)+1``)::

    size_out  = size_in + (k_eff - 1) * jump_in      # how many input pixels one unit sees
    jump_out  = jump_in * stride                     # input distance between adjacent units
    start_out = start_in + ((k_eff - 1)/2 - padding) * jump_in   # centre of unit 0, in pixels

Empirical: back-propagate from one output unit to the input and see which pixels get a
non-zero gradient. With the real weights that shows the *effective* receptive field; with all
weights set to 1 (and max-pooling read as average-pooling, since max-pooling sends the gradient
to one pixel only) it shows the full *theoretical* one, which the tests compare with the analytic.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

_GEOMETRY = (nn.Conv1d, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ConvTranspose2d)
# Element-wise layers: they never change which pixels a unit sees, but a saturated sigmoid or a
# normalisation can shrink a gradient to zero, so the probe replaces them by the identity.
_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU,
                nn.Hardswish, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d,
                nn.LocalResponseNorm)


def _pair(v) -> int:
    """Square kernels/strides only: the book's networks use them."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"non-square geometry {v} is not supported; use square layers")
        v = v[0]
    return int(v)


def _leaves(model: nn.Module):
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def receptive_fields(model: nn.Module, *, input_size: int | None = None) -> list[dict]:
    """Size, jump and start of the receptive field after every conv/pool layer of a chain.

    ``model`` is an ``nn.Sequential`` (nested ones are flattened) or any module whose leaves run
    in registration order. Element-wise layers (ReLU, BatchNorm, Dropout) do not change the
    receptive field and are skipped; the walk stops at the first Flatten or Linear.
    """
    size, jump, start, n = 1, 1, 0.0, input_size    # start: centre of unit 0, in input pixels
    rows = []
    for name, m in _leaves(model):
        if isinstance(m, (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d)):
            break
        if not isinstance(m, _GEOMETRY):
            continue
        if isinstance(m, nn.ConvTranspose2d):
            raise ValueError("transposed convolutions grow the output; their receptive field "
                             "is not given by this recurrence")
        k, s = _pair(m.kernel_size), _pair(m.stride or m.kernel_size)
        p = _pair(m.padding) if not isinstance(m.padding, str) else None
        d = _pair(getattr(m, "dilation", 1))
        k_eff = d * (k - 1) + 1
        if p is None:                                   # padding='same' (stride 1 only)
            p = (k_eff - 1) // 2
        size += (k_eff - 1) * jump
        start += ((k_eff - 1) / 2 - p) * jump
        jump *= s
        if n is not None:
            ceil = getattr(m, "ceil_mode", False)
            n = (math.ceil if ceil else math.floor)((n + 2 * p - k_eff) / s) + 1
        rows.append({"layer": name, "type": type(m).__name__, "kernel": k, "stride": s,
                     "padding": p, "dilation": d, "size": size, "jump": jump,
                     "start": start, "output": n})
    return rows


def format_receptive_fields(rows: list[dict]) -> str:
    """Aligned text table of ``receptive_fields`` rows."""
    cols = ("layer", "type", "kernel", "stride", "padding", "dilation", "output", "size",
            "jump", "start")
    body = [[str(r[c]) if c != "start" else f"{r[c]:g}" for c in cols] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(cols, *body)]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(row, widths))
                     for row in [list(cols), *body])


def analytic_box(row: dict, *, unit: tuple[int, int], input_size: int) -> tuple[int, int, int, int]:
    """Input pixels (top, bottom, left, right; inclusive) seen by output ``unit`` of a layer."""
    box = []
    for i in unit:
        centre = row["start"] + i * row["jump"]          # in input pixel indices
        lo = round(centre - (row["size"] - 1) / 2)
        hi = round(centre + (row["size"] - 1) / 2)
        box += [max(lo, 0), min(hi, input_size - 1)]
    return box[0], box[1], box[2], box[3]


def gradient_map(model: nn.Module, x: torch.Tensor, *, unit: tuple[int, int] | None = None
                 ) -> torch.Tensor:
    """|d out[:, :, i, j].sum() / d x| summed over input channels: a [H, W] map.

    ``model`` maps the input to the layer of interest (e.g. ``net[:4]``); ``x`` is [1, C, H, W];
    ``unit`` defaults to the centre of the output map.
    """
    x = x.detach().clone().requires_grad_(True)
    out = model(x)                                      # [1, C', H', W']
    if unit is None:
        unit = (out.shape[-2] // 2, out.shape[-1] // 2)
    out[0, :, unit[0], unit[1]].sum().backward()
    return x.grad[0].abs().sum(0)                       # [H, W]


def empirical_receptive_field(model: nn.Module, *, input_size: int, in_channels: int = 1,
                              unit: tuple[int, int] | None = None) -> dict:
    """The theoretical receptive field of one output unit, found with gradients.

    Works on a copy with every weight 1, every bias 0, element-wise layers removed and
    max-pooling swapped for average pooling of the same geometry, fed an all-ones image: then
    every path from a pixel to the unit carries a positive gradient, and the non-zero pixels
    are exactly the receptive field.
    """
    probe = copy.deepcopy(model).eval()
    for name, m in list(probe.named_modules()):
        if isinstance(m, (nn.MaxPool2d, *_ELEMENTWISE)):
            parent = probe.get_submodule(name.rsplit(".", 1)[0]) if "." in name else probe
            new = (nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
                   if isinstance(m, nn.MaxPool2d) else nn.Identity())
            setattr(parent, name.rsplit(".", 1)[-1], new)
    with torch.no_grad():
        for p_name, p in probe.named_parameters():
            p.fill_(0.0 if p_name.endswith("bias") else 1.0)
    x = torch.ones(1, in_channels, input_size, input_size)
    grad = gradient_map(probe, x, unit=unit)
    rows, cols = torch.nonzero(grad > 0, as_tuple=True)
    box = (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item())
    return {"grad": grad, "box": box,
            "size": (box[1] - box[0] + 1, box[3] - box[2] + 1)}
