"""Saved weights: the round trip is exact, loading is weights-only, bad files fail with the fix."""
import pytest
import torch
from torch import nn

from utils import weights



def trained_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    net(torch.randn(8, 1, 8, 8))           # BatchNorm's running statistics move
    return net


def fresh_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


HISTORY = {"device": "cpu", "scale": "cpu", "seed": 0, "test_acc": [0.5, 0.75],
           "stamp": "run stamp: device cpu; scale cpu"}


def test_round_trip_is_exact_and_weights_only(tmp_path, capsys):
    net = trained_net()
    path = weights.save_weights(net, name="toy", history=HISTORY, chapter="lenet", image_size=8,
                                root=tmp_path)
    assert path == tmp_path / "weights" / "toy-cpu.pt"
    assert "test acc 0.750" in capsys.readouterr().out
    assert not list(path.parent.glob("*.partial")), "the temporary file must be renamed away"
    raw = torch.load(path, weights_only=True)             # the file holds no pickled code
    assert raw["stamp"] == HISTORY["stamp"]
    other = fresh_net()
    record = weights.load_weights(other, name="toy", scale="cpu", root=tmp_path)
    assert record["chapter"] == "lenet" and record["image_size"] == 8
    assert record["test_acc"] == 0.75 and "state_dict" not in record
    for (k, a), b in zip(net.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k                       # running_mean and num_batches too


def test_missing_or_other_scale_gives_none(tmp_path):
    assert weights.load_weights(fresh_net(), name="absent", scale="cpu", root=tmp_path) is None
    weights.save_weights(trained_net(), name="toy", history={**HISTORY, "scale": "smoke"},
                         chapter="lenet", image_size=8, root=tmp_path)
    weights.save_weights(trained_net(), name="toy", history=HISTORY, chapter="lenet",
                         image_size=8, root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["toy-cpu.pt", "toy-smoke.pt"]
    net = fresh_net()
    before = [p.clone() for p in net.parameters()]
    assert weights.load_weights(net, name="toy", scale="full", root=tmp_path) is None
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert weights.load_weights(net, name="toy", scale="smoke", root=tmp_path)["scale"] == "smoke"


def test_a_file_under_the_wrong_scale_name_is_refused(tmp_path):
    path = weights.save_weights(trained_net(), name="toy", history={**HISTORY, "scale": "smoke"},
                                chapter="lenet", image_size=8, root=tmp_path)
    path.rename(path.with_name("toy-cpu.pt"))
    with pytest.raises(RuntimeError, match="smoke-scale weights under a cpu-scale name"):
        weights.load_weights(fresh_net(), name="toy", scale="cpu", root=tmp_path)


def test_corrupt_file_fails_with_the_fix(tmp_path):
    path = weights.weights_path("toy", scale="cpu", root=tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="Delete it and re-execute"):
        weights.load_weights(fresh_net(), name="toy", scale="cpu", root=tmp_path)


def test_wrong_architecture_names_the_chapter(tmp_path):
    weights.save_weights(trained_net(), name="toy", history=HISTORY, chapter="resnet",
                         image_size=8, root=tmp_path)
    wrong = nn.Sequential(nn.Conv2d(1, 8, 3))
    with pytest.raises(RuntimeError, match="saved by the resnet chapter"):
        weights.load_weights(wrong, name="toy", scale="cpu", root=tmp_path)


def test_bad_names_are_refused(tmp_path):
    for name in ["", "../x", ".hidden"]:
        with pytest.raises(ValueError):
            weights.weights_path(name, root=tmp_path)


def test_load_or_train_trains_only_without_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_BOOK_SCALE", "cpu")
    calls = []

    def train(net):
        calls.append(net)
        return {**HISTORY, "test_acc": [0.6]}

    record = weights.load_or_train(fresh_net(), name="toy", train=train, root=tmp_path)
    assert record["source"] == "substitute" and len(calls) == 1 and record["test_acc"] == 0.6
    assert "substitute" in capsys.readouterr().out
    weights.save_weights(trained_net(), name="toy", history=HISTORY, chapter="lenet",
                         image_size=8, root=tmp_path)
    record = weights.load_or_train(fresh_net(), name="toy", train=train, root=tmp_path)
    assert record["source"] == "saved" and len(calls) == 1
