"""Fashion-MNIST as whole uint8 tensors, and batches cut from them on the target device.

Why not ``DataLoader(FashionMNIST(transform=ToTensor()))``? That path converts every image
through PIL in Python, once per epoch. Here the 60,000 images are one ``uint8`` tensor that is
moved to the device once; a batch is an index, a cast and (if asked) one ``F.interpolate`` call.

Where the data comes from, in order:

1. ``root/FashionMNIST/raw`` already holds the four decompressed IDX files (their headers and
   sizes are checked first, so a truncated download fails in seconds with the fix, or is
   repaired from the Debian package);
2. the Debian package ``dataset-fashion-mnist`` is installed (offline machines): its ``.gz``
   files are decompressed into the data directory (Debian re-compressed them, so torchvision's
   md5 check would reject the ``.gz`` files, but the decompressed bytes are the original data);
3. torchvision downloads them (online readers, Colab).

``root`` defaults to ``data_dir()``: ``$CNN_BOOK_DATA`` or ``~/.cache/cnn-book``.
"""
from __future__ import annotations

import functools
import gzip
import os
import shutil
import socket
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

DATA_ENV = "CNN_BOOK_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle boot")
_REFETCH = ("delete it and run again: it is then re-made from the Debian package "
            "(sudo apt-get install dataset-fashion-mnist) or, online, downloaded by torchvision")


class DataFileError(RuntimeError):
    """A data file is truncated or corrupt; the message names the file and the fix."""


def data_dir() -> Path:
    """Where datasets live: ``$CNN_BOOK_DATA``, else ``~/.cache/cnn-book``."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "cnn-book").expanduser()


def online(host: str = "ossci-datasets.s3.amazonaws.com", timeout: float = 3.0) -> bool:
    """A quick DNS + TCP check, so an offline machine fails in seconds instead of hanging."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def idx_problem(path: Path, name: str | None = None) -> str | None:
    """What is wrong with the raw IDX file ``name`` stored at ``path``; None if nothing.

    Checks the magic number, the counts and the byte size (16 + N*28*28 for images, 8 + N
    for labels), which reads 16 bytes: cheap enough to run before every load.
    """
    name = name or Path(path).name
    n = 60000 if name.startswith("train") else 10000
    header = (0x803, n, 28, 28) if "images" in name else (0x801, n)   # magic, then sizes
    size = 4 * len(header) + n * (28 * 28 if "images" in name else 1)
    if not os.path.exists(path):
        return "is missing"
    if (got := os.path.getsize(path)) != size:
        return f"has {got:,} bytes, expected {size:,}"
    with open(path, "rb") as fh:
        found = struct.unpack(f">{len(header)}I", fh.read(4 * len(header)))
    if found[0] != header[0]:
        return f"has magic number {found[0]:#010x}, expected {header[0]:#010x}"
    if found != header:
        return f"has IDX sizes {found[1:]}, expected {header[1:]}"
    return None


def _gunzip(src: Path, dst: Path) -> None:
    """Decompress ``src`` to ``dst`` through a ``.part`` file, so no half file is ever left."""
    part = dst.with_name(f".{dst.name}.part")
    try:
        try:
            with gzip.open(src) as fin, open(part, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            problem = idx_problem(part, dst.name)
            problem = problem and f"decompresses to a file that {problem}"
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            problem = f"is not a valid gzip file ({err})"
        if problem:
            raise DataFileError(
                f"{src} (Debian package dataset-fashion-mnist) {problem}.\n"
                "Fix: sudo apt-get install --reinstall dataset-fashion-mnist, or run online "
                f"so torchvision downloads the files into {dst.parent}.")
        part.replace(dst)
    finally:
        part.unlink(missing_ok=True)


def prepare_fashion_mnist(*, root: str | Path | None = None, download: bool | None = None
                          ) -> Path:
    """Make sure the four raw IDX files under ``root/FashionMNIST/raw`` are sound; return root."""
    root = data_dir() if root is None else Path(root).expanduser()
    raw = root / "FashionMNIST" / "raw"
    problems = {f: p for f in RAW_FILES if (p := idx_problem(raw / f))}
    if not problems:
        return root
    if all((DEBIAN_DIR / f"{f}.gz").exists() for f in problems):
        raw.mkdir(parents=True, exist_ok=True)
        for f, problem in problems.items():
            _gunzip(DEBIAN_DIR / f"{f}.gz", raw / f)
            if problem != "is missing":
                print(f"Repaired {raw / f} ({problem}) from {DEBIAN_DIR / f}.gz", file=sys.stderr)
        return root
    for f, problem in problems.items():
        if problem != "is missing":
            raise DataFileError(f"Fashion-MNIST file {raw / f} {problem}.\nFix: {_REFETCH}.")
    if download is None:
        download = online()
    if download:
        import torchvision

        for train in (True, False):
            torchvision.datasets.FashionMNIST(root, train=train, download=True)
        for f in RAW_FILES:
            if problem := idx_problem(raw / f):
                raise DataFileError(f"Downloaded file {raw / f} {problem}.\nFix: {_REFETCH}.")
        return root
    raise FileNotFoundError(
        f"Fashion-MNIST is not in {raw} and this machine is offline.\n"
        "Fix it in one of these ways:\n"
        "  * online: run again with internet access (torchvision downloads it), or\n"
        "  * Debian/Ubuntu offline: sudo apt-get install dataset-fashion-mnist, or\n"
        f"  * copy the four decompressed IDX files ({', '.join(RAW_FILES)}) into {raw}\n"
        f"    (or point ${DATA_ENV} at a directory holding FashionMNIST/raw/).")


@dataclass
class Split:
    """One split of a dataset as whole tensors: images uint8 [N, H, W], labels int64 [N]."""
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@functools.lru_cache(maxsize=4)
def _parse(root: str) -> tuple[Split, Split]:
    """Parse the IDX files once per process and root (about 0.2 s and 55 MB each time)."""
    import torchvision

    splits = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(root, train=train, download=False)
        splits.append(Split(ds.data, ds.targets.long()))  # [N, 28, 28] uint8, [N] int64
    return splits[0], splits[1]


def load_fashion_mnist(*, root: str | Path | None = None, download: bool | None = None
                       ) -> tuple[Split, Split]:
    """Return (train, test) splits: 60,000 and 10,000 uint8 images of 28x28 with labels.

    The tensors are parsed once per process and shared between calls: read them, index them,
    copy them, but do not modify them in place.
    """
    root = prepare_fashion_mnist(root=root, download=download)
    train, test = _parse(str(root.resolve()))
    return Split(train.images, train.labels), Split(test.images, test.labels)


def _check_positive(name: str, value, instead: str) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}; {instead}")


