"""The book's notebooks follow CONTRIBUTING.md, and their stored outputs match their code."""
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from nbhash import code_hash, utils_changes  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
# Chapters whose stored outputs are known to predate utils/ (a rewrite waiting for a cpu-scale
# execution). Strict: the test fails once a chapter is re-executed, and the chapter must then
# be taken off this list. Empty: every chapter is fresh.
AWAITING_EXECUTION: set[str] = set()


def awaiting(path, request):
    if path.stem in AWAITING_EXECUTION:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="outputs predate utils/: waiting for execution"))
SETUP = 'if "google.colab" in sys.modules:'


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def load(path):
    return nbformat.read(path, as_version=4)


def tags(cell):
    return cell.metadata.get("tags", [])


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_listed_in_toc(path):
    assert f"book/{path.stem}" in toc_files(), f"add book/{path.stem} to _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_from_the_current_code(path):
    nb = load(path)
    meta = nb.metadata.get("cnn_book")
    assert meta, f"{path.name} was never executed with tools/execute.py"
    assert meta["code_sha256"] == code_hash(nb), (
        f"{path.name}: code changed since its outputs were made; run "
        f"`make execute NB=book/{path.name} SCALE=cpu` (or full on a GPU)")
    assert meta["scale"] in ("cpu", "full"), "published outputs come from the cpu or full scale"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, "every code cell has been executed"
            for out in cell.get("outputs", []):
                assert out.output_type != "error", f"stored error in {path.name}: {out.get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_from_the_current_utils(path, request):
    """A change to utils/ (a plot's ticks, the loop) changes what a chapter would show."""
    awaiting(path, request)
    nb = load(path)
    changes = utils_changes(nb.metadata.get("cnn_book", {}).get("utils"), nb)
    assert not changes, (
        f"{path.name}: {'; '.join(changes)} since its outputs were made; run "
        f"`make execute NB=book/{path.name} SCALE=cpu` (`make stale` lists them all)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_read_on_a_static_page(path, request):
    """No widget outputs (a progress bar stored as a widget renders as nothing on the site),
    and timed runs come from a machine using all its cores."""
    awaiting(path, request)
    nb = load(path)
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored"
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, \
                f"{path.name} cell {i}: a widget output (use text progress: tools/execute.py)"
            text = out.get("text", "") if out.output_type == "stream" else ""
            assert "(1 threads)" not in text, f"{path.name} cell {i}: timed on a single thread"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_do_not_rely_on_a_semicolon(path):
    """nbval runs cells without storing history, and IPython's trailing ';' then fails to
    silence the last expression: the run shows an execute_result the stored output lacks."""
    for i, cell in enumerate(load(path).cells):
        if cell.cell_type == "code" and "nbval-check-output" in tags(cell):
            last = cell.source.rstrip().split("\n")[-1]
            assert not (last.rstrip().endswith(";") and not last.startswith((" ", "#", "%"))), (
                f"{path.name} cell {i}: write `_ = ...` instead of a trailing ';' in a checked cell")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure(path):
    nb = load(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert SETUP in code[0].source and "%pip install" in code[0].source, "setup cell first"
    assert "utils.describe_run" in code[1].source, "second cell prints the run stamp"
    assert not any("sys.path" in c.source for c in code), "no sys.path edits in notebooks"
    h1 = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^# ", c.source, re.M)]
    assert len(h1) == 1, "exactly one '# ' title"
    assert any("nbval-check-output" in tags(c) for c in code), "mark deterministic cells"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            left = re.findall(r"\b(?:[A-Z_]+_(?:PLACEHOLDER|PENDING)|TODO|FIXME|XXX)\b|\([A-Z]{3,}(?: [A-Z]{3,})+\)",
                              cell.source)
            assert not left, f"{path.name}: unfinished prose left in: {left}"
        # "\approx" or "\text" written through a Python string becomes a bell or a tab
        bad = re.findall(r".{0,20}[\x00-\x08\x0b\x0c\x0e-\x1f\t]", cell.source)
        assert not bad, f"{path.name}: control character (an unescaped backslash?) in {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises(path):
    nb = load(path)
    cells = nb.cells
    statements = [c for c in cells if c.cell_type == "markdown"
                  and re.match(r"### Exercise \d+", c.source)]
    assert len(statements) >= 5, "at least five exercises"
    for i, cell in enumerate(cells):
        if "solution" not in tags(cell):
            continue
        if cell.cell_type == "markdown":
            assert ":class: dropdown" in cell.source, "markdown solutions are dropdowns"
        else:
            assert "hide-cell" in tags(cell), \
                "code solutions are hidden on the site, input and output (tag hide-cell)"
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            nxt = cells[i + 1]
            assert "check" in tags(nxt) and "check passed" in nxt.source, \
                "a code solution is followed by its check cell"
    n_solutions = sum("solution" in tags(c) for c in cells)
    assert n_solutions >= len(statements), "every exercise has a solution"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_internet_cells_are_marked(path):
    for cell in load(path).cells:
        if cell.cell_type == "code" and ("torch.hub" in cell.source or "weights=" in cell.source
                                         and "Weights." in cell.source):
            assert {"needs-internet", "nbval-skip"} <= set(tags(cell))
            assert "utils.online()" in cell.source
