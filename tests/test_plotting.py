import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from torch import nn

import utils


def test_confusion_matrix_equals_sklearn():
    g = torch.Generator().manual_seed(0)
    labels, preds = torch.randint(0, 10, (500,), generator=g), torch.randint(0, 10, (500,), generator=g)
    ours = utils.confusion_matrix(preds, labels, num_classes=10)
    np.testing.assert_array_equal(ours.numpy(), sk_confusion(labels, preds, labels=range(10)))
    ax = utils.plot_confusion_matrix(ours, classes=utils.CLASSES)
    assert len(ax.get_xticklabels()) == 10


def test_history_plot_has_three_curves():
    h = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.6, 0.8], "test_acc": [0.6, 0.7]}
    ax = utils.plot_history(h)
    assert [l.get_label() for l in ax.get_lines()] == ["train loss", "train acc", "test acc"]
    ax = utils.compare_histories({"a": h, "b": h})
    assert len(ax.get_lines()) == 2


def test_filter_grid_tiles():
    w = torch.randn(6, 1, 5, 5)
    ax = utils.show_filters(w, nrow=3)
    img = ax.get_images()[0].get_array()
    assert img.shape[:2] == (2 * 6 + 1, 3 * 6 + 1)        # 5x5 tiles with 1-pixel padding


def test_feature_maps_hook_and_grid():
    net = utils.models.lenet()
    x = torch.rand(1, 1, 28, 28)
    maps = utils.feature_maps(net, x, net[0])
    torch.testing.assert_close(maps, net[0](x))
    assert not net[0]._forward_hooks                       # hook removed
    ax = utils.show_feature_maps(maps, nrow=3)
    assert ax.get_images()


def test_images_and_receptive_field_drawings():
    fig = utils.show_images(torch.rand(5, 1, 28, 28), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    ax = utils.show_receptive_field(torch.rand(28, 28), box=(2, 6, 3, 7), grad=torch.rand(28, 28))
    rect = ax.patches[0]
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (2.5, 1.5, 5, 5)
