"""The training loop, written out so a reader can print it (``inspect.getsource(utils.fit)``,
``inspect.getsource(utils.train_epoch)``).

``fit`` returns a plain dict (the history). It only trains: printing the final line, the run
stamp and the curves is ``utils.report``'s job (``fit(report=True)`` calls it at the end).
Losses and metrics are summed on the device; the loop reads them back every ``log_every``
steps (a per-step loss curve, and a divergence check) and once per epoch, so a GPU is not
stalled waiting for Python after every batch.
"""
from __future__ import annotations

import math
import os
import sys
import time

import torch
from torch import nn

from .evaluation import ACCURACY, Metric, autocast, measure
from .repro import current_scale, device_name, set_seed
from .report import live_plot, print_report, stamp


def xavier_init(model: nn.Module) -> nn.Module:
    """Xavier-uniform weights for every Linear and Conv layer (what d2l's trainer does)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return model


def kaiming_init(model: nn.Module) -> nn.Module:
    """He (Kaiming) normal weights, variance 2/fan_in, and zero biases for every Linear and Conv.

    Keeps the signal's variance through ReLU layers, so deep ReLU stacks (AlexNet, VGG, NiN on
    small images) start learning where Xavier's smaller weights leave them stuck at chance.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def one_cycle(model: nn.Module, *, peak: float, steps: int, weight_decay: float = 0.01) -> dict:
    """fit's optimiser arguments for the book's cpu-scale recipe: AdamW whose learning rate a
    one-cycle schedule warms up to ``peak`` over the first 30% of ``steps`` batches, then
    anneals to almost zero (fit steps the scheduler after every batch).

    Why: d2l's constant SGD rate was tuned for 10 epochs; a budget of 2 or 3 epochs needs a rate
    that is high early and small at the end. ``utils.fit(net, ..., **utils.one_cycle(net, ...))``.
    """
    if steps < 1:
        raise ValueError(f"one_cycle needs steps >= 1 (epochs x batches per epoch), got {steps}")
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") for p in params)    # one kernel for all tensors
    optimizer = torch.optim.AdamW(params, lr=peak, weight_decay=weight_decay, fused=fused)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=steps)
    return {"optimizer": optimizer, "scheduler": scheduler}


class DivergedError(FloatingPointError):
    """Training produced a non-finite or exploding loss: the learning rate is too high."""


def progress_bar(iterable, *, desc: str, enabled: bool):
    """tqdm's live widget in Jupyter; plain text when the book's executor runs the notebook
    (``CNN_BOOK_PROGRESS=text``), so the stored output is the bar's final text, not a widget
    that renders empty on the static site."""
    if not enabled:
        return iterable
    if os.environ.get("CNN_BOOK_PROGRESS") == "text":
        from tqdm.std import tqdm
        return tqdm(iterable, desc=desc, file=sys.stdout, mininterval=60, ascii=False)
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=False)


def _check(loss: float, *, first: float | None, factor: float | None, step: int, lr) -> None:
    if not math.isfinite(loss) or (factor and first is not None and loss > factor * first):
        raise DivergedError(
            f"training diverged at step {step}: loss {loss:.3g}"
            + (f" (it started at {first:.3g})" if first is not None else "")
            + f" with learning rate {lr:g}. Try a learning rate about 10x smaller, a warm-up, "
              "or normalisation (batch norm).")


def train_epoch(model: nn.Module, batches, *, optimizer: torch.optim.Optimizer,
                loss_fn: nn.Module, device: torch.device, metrics: dict[str, Metric],
                scheduler=None, log_every: int = 50, first_loss: float | None = None,
                diverge_factor: float | None = 4.0, step0: int = 0,
                memory_format=torch.contiguous_format, desc: str = "",
                progress: bool = True) -> dict:
    """One pass over ``batches``: forward, loss, backward, step. Returns plain data:
    {'loss': mean loss, <metric>: mean metric, 'n': examples, 'step_loss': [...]} where
    step_loss holds the mean loss of each group of ``log_every`` steps."""
    model.train()
    loss_sum = torch.zeros((), device=device)                     # summed on the device
    sums = {name: torch.zeros((), device=device) for name in metrics}
    window, step_loss, n, step = [], [], 0, step0
    for X, y in progress_bar(batches, desc=desc, enabled=progress):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if X.ndim == 4:
            X = X.contiguous(memory_format=memory_format)
        with autocast(device):
            y_hat = model(X)                                      # [B, classes]
            loss = loss_fn(y_hat, y)                              # mean over the batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()                                      # schedules step per batch
        step += 1
        loss_sum += loss.detach() * len(y)
        window.append(loss.detach())
        for name, metric in metrics.items():
            sums[name] += metric(y_hat.detach().float(), y)
        n += len(y)
        if len(window) == log_every:                              # a sync every log_every steps
            step_loss.append(torch.stack(window).float().mean().item())
            first_loss = step_loss[0] if first_loss is None else first_loss
            _check(step_loss[-1], first=first_loss, factor=diverge_factor, step=step,
                   lr=optimizer.param_groups[0]["lr"])
            window = []
    if window:
        step_loss.append(torch.stack(window).float().mean().item())
    if n == 0:
        raise ValueError("train_epoch got no batches: is the training set empty?")
    out = {"loss": loss_sum.item() / n, "n": n, "step_loss": step_loss, "steps": step - step0}
    _check(out["loss"], first=first_loss, factor=diverge_factor, step=step,
           lr=optimizer.param_groups[0]["lr"])
    out.update({name: s.item() / n for name, s in sums.items()})
    return out


