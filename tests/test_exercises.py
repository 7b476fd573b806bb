"""Exercise checks pass on the solutions (nbval runs them) and fail on the student stubs."""
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from student import stub, student_version  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def test_stub_replaces_marked_region_at_its_indentation():
    src = ("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
           "y = 1\n")
    out = stub(src, "ex 1")
    assert "return 2 * x" not in out and "    raise NotImplementedError('ex 1')\n" in out
    assert out.endswith("y = 1\n")
    compile(out, "<stub>", "exec")
    with pytest.raises(ValueError, match="unbalanced"):
        stub("### BEGIN SOLUTION\nx = 1\n", "ex 2")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checks_fail_on_the_student_version(path, tmp_path):
    nb = student_version(nbformat.read(path, as_version=4), name=path.stem)
    assert not any("### BEGIN SOLUTION" in c.source for c in nb.cells)
    assert not any("solution" in c.metadata.get("tags", []) and c.cell_type == "markdown"
                   for c in nb.cells)
    checks = [i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", [])]
    if not checks:
        pytest.skip("no code exercises")
    # run only up to the last check: training cells after it are not needed here
    nb.cells = nb.cells[:checks[-1] + 1]
    os.environ["CNN_BOOK_SCALE"] = "smoke"
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    passed = [i for i in checks
              if not any(o.output_type == "error" for o in nb.cells[i].outputs)]
    assert not passed, f"check cells {passed} pass on the student stubs"
