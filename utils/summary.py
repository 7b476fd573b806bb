"""Model inspection: a per-layer table of output shapes, parameters and multiply-adds.

Counting convention used across the book: **MACs** = multiply-accumulate operations of the
convolution and linear layers (matrix products included), as counted by PyTorch's own
``torch.utils.flop_counter``; **FLOPs = 2 x MACs**. Biases, activations, pooling and
normalisation are not counted: this is the convention of the papers' tables (AlexNet's first
layer: 55*55*96 outputs x 363 multiply-adds each = 105,415,200 MACs).

One exception: a module that computes more than its true cost can say what it really costs
with a method ``macs(inputs, output) -> int`` (``inputs`` is the tuple of its forward's
arguments). LeNet-5's C3 (``models.SparseConv2d``) runs one dense convolution whose weights
outside the connection table are zero; the counter would see 6x16 kernels, the paper counts 60.
``count_macs`` and ``layer_table`` then use that number for the module and everything inside it.

Works for any ``nn.Module``: forward hooks record every leaf module in the order it runs. The
model is left as it was: same device, same weights, same train/eval flag in every module.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _reports_macs(module: nn.Module) -> bool:
    return callable(getattr(module, "macs", None))


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode while counting; afterwards every module gets back its own flag (a frozen,
    eval-mode BatchNorm inside a training model stays in eval), even if the forward fails."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model with neither."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _counted_forward(model: nn.Module, x: torch.Tensor, *, leaves, blocks=(), run=None):
    """One forward pass in eval mode, without gradients, under a single FlopCounterMode.

    Each call of a module in ``leaves`` costs what the counter saw during the call, or what
    its own ``macs(inputs, output)`` says; each call of a module in ``blocks`` becomes a row
    with the parameters (each module counted once) and MACs of the leaf calls made inside it.
    ``run(x)`` replaces ``model(x)`` when given. Returns ``(output, total MACs, rows)``.
    """
    names = {m: n for n, m in model.named_modules()}
    calls, rows, fixes, seen = [], [], [], set()
    flops_at, calls_at = {}, {}

    def leaf_pre(module, args):
        flops_at.setdefault(module, []).append(counter.get_total_flops())

    def leaf_post(module, args, out):
        counted = counter.get_total_flops() - flops_at[module].pop()
        macs = counted // 2
        if _reports_macs(module):
            macs = int(module.macs(args, out))
            fixes.append(2 * macs - counted)        # the total gets the true cost too
        calls.append({"params": 0 if module in seen else count_params(module), "macs": macs})
        seen.add(module)

    def block_pre(module, args):
        calls_at.setdefault(module, []).append(len(calls))

    def block_post(module, args, out):
        ran = calls[calls_at[module].pop():]        # the leaf calls made inside this module
        rows.append({"name": names[module] or type(module).__name__,
                     "type": type(module).__name__,
                     "output": tuple(out.shape) if isinstance(out, torch.Tensor) else None,
                     "params": sum(c["params"] for c in ran),
                     "macs": sum(c["macs"] for c in ran)})

    hooks = []
    for m in leaves:                # leaf hooks first: a leaf that is also a block (depth None,
        hooks += [m.register_forward_pre_hook(leaf_pre), m.register_forward_hook(leaf_post)]
    for m in blocks:                # or a shallow leaf) records its call before its row is made
        hooks += [m.register_forward_pre_hook(block_pre), m.register_forward_hook(block_post)]
    counter = FlopCounterMode(display=False)
    try:
        with _eval_mode(model), torch.no_grad(), counter:
            out = model(x) if run is None else run(x)
    finally:
        for h in hooks:
            h.remove()
    return out, (counter.get_total_flops() + sum(fixes)) // 2, rows


def _blocks(model: nn.Module, depth: int | None) -> list[nn.Module]:
    """The modules that get a row: the leaves (a module with its own ``macs`` counts as one),
    or with ``depth`` d the modules d levels below the model (shallower leaves stay rows)."""
    found, seen = [], set()

    def walk(module, level):
        if module in seen:                          # a shared module: one entry
            return
        seen.add(module)
        children = list(module.children())
        if not children or _reports_macs(module) or level == depth:
            found.append(module)
            return
        for child in children:
            walk(child, level + 1)

    walk(model, 0)
    return found


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on ``x`` (conv and matmul ops; FLOPs = 2 x MACs).

    ``x`` must be on the model's device; the model runs in eval mode and is left as it was.
    """
    reporting = [m for m in _blocks(model, None) if _reports_macs(m)]
    return _counted_forward(model, x, leaves=reporting)[1]


def layer_table(model: nn.Module, x: torch.Tensor | tuple | list, *, depth: int | None = None,
                device: str | torch.device | None = None) -> list[dict]:
    """One row per leaf-module call: name, type, output shape, parameters, MACs.

    ``x`` is an input tensor or an input shape such as ``(1, 1, 28, 28)``. The last row,
    'total', holds the whole model's parameters and MACs, which include any parameters or
    functional ops (``torch.cat``, ``x + y``) that live outside leaf modules.

    ``depth`` 1 (or 2) gives one row per call of each top-level (or second-level) module
    instead, e.g. one per ResNet stage: its output shape, and the parameters and MACs summed
    over the leaves it ran. The total row is the same at every depth.

    The table is computed on the model's own device. ``device`` (e.g. ``"meta"``: shapes and
    counts without arithmetic) runs it elsewhere on a temporary copy of the parameters and
    buffers; the model itself is never moved.
    """
    here = _model_device(model)
    device = here if device is None else torch.device(device)
    if isinstance(x, (tuple, list, torch.Size)):
        x = torch.zeros(*x)
    x = x.to(device)
    run = None
    if device != here:                  # the same modules, with moved copies swapped in
        with torch.no_grad():
            moved = {n: t.to(device) for n, t in (*model.named_parameters(),
                                                  *model.named_buffers())}

        def run(inp):
            return torch.func.functional_call(model, moved, (inp,))

    out, macs, rows = _counted_forward(model, x, leaves=_blocks(model, None),
                                       blocks=_blocks(model, depth), run=run)
    rows.append({"name": "total", "type": "", "output": tuple(out.shape),
                 "params": count_params(model), "macs": macs})
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


def summary(model: nn.Module, x, *, depth: int | None = None,
            device: str | torch.device | None = None) -> list[dict]:
    """Print the per-layer table and return its rows (input: a tensor or a shape tuple)."""
    rows = layer_table(model, x, depth=depth, device=device)
    print(format_table(rows))
    return rows
