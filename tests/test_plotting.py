import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from sklearn.metrics import confusion_matrix as sk_confusion
from torch import nn

import utils
from utils import plotting


def _history(*, seed: int = 0, epochs: int = 3, spe: int = 4, steps: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    h = {"epoch": list(range(1, epochs + 1)),
         "train_loss": torch.rand(epochs, generator=g).tolist(),
         "train_acc": torch.rand(epochs, generator=g).tolist(),
         "test_loss": torch.rand(epochs, generator=g).tolist(),
         "test_acc": torch.rand(epochs, generator=g).tolist()}
    if steps:
        h.update(step=list(range(2, epochs * spe + 1, 2)), steps_per_epoch=spe)
        h["step_loss"] = torch.rand(len(h["step"]), generator=g).tolist()
    return h


def _integer_ticks(ax) -> bool:
    ax.figure.canvas.draw()
    ticks = ax.get_xticks()
    return len(ticks) > 1 and np.allclose(ticks, np.round(ticks))


def test_confusion_matrix_equals_sklearn():
    g = torch.Generator().manual_seed(0)
    labels, preds = torch.randint(0, 10, (500,), generator=g), torch.randint(0, 10, (500,), generator=g)
    ours = utils.confusion_matrix(preds, labels, num_classes=10)
    np.testing.assert_array_equal(ours.numpy(), sk_confusion(labels, preds, labels=range(10)))
    ax = utils.plot_confusion_matrix(ours, classes=utils.CLASSES)
    assert len(ax.get_xticklabels()) == 10
    # normalised: the drawn matrix's rows sum to 1 and its diagonal is per-class recall
    drawn = ax.get_images()[0].get_array()
    np.testing.assert_allclose(drawn.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.diag(drawn), np.diag(ours.numpy()) / ours.numpy().sum(1), rtol=1e-6)


def test_history_loss_and_accuracy_on_separate_panels():
    h = _history(epochs=3, spe=4)
    loss_ax, acc_ax = utils.plot_history(h)
    assert loss_ax is not acc_ax and loss_ax.figure is acc_ax.figure
    lines = {l.get_label(): l for l in loss_ax.get_lines()}
    steps = lines["train loss (steps)"]
    np.testing.assert_allclose(steps.get_xdata(), np.array(h["step"]) / 4)
    np.testing.assert_allclose(steps.get_ydata(), h["step_loss"])
    np.testing.assert_allclose(lines["train loss (epoch)"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["train loss (epoch)"].get_ydata(), h["train_loss"])
    np.testing.assert_allclose(lines["test loss"].get_ydata(), h["test_loss"])
    acc = {l.get_label(): l.get_ydata() for l in acc_ax.get_lines()}
    assert set(acc) == {"train acc", "test acc"}             # no loss on the accuracy panel
    np.testing.assert_allclose(acc["test acc"], h["test_acc"])
    assert acc_ax.get_ylabel() == "accuracy" and loss_ax.get_ylabel() == "loss"
    assert _integer_ticks(loss_ax) and _integer_ticks(acc_ax)


def test_history_old_style_and_redraw_into_given_axes():
    h = _history(epochs=2, steps=False)
    del h["test_loss"]
    loss_ax, acc_ax = utils.plot_history(h)
    assert [l.get_label() for l in loss_ax.get_lines()] == ["train loss (epoch)"]
    assert [l.get_label() for l in acc_ax.get_lines()] == ["train acc", "test acc"]
    assert _integer_ticks(loss_ax)
    # a live plot hands in its own pair, again and again
    fig = matplotlib.figure.Figure()
    for epochs in (1, 2, 3):
        fig.clear()
        pair = tuple(fig.subplots(1, 2))
        assert utils.plot_history(_history(epochs=epochs), axes=pair) == pair
    assert len(fig.axes) == 2 and len(pair[0].get_lines()) == 3
    # one Axes: metrics on a twin axis, and a redraw does not pile up twins
    fig = matplotlib.figure.Figure()
    ax = fig.subplots()
    for _ in range(3):
        ax.clear()
        loss_ax, acc_ax = utils.plot_history(_history(), ax=ax)
    assert loss_ax is ax and len(fig.axes) == 2
    np.testing.assert_allclose(acc_ax.get_lines()[1].get_ydata(), _history()["test_acc"])


def test_compare_histories_mean_line_and_min_max_band():
    seeds = [_history(seed=s, epochs=3, spe=4) for s in range(3)]
    single = _history(seed=7)
    ax = utils.compare_histories({"relu": seeds, "sigmoid": single}, key="test_acc")
    relu, sigmoid = ax.get_lines()
    values = np.array([h["test_acc"] for h in seeds])          # [seeds, epochs]
    np.testing.assert_allclose(relu.get_ydata(), values.mean(0))
    np.testing.assert_allclose(sigmoid.get_ydata(), single["test_acc"])
    assert relu.get_label() == "relu (mean of 3)" and sigmoid.get_label() == "sigmoid"
    (band,) = ax.collections                                   # only the list gets a band
    verts = band.get_paths()[0].vertices
    for x, lo, hi in zip([1, 2, 3], values.min(0), values.max(0)):
        ys = verts[np.isclose(verts[:, 0], x), 1]
        assert np.isclose(ys.min(), lo) and np.isclose(ys.max(), hi)
    assert "min to max" in ax.get_legend().get_title().get_text()
    assert _integer_ticks(ax)


def test_compare_histories_step_loss_and_outside_legend():
    seeds = [_history(seed=s, epochs=3, spe=4) for s in range(2)]
    ax = utils.compare_histories({"a": seeds}, key="step_loss", legend="outside")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), np.array(seeds[0]["step"]) / 4)
    np.testing.assert_allclose(line.get_ydata(), np.mean([h["step_loss"] for h in seeds], 0))
    assert _integer_ticks(ax)                                  # not 0.25, 0.5 ...
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1          # right of the curves
    # the chapters' old call: label -> one history, default key, legend on the axes
    ax = utils.compare_histories({"x": _history(steps=False), "y": _history(seed=1)})
    assert len(ax.get_lines()) == 2 and ax.get_legend() is not None


