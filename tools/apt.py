"""Install Debian packages when we are root and apt-get exists (used by get_data.py and make).

    python tools/apt.py chromium fonts-wqy-microhei

Tries ``apt-get install`` first and runs ``apt-get update`` only if that fails, so a machine
with a fresh package index does no network work. Exits 1 when it cannot install.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def apt_install(*packages: str) -> bool:
    """True when every package is installed afterwards; False without root or apt-get."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    print(f"installing Debian package(s) {' '.join(packages)} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", *packages]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tools/apt.py PACKAGE [PACKAGE ...]")
    sys.exit(0 if apt_install(*sys.argv[1:]) else 1)
