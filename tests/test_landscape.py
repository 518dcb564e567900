import copy

import numpy as np
import pytest
import torch
from helpers import assert_same_state, state, toy_dataset, trained
from torch import nn

from gaputils import landscape as ls
from gaputils import params, reparam
from gaputils.train import evaluate


def test_filter_normalization():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 5, 3), nn.BatchNorm2d(5), nn.ReLU(), nn.Flatten(),
                        nn.Linear(5 * 4 * 4, 3))
    d = ls.random_direction(net, seed=1)
    offset = 0
    for p in net.parameters():
        part = d[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
        if p.dim() == 1:
            assert torch.all(part == 0)  # biases and BN parameters ignored
        else:
            dims = tuple(range(1, p.dim()))
            vn = torch.linalg.vector_norm
            torch.testing.assert_close(vn(part, dim=dims), vn(p.detach(), dim=dims))
    assert torch.equal(d, ls.random_direction(net, seed=1))
    assert not torch.equal(d, ls.random_direction(net, seed=2))
    raw = ls.random_direction(net, filter_norm=False, seed=1)
    weights = torch.cat([p.detach().reshape(-1) for p in net.parameters() if p.dim() > 1])
    torch.testing.assert_close(raw.norm(), weights.norm())
    with_bias = ls.random_direction(net, ignore=None, seed=1)
    assert with_bias[-3:].abs().sum() > 0
    with pytest.raises(ValueError, match="biasbn"):
        ls.random_direction(net, ignore="bn")


def test_interpolation_reproduces_the_endpoints():
    a, ds = trained(0)
    b, _ = trained(1, bs=32)
    before_a, before_b = state(a), state(b)
    res = ls.interpolate(a, b, ds.train, ds.test, alphas=[0.0, 1.0], bn="interpolate")
    for i, net in enumerate((a, b)):
        assert res["train_loss"][i] == pytest.approx(evaluate(net, *ds.train)[0], rel=1e-6)
        assert res["test_acc"][i] == evaluate(net, *ds.test)[1]
    rec = ls.interpolate(a, b, ds.train, alphas=[0.0, 1.0], bn_batch=16)
    assert "test_loss" not in rec
    for i, net in enumerate((a, b)):
        with ls.restored(net):
            ls.recompute_bn(net, ds.train[0], 16)
            expected = evaluate(net, *ds.train)[0]
        assert rec["train_loss"][i] == pytest.approx(expected, rel=1e-6)
    assert_same_state(before_a, state(a))
    assert_same_state(before_b, state(b))
    with pytest.raises(ValueError, match="recompute"):
        ls.interpolate(a, b, ds.train, bn="keep")


def test_recompute_bn_is_the_average_over_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = torch.randn(40, 3)
    ls.recompute_bn(net, x, batch_size=10)
    with torch.no_grad():
        h = net[0](x).view(4, 10, 4)
    torch.testing.assert_close(net[1].running_mean, h.mean(1).mean(0))
    torch.testing.assert_close(net[1].running_var, h.var(1, unbiased=True).mean(0))
    assert net[1].momentum == 0.1 and not net.training
    # a loader's shorter last batch (10, 10, 5) counts by its size: the mean is that of all 25
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:25], x[:25, 0]),
                                         batch_size=10)
    ls.recompute_bn(net, loader)
    with torch.no_grad():
        h = net[0](x[:25])
    parts = h.split(10)
    torch.testing.assert_close(net[1].running_mean, h.mean(0))
    torch.testing.assert_close(net[1].running_var,
                               sum(len(q) * q.var(0) for q in parts) / 25)


def test_line_and_plane_points_are_where_they_say():
    net, ds = trained()
    d1, d2 = ls.random_direction(net, seed=0), ls.random_direction(net, seed=1)
    base = evaluate(net, *ds.train)[0]
    res = ls.line(net, d1, ds.train, span=0.5, n=5)
    assert res["t"][2] == 0 and res["loss"][2] == pytest.approx(base, rel=1e-6)
    pl = ls.plane(net, d1, d2, ds.train, span=0.5, n=5)
    assert pl["loss"].shape == (5, 5) and pl["loss"][2, 2] == pytest.approx(base, rel=1e-6)
    i, j = 0, 4  # b = t[0] = -0.5, a = t[4] = +0.5
    with ls.restored(net):
        params.set_flat(net, params.flat(net) + 0.5 * d1 - 0.5 * d2)
        expected = evaluate(net, *ds.train)[0]
    assert pl["loss"][i, j] == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(pl["loss"][2], ls.line(net, d1, ds.train, 0.5, 5)["loss"],
                               rtol=1e-6)


