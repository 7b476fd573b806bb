"""Evaluation: metrics as plain functions, and the one loop that applies them to a model.

A metric is ``metric(y_hat, y) -> tensor``: the metric's SUM over the batch (for accuracy, the
number of correct predictions), kept on the device. ``measure`` adds the sums over all batches
and divides by the number of examples once at the end, so there is one device sync per call,
not one per batch. Segmentation or detection pass their own metrics; the loop stays the same.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct class predictions: y_hat [B, classes] scores, y [B] labels."""
    return (y_hat.argmax(dim=1) == y).sum()


ACCURACY = {"acc": correct}


def autocast(device: torch.device):
    """bfloat16 mixed precision on CUDA (no loss scaling needed); a no-op elsewhere."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16,
                          enabled=device.type == "cuda")


@torch.no_grad()
def measure(model: nn.Module, batches, *, device, loss_fn: nn.Module | None = None,
            metrics: dict[str, Metric] | None = None) -> dict[str, float]:
    """Mean loss (key 'loss', if ``loss_fn`` is given) and each metric over all ``batches``,
    in eval mode. Returns plain floats: {'loss': 0.41, 'acc': 0.852}."""
    device = torch.device(device)
    metrics = ACCURACY if metrics is None else metrics
    was_training = model.training
    model.eval()
    sums = {name: torch.zeros((), device=device) for name in metrics}
    loss_sum, n = torch.zeros((), device=device), 0
    try:
        for X, y in batches:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device):
                y_hat = model(X)                                      # [B, classes]
            y_hat = y_hat.float()
            if loss_fn is not None:
                loss_sum += loss_fn(y_hat, y) * len(y)                # loss_fn: batch mean
            for name, metric in metrics.items():
                sums[name] += metric(y_hat, y)
            n += len(y)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("measure got no batches: is the test set empty?")
    out = {"loss": loss_sum.item() / n} if loss_fn is not None else {}
    out.update({name: s.item() / n for name, s in sums.items()})     # the one sync
    return out


def evaluate(model: nn.Module, batches, *, device) -> float:
    """Accuracy of ``model`` over all ``batches``, in eval mode."""
    return measure(model, batches, device=device, metrics=ACCURACY)["acc"]


@torch.no_grad()
def probabilities(model: nn.Module, batches, *, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax class probabilities [N, classes] and true labels [N], on the CPU.

    What a confusion matrix, the most confident mistakes or a calibration plot start from.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    probs, labels = [], []
    try:
        for X, y in batches:
            with autocast(device):
                logits = model(X.to(device))                          # [B, classes]
            probs.append(logits.float().softmax(dim=1).cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(probs), torch.cat(labels)


def predict(model: nn.Module, batches, *, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels for every example, on the CPU (for confusion matrices)."""
    probs, labels = probabilities(model, batches, device=device)
    return probs.argmax(dim=1), labels
