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
