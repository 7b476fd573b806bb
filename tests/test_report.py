import statistics

import pytest

import utils
from utils import report


def test_over_seeds_seeds_each_run_and_spread_matches_statistics():
    import torch
    draws = utils.over_seeds(lambda seed: {"test_acc": [0.0, torch.rand(()).item()]}, seeds=3)
    again = utils.over_seeds(lambda seed: {"test_acc": [0.0, torch.rand(()).item()]}, seeds=3)
    assert draws == again and len({d["test_acc"][-1] for d in draws}) == 3
    s = utils.spread(draws)
    values = [d["test_acc"][-1] for d in draws]
    assert s["values"] == values and s["n"] == 3
    assert s["mean"] == pytest.approx(statistics.mean(values))
    assert s["std"] == pytest.approx(statistics.stdev(values))
    assert (s["min"], s["max"]) == (min(values), max(values))
    assert utils.spread([0.5])["std"] == 0.0
    assert utils.over_seeds(lambda seed: seed, seeds=[4, 7]) == [4, 7]
    with pytest.raises(ValueError):
        utils.spread([])


def test_verdict_follows_the_spread():
    a = utils.spread([0.80, 0.81, 0.82])
    b = utils.spread([0.70, 0.71, 0.72])
    c = utils.spread([0.805, 0.815, 0.79])
    assert utils.verdict(a, b, names=("ReLU", "sigmoid")) == \
        "ReLU is better than sigmoid by more than the spread over seeds"
    assert utils.verdict(b, a, names=("sigmoid", "ReLU")).startswith("ReLU is better")
    assert utils.verdict(a, c) == "the difference is inside the spread over seeds"


def test_glue_text_has_no_quotes():
    text = utils.glue("acc", 0.81234, ".3f")
    assert text == "0.812" and repr(text) == "0.812"
    assert utils.pm(utils.spread([0.8, 0.82])) == "0.810 ± 0.014"


def test_published_is_the_spec_table():
    assert utils.published_best("ResNet-18") == 0.918
    assert utils.published_best("NiN") == 0.867
    assert len(utils.PUBLISHED) == 8
    with pytest.raises(KeyError, match="known"):
        utils.published_best("LeNet-7")
    table = utils.results_table("LeNet", {"ours": utils.spread([0.8, 0.81, 0.82])})
    assert "0.810 ± 0.010" in table and "0.809" in table and "72,323" in table


def test_final_line_without_accuracy():
    h = {"train_loss": [0.5], "examples_per_sec": 1000.0, "device": "cpu (2 threads)"}
    assert report.final_line(h) == "train loss 0.500, 1,000 examples/s on cpu (2 threads)"


def test_verdict_for_losses_calls_the_lower_one_better():
    low = utils.spread([0.30, 0.31, 0.32])
    high = utils.spread([0.50, 0.52, 0.51])
    assert utils.verdict(low, high, names=("residual", "plain"), lower_is_better=True) == \
        "residual is better than plain by more than the spread over seeds"
    assert utils.verdict(high, low, names=("plain", "residual"),
                         lower_is_better=True).startswith("residual is better")
    assert utils.verdict(low, high, names=("residual", "plain")).startswith("plain is better")


def test_print_report_prints_the_stamp_fit_stored(capsys):
    h = {"train_loss": [0.5], "examples_per_sec": 10.0, "device": "cpu", "lr": 0.1,
         "stamp": "run stamp: the one fit made"}
    utils.print_report(h, plot=False)
    assert capsys.readouterr().out.splitlines()[-1] == "run stamp: the one fit made"