def fit(model: nn.Module, train_iter, test_iter=None, *, epochs: int, device,
        lr: float | None = None, optimizer: torch.optim.Optimizer | None = None,
        scheduler=None, loss_fn: nn.Module | None = None,
        metrics: dict[str, Metric] | None = None, seed: int | None = None,
        log_every: int | None = None, diverge_factor: float | None = 4.0,
        callbacks=(), progress: bool = True, plot: bool = True, report: bool = True,
        channels_last: bool = True, scale: str | None = None) -> dict:
    """Train ``model`` for ``epochs`` and return its history (a dict of plain lists and numbers).

    ``lr`` gives plain minibatch SGD (d2l's trainer); ``optimizer`` any other (pass one, not
    both). ``scheduler`` is stepped after every batch. ``metrics`` maps names to batch-sum
    functions (default: accuracy, 'acc'); the history holds train_<name> and test_<name> per
    epoch, test_loss, and step_loss every ``log_every`` steps (default: about 20 points per
    epoch). ``seed`` seeds the data order and dropout here; build the model after
    ``utils.set_seed(seed)`` (``utils.over_seeds`` does both). A loss that turns NaN/inf or
    grows past ``diverge_factor`` x its start stops the run with an error naming the rate.
    ``callbacks`` are called with the history after each epoch. ``report`` prints the final
    line and run stamp and draws the curves (``utils.report``).
    """
    device = torch.device(device)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if (optimizer is None) == (lr is None):
        raise ValueError("fit needs lr= (for plain SGD) or optimizer= (any torch.optim "
                         "optimiser), not both: an optimizer carries its own learning rate")
    if seed is not None:
        set_seed(seed)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    metrics = ACCURACY if metrics is None else metrics
    steps_per_epoch = len(train_iter)
    log_every = log_every or max(1, steps_per_epoch // 20)
    history = {"epoch": [], "train_loss": [], **{f"train_{k}": [] for k in metrics},
               "step": [], "step_loss": [], "steps_per_epoch": steps_per_epoch,
               "log_every": log_every}
    if test_iter is not None:
        history.update({"test_loss": [], **{f"test_{k}": [] for k in metrics}})
    live = live_plot() if report and plot else None
    train_time, n_seen, step, first_loss = 0.0, 0, 0, None
    start = time.perf_counter()

    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        stats = train_epoch(model, train_iter, optimizer=optimizer, loss_fn=loss_fn,
                            device=device, metrics=metrics, scheduler=scheduler,
                            log_every=log_every, first_loss=first_loss,
                            diverge_factor=diverge_factor, step0=step,
                            memory_format=memory_format, desc=f"epoch {epoch}/{epochs}",
                            progress=progress)
        train_time += time.perf_counter() - tick
        n_seen += stats["n"]
        first_loss = first_loss or (stats["step_loss"] or [stats["loss"]])[0]
        history["step"] += [min(step + (i + 1) * log_every, step + stats["steps"])
                            for i in range(len(stats["step_loss"]))]
        history["step_loss"] += stats["step_loss"]
        step += stats["steps"]
        history["epoch"].append(epoch)
        history["train_loss"].append(stats["loss"])
        for k in metrics:
            history[f"train_{k}"].append(stats[k])
        if test_iter is not None:
            test = measure(model, test_iter, device=device, loss_fn=loss_fn, metrics=metrics)
            for k, v in test.items():
                history[f"test_{k}"].append(v)
        for callback in ([live] if live else []) + list(callbacks):
            callback(history)

    group = optimizer.param_groups[0]            # a schedule's peak, else the starting rate
    opt_lr = group.get("max_lr", group.get("initial_lr", group["lr"]))
    history.update({
        "examples_per_sec": n_seen / train_time, "wall_time": time.perf_counter() - start,
        "device": device_name(device), "params": sum(p.numel() for p in model.parameters()),
        "seed": seed, "scale": scale or current_scale(), "lr": opt_lr,
        "optimizer": type(optimizer).__name__,
        "schedule": type(scheduler).__name__ if scheduler is not None else None,
        "batch_size": getattr(train_iter, "batch_size", None)})
    history["stamp"] = stamp(history)
    if report:
        print_report(history, plot=plot and live is None)
    return history
