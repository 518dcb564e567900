import math

import pytest
import torch
from helpers import toy_dataset
from torch import nn

import gaputils as gu
from gaputils.train import History, TrainConfig, evaluate, fit, lr_factor


def small_net(seed=0, shape=(1, 4, 4), classes=3):
    torch.manual_seed(seed)
    return gu.models.build("F1", shape, classes, width=16, depth=2)


def without_time(h: History) -> dict:
    d = h.to_dict()
    d.pop("seconds")
    return d


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_same_seed_same_history(optimizer):
    ds = toy_dataset()
    cfg = TrainConfig(batch_size=16, lr=0.01, epochs=3, optimizer=optimizer, seed=4,
                      schedule="cosine", warmup_epochs=1)
    runs = []
    for _ in range(2):
        net = small_net()
        runs.append((without_time(fit(net, ds, cfg)), net.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k])
    other = without_time(fit(small_net(), ds, TrainConfig(batch_size=16, lr=0.01, epochs=3,
                                                          optimizer=optimizer, seed=5)))
    assert other != runs[0][0]


def test_history_records_and_learns():
    ds = toy_dataset()
    h = fit(small_net(), ds, TrainConfig(batch_size=16, lr=0.01, epochs=4))
    assert h.step == [0, 6, 12, 18, 24] and h.epoch == [0, 1, 2, 3, 4]
    assert h.weight_distance[0] == 0 and h.weight_distance[-1] > 0
    assert all(b >= a for a, b in zip(h.seconds, h.seconds[1:], strict=False))
    assert h.train_acc[-1] > 0.9 and h.train_loss[-1] < h.train_loss[0]
    assert not h.diverged
    assert History.from_dict(h.to_dict()) == h
    assert h.final()["step"] == 24


def test_steps_and_eval_every():
    ds = toy_dataset()
    h = fit(small_net(), ds, TrainConfig(batch_size=16, steps=10, eval_every=4))
    assert h.step == [0, 4, 8, 10]
    assert h.epoch[-1] == pytest.approx(10 / 6)


def test_evaluate_is_full_batch_whatever_the_chunk():
    ds = toy_dataset(n=50)
    net = small_net()
    net.train()
    a = evaluate(net, *ds.train, batch_size=7)
    b = evaluate(net, *ds.train, batch_size=1000)
    assert a[0] == pytest.approx(b[0], rel=1e-6) and a[1] == b[1]
    assert net.training  # mode restored
    with torch.no_grad():
        net.eval()
        out = net(ds.train[0])
        exact = nn.functional.cross_entropy(out, ds.train[1]).item()
    assert a[0] == pytest.approx(exact, rel=1e-6)


def test_schedules():
    cfg = TrainConfig(epochs=10, schedule="step", milestones=(5, 8), gamma=0.1, warmup_epochs=1)
    f = lambda s: lr_factor(cfg, s, steps_per_epoch=10, total=100)
    assert [f(0), f(4), f(9)] == [0.1, 0.5, 1.0]
    assert f(10) == 1.0 and f(49) == 1.0
    assert f(50) == pytest.approx(0.1) and f(80) == pytest.approx(0.01)
    cos = TrainConfig(epochs=10, schedule="cosine")
    g = lambda s: lr_factor(cos, s, steps_per_epoch=10, total=100)
    assert g(0) == 1.0 and g(50) == pytest.approx(0.5) and g(100) == pytest.approx(0.0)
    assert g(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_lr_is_recorded_from_the_schedule():
    ds = toy_dataset()
    h = fit(small_net(), ds, TrainConfig(batch_size=16, lr=0.1, epochs=3, optimizer="sgd",
                                         schedule="step", milestones=(2,), gamma=0.5))
    assert h.lr == pytest.approx([0.1, 0.1, 0.05, 0.05])


class Explodes(nn.Module):
    """Returns NaN logits from the ``after``-th training forward pass on."""

    def __init__(self, after: int):
        super().__init__()
        self.lin = nn.Linear(16, 3)
        self.after, self.calls = after, 0

    def forward(self, x):
        out = self.lin(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                return out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_history():
    ds = toy_dataset()
    net = Explodes(after=9)  # 6 steps per epoch: epoch 1 completes, epoch 2 diverges
    with pytest.warns(RuntimeWarning, match="loss became nan by step 9"):
        h = fit(net, ds, TrainConfig(batch_size=16, lr=0.01, epochs=5))
    assert h.diverged and "step 6" in h.message and "smaller lr" in h.message
    assert h.step == [0, 6]
    assert all(math.isfinite(v) for v in h.train_loss)


def test_bad_configs():
    with pytest.raises(ValueError, match="exactly one of"):
        TrainConfig()
    with pytest.raises(ValueError, match="exactly one of"):
        TrainConfig(epochs=1, steps=3)
    with pytest.raises(ValueError, match="adam"):
        TrainConfig(epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="cosine"):
        TrainConfig(epochs=1, schedule="linear")
    with pytest.raises(ValueError, match="exceeds"):
        fit(small_net(), toy_dataset(n=10), TrainConfig(batch_size=32, epochs=1))
    broken = toy_dataset()
    broken.train = (broken.train[0], broken.train[1][:-1])
    with pytest.raises(ValueError, match="shape"):
        fit(small_net(), broken, TrainConfig(batch_size=16, epochs=1))


@pytest.mark.gpu
def test_cuda_run_is_deterministic_and_stays_on_device():
    ds = toy_dataset(n=512, n_test=128).to("cuda")
    cfg = TrainConfig(batch_size=64, lr=0.01, epochs=2, bf16=True)
    runs = []
    for _ in range(2):
        net = small_net().cuda()
        runs.append(without_time(fit(net, ds, cfg)))
        assert next(net.parameters()).is_cuda
    assert runs[0] == runs[1]
