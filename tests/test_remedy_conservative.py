"""Conservative: proximal steps decrease their objective, hold the weights near the anchor and
reduce to plain steps."""

import pytest
import torch
import torch.nn.functional as F
from helpers import toy_dataset

import gaputils as gu
from gaputils import remedies
from gaputils.train import TrainConfig


def _problem(seed=0):
    ds = toy_dataset(seed=seed)
    torch.manual_seed(seed)
    net = gu.models.build("F1", (1, 4, 4), 3, width=8, depth=2, batchnorm=False)
    xb, yb = ds.train[0][:32], ds.train[1][:32]
    return net, lambda: F.cross_entropy(net(xb), yb)


def test_proximal_step_decreases_the_proximal_objective():
    for lam in (0.0, 1.0, 10.0):
        net, loss = _problem()
        anchor = gu.params.flat(net).clone()
        before = float(loss().detach())
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        remedies.proximal_step(net, opt, loss, lam, steps=5)
        moved = gu.params.flat(net) - anchor
        after = float(loss().detach()) + lam / 2 * float(moved @ moved)
        assert after < before, (lam, before, after)


def test_proximal_term_holds_the_weights_near_the_anchor():
    dist = {}
    for lam in (0.0, 20.0):
        net, loss = _problem()
        anchor = gu.params.flat(net).clone()
        remedies.proximal_step(net, torch.optim.SGD(net.parameters(), lr=0.05), loss, lam, 5)
        dist[lam] = float((gu.params.flat(net) - anchor).norm())
    assert dist[20.0] < 0.8 * dist[0.0]


def test_proximal_step_reduces_to_the_plain_step():
    plain, loss = _problem()
    opt = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    loss().backward()
    opt.step()
    for lam in (0.0, 3.0):  # one inner step: the proximal gradient is zero at the anchor
        net, loss2 = _problem()
        remedies.proximal_step(net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
                               loss2, lam, steps=1)
        assert torch.equal(gu.params.flat(net), gu.params.flat(plain))
    net, loss3 = _problem()  # lam = 0: plain steps on the batch
    twice, loss4 = _problem()
    o3 = torch.optim.SGD(net.parameters(), lr=0.1)
    o4 = torch.optim.SGD(twice.parameters(), lr=0.1)
    remedies.proximal_step(net, o3, loss3, 0.0, steps=2)
    for _ in range(2):
        o4.zero_grad()
        loss4().backward()
        o4.step()
    assert torch.equal(gu.params.flat(net), gu.params.flat(twice))
    with pytest.raises(ValueError, match="steps >= 1"):
        remedies.proximal_step(net, o3, loss3, 1.0, steps=0)


def test_the_remedy_checks_its_fields():
    with pytest.raises(ValueError, match="lam >= 0"):
        TrainConfig(epochs=1, remedies=(remedies.Conservative(lam=-1.0),))
