import matplotlib.pyplot as plt
import torch

import utils


def test_worst_mistakes_first_with_true_and_predicted_class():
    images = torch.rand(6, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    preds = torch.tensor([0, 2, 2, 1, 4, 0])               # mistakes at 1, 3, 5
    probs = torch.full((6, 10), 0.01)
    probs[1, 2], probs[3, 1], probs[5, 0] = 0.6, 0.9, 0.3
    fig = utils.show_misclassified(images, labels, preds, probs, classes=utils.CLASSES, n=2)
    assert fig.indices.tolist() == [3, 1]                  # most confident mistake first
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["dress\n-> trouser  0.90", "trouser\n-> pullover  0.60"]
    # [N] confidences give the same order; every mistake is shown when n is large
    fig = utils.show_misclassified(images, labels, preds, probs.max(1).values,
                                   classes=utils.CLASSES, n=10)
    assert fig.indices.tolist() == [3, 1, 5]
    plt.close("all")


def test_no_mistakes_draws_a_note():
    labels = torch.arange(3)
    fig = utils.show_misclassified(torch.rand(3, 28, 28), labels, labels, torch.rand(3, 10),
                                   classes=utils.CLASSES)
    assert len(fig.indices) == 0 and fig.axes[0].texts
    plt.close("all")
