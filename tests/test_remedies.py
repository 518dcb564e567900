"""gaputils.remedies and the remedy options of train.fit: each does what it promises, and each
is part of the cache key."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from helpers import toy_dataset
from torch import nn

import gaputils as gu
from gaputils import remedies
from gaputils.train import REMEDY_FIELDS, TrainConfig, fit

MEAN, STD = (0.3,), (0.4,)


def images(n=8, c=1, h=6, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(n, c, h, w, generator=g)  # intensities in [0, 1]
    return (pixels - MEAN[0]) / STD[0]


# ---- augmentation -----------------------------------------------------------------------


def test_augment_keeps_shape_and_is_seeded():
    x = images()
    a = remedies.augment(x, torch.Generator().manual_seed(3), shift=2, flip=True,
                         mean=MEAN, std=STD)
    b = remedies.augment(x, torch.Generator().manual_seed(3), shift=2, flip=True,
                         mean=MEAN, std=STD)
    c = remedies.augment(x, torch.Generator().manual_seed(4), shift=2, flip=True,
                         mean=MEAN, std=STD)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(remedies.augment(x, torch.Generator(), 0, False), x)


def test_augment_shifts_each_image_within_range_and_pads_black():
    n, h, w, s = 64, 7, 7, 2
    x = torch.full((n, 1, h, w), -MEAN[0] / STD[0])  # black images ...
    x[:, 0, 3, 3] = 5.0  # ... with one bright pixel in the middle
    out = remedies.augment(x, torch.Generator().manual_seed(0), shift=s, mean=MEAN, std=STD)
    assert torch.all((out == 5.0).flatten(1).sum(1) == 1)  # the pixel survives, moved
    pos = (out[:, 0] == 5.0).nonzero()[:, 1:]
    moves = pos - 3
    assert moves.abs().max() == s and len({tuple(m) for m in moves.tolist()}) > 10
    others = out[out != 5.0]
    assert torch.allclose(others, torch.tensor(-MEAN[0] / STD[0]))


def test_augment_flip_mirrors_about_half():
    x = images(n=200)
    out = remedies.augment(x, torch.Generator().manual_seed(1), flip=True)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored) and 70 < int(mirrored.sum()) < 130



def test_augment_returns_the_input_layout():
    # loading gives one-channel images strides of the channels-last kind; a convolution picks
    # its (much slower, on the CPU) kernel from the strides, so augmentation must keep them
    x = torch.empty_strided((8, 1, 6, 5), (30, 1, 5, 1)).copy_(images())  # as loading gives
    out = remedies.augment(x, torch.Generator().manual_seed(0), shift=2, flip=True)
    assert out.stride() == x.stride()
    wide = torch.randn(4, 3, 6, 6)
    assert remedies.augment(wide, torch.Generator(), 1, True).stride() == wide.stride()

# ---- conservative training ---------------------------------------------------------------


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


# ---- adversarial examples ----------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 4])
def test_adversarial_examples_stay_in_their_ball_and_raise_the_loss(steps):
    ds = toy_dataset(shape=(1, 6, 5))
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 6, 5), 3, width=16, depth=2)
    fit(net, ds, TrainConfig(batch_size=16, lr=0.05, epochs=3), progress=False)
    x = images(n=48)
    y = ds.train[1][:48]
    eps = 8 / 255
    stats = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.train()
    net.zero_grad(set_to_none=True)
    adv = remedies.adversarial(net, x, y, eps, steps, MEAN, STD,
                               torch.Generator().manual_seed(0))
    pix, pix_adv = x * STD[0] + MEAN[0], adv * STD[0] + MEAN[0]
    assert (pix_adv - pix).abs().max() <= eps + 1e-6
    assert pix_adv.min() >= -1e-6 and pix_adv.max() <= 1 + 1e-6
    assert net.training and all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in stats.items())
    net.eval()
    with torch.no_grad():
        assert F.cross_entropy(net(adv), y) > F.cross_entropy(net(x), y)


# ---- batch-size schedules ----------------------------------------------------------------


@pytest.mark.parametrize("n,b", [(100, 32), (100, 25), (7, 7), (10, 3), (5, 9)])
def test_epoch_sizes_partition_the_data(n, b):
    sizes = remedies.epoch_sizes(n, min(b, n))
    assert sum(sizes) == n and max(sizes) <= b and max(sizes) - min(sizes) <= 1
    assert len(sizes) == -(-n // min(b, n))


def test_every_schedule_visits_each_example_once_per_epoch_with_its_sizes():
    n, epochs = 50, 6
    factor = lambda e: 0.5 ** (e // 2)
    for sched in (remedies.warm_start(4, 20, 2, epochs), remedies.geometric(4, 20, 2, epochs),
                  remedies.increase_instead_of_decay(4, 20, epochs, factor)):
        seen = {}
        for e, idx in remedies.epoch_batches(n, sched, epochs, torch.Generator().manual_seed(0)):
            seen.setdefault(e, []).append(idx)
        assert sorted(seen) == list(range(epochs))
        for e, (b, _) in enumerate(remedies.per_epoch(sched, epochs)):
            assert sorted(torch.cat(seen[e]).tolist()) == list(range(n))
            assert [len(i) for i in seen[e]] == remedies.epoch_sizes(n, b)
        assert remedies.schedule_steps(n, sched, epochs) == sum(map(len, seen.values()))


def test_schedules_promise_the_right_sizes():
    assert [b for b, _ in remedies.per_epoch(remedies.warm_start(4, 20, 2, 5), 5)] == [
        4, 4, 20, 20, 20]
    assert remedies.warm_start(4, 20, 0, 5) == ((0, 20, 1.0),)
    assert remedies.warm_start(4, 20, 5, 5) == ((0, 4, 1.0),)
    assert [b for b, _ in remedies.per_epoch(remedies.geometric(4, 20, 2, 9), 9)] == [
        4, 4, 8, 8, 16, 16, 20, 20, 20]
    smith = remedies.per_epoch(remedies.increase_instead_of_decay(4, 20, 8, lambda e: 0.5 ** (
        e // 2)), 8)
    # the batch takes the decay (x2 every 2 epochs) until 20, then the rate takes the rest;
    # lr / batch follows the original schedule: factor / 4
    assert [b for b, _ in smith] == [4, 4, 8, 8, 16, 16, 20, 20]
    for e, (b, m) in enumerate(smith):
        assert m / b == pytest.approx(0.5 ** (e // 2) / 4)
    with pytest.raises(ValueError, match="starting at 0"):
        remedies.per_epoch(((1, 4, 1.0),), 3)


# ---- the options of fit ------------------------------------------------------------------

REMEDIES = {"augment_shift": 2, "augment_flip": True, "proximal": 1.0, "inner_steps": 3,
            "adv_eps": 0.03, "adv_steps": 3, "adv_ratio": 0.25,
            "batch_schedule": ((0, 16, 1.0), (1, 32, 1.0)), "ghost_batch": 4, "noise_batch": 4,
            "distance_every": 1, "sam_rho": 0.05, "sam_adaptive": True, "stop_below": 0.5}


def test_defaults_keep_the_old_cache_key_and_every_remedy_changes_it():
    base = TrainConfig(batch_size=16, epochs=2)
    assert not set(REMEDY_FIELDS) & set(base.as_dict())
    assert set(REMEDIES) == set(REMEDY_FIELDS)
    ds = toy_dataset()
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 4, 4), 3, width=8, depth=2)
    parts = lambda cfg: {"init": gu.cache.state_digest(net), "data": ds.fingerprint,
                         "config": cfg.as_dict()}
    keys = {gu.cache.key(parts(base))}
    for name, value in REMEDIES.items():
        keys.add(gu.cache.key(parts(dataclasses.replace(base, **{name: value}))))
    assert len(keys) == 1 + len(REMEDIES)


def _run(**kw):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 6, 6), 3, width=8, depth=2)
    h = fit(net, ds, TrainConfig(batch_size=16, lr=0.05, epochs=3, **kw), progress=False)
    return gu.params.flat(net), h


@pytest.mark.parametrize("kw", [dict(augment_shift=1, augment_flip=True),
                                dict(proximal=2.0, inner_steps=2),
                                dict(adv_eps=0.05, adv_steps=2),
                                dict(batch_schedule=((0, 16, 1.0), (1, 40, 0.5))),
                                dict(ghost_batch=4), dict(noise_batch=4)])
def test_each_remedy_is_deterministic_and_changes_the_run(kw):
    plain, _ = _run()
    w1, h1 = _run(**kw)
    w2, h2 = _run(**kw)
    assert torch.equal(w1, w2) and h1.test_acc == h2.test_acc
    assert not torch.equal(w1, plain)


def test_batch_schedule_run_counts_steps_and_epochs():
    sched = remedies.geometric(16, 64, 1, 3)
    _, h = _run(batch_schedule=sched)
    assert h.step[-1] == remedies.schedule_steps(96, sched, 3) == 6 + 3 + 2
    assert h.epoch == [0.0, 1.0, 2.0, 3.0]


def test_remedy_options_are_checked():
    with pytest.raises(ValueError, match="first batch size"):
        TrainConfig(batch_size=8, epochs=2, batch_schedule=((0, 16, 1.0),))
    with pytest.raises(ValueError, match="whole number of epochs"):
        TrainConfig(batch_size=16, steps=20, batch_schedule=((0, 16, 1.0),))
    with pytest.raises(ValueError, match="adv_ratio"):
        TrainConfig(batch_size=16, epochs=1, adv_eps=0.1, adv_ratio=0.0)
    ds = dataclasses.replace(toy_dataset(), name="mnist")
    with pytest.raises(ValueError, match="digits"):
        fit(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), ds,
            TrainConfig(batch_size=16, epochs=1, augment_flip=True), progress=False)


def test_distance_every_records_the_weight_distance_between_evaluations():
    w_plain, h_plain = _run()
    w, h = _run(distance_every=2)
    assert torch.equal(w, w_plain)  # recording does not change the run
    assert h.distance_step == list(range(2, h.step[-1] + 1, 2))
    at_evals = dict(zip(h.step, h.weight_distance, strict=True))
    for s, d in zip(h.distance_step, h.distance, strict=True):
        if s in at_evals:
            assert d == pytest.approx(at_evals[s], rel=1e-6)
    assert h_plain.distance == [] and "distance_every" not in h_plain.config


def test_lr_rules_and_regime_adaptation():
    assert remedies.scale_lr(0.1, 512, 32, "none") == 0.1
    assert remedies.scale_lr(0.1, 512, 32, "sqrt") == pytest.approx(0.4)
    assert remedies.scale_lr(0.1, 512, 32, "linear") == pytest.approx(1.6)
    with pytest.raises(ValueError, match="choose one of"):
        remedies.scale_lr(0.1, 512, 32, "cubic")
    cfg = TrainConfig(batch_size=64, epochs=10, schedule="step", milestones=(4, 8),
                      warmup_epochs=1)
    ra = remedies.adapt_regime(cfg, 4)
    assert (ra.epochs, ra.milestones, ra.warmup_epochs) == (40, (16, 32), 4)
    # the 4x larger batch takes as many steps, with its learning-rate changes at the same steps
    big = dataclasses.replace(ra, batch_size=256)
    assert big.total_steps(1024) == cfg.total_steps(1024) == 160
    lrs = lambda c: [gu.train.lr_factor(c, t, 1024 // c.batch_size, 160) for t in range(160)]
    assert lrs(big) == lrs(cfg) and len(set(lrs(cfg))) > 3
    assert remedies.adapt_regime(TrainConfig(steps=10), 2.5).steps == 25
