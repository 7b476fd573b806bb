import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score
from torch import nn

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


class _Shuffled:
    """Batches that come out in a new order every pass (a training iterator)."""

    def __init__(self, batches):
        self.batches, self.calls = batches, 0

    def __iter__(self):
        self.calls += 1
        X = torch.cat([x for x, _ in self.batches])
        y = torch.cat([t for _, t in self.batches])
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.calls))
        return iter([(X[order], y[order])])


def _tiny_problem():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    X = torch.rand(50, 1, 4, 4)
    y = torch.randint(0, 4, (50,))
    y[y == 3] = 2                                          # class 3 has no examples at all
    return net, [(X[i:i + 16], y[i:i + 16]) for i in range(0, 50, 16)], X, y


def test_mistakes_and_confusion_match_sklearn():
    net, batches, X, y = _tiny_problem()
    classes = ["a", "b", "c", "d"]
    out = utils.plotting.show_mistakes_and_confusion(net, batches, device="cpu", classes=classes,
                                                     n=5)
    with torch.no_grad():
        probs = net(X).softmax(1)
    preds = probs.argmax(1)
    ref = confusion_matrix(y, preds, labels=range(4))
    np.testing.assert_array_equal(out["confusion"].numpy(), ref)
    assert out["confusion"].dtype == torch.int64
    recall = recall_score(y, preds, labels=range(3), average=None, zero_division=0)
    np.testing.assert_allclose(out["per_class_acc"][:3], recall)
    assert np.isnan(out["per_class_acc"][3])               # no examples: NaN, not 0
    assert out["accuracy"] == pytest.approx(accuracy_score(y, preds))
    # the worst mistakes: wrong, ordered by the predicted class's probability
    conf = probs.max(1).values
    wrong = (preds != y).nonzero().flatten()
    expect = wrong[conf[wrong].argsort(descending=True)][:5]
    assert out["mistakes"] == expect.tolist()
    fig = out["figures"]["mistakes"]
    shown = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    np.testing.assert_allclose(np.stack(shown), X[expect, 0].numpy())
    assert fig.axes[0].get_title().startswith(f"{classes[y[expect[0]]]}\n-> {classes[preds[expect[0]]]}")
    cm_ax = out["figures"]["confusion"].axes[0]
    assert f"{out['accuracy']:.3f}" in cm_ax.get_title()


def test_mistakes_and_confusion_refuses_shuffled_batches():
    net, batches, _, _ = _tiny_problem()
    with pytest.raises(ValueError, match="unshuffled"):
        utils.plotting.show_mistakes_and_confusion(net, _Shuffled(batches), device="cpu",
                                                   classes=list("abcd"))


def test_mistakes_and_confusion_without_mistakes():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.copy_(torch.tensor([1.0, 0.0]))        # always class 0
    batches = [(torch.rand(5, 1, 2, 2), torch.zeros(5, dtype=torch.long))]
    out = utils.plotting.show_mistakes_and_confusion(net, batches, device="cpu", classes=["x", "y"])
    assert out["accuracy"] == 1.0 and out["mistakes"] == [] and out["per_class_acc"][0] == 1.0
    assert out["figures"]["mistakes"].axes[0].texts
