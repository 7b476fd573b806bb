"""Put the book's data in place: Fashion-MNIST in the data directory (``$CNN_BOOK_DATA`` or
``~/.cache/cnn-book``), and the Debian packages the application chapters read.

Online it downloads Fashion-MNIST through torchvision. Offline on Debian/Ubuntu it uses the
package ``dataset-fashion-mnist``, installing it with apt-get when run as root. Exits non-zero,
with the fix in the message, when neither works.

The application chapters need word lists (text), ``espeak-ng`` (speech) and ``gnugo`` (Go).
They are installed here when we are root; when they cannot be, this says so and goes on: each
chapter then fails in seconds with the same fix in its message.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from utils.data import prepare_fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apt import apt_install  # noqa: E402

# Debian package -> a file that proves it is installed
APPLICATION_PACKAGES = {
    "wamerican": "/usr/share/dict/american-english",
    "wngerman": "/usr/share/dict/ngerman",
    "wfrench": "/usr/share/dict/french",
    "wspanish": "/usr/share/dict/spanish",
    "witalian": "/usr/share/dict/italian",
    "wportuguese": "/usr/share/dict/portuguese",
    "espeak-ng": "/usr/bin/espeak-ng",
    "gnugo": "/usr/games/gnugo",
}


def missing_packages() -> list[str]:
    return [pkg for pkg, path in APPLICATION_PACKAGES.items()
            if not Path(path).exists() and not shutil.which(Path(path).name)]


def main() -> int:
    try:
        root = prepare_fashion_mnist()
    except FileNotFoundError as first:
        if not apt_install("dataset-fashion-mnist"):
            print(first, file=sys.stderr)
            return 1
        root = prepare_fashion_mnist()
    print(f"Fashion-MNIST ready in {root / 'FashionMNIST' / 'raw'}")
    missing = missing_packages()
    if missing and not apt_install(*missing):
        print(f"warning: could not install {' '.join(missing)} (needs root and apt-get); the "
              f"text, speech and Go chapters need them: sudo apt-get install {' '.join(missing)}",
              file=sys.stderr)
    elif missing:
        print(f"installed {' '.join(missing)} for the application chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
