"""Reporting: what a chapter prints and inserts into its prose after a run.

* ``print_report(history)`` prints the final line and the run stamp, and draws the curves;
* ``glue(name, value)`` stores a number so the prose can insert it (MyST-NB's ``{glue:text}``
  role), instead of a typed copy that goes stale when the chapter is re-executed;
* ``PUBLISHED`` is the one place that holds d2l's published figures (BOOK_SPEC's table), and
  ``results_table`` prints ours beside them;
* ``verdict(a, b)`` says in words whether two results over seeds differ by more than their
  spread, so a sentence built on it stays true after a re-run.
"""
from __future__ import annotations

import sys

from .repro import run_stamp, spread

# d2l's published test accuracies (0.17.5 / 0.17.6 / zh 2.0), PyTorch, Fashion-MNIST,
# 10 epochs, SGD, one Tesla V100 -- quoted, not measured here.
PUBLISHED = {
    "LeNet":     {"lr": 0.9,  "batch": 256, "size": 28,  "acc": (0.789, 0.809, 0.779), "eps": 72323},
    "AlexNet":   {"lr": 0.01, "batch": 128, "size": 224, "acc": (0.882, 0.884, 0.883), "eps": 4171},
    "VGG-11":    {"lr": 0.05, "batch": 128, "size": 224, "acc": (0.922, 0.916, 0.920), "eps": 2551},
    "NiN":       {"lr": 0.1,  "batch": 128, "size": 224, "acc": (0.785, 0.867, 0.790), "eps": 3201},
    "GoogLeNet": {"lr": 0.1,  "batch": 128, "size": 96,  "acc": (0.883, 0.889, 0.886), "eps": 3568},
    "BN-LeNet":  {"lr": 1.0,  "batch": 256, "size": 28,  "acc": (0.836, 0.838, 0.708), "eps": 63564},
    "ResNet-18": {"lr": 0.05, "batch": 256, "size": 96,  "acc": (0.918, 0.865, 0.893), "eps": 4672},
    "DenseNet":  {"lr": 0.1,  "batch": 256, "size": 96,  "acc": (0.821, 0.882, 0.885), "eps": 5563},
}
D2L_RELEASES = ("d2l 0.17.5", "d2l 0.17.6", "d2l zh 2.0")


def published_best(model: str) -> float:
    """d2l's best published test accuracy for ``model`` (the figure the book aims to beat)."""
    if model not in PUBLISHED:
        raise KeyError(f"no published figure for {model!r}; known: {', '.join(PUBLISHED)}")
    return max(PUBLISHED[model]["acc"])


def final_line(history: dict) -> str:
    """'train loss 0.470, train acc 0.823, test acc 0.807, 48,000 examples/s on cpu (2 threads)'."""
    parts = [f"train loss {history['train_loss'][-1]:.3f}"]
    if "train_acc" in history:
        parts.append(f"train acc {history['train_acc'][-1]:.3f}")
    if "test_acc" in history:
        parts.append(f"test acc {history['test_acc'][-1]:.3f}")
    parts.append(f"{history['examples_per_sec']:,.0f} examples/s on {history['device']}")
    return ", ".join(parts)


def stamp(history: dict) -> str:
    """The run stamp of a finished run: taken from the run itself, not from the environment."""
    recipe = None
    if history.get("lr"):
        peak = {"OneCycleLR": "one-cycle, peak lr"}.get(history.get("schedule"))
        recipe = (f"{history.get('optimizer', 'SGD')} {peak} {history['lr']:g}" if peak else
                  f"{history.get('optimizer', 'SGD')} lr {history['lr']:g}"
                  + (f", {history['schedule']}" if history.get("schedule") else ""))
    if recipe and history.get("batch_size"):
        recipe += f", batch {history['batch_size']}"
    return run_stamp(device=history["device"], scale=history.get("scale"),
                     seed=history.get("seed"), wall_time=history.get("wall_time"),
                     params=history.get("params"), recipe=recipe)


