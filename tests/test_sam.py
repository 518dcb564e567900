"""SAM and ASAM: the perturbation's length, the update equals one base step with the gradient at
the perturbed point, rho = 0 is the base optimizer, BatchNorm statistics move once per step."""

import copy

import pytest
import torch
import torch.nn.functional as F

import gaputils as gu
from gaputils import sam
from gaputils.remedies import SAM, Conservative
from gaputils.train import TrainConfig, fit
from tests.helpers import toy_dataset


def _setup(seed=0):
    torch.manual_seed(seed)
    net = gu.models.build("C1", (1, 8, 8), 3, channels=(2, 3), hidden=(5,), dropout=0.0)
    g = torch.Generator().manual_seed(1)
    return net, torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 3, (16,), generator=g)


def _loss(net, x, y):
    return lambda: F.cross_entropy(net(x), y)


def _grads(net, loss_fn):
    net.zero_grad(set_to_none=True)
    loss_fn().backward()
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("adaptive", [False, True])
def test_the_perturbation_has_length_rho_in_the_right_norm(adaptive):
    net, x, y = _setup()
    grads = _grads(net, _loss(net, x, y))
    params = list(net.parameters())
    e = sam.perturbation(params, 0.05, adaptive=adaptive, eta=0.01)
    scale = [p.abs() + 0.01 if adaptive and p.dim() > 1 else torch.ones_like(p) for p in params]
    norm = torch.sqrt(sum(((d / t) ** 2).sum() for d, t in zip(e, scale, strict=True)))
    assert norm.item() == pytest.approx(0.05, rel=1e-5)
    # e = c T^2 g with one constant c: T = 1 for biases and norm parameters (one dimension)
    ratios = [(d / (t**2 * g))[g.abs() > 1e-6] for d, t, g in zip(e, scale, grads, strict=True)]
    c = torch.cat(ratios)
    torch.testing.assert_close(c, torch.full_like(c, c[0].item()), rtol=1e-4, atol=0)


@pytest.mark.parametrize("adaptive", [False, True])
def test_a_sam_step_is_a_base_step_with_the_gradient_at_the_perturbed_point(adaptive):
    net, x, y = _setup()
    twin = copy.deepcopy(net)
    sam.step(net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), _loss(net, x, y),
             0.05, adaptive)
    # by hand on the twin: the gradient at w, then at w + e, applied at w
    params, twin_loss = list(twin.parameters()), _loss(twin, x, y)
    _grads(twin, twin_loss)
    e = sam.perturbation(params, 0.05, adaptive)
    w = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, d in zip(params, e, strict=True):
            p.add_(d)
    with sam.frozen_batchnorm_statistics(twin):
        far = _grads(twin, twin_loss)
    with torch.no_grad():
        for p, w0, g in zip(params, w, far, strict=True):
            p.copy_(w0)
            p.grad = g
    torch.optim.SGD(params, lr=0.1, momentum=0.9).step()
    for a, b in zip(net.state_dict().values(), twin.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    moved = sum((a - b).abs().sum() for a, b in zip(net.parameters(), w, strict=True))
    assert moved > 0


def test_rho_zero_is_the_base_optimizer_exactly_and_statistics_move_once():
    net, x, y = _setup()
    plain = copy.deepcopy(net)
    opt = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
    _grads(plain, _loss(plain, x, y))
    opt.step()
    sam.step(net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), _loss(net, x, y), 0.0)
    for a, b in zip(net.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # weights and BatchNorm buffers alike


def test_a_sam_step_moves_batchnorm_statistics_as_its_first_pass_alone():
    net, x, y = _setup()
    first = copy.deepcopy(net)
    first(x)  # one forward pass in training mode, no step
    sam.step(net, torch.optim.SGD(net.parameters(), lr=0.1), _loss(net, x, y), 0.5,
             adaptive=True)
    stats = lambda m: {k: v for k, v in m.state_dict().items() if "running" in k or "tracked" in k}
    assert stats(net)
    for (k, a), b in zip(stats(net).items(), stats(first).values(), strict=True):
        assert torch.equal(a, b), k


def test_fit_with_sam_is_deterministic_and_a_cache_key_option():
    ds = toy_dataset(n=64, shape=(1, 8, 8))
    out = []
    for rho in (0.05, 0.05, 0.0):
        torch.manual_seed(0)
        net = gu.models.build("C1", (1, 8, 8), 3, channels=(2, 3), hidden=(5,), dropout=0.0)
        fit(net, ds, TrainConfig(batch_size=16, lr=0.05, epochs=2, grad_clip=5.0,
                                 remedies=(SAM(rho),) if rho else ()), progress=False)
        out.append(gu.params.flat(net))
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])
    assert TrainConfig(epochs=1, remedies=(SAM(0.05),)).as_dict()["sam_rho"] == 0.05
    assert "sam_rho" not in TrainConfig(epochs=1).as_dict()
    with pytest.raises(ValueError, match="SAM and Conservative both replace"):
        TrainConfig(epochs=1, remedies=(SAM(0.05), Conservative(1.0, 3)))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_under_bf16_autocast_is_finite_deterministic_and_moves_bn_once(adaptive, device):
    ds = toy_dataset(n=256, n_test=64, shape=(1, 8, 8)).to(device)
    cfg = TrainConfig(batch_size=32, lr=0.05, optimizer="sgd", epochs=2, bf16=True,
                      remedies=(SAM(0.5 if adaptive else 0.05, adaptive=adaptive),),
                      schedule="cosine", grad_clip=5.0)
    out = []
    for _ in range(2):
        net, _, _ = _setup()
        net = net.to(device)
        h = fit(net, ds, cfg, progress=False)
        assert not h.diverged and all(torch.isfinite(torch.tensor(h.train_loss)))
        out.append(gu.params.flat(net))
        bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert int(bn.num_batches_tracked) == 2 * (256 // 32)  # one update per step
    assert torch.equal(out[0], out[1])
