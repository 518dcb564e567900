import pytest
import torch
from helpers import toy_dataset
from torch import nn
from torch.func import functional_call

from gaputils import hessian


def tiny(seed=0, dtype=torch.float64):
    """A model small enough for an explicit Hessian (BN and dropout inside: eval mode)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.BatchNorm1d(5), nn.Tanh(),
                        nn.Dropout(0.5), nn.Linear(5, 3)).to(dtype)
    ds = toy_dataset(n=40)
    net.train()
    net(ds.train[0].to(dtype))  # BN running statistics that are not the defaults
    return net, (ds.train[0].to(dtype), ds.train[1])


def explicit_hessian(net, data):
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    net.eval()

    def loss(vec):
        parts = torch.split(vec, [s.numel() for s in shapes])
        params = {n: v.view(s) for n, v, s in zip(names, parts, shapes, strict=True)}
        return nn.functional.cross_entropy(functional_call(net, params, (data[0],)), data[1])

    return torch.autograd.functional.hessian(loss, flat), torch.autograd.functional.jacobian(
        loss, flat)


def test_gradient_and_hvp_match_explicit_ones():
    net, data = tiny()
    h, g = explicit_hessian(net, data)
    net.train()  # the functions must switch to eval mode themselves
    f, grad = hessian.gradient(net, data)
    torch.testing.assert_close(grad, g)
    v = torch.randn(h.shape[0], dtype=torch.float64)
    torch.testing.assert_close(hessian.hvp(net, data, v), h @ v)
    assert net.training  # mode restored


def test_hvp_does_not_depend_on_the_chunk_size():
    net, data = tiny()
    v = torch.randn(sum(p.numel() for p in net.parameters()), dtype=torch.float64)
    torch.testing.assert_close(hessian.hvp(net, data, v, chunk=7), hessian.hvp(net, data, v))


def test_bad_vector():
    net, data = tiny()
    with pytest.raises(ValueError, match="flat vector"):
        hessian.hvp(net, data, torch.zeros(3, dtype=torch.float64))
