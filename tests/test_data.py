import time

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchvision.transforms import functional as TF

import utils
from utils import data


@pytest.fixture(scope="module")
def splits():
    return utils.load_fashion_mnist()


def test_whole_uint8_tensors(splits):
    train, test = splits
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_batches_equal_torchvision_to_tensor(splits):
    """Our batch pipeline gives exactly what torchvision's ToTensor gives, image by image."""
    ds = torchvision.datasets.FashionMNIST(utils.data_dir(), train=False,
                                           transform=torchvision.transforms.ToTensor())
    batches = utils.Batches(splits[1], batch_size=64, shuffle=False, device="cpu")
    X, y = next(iter(batches))
    assert X.shape == (64, 1, 28, 28) and X.dtype == torch.float32
    for i in (0, 1, 63):
        img, label = ds[i]
        torch.testing.assert_close(X[i], img, rtol=0, atol=0)
        assert y[i].item() == label


def test_resize_matches_torchvision_resize(splits):
    batches = utils.Batches(splits[1], batch_size=8, shuffle=False, device="cpu", resize=96)
    X, _ = next(iter(batches))
    assert X.shape == (8, 1, 96, 96)
    ref = TF.resize(splits[1].images[:8].unsqueeze(1).float() / 255, [96, 96], antialias=True)
    torch.testing.assert_close(X, ref, atol=1e-5, rtol=0)
    down = utils.Batches(splits[1], batch_size=8, shuffle=False, device="cpu", resize=14)
    ref = TF.resize(splits[1].images[:8].unsqueeze(1).float() / 255, [14, 14], antialias=True)
    torch.testing.assert_close(next(iter(down))[0], ref, atol=1e-5, rtol=0)


def test_epoch_covers_every_example_once_and_shuffles(splits):
    small = utils.data.subset(splits[1], 1000, seed=1)
    b = utils.Batches(small, batch_size=256, shuffle=True, device="cpu")
    assert len(b) == 4
    ys = [y for _, y in b]
    assert [len(y) for y in ys] == [256, 256, 256, 232]
    assert torch.equal(torch.cat(ys).sort().values, small.labels.sort().values)
    first, second = torch.cat([y for _, y in b]), torch.cat([y for _, y in b])
    assert not torch.equal(first, second)           # a new order every epoch


def test_fashion_mnist_subsets_and_transform():
    calls = []

    def flip(x):
        calls.append(x.shape)
        return x.flip(-1)

    tr, te = utils.fashion_mnist(batch_size=100, device="cpu", n_train=300, n_test=200,
                                 train_transform=flip)
    assert len(tr.labels) == 300 and len(te.labels) == 200
    list(tr), list(te)
    assert calls == [(100, 1, 28, 28)] * 3          # training batches only


def test_missing_data_offline_fails_fast_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-such-package")
    monkeypatch.setattr(data, "online", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        utils.load_fashion_mnist()
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and str(tmp_path) in msg


def test_debian_files_are_decompressed_into_data_dir(tmp_path, monkeypatch):
    if not all((data.DEBIAN_DIR / f"{f}.gz").exists() for f in data.RAW_FILES):
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    root = data.prepare_fashion_mnist(download=False)
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.RAW_FILES)
    assert (raw / "train-labels-idx1-ubyte").stat().st_size == 60008


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        utils.Batches(utils.data.Split(torch.zeros(4, 28, 28, dtype=torch.uint8),
                                       torch.zeros(4, dtype=torch.long)),
                      batch_size=0, shuffle=False, device="cpu")


def test_text_labels():
    assert utils.text_labels(torch.tensor([0, 9])) == ["t-shirt", "ankle boot"]
