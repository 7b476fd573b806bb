"""tools/execute.py stores what a reader should see: a progress bar's final text."""
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from execute import final_text  # noqa: E402


def test_progress_bar_pieces_become_their_final_text():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("utils.fit(...)")
    pieces = ["\repoch 1/2:   0%|", "\repoch 1/2: 100%|##| 8/8", "\n",
              "\repoch 2/2:   0%|", "\repoch 2/2: 100%|##| 8/8", "\n", "train loss 0.5\n"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in pieces]
    cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/plain": "fig"}))
    nb.cells = [cell]
    final_text(nb)
    assert [o.output_type for o in cell.outputs] == ["display_data", "stream"]
    assert cell.outputs[1].text == ("epoch 1/2: 100%|##| 8/8\nepoch 2/2: 100%|##| 8/8\n"
                                    "train loss 0.5\n")


def fake_utils(tmp_path, monkeypatch, files: dict[str, str]):
    """A utils/ package of ``files`` (name -> source) that nbhash reads instead of the real one."""
    import nbhash

    (tmp_path / "utils").mkdir()
    for name, source in files.items():
        (tmp_path / "utils" / name).write_text(source)
    monkeypatch.setattr(nbhash, "ROOT", tmp_path)
    return nbhash


def test_the_utils_fingerprint_sees_changes_but_not_new_modules(tmp_path, monkeypatch):
    nbhash = fake_utils(tmp_path, monkeypatch, {
        "__init__.py": "from .data import load, CLASSES\nfrom . import models\n__version__ = '1'\n",
        "data.py": "def load(): return 1\n", "models.py": "def net(): return 2\n"})
    recorded = nbhash.utils_fingerprint()
    assert nbhash.utils_changes(recorded) == []
    assert nbhash.utils_changes(None)                                 # nothing stored: stale

    (tmp_path / "utils" / "detection.py").write_text("def nms(): pass\n")   # a new module
    (tmp_path / "utils" / "__init__.py").write_text(
        "from .data import load, CLASSES\nfrom . import models, detection\n__version__ = '2'\n")
    assert nbhash.utils_changes(recorded) == []                       # cannot have made them

    (tmp_path / "utils" / "data.py").write_text("def load(): return 3\n")
    assert nbhash.utils_changes(recorded) == ["utils/data.py changed"]
    (tmp_path / "utils" / "data.py").write_text("def load(): return 1\n")
    (tmp_path / "utils" / "__init__.py").write_text("from .data import load\nfrom . import models\n")
    assert nbhash.utils_changes(recorded) == ["utils export CLASSES <- .data moved or removed"]
    (tmp_path / "utils" / "models.py").unlink()
    assert "utils/models.py removed" in nbhash.utils_changes(recorded)


def test_a_chapter_is_stale_only_for_the_modules_it_can_reach(tmp_path, monkeypatch):
    nbhash = fake_utils(tmp_path, monkeypatch, {
        "__init__.py": "from .training import fit\nfrom . import canvas, models, detection\n",
        "training.py": "from .report import stamp\n", "report.py": "def stamp(): pass\n",
        "canvas.py": "def scenes(): pass\n", "models.py": "def net(): pass\n",
        "detection.py": "def nms(): pass\n"})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import utils\nfrom utils import models\n"
                                          "from utils import detection as det\n"
                                          "h = utils.fit(models.net())")]
    assert nbhash.used_modules(nb) == {"training.py", "report.py", "models.py", "detection.py"}
    recorded = nbhash.utils_fingerprint()
    (tmp_path / "utils" / "canvas.py").write_text("def scenes(): return 1\n")
    assert nbhash.utils_changes(recorded, nb) == []                  # not reachable from nb
    (tmp_path / "utils" / "report.py").write_text("def stamp(): return 1\n")
    assert nbhash.utils_changes(recorded, nb) == ["utils/report.py changed"]   # via training
