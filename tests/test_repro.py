import random

import numpy as np
import pytest
import torch

import utils


def _draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


def test_set_seed_repeats():
    """Python's random, NumPy and torch all repeat after the same seed and change with it."""
    utils.set_seed(7)
    first = _draws()
    utils.set_seed(7)
    again = _draws()
    utils.set_seed(8)
    other = _draws()
    assert again == first
    assert all(a != b for a, b in zip(other, first))        # each generator follows the seed


def test_scale_switch(monkeypatch):
    monkeypatch.setenv("CNN_BOOK_SCALE", "cpu")
    assert utils.current_scale() == "cpu"
    assert utils.pick(smoke=1, cpu=5, full=10) == 5
    monkeypatch.setenv("CNN_BOOK_SCALE", "ful")
    with pytest.raises(ValueError, match="smoke, cpu, full"):
        utils.current_scale()
    monkeypatch.delenv("CNN_BOOK_SCALE")
    assert utils.current_scale() == ("full" if torch.cuda.is_available() else "cpu")


def test_run_stamp_says_what_made_a_result():
    stamp = utils.run_stamp(device="cpu", scale="smoke", seed=3, wall_time=1.25)
    for part in ("device cpu", "scale smoke", "seed 3", "wall time 1.2 s", "torch ",
                 "torchvision ", "python "):
        assert part in stamp
