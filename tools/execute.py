"""Execute chapter notebooks in place at a chosen scale and record what made their outputs.

    python tools/execute.py book/lenet.ipynb --scale cpu
    python tools/execute.py --all --scale cpu
    python tools/execute.py --stale          # list notebooks whose code or utils changed

Writes ``metadata.cnn_book``: scale, device, wall time, versions, and the hashes of the
notebook's code cells and of ``utils/`` (see tools/nbhash.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbhash import ROOT, code_hash, utils_changes, utils_fingerprint  # noqa: E402


def chapters() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb"))


def execute(path: Path, *, scale: str, timeout: int) -> dict:
    import torch

    import utils

    nb = nbformat.read(path, as_version=4)
    os.environ["CNN_BOOK_SCALE"] = scale          # the kernel inherits it
    os.environ["CNN_BOOK_PROGRESS"] = "text"      # progress bars stored as text, not widgets
    os.environ.pop("MPLBACKEND", None)            # Agg (set by make) would drop every figure
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    load_before = os.getloadavg()[0]
    fingerprint = utils_fingerprint()             # taken before: an edit during the run shows
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    final_text(nb)
    nb.metadata.pop("widgets", None)              # no widget state: the site shows text
    device = utils.default_device()
    nb.metadata["cnn_book"] = {
        "scale": scale,
        "device": utils.repro.device_name(device),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "seconds": round(seconds, 1),
        "load_before": round(load_before, 2),
        "executed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": utils.repro.versions(),
        "code_sha256": code_hash(nb),
        "utils": fingerprint,
    }
    nbformat.write(nb, path)
    return nb.metadata["cnn_book"]


def final_text(nb) -> None:
    """Store what a terminal would show: consecutive stream outputs of a cell joined, then for
    each line the text after its last carriage return (a text progress bar redraws itself
    with '\\r', one small output per redraw)."""
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (out.get("output_type") == "stream" and prev is not None
                    and prev.get("output_type") == "stream" and prev.name == out.name):
                prev.text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream" and "\r" in out.text:
                lines = out.text.split("\n")
                out.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)
        if "outputs" in cell:
            cell.outputs = merged


def stale() -> list[str]:
    out = []
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("cnn_book", {})
        if meta.get("code_sha256") != code_hash(nb):
            out.append(f"{path.relative_to(ROOT)}: code changed since its outputs were made")
        elif changes := utils_changes(meta.get("utils"), nb):
            out.append(f"{path.relative_to(ROOT)}: since it was executed, {'; '.join(changes)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--all", action="store_true", help="every notebook in book/")
    ap.add_argument("--scale", choices=("smoke", "cpu", "full"), default=None,
                    help="default: full with CUDA, else cpu")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (a hung kernel fails)")
    ap.add_argument("--stale", action="store_true", help="only list stale notebooks")
    args = ap.parse_args()
    if args.stale:
        lines = stale()
        print("\n".join(lines) if lines else "every notebook is fresh")
        return 0
    paths = chapters() if args.all else args.notebooks
    if not paths:
        ap.error("name notebooks or pass --all")
    import utils

    scale = args.scale or utils.current_scale()
    for path in paths:
        print(f"executing {path} at scale {scale} ...", flush=True)
        meta = execute(Path(path).resolve(), scale=scale, timeout=args.timeout)
        print(f"  done in {meta['seconds']:.0f} s on {meta['device']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
