"""The training loop, written out so a reader can print it (``inspect.getsource(utils.fit)``).

``fit`` returns a plain dict of per-epoch numbers. It never calls ``.item()`` inside the batch
loop: losses and correct counts are summed on the device and read once per epoch, so a GPU is
never stalled waiting for Python.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from tqdm.auto import tqdm

from .repro import current_scale, device_name, in_notebook, run_stamp


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


def _autocast(device: torch.device):
    """bfloat16 mixed precision on CUDA (no loss scaling needed); a no-op elsewhere."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16,
                          enabled=device.type == "cuda")


@torch.no_grad()
def evaluate(model: nn.Module, batches, *, device) -> float:
    """Accuracy of ``model`` over all ``batches``, in eval mode."""
    device = torch.device(device)
    model.eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    total = 0
    for X, y in batches:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device):
            correct += (model(X).argmax(dim=1) == y).sum()
        total += len(y)
    return correct.item() / max(total, 1)


@torch.no_grad()
def probabilities(model: nn.Module, batches, *, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax class probabilities [N, classes] and true labels [N], on the CPU.

    What a confusion matrix, the most confident mistakes or a calibration plot start from.
    """
    device = torch.device(device)
    model.eval()
    probs, labels = [], []
    for X, y in batches:
        with _autocast(device):
            logits = model(X.to(device))                             # [B, classes]
        probs.append(logits.float().softmax(dim=1).cpu())
        labels.append(y.cpu())
    return torch.cat(probs), torch.cat(labels)


def predict(model: nn.Module, batches, *, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels for every example, on the CPU (for confusion matrices)."""
    probs, labels = probabilities(model, batches, device=device)
    return probs.argmax(dim=1), labels


def fit(model: nn.Module, train_iter, test_iter, *, epochs: int, device,
        lr: float | None = None,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: nn.Module | None = None,
        plot: bool = True, progress: bool = True, seed: int | None = None,
        scale: str | None = None, channels_last: bool = True) -> dict:
    """Train ``model`` with minibatch SGD at ``lr`` (or with ``optimizer``) and return its history.

    The history is a dict of lists, one entry per epoch (train_loss, train_acc, test_acc), plus
    examples_per_sec (training examples over training wall time, data preparation included)
    and the run stamp. ``channels_last`` stores images as [B, H, W, C] in memory (same shape),
    which the CPU and GPU convolution kernels run faster on.
    """
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if optimizer is None and lr is None:
        raise ValueError("fit needs lr= (for plain SGD) or optimizer= (any torch.optim optimiser)")
    model.to(device, memory_format=memory_format)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history = {"epoch": [], "train_loss": [], "train_acc": [], "test_acc": []}
    live = _LivePlot() if plot and in_notebook() else None
    train_time, n_seen, start = 0.0, 0, time.perf_counter()

    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)                 # summed on the device
        correct = torch.zeros((), device=device, dtype=torch.long)
        n, tick = 0, time.perf_counter()
        for X, y in tqdm(train_iter, desc=f"epoch {epoch}/{epochs}", leave=False,
                         disable=not progress):
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if X.ndim == 4:
                X = X.contiguous(memory_format=memory_format)
            with _autocast(device):
                y_hat = model(X)                                  # [B, classes]
                loss = loss_fn(y_hat, y)                          # mean over the batch
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (y_hat.argmax(dim=1) == y).sum()
            n += len(y)
        epoch_loss = loss_sum.item() / n                          # the one sync per epoch
        train_time += time.perf_counter() - tick
        n_seen += n
        history["epoch"].append(epoch)
        history["train_loss"].append(epoch_loss)
        history["train_acc"].append(correct.item() / n)
        history["test_acc"].append(evaluate(model, test_iter, device=device))
        if live:
            live.update(history)

    history["examples_per_sec"] = n_seen / train_time
    history["wall_time"] = time.perf_counter() - start
    history["device"] = device_name(device)
    history["params"] = sum(p.numel() for p in model.parameters())
    history["stamp"] = run_stamp(device=device, scale=scale or current_scale(), seed=seed,
                                 wall_time=history["wall_time"], params=history["params"])
    if plot and not live:                 # outside Jupyter: draw the curves once, at the end
        from .plotting import plot_history
        plot_history(history)
        import matplotlib.pyplot as plt
        plt.show()
    print(final_line(history))
    print(history["stamp"])
    return history


def final_line(history: dict) -> str:
    """'train loss 0.47, train acc 0.823, test acc 0.807, 48,000 examples/s on cpu (2 threads)'."""
    return (f"train loss {history['train_loss'][-1]:.3f}, "
            f"train acc {history['train_acc'][-1]:.3f}, "
            f"test acc {history['test_acc'][-1]:.3f}, "
            f"{history['examples_per_sec']:,.0f} examples/s on {history['device']}")


class _LivePlot:
    """A training-curve figure redrawn in place once per epoch inside Jupyter."""

    def __init__(self):
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.fig, self.ax = plt.subplots(figsize=(5, 3.2))
        plt.close(self.fig)                     # we display it ourselves, once per epoch
        self.handle = display(self.fig, display_id=True)

    def update(self, history: dict) -> None:
        from .plotting import plot_history

        self.ax.clear()
        plot_history(history, ax=self.ax)
        self.handle.update(self.fig)
