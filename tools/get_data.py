"""Put Fashion-MNIST in the book's data directory (``$CNN_BOOK_DATA`` or ``~/.cache/cnn-book``).

Online it downloads through torchvision. Offline on Debian/Ubuntu it uses the package
``dataset-fashion-mnist``, installing it with apt-get when run as root. Exits non-zero, with the
fix in the message, when neither works.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from utils.data import prepare_fashion_mnist


def apt_install(package: str) -> bool:
    """Install a Debian package when we are root and apt-get exists; True on success."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    print(f"installing Debian package {package} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", package]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0


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
