"""Reproducibility: seeds, the scale switch, and the run stamp printed under every result.

Nothing here runs on import. The scale switch is the environment variable ``CNN_BOOK_SCALE``:

* ``smoke`` - seconds per notebook; what the tests use.
* ``cpu``   - minutes on a 2-core laptop, with meaningful accuracy.
* ``full``  - d2l's published settings (10 epochs, d2l's image sizes), meant for a GPU.

Unset, the scale follows the device: ``full`` when CUDA is available, else ``cpu``.
"""
from __future__ import annotations

import os
import platform
import random
import time

import numpy as np
import torch

SCALES = ("smoke", "cpu", "full")
SCALE_ENV = "CNN_BOOK_SCALE"


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def over_seeds(run, *, seeds=3) -> list:
    """Run the same experiment once per seed and return the results as a list.

    ``run(seed)`` builds its model and trains it (e.g. ``lambda s: utils.fit(make(), ...,
    seed=s, report=False)``); ``utils.set_seed(seed)`` is called before each call, so the
    weights, the data order and dropout all change with the seed. ``seeds`` is a count (0..n-1)
    or an explicit list.
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed")
    results = []
    for seed in seeds:
        set_seed(seed)
        results.append(run(seed))
    return results


def spread(runs, *, key: str = "test_acc") -> dict:
    """Mean and spread of a result over seeds: the final value of ``key`` in each history
    (or the numbers themselves). std is the sample standard deviation (ddof=1; 0 for one run).
    Returns {'mean', 'std', 'min', 'max', 'values', 'n'} as plain floats."""
    values = [float(r[key][-1] if isinstance(r[key], (list, tuple)) else r[key])
              if isinstance(r, dict) else float(r) for r in runs]
    if not values:
        raise ValueError("spread needs at least one run")
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 \
        if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values),
            "values": values, "n": len(values)}


def default_device() -> torch.device:
    """The first GPU if there is one, else the CPU (Apple's MPS is used only when asked for)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def current_scale() -> str:
    """Read the scale switch; fail loudly on a typo rather than silently running 'full'."""
    scale = os.environ.get(SCALE_ENV, "").strip().lower()
    if not scale:
        return "full" if torch.cuda.is_available() else "cpu"
    if scale not in SCALES:
        raise ValueError(
            f"{SCALE_ENV}={scale!r} is not a scale; use one of {', '.join(SCALES)} "
            f"(for example: export {SCALE_ENV}=cpu)")
    return scale


def pick(*, smoke, cpu, full, scale: str | None = None):
    """Return the setting for the current scale: ``pick(smoke=1, cpu=5, full=10)``.

    Notebooks write all three settings side by side so a reader sees what each scale does.
    """
    scale = scale or current_scale()
    return {"smoke": smoke, "cpu": cpu, "full": full}[scale]


def device_name(device: torch.device | str) -> str:
    """A human name for a device: 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


def versions() -> dict:
    """Library versions that can change a result."""
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__}


def run_stamp(*, device, scale: str | None = None, seed: int | None = None,
              wall_time: float | None = None, params: int | None = None,
              recipe: str | None = None) -> str:
    """One line saying what made a result: device, scale, seed, recipe (optimiser, learning
    rate, batch size), wall time, model size, versions."""
    name = device if isinstance(device, str) and "(" in device else device_name(device)
    parts = [f"device {name}", f"scale {scale or current_scale()}"]
    if params is not None:
        parts.append(f"model {params:,} params")
    if seed is not None:
        parts.append(f"seed {seed}")
    if recipe:
        parts.append(recipe)
    if wall_time is not None:
        parts.append(f"wall time {wall_time:.1f} s")
    parts.append(", ".join(f"{k} {v}" for k, v in versions().items()))
    parts.append(time.strftime("%Y-%m-%d"))
    return "run stamp: " + "; ".join(parts)


def describe_run(*, device=None, seed: int | None = None) -> None:
    """Print the stamp at the top of a notebook, so stored outputs say what made them."""
    print(run_stamp(device=device or default_device(), seed=seed))
