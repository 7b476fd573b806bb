import gzip
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


# --- corrupt files, repair, argument checks, seeding, the parse cache ---------------------------

REAL_RAW = utils.data_dir() / "FashionMNIST" / "raw"


def fake_root(tmp_path, bad: dict[str, bytes]):
    """A data dir whose raw files link to the real ones, except ``bad`` (name -> contents)."""
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in data.RAW_FILES:
        if f in bad:
            (raw / f).write_bytes(bad[f])
        else:
            (raw / f).symlink_to(REAL_RAW / f)
    return tmp_path / "data", raw


def fake_debian(tmp_path, monkeypatch, files: dict[str, bytes]):
    deb = tmp_path / "debian"
    deb.mkdir()
    for name, blob in files.items():
        (deb / name).write_bytes(blob)
    monkeypatch.setattr(data, "DEBIAN_DIR", deb)
    return deb


def fails_fast(exc, **kw):
    start = time.perf_counter()
    with pytest.raises(exc) as err:
        data.load_fashion_mnist(**kw)
    assert time.perf_counter() - start < 3
    return str(err.value)


@pytest.mark.parametrize("name, cut", [("train-labels-idx1-ubyte", 1234),
                                       ("t10k-images-idx3-ubyte", 5000)])
def test_truncated_file_names_the_file_and_the_fix(tmp_path, monkeypatch, name, cut):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-such-package")
    root, raw = fake_root(tmp_path, {name: (REAL_RAW / name).read_bytes()[:cut]})
    msg = fails_fast(data.DataFileError, root=root, download=False)
    size = (REAL_RAW / name).stat().st_size
    assert str(raw / name) in msg and f"has {cut:,} bytes, expected {size:,}" in msg
    assert "delete it" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(data.DataFileError("x"), RuntimeError)


def test_wrong_magic_number_names_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-such-package")
    name = "t10k-labels-idx1-ubyte"
    blob = bytearray((REAL_RAW / name).read_bytes())
    blob[3] = 0x03                                   # 0x801 (labels) -> 0x803 (images)
    root, raw = fake_root(tmp_path, {name: bytes(blob)})
    msg = fails_fast(data.DataFileError, root=root, download=False)
    assert str(raw / name) in msg and "magic number 0x00000803, expected 0x00000801" in msg
    assert "delete it" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert data.idx_problem(REAL_RAW / name) is None


def test_bad_file_is_repaired_byte_identical_from_debian(tmp_path, monkeypatch, capsys):
    name = "train-labels-idx1-ubyte"
    good = (REAL_RAW / name).read_bytes()
    deb = fake_debian(tmp_path, monkeypatch, {f"{name}.gz": gzip.compress(good)})
    root, raw = fake_root(tmp_path, {name: good[:1234]})
    train, _ = data.load_fashion_mnist(root=root, download=False)
    assert (raw / name).read_bytes() == good
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(raw / name) in err and str(deb) in err
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.RAW_FILES)  # no .part left


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong content"])
def test_corrupt_debian_gz_fails_with_a_message(tmp_path, monkeypatch, damage):
    name = "train-labels-idx1-ubyte"
    good = (REAL_RAW / name).read_bytes()
    blob = {"garbage": b"not gzip at all" * 100,
            "truncated": gzip.compress(good)[:5000],
            "wrong content": gzip.compress(good[:-8])}[damage]
    deb = fake_debian(tmp_path, monkeypatch, {f"{name}.gz": blob})
    root, raw = fake_root(tmp_path, {name: good[:100]})
    msg = fails_fast(data.DataFileError, root=root, download=False)
    assert str(deb / f"{name}.gz") in msg
    assert "apt-get install --reinstall dataset-fashion-mnist" in msg
    assert (raw / name).read_bytes() == good[:100]                     # left as it was
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.RAW_FILES)  # no .part left


@pytest.mark.parametrize("kw, word", [({"n_train": 0}, "n_train"), ({"n_test": -5}, "n_test"),
                                      ({"resize": 0}, "resize"), ({"batch_size": 0}, "batch_size")])
def test_non_positive_sizes_raise_value_error(kw, word):
    args = {"batch_size": 10, "device": "cpu", **kw}
    with pytest.raises(ValueError, match=word) as err:
        utils.fashion_mnist(**args)
    assert "pass" in str(err.value)
    split = data.Split(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="None"):
        data.subset(split, 0)
    with pytest.raises(ValueError, match="None"):
        utils.Batches(split, batch_size=2, shuffle=False, device="cpu", resize=-1)


def test_root_argument_is_used_instead_of_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-such-package")
    monkeypatch.setattr(data, "online", lambda *a, **k: False)
    monkeypatch.setenv(data.DATA_ENV, str(utils.data_dir()))      # real data in the env var
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "empty")):
        utils.fashion_mnist(batch_size=10, device="cpu", root=tmp_path / "empty")
    root, _ = fake_root(tmp_path, {})
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nowhere"))  # and now only in root=
    tr, te = utils.fashion_mnist(batch_size=10, device="cpu", n_train=30, n_test=20, root=root)
    assert len(tr.labels) == 30 and len(te.labels) == 20


def test_generator_route_repeats_and_global_route_still_follows_set_seed(splits):
    small = data.subset(splits[1], 500, seed=2)

    def order(**kw):
        return torch.cat([y for _, y in utils.Batches(small, batch_size=64, shuffle=True,
                                                      device="cpu", **kw)])

    torch.manual_seed(0)
    a = order(generator=torch.Generator().manual_seed(1))
    b = order(generator=torch.Generator().manual_seed(1))
    c = order(generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))        # a generator leaves the global RNG alone
    utils.set_seed(5)
    d = order()
    utils.set_seed(5)
    assert torch.equal(d, order()) and torch.equal(d.sort().values, a.sort().values)


def test_idx_files_are_parsed_once_and_not_modified(splits):
    train, test = data.load_fashion_mnist()
    assert train.images is splits[0].images and test.labels is splits[1].labels
    before = [t.clone() for t in (train.images, train.labels)]

    def in_place(x):
        return x.mul_(0.5)

    tr, _ = utils.fashion_mnist(batch_size=5000, device="cpu", train_transform=in_place)
    assert tr.images is train.images                # all 60,000: the cached tensor itself
    list(tr)
    assert torch.equal(train.images, before[0]) and torch.equal(train.labels, before[1])
