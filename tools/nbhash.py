"""The fingerprint that ties a notebook's stored outputs to the code that made them."""
from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def code_hash(nb) -> str:
    """SHA-256 over the sources of the code cells, in order (markdown edits don't count)."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            h.update(cell.source.strip().encode() + b"\n\x00")
    return h.hexdigest()


def utils_hash() -> str:
    """SHA-256 over utils/*.py: recorded so stale outputs after a utils change can be listed."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "utils").glob("*.py")):
        h.update(path.name.encode() + b"\x00" + path.read_bytes())
    return h.hexdigest()
