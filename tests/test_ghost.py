"""Ghost BatchNorm: plain BatchNorm at g = N, BatchNorm per contiguous chunk otherwise, one
running-statistics update per batch, plain BatchNorm in evaluation, swaps that keep tensors."""

import pytest
import torch
from torch import nn

import gaputils as gu
from gaputils.ghost import GhostBatchNorm1d, GhostBatchNorm2d, to_ghost, to_plain
from gaputils.remedies import GhostBN
from gaputils.train import TrainConfig, fit
from tests.helpers import toy_dataset

SHAPES = {GhostBatchNorm2d: (nn.BatchNorm2d, (3, 5, 5)), GhostBatchNorm1d: (nn.BatchNorm1d, (3,))}


def _pair(cls, ghost_size, **kw):
    plain_cls, shape = SHAPES[cls]
    torch.manual_seed(0)
    plain = plain_cls(3, **kw)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 2), plain.bias.uniform_(-1, 1)
        plain.running_mean.uniform_(-1, 1), plain.running_var.uniform_(0.5, 2)
    ghost = cls(3, ghost_size, **kw)
    ghost.load_state_dict(plain.state_dict())
    return plain, ghost, shape


def _input(n, shape, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, *shape, generator=g) * 3 + 1).requires_grad_(True)


@pytest.mark.parametrize("cls", [GhostBatchNorm2d, GhostBatchNorm1d])
def test_ghost_size_of_the_batch_is_batchnorm_exactly(cls):
    plain, ghost, shape = _pair(cls, 12)
    x = _input(12, shape)
    for bn in (plain, ghost):
        bn(x).pow(3).sum().backward()
    assert torch.equal(plain(x), ghost(x))
    for a, b in zip(plain.state_dict().values(), ghost.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(plain.weight.grad, ghost.weight.grad)


@pytest.mark.parametrize("cls", [GhostBatchNorm2d, GhostBatchNorm1d])
@pytest.mark.parametrize("n,g", [(12, 4), (14, 4), (11, 3)])
def test_ghost_batches_are_batchnorm_on_each_contiguous_chunk(cls, n, g):
    plain, ghost, shape = _pair(cls, g)
    x = _input(n, shape)
    w = torch.randn(n, *shape, generator=torch.Generator().manual_seed(2))
    out = ghost(x)
    ref = torch.cat([plain(chunk) for chunk in x.split(g)])  # a chunk of n mod g at the end
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    (gx,) = torch.autograd.grad((out * w).sum(), x)
    (rx,) = torch.autograd.grad((ref * w).sum(), x)
    torch.testing.assert_close(gx, rx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_update_once_with_the_size_weighted_ghost_average(momentum):
    plain, ghost, shape = _pair(GhostBatchNorm2d, 4, momentum=momentum)
    mean0, var0 = ghost.running_mean.clone(), ghost.running_var.clone()
    x = _input(10, shape).detach()  # ghost batches of 4, 4 and 2
    ghost(x)
    chunks = x.split(4)
    sizes = torch.tensor([len(c) for c in chunks], dtype=torch.float32)
    means = torch.stack([c.mean((0, 2, 3)) for c in chunks])
    varis = torch.stack([c.transpose(0, 1).reshape(3, -1).var(1) for c in chunks])
    avg = lambda v: (sizes[:, None] * v).sum(0) / sizes.sum()
    m = 1.0 if momentum is None else momentum  # the first batch of a cumulative average
    torch.testing.assert_close(ghost.running_mean, (1 - m) * mean0 + m * avg(means))
    torch.testing.assert_close(ghost.running_var, (1 - m) * var0 + m * avg(varis))
    assert ghost.num_batches_tracked.item() == 1


def test_evaluation_is_plain_batchnorm_with_the_running_statistics():
    plain, ghost, shape = _pair(GhostBatchNorm2d, 4)
    plain.eval(), ghost.eval()
    x = _input(12, shape)
    assert torch.equal(plain(x), ghost(x))
    assert torch.equal(ghost.running_mean, plain.running_mean)  # untouched


def test_bad_ghost_sizes_and_batches_get_clear_errors():
    with pytest.raises(ValueError, match=">= 2"):
        GhostBatchNorm2d(3, 1)
    with pytest.raises(ValueError, match="track_running_stats"):
        GhostBatchNorm1d(3, 4, track_running_stats=False)
    with pytest.raises(ValueError, match="variance is undefined"):
        GhostBatchNorm1d(3, 4)(torch.randn(9, 3))


def _net():
    torch.manual_seed(0)
    return gu.models.build("C1", (1, 8, 8), 3, channels=(2, 3), hidden=(5,), dropout=0.0)


def test_swaps_keep_the_very_tensors_and_the_function():
    net = _net()
    tensors = {k: v for k, v in net.state_dict(keep_vars=True).items()}
    x = torch.randn(6, 1, 8, 8)
    net.eval()
    before = net(x)
    to_ghost(net, 4)
    kinds = [type(m) for m in net.modules()]
    assert GhostBatchNorm2d in kinds and GhostBatchNorm1d in kinds
    assert nn.BatchNorm2d not in kinds and nn.BatchNorm1d not in kinds
    for k, v in net.state_dict(keep_vars=True).items():
        assert v is tensors[k], k
    assert torch.equal(net(x), before) and not net.training
    to_ghost(net, 3)  # a new size for the ghost layers already there
    assert {m.ghost_size for m in net.modules() if hasattr(m, "ghost_size")} == {3}
    to_plain(net)
    assert not any(hasattr(m, "ghost_size") for m in net.modules())
    assert all(v is tensors[k] for k, v in net.state_dict(keep_vars=True).items())


def test_swaps_refuse_models_without_batchnorm():
    with pytest.raises(ValueError, match="no BatchNorm"):
        to_ghost(nn.Sequential(nn.Linear(3, 3)), 4)
    with pytest.raises(ValueError, match="wrap it"):
        to_ghost(nn.BatchNorm1d(3), 4)


def test_fit_with_ghost_batches_trains_differently_and_returns_plain_batchnorm():
    ds = toy_dataset(n=64, shape=(1, 8, 8))
    runs = {}
    for g in (0, 4, 16):
        net = _net()
        ghost = (GhostBN(g),) if g else ()
        fit(net, ds, TrainConfig(batch_size=16, lr=0.05, epochs=2, remedies=ghost),
            progress=False)
        assert not any(hasattr(m, "ghost_size") for m in net.modules())
        runs[g] = gu.params.flat(net)
    assert not torch.equal(runs[4], runs[0])
    assert torch.equal(runs[16], runs[0])  # one ghost batch of the whole batch is BatchNorm