def print_report(history: dict, *, plot: bool = True) -> None:
    """Print the final line and the run stamp (and draw the curves outside Jupyter)."""
    if plot:
        import matplotlib.pyplot as plt
        from .plotting import plot_history
        plot_history(history)
        plt.show()
    history.setdefault("stamp", stamp(history))   # fit's, when fit made the history
    print(final_line(history))
    print(history["stamp"])


def in_notebook() -> bool:
    """True inside a Jupyter kernel (also under nbval and the book's executor)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in ip.config


class _LivePlot:
    """Training curves redrawn in place after each epoch inside Jupyter (a fit callback)."""

    def __init__(self):
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.fig = plt.figure(figsize=(9, 3.2))
        plt.close(self.fig)                     # we display it ourselves, once per epoch
        self.handle = display(self.fig, display_id=True)

    def __call__(self, history: dict) -> None:
        from .plotting import plot_history

        self.fig.clear()
        plot_history(history, axes=tuple(self.fig.subplots(1, 2)))
        self.fig.tight_layout()
        self.handle.update(self.fig)


def live_plot():
    """A live-plot callback inside Jupyter, else None (``print_report`` draws once at the end)."""
    return _LivePlot() if in_notebook() else None


class _Text(str):
    """A string whose repr is itself, so MyST-NB's {glue:text} inserts it without quotes."""

    def __repr__(self) -> str:
        return str(self)


def glue(name: str, value, fmt: str = "") -> str:
    """Store ``format(value, fmt)`` under ``name`` for the prose: write {glue:text}`name`.

    On the site the number comes from this cell's stored output. Where MyST-NB is not
    installed (Colab) the value is printed instead, so a reader still sees it beside the cell.
    Returns the text.
    """
    text = _Text(format(value, fmt))
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        print(f"{name} = {text}")
        return text
    myst_glue(name, text, display=False)
    return text


def pm(result: dict, fmt: str = ".3f") -> str:
    """'0.812 ± 0.004' from a ``utils.spread`` result."""
    return f"{result['mean']:{fmt}} ± {result['std']:{fmt}}"


def verdict(a: dict, b: dict, *, names=("the first", "the second"), k: float = 2.0,
            lower_is_better: bool = False) -> str:
    """Compare two ``spread`` results in words: whether the gap between the means is larger
    than ``k`` times the larger of the two standard deviations and the seeds' ranges do not
    overlap. ``lower_is_better`` for losses and errors: then "better" means lower."""
    gap = (b["mean"] - a["mean"]) if lower_is_better else (a["mean"] - b["mean"])
    noise = k * max(a["std"], b["std"])
    disjoint = a["min"] > b["max"] or b["min"] > a["max"]
    hi, lo = (names[0], names[1]) if gap > 0 else (names[1], names[0])
    if abs(gap) > noise and disjoint:
        return f"{hi} is better than {lo} by more than the spread over seeds"
    return "the difference is inside the spread over seeds"


def results_table(model: str, ours: dict[str, dict]) -> str:
    """Our results (label -> ``spread`` result, or a history) beside d2l's published ones."""
    lines = [f"{'run':44}{'test acc':>18}  {'seeds':>5}"]
    for label, r in ours.items():
        s = r if "mean" in r else spread([r])
        lines.append(f"{label:44}{pm(s):>18}  {s['n']:>5}")
    ref = PUBLISHED[model]
    for release, acc in zip(D2L_RELEASES, ref["acc"]):
        lines.append(f"{release + ' (published, V100, full settings)':44}{acc:>18.3f}  {'1':>5}")
    lines.append(f"d2l's settings: {ref['size']} px, batch {ref['batch']}, SGD lr {ref['lr']}, "
                 f"10 epochs, {ref['eps']:,} examples/s")
    return "\n".join(lines)
