"""Fashion-MNIST as whole uint8 tensors, and batches cut from them on the target device.

Why not ``DataLoader(FashionMNIST(transform=ToTensor()))``? That path converts every image
through PIL in Python, once per epoch. Here the 60,000 images are one ``uint8`` tensor that is
moved to the device once; a batch is an index, a cast and (if asked) one ``F.interpolate`` call.

Where the data comes from, in order:

1. ``data_dir()/FashionMNIST/raw`` already holds the four decompressed IDX files;
2. the Debian package ``dataset-fashion-mnist`` is installed (offline machines): its ``.gz``
   files are decompressed into the data directory (Debian re-compressed them, so torchvision's
   md5 check would reject the ``.gz`` files, but the decompressed bytes are the original data);
3. torchvision downloads them (online readers, Colab).

The data directory is ``$CNN_BOOK_DATA`` or ``~/.cache/cnn-book``.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
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


def prepare_fashion_mnist(*, root: Path | None = None, download: bool | None = None) -> Path:
    """Make sure the four raw IDX files exist under ``root/FashionMNIST/raw``; return ``root``."""
    root = Path(root or data_dir())
    raw = root / "FashionMNIST" / "raw"
    if all((raw / f).exists() for f in RAW_FILES):
        return root
    if all((DEBIAN_DIR / f"{f}.gz").exists() for f in RAW_FILES):
        raw.mkdir(parents=True, exist_ok=True)
        for f in RAW_FILES:
            with gzip.open(DEBIAN_DIR / f"{f}.gz") as src, open(raw / f".{f}.part", "wb") as dst:
                shutil.copyfileobj(src, dst)
            (raw / f".{f}.part").rename(raw / f)  # never leave half a file behind
        return root
    if download is None:
        download = online()
    if download:
        import torchvision

        for train in (True, False):
            torchvision.datasets.FashionMNIST(root, train=train, download=True)
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


def load_fashion_mnist(*, root: Path | None = None, download: bool | None = None
                       ) -> tuple[Split, Split]:
    """Return (train, test) splits: 60,000 and 10,000 uint8 images of 28x28 with labels."""
    import torchvision

    root = prepare_fashion_mnist(root=root, download=download)
    splits = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(root, train=train, download=False)
        splits.append(Split(ds.data, ds.targets.long()))  # [N, 28, 28] uint8, [N] int64
    return splits[0], splits[1]


def subset(split: Split, n: int | None, *, seed: int = 0) -> Split:
    """A class-balanced-in-expectation random subset of ``n`` examples (all if n is None)."""
    if n is None or n >= len(split):
        return split
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    return Split(split.images[idx], split.labels[idx])


class Batches:
    """Iterate over (x, y) minibatches of a Split, made on ``device``.

    x is float32 [B, 1, H, W] in [0, 1] (resized to ``resize`` if given), y is int64 [B].
    ``transform`` (optional) maps a float batch to a float batch on the device: augmentation
    that costs one tensor op per batch, not one PIL call per image.
    """

    def __init__(self, split: Split, *, batch_size: int, shuffle: bool, device,
                 resize: int | None = None, transform=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.images = split.images.to(self.device)   # [N, 28, 28] uint8, moved once
        self.labels = split.labels.to(self.device)   # [N] int64
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize
        self.transform = transform

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        # the global CPU generator: utils.set_seed(s) fixes the order on every device
        order = (torch.randperm(n) if self.shuffle else torch.arange(n)).to(self.device)
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
                  train_transform=None, seed: int = 0) -> tuple[Batches, Batches]:
    """Train and test batches of Fashion-MNIST, like d2l's ``load_data_fashion_mnist``.

    ``n_train``/``n_test`` take a random subset (smaller scales, fixed by ``seed``); ``resize``
    upsamples on the device (AlexNet wants 224x224); ``train_transform`` augments training
    batches only. The shuffling order follows ``utils.set_seed``.
    """
    train, test = load_fashion_mnist()
    train, test = subset(train, n_train, seed=seed), subset(test, n_test, seed=seed)
    return (Batches(train, batch_size=batch_size, shuffle=True, device=device, resize=resize,
                    transform=train_transform),
            Batches(test, batch_size=batch_size, shuffle=False, device=device, resize=resize))


def text_labels(labels) -> list[str]:
    """Class names for Fashion-MNIST label ids."""
    return [CLASSES[int(i)] for i in labels]
