import json

import nbformat

import utils


def test_book_results_reads_tagged_final_lines(tmp_path, capsys):
    net = utils.models.lenet()
    data = utils.fashion_mnist(batch_size=128, device="cpu", n_train=256, n_test=128)
    utils.set_seed(0)
    h = utils.fit(net, *data, epochs=1, lr=0.5, device="cpu", plot=False, progress=False)
    printed = capsys.readouterr().out
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("history = utils.fit(...)")
    cell.metadata["tags"] = ["result:LeNet"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    other = nbformat.v4.new_code_cell("untagged")
    other.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    nb.cells = [cell, other]
    nbformat.write(nb, tmp_path / "lenet.ipynb")
    rows = utils.book_results(tmp_path)
    assert len(rows) == 1
    r = rows[0]
    assert r["model"] == "LeNet" and r["chapter"] == "lenet" and r["params"] == 61_706
    assert r["test_acc"] == round(h["test_acc"][-1], 3) and r["scale"] == "smoke"
    assert r["device"] == "cpu (%d threads)" % __import__("torch").get_num_threads()
    json.dumps(rows)


def test_a_tagged_cell_without_a_result_is_an_error(tmp_path):
    import pytest
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("history = utils.fit(...)")
    cell.metadata["tags"] = ["result:NiN"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="mAP 0.41\n")]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "nin.ipynb")
    with pytest.raises(ValueError, match="result:NiN"):
        utils.book_results(tmp_path)
