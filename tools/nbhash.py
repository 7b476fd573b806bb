"""The fingerprint that ties a notebook's stored outputs to the code that made them."""
from __future__ import annotations

import ast
import hashlib
import re
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
            out += [f"{a.asname or a.name} <- .{node.module or a.name}" for a in node.names]
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


def _imports(path: Path) -> set[str]:
    """The utils modules that ``path`` imports (``from .x import``, ``from . import x``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return {name + ".py" for name in out}


def used_modules(nb) -> set[str]:
    """The utils modules a notebook's code can reach: those it names (``utils.canvas``,
    ``from utils import augment``) or whose exports it calls (``utils.fit`` -> training.py),
    and every module those import in turn."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    names = set(re.findall(r"\butils\.(\w+)", code))
    groups = re.findall(r"from utils import \(([^)]*)\)", code)
    groups += re.findall(r"from utils import ([\w ,]+)", code)
    for group in groups:
        names |= {n.split(" as ")[0].strip() for n in group.split(",") if n.strip()}
    exports = dict(line.split(" <- .") for line in _exports(ROOT / "utils" / "__init__.py"))
    todo = {exports[n] + ".py" if n in exports else n + ".py" for n in names}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        path = ROOT / "utils" / name
        if name in seen or not path.exists():
            continue
        seen.add(name)
        todo |= _imports(path) - seen
    return seen


def utils_changes(recorded: dict | None, nb=None) -> list[str]:
    """What changed in utils/ since ``recorded`` (a stored fingerprint); [] when fresh.
    With ``nb``, only the modules its code can reach count (``used_modules``)."""
    if not recorded or "modules" not in recorded:
        return ["no utils fingerprint stored: executed by an older tools/execute.py"]
    now = utils_fingerprint()
    used = used_modules(nb) if nb is not None else set(recorded["modules"])
    changed = [f"utils/{name} changed" if name in now["modules"] else f"utils/{name} removed"
               for name, sha in recorded["modules"].items()
               if name in used and now["modules"].get(name) != sha]
    # "x <- ." is how the first fingerprints wrote "from . import x": the same export.
    was = {line + line.split(" <- ")[0] if line.endswith(" <- .") else line
           for line in recorded["exports"]}
    gone = sorted(was - set(now["exports"]))
    return changed + [f"utils export {line} moved or removed" for line in gone]
