"""Trained weights kept between chapters: a chapter saves its headline model, a later one reuses it.

* ``save_weights(net, name=..., history=..., chapter=..., image_size=...)`` writes the state dict
  with the run's stamp and test accuracy to ``data_dir()/weights/<name>-<scale>.pt``, all at once
  (a file half-written by an interrupted run is never left under that name). One file per scale:
  the test suite's smoke runs never overwrite the cpu-scale model a reader trained;
* ``load_weights(net, name=...)`` reads it back with ``torch.load(weights_only=True)`` (tensors,
  numbers and strings only: loading cannot run code) and returns the record, or ``None`` when
  no weights of this scale were saved;
* ``load_or_train(net, name=..., train=...)`` is what a later notebook calls: the saved weights
  when the chapter was executed here, else a smaller substitute trained on the spot, said aloud.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from .data import data_dir
from .repro import current_scale
from .report import stamp

FORMAT = 1          # bump when the record's keys change


def weights_path(name: str, *, scale: str | None = None, root: str | Path | None = None) -> Path:
    """``<data dir>/weights/<name>-<scale>.pt``: data, not code, so it is never committed."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"weights name {name!r}: use a plain file stem such as 'resnet18'")
    folder = (data_dir() if root is None else Path(root).expanduser()) / "weights"
    return folder / f"{name}-{scale or current_scale()}.pt"


def save_weights(net: nn.Module, *, name: str, history: dict, chapter: str, image_size: int,
                 root: str | Path | None = None) -> Path:
    """Save ``net``'s weights with what made them (stamp, scale, test accuracy, input size)."""
    scale = history.get("scale") or current_scale()
    path = weights_path(name, scale=scale, root=root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT, "name": name, "chapter": chapter, "image_size": int(image_size),
        "scale": scale, "stamp": history.get("stamp") or stamp(history),
        "test_acc": float(history["test_acc"][-1]) if history.get("test_acc") else float("nan"),
        "saved": time.strftime("%Y-%m-%d %H:%M"),
        # on the CPU, so a GPU-made file loads anywhere
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(record, partial)
    os.replace(partial, path)              # atomic: readers see the old file or the new one
    print(f"saved {name} ({record['scale']} scale, test acc {record['test_acc']:.3f}) "
          f"to weights/{path.name} in the data directory")
    return path


def load_weights(net: nn.Module, *, name: str, scale: str | None = None,
                 root: str | Path | None = None) -> dict | None:
    """Load saved weights into ``net`` and return their record (without the tensors).

    ``None`` when no weights of this scale were saved (a smoke-scale test run must not stand in
    for a cpu-scale model). A file that cannot be read, or that does not fit ``net``, raises
    with the chapter to re-execute.
    """
    want = scale or current_scale()
    path = weights_path(name, scale=want, root=root)
    if not path.exists():
        return None
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:            # truncated, corrupt, or not a weights file at all
        raise RuntimeError(
            f"{path} cannot be read ({type(err).__name__}: {err}). Delete it and re-execute "
            f"the chapter that saves {name!r}.") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RuntimeError(f"{path} is not a weights file of this book's format {FORMAT}; "
                           f"delete it and re-execute the chapter that saves {name!r}.")
    if record.get("scale") != want:
        raise RuntimeError(f"{path} holds {record.get('scale')}-scale weights under a {want}-scale "
                           f"name; delete it and re-execute the chapter that saves {name!r}.")
    try:
        net.load_state_dict(record["state_dict"])
    except RuntimeError as err:
        raise RuntimeError(
            f"{path} does not fit this network (saved by the {record['chapter']} chapter): "
            f"re-execute that chapter, or build the same architecture.\n{err}") from err
    return {k: v for k, v in record.items() if k != "state_dict"}


def load_or_train(net: nn.Module, *, name: str, train, root: str | Path | None = None) -> dict:
    """The saved weights if there are any for this scale, else ``train(net)`` (a callable that
    trains the smaller substitute and returns its history). Returns a record either way, with
    ``"source"`` saying which it was: 'saved' or 'substitute'."""
    record = load_weights(net, name=name, root=root)
    if record is not None:
        print(f"loaded {name} from the {record['chapter']} chapter "
              f"(test acc {record['test_acc']:.3f}); {record['stamp']}")
        return {**record, "source": "saved"}
    print(f"no saved {name} weights at the {current_scale()} scale (execute its chapter to make "
          f"them): training a smaller substitute here instead")
    history = train(net)
    return {"name": name, "source": "substitute", "stamp": history.get("stamp") or stamp(history),
            "scale": history.get("scale") or current_scale(),
            "test_acc": float(history["test_acc"][-1]) if history.get("test_acc") else float("nan")}