def subset(split: Split, n: int | None, *, seed: int = 0) -> Split:
    """A class-balanced-in-expectation random subset of ``n`` examples (all if n is None)."""
    _check_positive("n", n, "pass None for the whole split")
    if n is None or n >= len(split):
        return split
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    return Split(split.images[idx], split.labels[idx])


class Batches:
    """Iterate over (x, y) minibatches of a Split, made on ``device``.

    x is float32 [B, 1, H, W] in [0, 1] (resized to ``resize`` if given), y is int64 [B].
    ``transform`` (optional) maps a float batch to a float batch on the device: augmentation
    that costs one tensor op per batch, not one PIL call per image. The shuffling order comes
    from ``generator`` (a CPU ``torch.Generator``) when one is given, else from torch's global
    CPU generator, so ``utils.set_seed(s)`` fixes it.
    """

    def __init__(self, split: Split, *, batch_size: int, shuffle: bool, device,
                 resize: int | None = None, transform=None,
                 generator: torch.Generator | None = None):
        _check_positive("batch_size", batch_size, "pass a number of examples per batch")
        _check_positive("resize", resize, "pass None to keep 28x28")
        self.device = torch.device(device)
        self.images = split.images.to(self.device)   # [N, 28, 28] uint8, moved once
        self.labels = split.labels.to(self.device)   # [N] int64
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize
        self.transform, self.generator = transform, generator

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)                 # [N] int64, drawn on the CPU
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.prepare(self.images[idx]), self.labels[idx]

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, H, W] -> float [B, 1, H', W'] in [0, 1], resized and transformed."""
        x = images.unsqueeze(1).float().div_(255)                        # [B, 1, 28, 28]
        if self.resize and self.resize != x.shape[-1]:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear",
                              align_corners=False, antialias=self.resize < x.shape[-1])
        if self.transform is not None:
            x = self.transform(x)
        return x


def fashion_mnist(*, batch_size: int, device, resize: int | None = None,
                  n_train: int | None = None, n_test: int | None = None,
                  train_transform=None, seed: int = 0, root: str | Path | None = None,
                  generator: torch.Generator | None = None) -> tuple[Batches, Batches]:
    """Train and test batches of Fashion-MNIST, like d2l's ``load_data_fashion_mnist``.

    ``n_train``/``n_test`` take a random subset (smaller scales, fixed by ``seed``); ``resize``
    upsamples on the device (AlexNet wants 224x224); ``train_transform`` augments training
    batches only; ``root`` is the data directory (default ``data_dir()``). The training order
    is drawn from ``generator`` if given, else from the global RNG that ``utils.set_seed`` seeds.
    """
    _check_positive("batch_size", batch_size, "pass a number of examples per batch")
    _check_positive("resize", resize, "pass None to keep 28x28")
    _check_positive("n_train", n_train, "pass None for all 60,000 training images")
    _check_positive("n_test", n_test, "pass None for all 10,000 test images")
    train, test = load_fashion_mnist(root=data_dir() if root is None else root)
    train, test = subset(train, n_train, seed=seed), subset(test, n_test, seed=seed)
    return (Batches(train, batch_size=batch_size, shuffle=True, device=device, resize=resize,
                    transform=train_transform, generator=generator),
            Batches(test, batch_size=batch_size, shuffle=False, device=device, resize=resize))


def text_labels(labels) -> list[str]:
    """Class names for Fashion-MNIST label ids."""
    return [CLASSES[int(i)] for i in labels]
