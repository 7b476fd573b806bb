"""Model inspection: a per-layer table of output shapes, parameters and multiply-adds.

Counting convention used across the book: **MACs** = multiply-accumulate operations of the
convolution and linear layers (matrix products included), as counted by PyTorch's own
``torch.utils.flop_counter``; **FLOPs = 2 x MACs**. Biases, activations, pooling and
normalisation are not counted: this is the convention of the papers' tables (AlexNet's first
layer: 55*55*96 outputs x 363 multiply-adds each = 105,415,200 MACs).

Works for any ``nn.Module``: forward hooks record every leaf module in the order it runs.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on ``x`` (conv and matmul ops; FLOPs = 2 x MACs)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


def layer_table(model: nn.Module, x: torch.Tensor | tuple | list, *, device="cpu") -> list[dict]:
    """One row per leaf-module call: name, type, output shape, parameters, MACs.

    ``x`` is an input tensor or an input shape such as ``(1, 1, 28, 28)``. The last row,
    'total', holds the whole model's parameters and MACs, which include any parameters or
    functional ops (``torch.cat``, ``x + y``) that live outside leaf modules.
    """
    if isinstance(x, (tuple, list, torch.Size)):
        x = torch.zeros(*x)
    x = x.to(device)
    model = model.to(device)
    names = {m: n for n, m in model.named_modules()}
    rows, seen, hooks, counters = [], set(), [], {}

    def pre_hook(module, args):
        counters[module] = FlopCounterMode(display=False)
        counters[module].__enter__()

    def post_hook(module, args, out):
        counter = counters.pop(module)
        counter.__exit__(None, None, None)
        params = 0 if module in seen else count_params(module)
        seen.add(module)
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
        rows.append({"name": names[module] or type(module).__name__,
                     "type": type(module).__name__, "output": shape,
                     "params": params, "macs": counter.get_total_flops() // 2})

    for m in model.modules():
        if not list(m.children()):                      # leaves only: no double counting
            hooks += [m.register_forward_pre_hook(pre_hook), m.register_forward_hook(post_hook)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rows.append({"name": "total", "type": "", "output": tuple(out.shape),
                 "params": count_params(model), "macs": count_macs(model, x)})
    return rows


def format_table(rows: list[dict]) -> str:
    """Render ``layer_table`` rows as aligned text with units in the header."""
    header = ("layer", "type", "output shape", "params", "MACs")
    body = [(r["name"], r["type"], "x".join(map(str, r["output"])) if r["output"] else "-",
             f"{r['params']:,}", f"{r['macs']:,}") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    lines = []
    for i, row in enumerate([header, *body]):
        if i == len(body):                                # rule above the total
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        lines.append("  ".join(str(c).ljust(w) if j < 3 else str(c).rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    total = rows[-1]
    lines.append(f"MACs = multiply-adds of conv/linear layers; FLOPs = 2 x MACs "
                 f"= {2 * total['macs']:,} ({2 * total['macs'] / 1e9:.3f} GFLOPs)")
    return "\n".join(lines)


def summary(model: nn.Module, x, *, device="cpu") -> list[dict]:
    """Print the per-layer table and return its rows (input: a tensor or a shape tuple)."""
    rows = layer_table(model, x, device=device)
    print(format_table(rows))
    return rows
