"""The composed scenes: shapes, determinism, and boxes and masks that agree with the pixels."""
import pytest
import torch

from utils import canvas


@pytest.fixture(scope="module")
def scenes():
    return canvas.compose_scenes(64, size=64, max_objects=3, split="test", seed=0)


def test_shapes_types_and_ranges(scenes):
    assert scenes.images.shape == (64, 3, 64, 64) and scenes.images.dtype == torch.uint8
    assert scenes.masks.shape == (64, 64, 64) and int(scenes.masks.max()) <= 10
    assert scenes.targets.shape == (64, 3, 5)
    present = scenes.targets[..., 0] >= 0
    counts = present.sum(1)
    assert counts.min() >= 1 and counts.max() <= 3 and len(counts.unique()) == 3
    assert (present[:, :-1] >= present[:, 1:]).all()          # filled slots come first
    boxes = scenes.targets[present][:, 1:]
    assert (boxes >= 0).all() and (boxes <= 64).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_a_seed_gives_the_same_scenes_and_another_seed_others(scenes):
    again = canvas.compose_scenes(64, size=64, max_objects=3, split="test", seed=0, chunk=16)
    other = canvas.compose_scenes(64, size=64, max_objects=3, split="test", seed=1)
    assert torch.equal(again.images, scenes.images) and torch.equal(again.targets, scenes.targets)
    assert not torch.equal(other.images, scenes.images)


def test_every_mask_pixel_lies_in_a_box_of_its_class(scenes):
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    for mask, targets in zip(scenes.masks, scenes.targets):
        inside = torch.zeros(64, 64, dtype=torch.bool)
        for c, x1, y1, x2, y2 in targets.tolist():
            if c >= 0:
                box = (xs >= x1 - 1) & (xs <= x2 + 1) & (ys >= y1 - 1) & (ys <= y2 + 1)
                inside |= box & (mask == c + 1)
        assert torch.equal(inside, mask > 0)


def test_a_lone_garments_box_is_tight_around_its_mask():
    one = canvas.compose_scenes(32, size=64, max_objects=1, seed=3)
    for mask, t in zip(one.masks, one.targets):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        tight = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
        assert (t[0, 1:] - tight).abs().max() <= 2.0, (t, tight)
        assert int(mask.max()) == int(t[0, 0]) + 1


def test_garments_come_from_the_named_split():
    from utils import load_fashion_mnist
    train, test = load_fashion_mnist()
    box = canvas.tight_boxes(test.images[:5])
    assert box.shape == (5, 4) and (box[:, :2] < box[:, 2:]).all() and (box <= 28).all()


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="max_objects"):
        canvas.compose_scenes(4, max_objects=5)
    with pytest.raises(ValueError, match="split"):
        canvas.compose_scenes(4, split="val")
    with pytest.raises(ValueError, match="n >= 1"):
        canvas.compose_scenes(0)


def test_batches_for_both_tasks(scenes):
    seg = canvas.SceneBatches(scenes, batch_size=16, task="segment", shuffle=False)
    X, y = next(iter(seg))
    assert X.shape == (16, 3, 64, 64) and X.dtype == torch.float32 and X.max() <= 1
    assert y.shape == (16, 64, 64) and y.dtype == torch.long and len(seg) == 4
    det = canvas.SceneBatches(scenes, batch_size=16, task="detect", shuffle=True)
    X, y = next(iter(det))
    assert y.shape == (16, 3, 5)
    with pytest.raises(ValueError, match="task"):
        canvas.SceneBatches(scenes, batch_size=16, task="classify", shuffle=False)
