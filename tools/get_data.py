"""Put Fashion-MNIST in the book's data directory (``$CNN_BOOK_DATA`` or ``~/.cache/cnn-book``).

Online it downloads through torchvision. Offline on Debian/Ubuntu it uses the package
``dataset-fashion-mnist``, installing it with apt-get when run as root. Exits non-zero, with the
fix in the message, when neither works.
"""
from __future__ import annotations

import sys
from pathlib import Path

from utils.data import prepare_fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apt import apt_install  # noqa: E402


def main() -> int:
    try:
        root = prepare_fashion_mnist()
    except FileNotFoundError as first:
        if not apt_install("dataset-fashion-mnist"):
            print(first, file=sys.stderr)
            return 1
        root = prepare_fashion_mnist()
    print(f"Fashion-MNIST ready in {root / 'FashionMNIST' / 'raw'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
