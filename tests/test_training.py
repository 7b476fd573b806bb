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


def test_fit_needs_lr_or_optimizer_not_both(small_data):
    with pytest.raises(ValueError, match="lr= .* or optimizer="):
        utils.fit(tiny_net(), *small_data, epochs=1, device="cpu")
    net = tiny_net()
    with pytest.raises(ValueError, match="not both"):
        utils.fit(net, *small_data, epochs=1, device="cpu", lr=0.1,
                  optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))
    history = utils.fit(net, *small_data, epochs=1, device="cpu", plot=False, progress=False,
                        optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))
    assert len(history["test_acc"]) == 1


def test_xavier_init_bounds():
    # PyTorch's default bound here is 1/sqrt(1000) = 0.032; Xavier's is sqrt(6/1500) = 0.063
    torch.manual_seed(0)
    net = utils.xavier_init(nn.Sequential(nn.Linear(1000, 500)))
    bound = (6 / (1000 + 500)) ** 0.5
    w = net[0].weight
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert w.var().item() == pytest.approx(bound ** 2 / 3, rel=0.02)   # uniform(-b, b)


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
    """The whole loop is two short functions a reader can print."""
    fit, epoch = inspect.getsource(utils.fit), inspect.getsource(utils.train_epoch)
    assert "for epoch in range" in fit and "train_epoch(" in fit
    assert "loss.backward()" in epoch and "optimizer.step()" in epoch
    assert len(fit.splitlines()) + len(epoch.splitlines()) < 200


def test_bad_epochs(small_data):
    with pytest.raises(ValueError, match="epochs"):
        utils.fit(tiny_net(), *small_data, epochs=0, lr=0.1, device="cpu")


def test_seed_seeds_the_data_order(small_data):
    """fit(seed=) seeds: the same weights with two seeds see the batches in other orders."""
    torch.manual_seed(0)
    net = tiny_net()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    runs = []
    for seed in (1, 1, 2):
        net.load_state_dict(state)
        torch.manual_seed(123)                       # fit must not depend on this
        runs.append(utils.fit(net, *small_data, epochs=1, lr=0.1, device="cpu", plot=False,
                              progress=False, seed=seed, report=False)["train_loss"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_divergence_stops_with_the_learning_rate(small_data):
    utils.set_seed(0)
    with pytest.raises(utils.DivergedError, match="learning rate 1e\\+06"):
        utils.fit(tiny_net(), *small_data, epochs=3, lr=1e6, device="cpu", plot=False,
                  progress=False, log_every=1)


def test_per_step_losses_are_the_batch_losses(small_data):
    """step_loss averages the batch losses of each group of log_every steps."""
    X, y = next(iter(small_data[0]))
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]   # 4 batches
    utils.set_seed(0)
    net = tiny_net()
    ref = tiny_net()
    ref.load_state_dict(net.state_dict())
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    losses = []
    for xb, yb in batches:
        loss = nn.functional.cross_entropy(ref(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    h = utils.fit(net, batches, None, epochs=1, lr=0.1, device="cpu", log_every=3,
                  plot=False, progress=False, channels_last=False, report=False)
    assert h["step"] == [3, 4] and h["steps_per_epoch"] == 4
    assert h["step_loss"] == pytest.approx([sum(losses[:3]) / 3, losses[3]], rel=1e-5)
    assert "test_acc" not in h and h["train_loss"][0] == pytest.approx(sum(losses) / 4, rel=1e-5)


def test_any_loss_and_metric(small_data):
    """A regression-style loss and a custom metric flow through the same loop."""
    def mse(y_hat, y):
        return nn.functional.mse_loss(y_hat, nn.functional.one_hot(y, 10).float())

    def top2(y_hat, y):
        return (y_hat.topk(2, dim=1).indices == y[:, None]).any(dim=1).sum()

    utils.set_seed(0)
    net = tiny_net()
    h = utils.fit(net, *small_data, epochs=1, lr=0.1, device="cpu", loss_fn=mse,
                  metrics={"top2": top2}, plot=False, progress=False, report=False)
    assert set(h) >= {"train_top2", "test_top2", "test_loss"} and "train_acc" not in h
    probs, labels = utils.probabilities(net, small_data[1], device="cpu")
    ref = (probs.topk(2, dim=1).indices == labels[:, None]).any(dim=1).float().mean().item()
    assert h["test_top2"][-1] == pytest.approx(ref)
    X = torch.cat([x for x, _ in small_data[1]])
    with torch.no_grad():
        ref_loss = mse(net.eval()(X), labels).item()
    assert h["test_loss"][-1] == pytest.approx(ref_loss, rel=1e-5)


def test_scheduler_steps_per_batch(small_data):
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.5,
                                              total_iters=len(small_data[0]))
    utils.fit(net, *small_data, epochs=1, optimizer=opt, scheduler=sched, device="cpu",
              plot=False, progress=False, report=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_stamp_comes_from_the_run(small_data, monkeypatch):
    monkeypatch.setenv("CNN_BOOK_SCALE", "full")
    h = run(small_data, seed=3, scale="smoke")
    assert "scale smoke" in h["stamp"] and "seed 3" in h["stamp"]
    assert "SGD lr 0.1, batch 64" in h["stamp"]


def test_text_progress_for_the_executor(small_data, monkeypatch, capsys):
    """Under the book's executor the bar is plain text in stdout (no widget is stored)."""
    monkeypatch.setenv("CNN_BOOK_PROGRESS", "text")
    utils.set_seed(0)
    utils.fit(tiny_net(), *small_data, epochs=1, lr=0.1, device="cpu", plot=False)
    out = capsys.readouterr().out
    assert "epoch 1/1: 100%" in out and "8/8" in out


def test_plot_outside_jupyter_draws_once(small_data):
    import matplotlib.pyplot as plt
    utils.set_seed(0)
    utils.fit(tiny_net(), *small_data, epochs=1, lr=0.1, device="cpu", progress=False)
    assert len(plt.get_fignums()) == 1


def test_one_cycle_warms_up_to_the_peak_and_anneals(small_data):
    net = tiny_net()
    steps = 2 * len(small_data[0])
    how = utils.one_cycle(net, peak=0.01, steps=steps, weight_decay=0.05)
    opt, sched = how["optimizer"], how["scheduler"]
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.05
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak_at = max(range(steps), key=rates.__getitem__)
    assert rates[peak_at] == pytest.approx(0.01, rel=0.01)   # the peak falls between steps
    assert 0.2 * steps <= peak_at <= 0.4 * steps             # 30% warm-up (torch's default)
    assert rates[0] < 0.01 / 10 and rates[-1] < 0.01 / 1000  # starts low, ends near zero
    with pytest.raises(ValueError, match="steps"):
        utils.one_cycle(net, peak=0.01, steps=0)


def test_stamp_shows_a_one_cycle_peak_not_its_starting_rate(small_data):
    utils.set_seed(0)
    net = tiny_net()
    h = utils.fit(net, *small_data, epochs=1, device="cpu", plot=False, progress=False,
                  report=False, **utils.one_cycle(net, peak=0.003, steps=len(small_data[0])))
    assert h["lr"] == pytest.approx(0.003) and h["schedule"] == "OneCycleLR"
    assert "AdamW one-cycle, peak lr 0.003, batch 64" in h["stamp"]
