"""The convolution explorer: its output-size arithmetic (Python and JavaScript) agrees with
PyTorch, its HTML is self-contained with fresh ids per call, and the widget convolves."""
import itertools
import json
import re
import shutil
import subprocess

import pytest
import torch
import torch.nn.functional as F

from utils import explorer

GRID = [(n, k, s, p, d) for n, k, s, p, d in itertools.product(
    range(1, 10), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2, 3)) if n + 2 * p >= d * (k - 1) + 1]


@pytest.fixture
def one_thread():
    """Tiny convolutions: thread start-up would dominate on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_size(n, k, s, p, d):
    x, w = torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k)
    return F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[-1]


def test_output_size_matches_conv2d(one_thread):
    assert len(GRID) > 500
    for n, k, s, p, d in GRID:
        assert explorer.output_size(n=n, k=k, s=s, p=p, d=d) == torch_size(n, k, s, p, d), \
            (n, k, s, p, d)


def test_output_size_is_zero_when_the_kernel_does_not_fit():
    assert explorer.output_size(n=3, k=5) == 0
    assert explorer.output_size(n=3, k=3, d=2) == 0
    assert explorer.output_size(n=3, k=3, d=2, p=1) == 1


def test_windows_stay_inside_the_padded_input():
    for n, k, s, p, d in GRID:
        o = explorer.output_size(n=n, k=k, s=s, p=p, d=d)
        last = explorer.window(i=o - 1, k=k, s=s, d=d)
        assert last[-1] <= n + 2 * p - 1                  # the last window fits ...
        assert last[-1] + s > n + 2 * p - 1               # ... and one more step would not


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_formula_matches_conv2d(one_thread):
    program = explorer._JS_MATH + (
        f"var grid = {json.dumps(GRID)};"
        "console.log(JSON.stringify(grid.map(function (g) {"
        " return [convOut(g[0], g[1], g[2], g[3], g[4]), convTaps(1, g[1], g[2], g[4])]; })));")
    out = json.loads(subprocess.run(["node", "-e", program], capture_output=True, text=True,
                                    check=True, timeout=60).stdout)
    for (n, k, s, p, d), (size, taps) in zip(GRID, out):
        assert size == torch_size(n, k, s, p, d), (n, k, s, p, d)
        assert taps == explorer.window(i=1, k=k, s=s, d=d)


def test_html_is_self_contained():
    html = explorer.explorer_html(n=7, k=3, s=2, p=1, d=2)
    for needle in ('class="conv-explorer"', 'class="conv-explorer-out"', "<script>",
                   'type="range"', "floor((n + 2p - d(k-1) - 1)/s) + 1"):
        assert needle in html
    assert "src=" not in html and "<link" not in html and "@import" not in html
    assert '"n": 7' in html and '"d": 2' in html          # the initial state reaches the JS


def test_ids_differ_between_calls():
    ids = [set(re.findall(r'id="([^"]+)"', explorer.explorer_html())) for _ in range(2)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    for one in ids:
        (uid,) = one
        assert uid.startswith("conv-explorer-")


def test_html_rejects_values_off_the_sliders():
    with pytest.raises(ValueError):
        explorer.explorer_html(k=9)


def test_kernels_and_draw():
    bank = explorer.kernels()
    assert abs(bank["Gaussian 3x3"].sum().item() - 1) < 1e-6
    assert bank["Laplacian"].sum().item() == 0
    assert abs(explorer.gaussian_kernel(size=7, sigma=2.0).sum().item() - 1) < 1e-6
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = explorer.draw(n=5, k=3, s=2, p=1, unit=(1, 2))
    assert len(ax.patches) == 7 * 7 + 3 * 3
    plt.close("all")


def test_widget_applies_a_real_convolution():
    pytest.importorskip("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    image = torch.rand(40, 50, 3)
    box = explorer.explorer_widget(image, size=32)
    assert box.result.shape == (1, 1, 30, 30)                      # identity kernel, k = 3
    controls = {c.description: c for c in box.children if hasattr(c, "description")}
    controls["stride"].value, controls["padding"].value, controls["dilation"].value = 2, 3, 2
    controls["kernel"].value = "Gaussian 7x7 (sigma 2)"
    assert box.result.shape[-1] == explorer.output_size(n=32, k=7, s=2, p=3, d=2) == 13
    plt.close("all")


def test_show_explorer_stores_no_widget_under_the_books_executor(monkeypatch, capsys):
    monkeypatch.setenv("CNN_BOOK_PROGRESS", "text")
    assert explorer.show_explorer(torch.rand(32, 32)) is None
    assert "Run this notebook" in capsys.readouterr().out
