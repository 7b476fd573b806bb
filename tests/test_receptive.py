import pytest
import torch
from torch import nn

import utils


def stacks():
    return {
        "lenet": utils.models.lenet(),
        "two 3x3": nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)),
        "vgg-like": nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 8, 3, padding=1)),
        "alexnet-like": nn.Sequential(nn.Conv2d(1, 4, 11, stride=4, padding=2), nn.ReLU(),
                                      nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 5, padding=2),
                                      nn.ReLU(), nn.MaxPool2d(3, 2)),
        "dilated": nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2, padding=2), nn.ReLU(),
                                 nn.Conv2d(2, 2, 3, dilation=4, padding=4)),
    }


def test_known_sizes():
    two = utils.receptive_fields(stacks()["two 3x3"])
    assert [r["size"] for r in two] == [3, 5]
    three = utils.receptive_fields(nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(3)]))
    assert three[-1]["size"] == 7
    alex = utils.receptive_fields(stacks()["alexnet-like"], input_size=224)
    assert alex[0]["size"] == 11 and alex[0]["jump"] == 4 and alex[0]["output"] == 55
    assert [r["output"] for r in alex] == [55, 27, 27, 13]
    assert [r["size"] for r in alex] == [11, 19, 51, 67]
    dil = utils.receptive_fields(stacks()["dilated"])
    assert [r["size"] for r in dil] == [5, 13]


@pytest.mark.parametrize("name", list(stacks()))
def test_analytic_equals_gradient(name):
    """The recurrence and back-propagation agree on every unit's box, borders included."""
    model, n = stacks()[name], 64
    rows = utils.receptive_fields(model, input_size=n)
    last = rows[-1]
    prefix = model[:6] if name == "lenet" else model        # LeNet: up to its last pooling
    out = last["output"]
    for unit in [(out // 2, out // 2), (0, 0), (out - 1, out // 3)]:
        emp = utils.empirical_receptive_field(prefix, input_size=n, unit=unit)
        assert emp["box"] == utils.analytic_box(last, unit=unit, input_size=n), unit


def test_gradient_map_shape():
    g = utils.gradient_map(stacks()["two 3x3"], torch.rand(1, 1, 12, 12))
    assert g.shape == (12, 12)
    assert (g > 0).sum() <= 25


def test_empirical_does_not_touch_the_model():
    model = stacks()["vgg-like"]
    before = [p.clone() for p in model.parameters()]
    utils.empirical_receptive_field(model, input_size=32)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert isinstance(model[4], nn.MaxPool2d)


def test_format_and_errors():
    text = utils.format_receptive_fields(utils.receptive_fields(stacks()["lenet"], input_size=28))
    assert "size" in text.splitlines()[0] and "16" in text.splitlines()[-1]
    with pytest.raises(ValueError, match="square"):
        utils.receptive_fields(nn.Sequential(nn.Conv2d(1, 1, (1, 3))))
