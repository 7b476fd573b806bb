"""Throughput of the book's data + training loop against d2l's, on the same LeNet, in one run.

    make bench                       # or: .venv/bin/python tools/bench_lenet.py --epochs 10

Both sides train d2l's sigmoid LeNet (batch 256, lr 0.9, Xavier init, plain SGD) on the real
Fashion-MNIST for the same number of epochs on the same device. Throughput is end to end:
training examples / wall time of the whole call (data loading, training and the per-epoch test
evaluation), so neither side is flattered by what its own timer leaves out. d2l's own figure
(it times only the training steps, not data loading) is printed too.

d2l is the baseline, not a dependency: install it with ``pip install --no-deps d2l`` (plus
pandas and requests, which its torch module imports).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

import utils


def run_utils(*, epochs: int, device) -> dict:
    utils.set_seed(0)
    net = utils.xavier_init(utils.models.lenet())
    train_iter, test_iter = utils.fashion_mnist(batch_size=256, device=device)
    start = time.perf_counter()
    h = utils.fit(net, train_iter, test_iter, epochs=epochs, lr=0.9, device=device,
                  plot=False, progress=False, seed=0)
    wall = time.perf_counter() - start
    return {"test_acc": h["test_acc"][-1], "wall": wall,
            "examples_per_sec": epochs * len(train_iter.labels) / wall,
            "self_reported": h["examples_per_sec"]}


def run_d2l(*, epochs: int, device) -> dict:
    try:
        from d2l import torch as d2l
    except ImportError as e:
        sys.exit(f"d2l is not installed ({e}).\n"
                 "Install the baseline with: .venv/bin/pip install --no-deps d2l pandas requests")
    utils.set_seed(0)
    net = utils.models.lenet()                     # train_ch6 applies the same Xavier init
    # d2l reads '../data/FashionMNIST' relative to the working directory: point it at ours.
    work = Path(tempfile.mkdtemp()) / "run"
    work.mkdir()
    (work.parent / "data").symlink_to(utils.data_dir())
    old = os.getcwd()
    os.chdir(work)
    try:
        start = time.perf_counter()
        train_iter, test_iter = d2l.load_data_fashion_mnist(256)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):      # d2l's Animator prints figure reprs
            d2l.train_ch6(net, train_iter, test_iter, epochs, 0.9, torch.device(device))
        wall = time.perf_counter() - start
    finally:
        os.chdir(old)
    text = out.getvalue()
    acc = float(re.search(r"test acc ([0-9.]+)", text).group(1))
    rate = float(re.search(r"([0-9.]+) examples/sec", text).group(1))
    return {"test_acc": acc, "wall": wall, "examples_per_sec": epochs * 60000 / wall,
            "self_reported": rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default=str(utils.default_device()))
    args = ap.parse_args()
    utils.data.prepare_fashion_mnist()
    print(f"LeNet (sigmoid), batch 256, lr 0.9, {args.epochs} epochs, on "
          f"{utils.repro.device_name(args.device)}; torch {torch.__version__}", flush=True)
    results = {"d2l train_ch6": run_d2l(epochs=args.epochs, device=args.device)}
    results["utils.fit"] = run_utils(epochs=args.epochs, device=args.device)
    print(f"\n{'trainer':<15}{'test acc':>10}{'wall s':>9}{'examples/s':>12}{'(self-reported)':>17}")
    for name, r in results.items():
        print(f"{name:<15}{r['test_acc']:>10.3f}{r['wall']:>9.1f}{r['examples_per_sec']:>12,.0f}"
              f"{r['self_reported']:>17,.0f}")
    ours, base = results["utils.fit"], results["d2l train_ch6"]
    print(f"\nthroughput ratio utils / d2l (end to end): "
          f"{ours['examples_per_sec'] / base['examples_per_sec']:.2f}x; "
          f"test accuracy difference: {ours['test_acc'] - base['test_acc']:+.3f}")
    print(utils.run_stamp(device=args.device, seed=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
