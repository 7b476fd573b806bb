import inspect

import pytest
import torch
from torch import nn

import utils


@pytest.fixture(scope="module")
def small_data():
    return utils.fashion_mnist(batch_size=64, device="cpu", n_train=512, n_test=256)


def tiny_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Flatten(), nn.Linear(4 * 7 * 7, 10))


def run(data, seed=0, **kw):
    utils.set_seed(seed)
    return utils.fit(tiny_net(), *data, epochs=2, lr=0.1, device="cpu", plot=False,
                     progress=False, seed=seed, **kw)


def test_history_is_plain_data(small_data, capsys):
    h = run(small_data)
    assert h["epoch"] == [1, 2]
    assert len(h["train_loss"]) == len(h["train_acc"]) == len(h["test_acc"]) == 2
    assert h["examples_per_sec"] > 0 and h["wall_time"] > 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("train loss ") and " examples/s on cpu" in out[-2]
    assert out[-1].startswith("run stamp: device cpu") and "seed 0" in out[-1]


def test_cpu_runs_repeat_exactly(small_data):
    a, b = run(small_data, seed=5), run(small_data, seed=5)
    assert a["train_loss"] == b["train_loss"] and a["test_acc"] == b["test_acc"]
    c = run(small_data, seed=6)
    assert c["train_loss"] != a["train_loss"]


def test_it_learns(small_data):
    utils.set_seed(0)
    h = utils.fit(tiny_net(), *small_data, epochs=4, lr=0.2, device="cpu", plot=False,
                  progress=False)
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["test_acc"][-1] > 0.5                  # chance is 0.1


def test_one_step_equals_the_textbook_update(small_data):
    """The loop's SGD step is w <- w - lr * grad of the mean cross-entropy."""
    X, y = next(iter(small_data[0]))
    one_batch = [(X, y)]
    utils.set_seed(0)
    net = tiny_net()
    ref = [p.detach().clone() for p in net.parameters()]
    loss = nn.functional.cross_entropy(net(X), y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    h = utils.fit(net, one_batch, one_batch, epochs=1, lr=0.1, device="cpu", plot=False,
                  progress=False, channels_last=False)
    for p, p0, g in zip(net.parameters(), ref, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.1 * g)
    assert h["train_loss"][0] == pytest.approx(loss.item(), rel=1e-6)


def test_evaluate_and_predict_agree(small_data):
    net = tiny_net()
    acc = utils.evaluate(net, small_data[1], device="cpu")
    preds, labels = utils.predict(net, small_data[1], device="cpu")
    assert acc == pytest.approx((preds == labels).float().mean().item())
    assert len(labels) == 256


def test_probabilities_are_the_softmax_and_agree_with_predict(small_data):
    net = tiny_net()
    probs, labels = utils.probabilities(net, small_data[1], device="cpu")
    assert probs.shape == (len(labels), 10)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(len(labels)))
    X = torch.cat([x for x, _ in small_data[1]])
    with torch.no_grad():
        torch.testing.assert_close(probs, torch.softmax(net.eval()(X), dim=1))
    preds, labels2 = utils.predict(net, small_data[1], device="cpu")
    assert torch.equal(preds, probs.argmax(dim=1)) and torch.equal(labels, labels2)


def test_fit_needs_lr_or_optimizer(small_data):
    with pytest.raises(ValueError, match="lr= .* or optimizer="):
        utils.fit(tiny_net(), *small_data, epochs=1, device="cpu")
    net = tiny_net()
    history = utils.fit(net, *small_data, epochs=1, device="cpu", plot=False, progress=False,
                        optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))
    assert len(history["test_acc"]) == 1


def test_xavier_init_bounds():
    net = utils.xavier_init(nn.Sequential(nn.Linear(100, 50)))
    bound = (6 / (100 + 50)) ** 0.5
    assert net[0].weight.abs().max() <= bound


def test_kaiming_init_variance():
    # He et al. 2015: Var(w) = 2 / fan_in keeps ReLU activations' second moment constant.
    torch.manual_seed(0)
    net = utils.kaiming_init(nn.Sequential(nn.Conv2d(64, 256, 3), nn.Linear(400, 300)))
    fan_in = 64 * 3 * 3
    assert net[0].weight.var().item() == pytest.approx(2 / fan_in, rel=0.03)
    assert net[1].weight.var().item() == pytest.approx(2 / 400, rel=0.03)
    assert net[0].bias.abs().max() == 0 and net[1].bias.abs().max() == 0
    x = torch.randn(512, 400)
    deep = utils.kaiming_init(nn.Sequential(*[m for _ in range(10)
                                              for m in (nn.Linear(400, 400), nn.ReLU())]))
    assert 0.5 < deep(x).pow(2).mean().item() / x.pow(2).mean().item() < 2


def test_loop_is_readable():
    src = inspect.getsource(utils.fit)
    assert "for epoch in range" in src and "loss.backward()" in src


def test_bad_epochs(small_data):
    with pytest.raises(ValueError, match="epochs"):
        utils.fit(tiny_net(), *small_data, epochs=0, lr=0.1, device="cpu")


def test_plot_outside_jupyter_draws_once(small_data):
    import matplotlib.pyplot as plt
    utils.set_seed(0)
    utils.fit(tiny_net(), *small_data, epochs=1, lr=0.1, device="cpu", progress=False)
    assert len(plt.get_fignums()) == 1