def test_weights_restored_even_after_an_error(monkeypatch):
    net, ds = trained()
    before = state(net)
    d = ls.random_direction(net)
    ls.line(net, d, ds.train, n=3)
    ls.plane(net, d, d, ds.train, n=3)
    assert_same_state(before, state(net))
    calls = []

    def flaky(model, data, loss_fn=None, chunk=4096):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("interrupted")
        return 0.0, 0.0

    monkeypatch.setattr(ls.batches, "evaluate", flaky)
    with pytest.raises(RuntimeError, match="interrupted"):
        ls.plane(net, d, d, ds.train, n=3)
    assert_same_state(before, state(net))
    other, _ = trained(1)
    with pytest.raises(RuntimeError, match="interrupted"):
        calls.clear()
        ls.interpolate(net, other, ds.train, alphas=np.linspace(0, 1, 5))
    assert_same_state(before, state(net))
    with pytest.raises(ValueError, match="flat vector"):
        ls.line(net, d[:-1], ds.train)


def test_loss_increase_matches_the_line():
    net, ds = trained()
    ups = ls.loss_increase(net, ds.train, distance=0.5, num_directions=2, seed=3)
    base = evaluate(net, *ds.train)[0]
    res = ls.line(net, ls.random_direction(net, seed=4), ds.train, span=0.5, n=3)
    assert ups.shape == (2,) and ups[1] == pytest.approx(res["loss"][2] - base, rel=1e-5)
    before = state(net)
    fresh = ls.loss_increase(net, ds.train, distance=0.5, num_directions=2, seed=3,
                             bn="recompute")
    assert_same_state(state(net), before)
    # by hand: re-estimated statistics at the minimizer and at the perturbed point
    d = ls.random_direction(net, seed=4)
    probe, x0 = copy.deepcopy(net), params.flat(net)
    ls.recompute_bn(probe, ds.train[0])
    f0 = evaluate(probe, *ds.train)[0]
    params.set_flat(probe, x0 + 0.5 * d)
    ls.recompute_bn(probe, ds.train[0])
    assert fresh[1] == pytest.approx(evaluate(probe, *ds.train)[0] - f0, rel=1e-5)
    assert ls.loss_increase(net, ds.train, 0.0, 1, bn="recompute")[0] == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="bn must be"):
        ls.loss_increase(net, ds.train, 0.5, 1, bn="interpolate")


@pytest.mark.parametrize("with_bn", [True, False])
def test_rescaling_keeps_the_function(with_bn):
    torch.manual_seed(0)
    if with_bn:
        net, ds = trained()
    else:
        ds = toy_dataset()
        net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = ds.train[0]
    with torch.no_grad():
        before = net(x)
    w_before = net[reparam.affine_layers(net)[0]].weight.clone()
    reparam.rescale(net, 0, 10.0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), before, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net[reparam.affine_layers(net)[0]].weight, 10 * w_before)
    with pytest.raises(ValueError, match="positive"):
        reparam.rescale(net, 0, -1.0)
    with pytest.raises(ValueError, match="last affine"):
        reparam.rescale(net, len(reparam.affine_layers(net)) - 1, 2.0)


def test_filter_normalized_slices_ignore_rescaling():
    net, ds = trained()
    d = ls.random_direction(net, seed=0)
    before = ls.line(net, d, ds.train, span=1.0, n=5)["loss"]
    raw_before = ls.line(net, ls.random_direction(net, filter_norm=False), ds.train, 1.0, 5)
    reparam.rescale(net, 0, 5.0)
    after = ls.line(net, ls.random_direction(net, seed=0), ds.train, span=1.0, n=5)["loss"]
    np.testing.assert_allclose(after, before, rtol=1e-3)
    raw_after = ls.line(net, ls.random_direction(net, filter_norm=False), ds.train, 1.0, 5)
    assert not np.allclose(raw_after["loss"], raw_before["loss"], rtol=1e-2)


def test_describe_interpolation_reads_the_arrays():
    a = np.linspace(-1, 2, 13)  # step 0.25: 0, 0.5 and 1 on the grid
    loss = 1 + (a - 0.5) ** 2
    loss[(a > 0) & (a < 1)] = 2.0  # a barrier of 2 - 1.25 = 0.75
    naive = {"train_loss": np.where((a < -0.6) | (a > 1.6), np.nan, loss)}
    acc = np.where((a > 0) & (a < 1), 0.9, 1.0)
    text = ls.describe_interpolation({"alpha": a, "train_loss": loss, "train_acc": acc}, naive)
    assert "train accuracy drops to 90.0% (ends 100.0%, 100.0%)" in text
    assert "training-error barrier 10.0 points: beyond" in text
    assert "SB 1.2500, LB 1.2500" in text and "barrier between the minimizers: 0.750" in text
    assert "at 4 of 13 points: alpha in [-1.00, -0.75]; [1.75, 2.00]" in text
    assert ls._runs(a, a == 0.5) == [(0.5, 0.5)]
