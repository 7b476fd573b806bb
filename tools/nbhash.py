"""The fingerprint that ties a notebook's stored outputs to the code that made them."""
from __future__ import annotations

import ast
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


def _exports(init: Path) -> list[str]:
    """What ``utils/__init__.py`` makes available, as 'name <- .module' lines."""
    out = []
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out += [f"{a.asname or a.name} <- .{node.module or ''}" for a in node.names]
    return sorted(out)


def utils_fingerprint() -> dict:
    """SHA-256 of each utils module (``__init__.py`` as the names it exports).

    A chapter's outputs are stale when a module that existed when it was executed changed, or
    an export it could have used moved or went. A module added later cannot have made them, so
    a new chapter's module (detection, say) leaves the other chapters fresh.
    """
    modules = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
               for path in sorted((ROOT / "utils").glob("*.py")) if path.name != "__init__.py"}
    return {"modules": modules, "exports": _exports(ROOT / "utils" / "__init__.py")}


def utils_changes(recorded: dict | None) -> list[str]:
    """What changed in utils/ since ``recorded`` (a stored fingerprint); [] when fresh."""
    if not recorded or "modules" not in recorded:
        return ["no utils fingerprint stored: executed by an older tools/execute.py"]
    now = utils_fingerprint()
    changed = [f"utils/{name} changed" if name in now["modules"] else f"utils/{name} removed"
               for name, sha in recorded["modules"].items() if now["modules"].get(name) != sha]
    gone = sorted(set(recorded["exports"]) - set(now["exports"]))
    return changed + [f"utils export {line} moved or removed" for line in gone]
