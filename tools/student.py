"""Write the student version of the book: solutions removed, answers replaced by stubs.

    python tools/student.py                 # every chapter -> student/
    python tools/student.py book/lenet.ipynb --out /tmp/student

Markdown cells tagged ``solution`` are dropped. In code cells, each region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``raise NotImplementedError(...)`` at
the region's indentation (nbgrader's markers). Every output is cleared, so no printed or drawn
answer is left, and the site's hiding tags (``hide-cell``) come off the stubs and their checks.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HIDING = {"hide-cell", "hide-input", "hide-output"}      # the site's toggles; a student sees all
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                    re.S | re.M)


def stub(source: str, label: str) -> str:
    """Replace every marked region of ``source`` by a stub that raises."""
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        raise ValueError(f"{label}: unbalanced solution markers")
    return REGION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n"
                                f"{m.group(1)}raise NotImplementedError({label!r}){m.group(2)}",
                      source)


def student_version(nb, *, name: str = "notebook"):
    """Return a copy of ``nb`` without solutions."""
    nb = nbformat.from_dict(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown" and "solution" in tags:
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "solution" in tags and "### BEGIN SOLUTION" not in cell.source:
                raise ValueError(f"{name}, cell {i}: a code solution without solution markers")
            if "### BEGIN SOLUTION" in cell.source:
                cell.source = stub(cell.source, f"exercise in {name}, cell {i}")
            if {"solution", "check"} & set(tags):
                cell.metadata["tags"] = [t for t in tags if t not in HIDING]
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("cnn_book", None)
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "student")
    args = ap.parse_args()
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = student_version(nbformat.read(path, as_version=4), name=path.stem)
        nbformat.write(nb, args.out / path.name)
        print(f"wrote {args.out / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