def test_seed_bars_heights_errors_dots_and_reference():
    results = {"sigmoid": [0.10, 0.12, 0.11], "ReLU": [0.80, 0.83, 0.79], "one run": [0.5]}
    ax = plotting.plot_seed_bars(results, ylabel="test accuracy", reference={"ReLU": 0.82})
    bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    means = [np.mean(v) for v in results.values()]
    stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in results.values()]
    np.testing.assert_allclose([b.get_height() for b in bars], means)
    (errors,) = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    segments = errors.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[m - s, m + s] for m, s in zip(means, stds)])
    dots = [l for l in ax.get_lines() if l.get_marker() == "o"]
    for dot, v in zip(dots, results.values()):
        np.testing.assert_allclose(sorted(dot.get_ydata()), sorted(v))
    (ref,) = [l for l in ax.get_lines() if l.get_marker() == "D"]
    assert ref.get_xdata()[0] == 1 and ref.get_ydata()[0] == 0.82
    assert [t.get_text() for t in ax.get_xticklabels()] == list(results)
    ax = plotting.plot_seed_bars(results, ylabel="acc", kind="point")
    assert not [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    with pytest.raises(ValueError, match="not in results"):
        plotting.plot_seed_bars(results, ylabel="acc", reference={"tanh": 0.5})


def test_tile_leaves_nan_gaps_and_no_frame():
    tiles = torch.arange(6 * 4 * 4, dtype=torch.float32).reshape(6, 4, 4)
    grid = plotting.tile(tiles, nrow=4, pad=1)
    assert grid.shape == (2 * 4 + 1, 4 * 4 + 3)
    assert np.isnan(grid[4]).all() and np.isnan(grid[:, 4]).all()  # the gap row and column
    np.testing.assert_array_equal(grid[5:9, 5:9], tiles[5])        # tile 5: row 1, column 1
    assert np.isnan(grid[5:, 10:]).all()                           # the unused slots


def _gap_colour_is_not_data(im) -> bool:
    bad = np.array(im.cmap.get_bad())
    data = im.cmap(np.linspace(0, 1, 256))
    return not np.isclose(data, bad, atol=0.02).all(axis=1).any()


def test_feature_maps_grid_gaps_and_top_channels():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(1, 12, 7, 7, generator=g) * torch.arange(12.0).flip(0).roll(5)[:, None, None]
    ax = utils.show_feature_maps(maps, nrow=4, top=5, scale_each=False)
    im = ax.get_images()[0]
    arr = im.get_array()
    assert np.ma.isMaskedArray(arr) and arr.mask[7].all()         # the gap under row 0 is masked
    assert _gap_colour_is_not_data(im)                            # not the old viridis-yellow
    assert to_rgba(im.cmap.get_bad()) == to_rgba("white")
    expect = torch.topk(maps[0].mean(dim=(1, 2)), 5).indices       # reference: topk of means
    assert plotting.top_channels(maps, k=5).tolist() == expect.tolist()
    grid = arr.filled(np.nan)
    for i, c in enumerate(expect.tolist()):
        r, col = divmod(i, 4)
        np.testing.assert_allclose(grid[r * 8:r * 8 + 7, col * 8:col * 8 + 7], maps[0, c])
    # default: the first max_maps channels, each scaled to [0, 1]
    arr = utils.show_feature_maps(maps, nrow=3, max_maps=6).get_images()[0].get_array()
    assert arr.shape == (2 * 7 + 1, 3 * 7 + 2) and np.nanmax(arr.filled(np.nan)) == pytest.approx(1)


def test_filter_grid_tiles_and_gaps():
    w = torch.randn(6, 1, 5, 5)
    im = utils.show_filters(w, nrow=3).get_images()[0]
    arr = im.get_array()
    assert arr.shape == (2 * 5 + 1, 3 * 5 + 2)                     # 5x5 tiles, 1-pixel gaps
    assert arr.mask[5].all() and arr.mask[:, 5].all()
    assert _gap_colour_is_not_data(im)                            # not a grey
    w0 = w[0, 0]
    np.testing.assert_allclose(arr[:5, :5], (w0 - w0.min()) / (w0.max() - w0.min()), rtol=1e-5)
    rgb = utils.show_filters(torch.randn(4, 3, 3, 3), nrow=2).get_images()[0].get_array()
    assert rgb.shape == (7, 7, 4) and (rgb[3, :, 3] == 0).all() and (rgb[:3, :3, 3] == 1).all()


def test_feature_maps_hook_and_grid():
    net = utils.models.lenet()
    x = torch.rand(1, 1, 28, 28)
    maps = utils.feature_maps(net, x, net[0])
    torch.testing.assert_close(maps, net[0](x))
    assert not net[0]._forward_hooks                       # hook removed
    ax = utils.show_feature_maps(maps, nrow=3)
    assert ax.get_images()


def test_layer_maps_rows_show_each_layers_top_channels():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 10, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(490, 4))
    net.train()
    x = torch.rand(1, 1, 14, 14)
    fig = plotting.show_layer_maps(net, x, layers={"relu 1": net[1], "relu 2": net[4],
                                                   "logits": net[6]}, top=4, title="a garment")
    assert net.training and not any(m._forward_hooks for m in net)  # mode and hooks restored
    image_ax, *rows = fig.axes
    np.testing.assert_allclose(image_ax.get_images()[0].get_array(), x[0, 0])
    assert image_ax.get_title().startswith("a garment")
    with torch.no_grad():
        net.eval()
        outs = [net[:2](x)[0], net[:5](x)[0], net(x)[0].reshape(-1, 1, 1)]
    for ax, out, name in zip(rows, outs, ["relu 1", "relu 2", "logits"]):
        arr = ax.get_images()[0].get_array().filled(np.nan)
        chosen = torch.topk(out.mean(dim=(1, 2)), 4).indices
        h = out.shape[1]
        pad = max(1, h // 14)
        tiles = [arr[:h, i * (h + pad):i * (h + pad) + h] for i in range(4)]
        np.testing.assert_allclose(np.stack(tiles), out[chosen], rtol=1e-5, atol=1e-6)
        assert ax.get_title().startswith(f"{name}: top 4 of {len(out)} channels")


def test_images_and_receptive_field_drawings():
    fig = utils.show_images(torch.rand(5, 1, 28, 28), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    ax = utils.show_receptive_field(torch.rand(28, 28), box=(2, 6, 3, 7), grad=torch.rand(28, 28))
    rect = ax.patches[0]
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (2.5, 1.5, 5, 5)


def test_receptive_fields_one_panel_per_layer():
    rows = {r["layer"]: r for r in utils.receptive_fields(utils.models.lenet(), input_size=28)}
    conv1, conv2 = [r for r in rows.values() if r["type"] == "Conv2d"][:2]
    boxes = {"conv 1": utils.analytic_box(conv1, unit=(10, 10), input_size=28),
             "conv 2": [utils.analytic_box(conv2, unit=u, input_size=28) for u in [(1, 1), (5, 5)]]}
    fig = plotting.show_receptive_fields(torch.rand(1, 28, 28), boxes,
                                         grads={"conv 2": torch.rand(28, 28)})
    one, two = fig.axes
    assert len(one.patches) == 1 and len(two.patches) == 2
    assert len(one.get_images()) == 1 and len(two.get_images()) == 2  # + the gradient overlay
    for rect, (top, bottom, left, right) in zip(two.patches, boxes["conv 2"]):
        assert (rect.get_x(), rect.get_y()) == (left - 0.5, top - 0.5)
        assert (rect.get_width(), rect.get_height()) == (right - left + 1, bottom - top + 1)
    size = conv2["size"]
    assert two.get_title() == f"conv 2: {size}x{size} px"


def test_pyplot_is_not_imported_by_the_module():
    import subprocess
    import sys
    code = "import sys, utils.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
