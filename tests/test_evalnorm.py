import pytest
import torch
from torch import nn

from gaputils import ghost, hessian
from gaputils.batches import EvalMode, loss_sum, trainable
from gaputils.evalnorm import affine_layers, affine_norms


def net_with_norms(seed=0):
    """Every kind of BatchNorm the rewrite handles, with running statistics that are not the
    defaults, and one it must leave alone (no running statistics: batch statistics in eval)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
        ghost.GhostBatchNorm2d(4, ghost_size=5), nn.Conv2d(4, 4, 3),
        nn.BatchNorm2d(4, affine=False), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, 6),
        nn.BatchNorm1d(6), nn.Tanh(), nn.BatchNorm1d(6, track_running_stats=False),
        nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(30, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    net.train()
    for _ in range(3):
        net(x)
    with torch.no_grad():  # weights and biases that are not the defaults either
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.uniform_(0.5, 2.0)
                m.bias.normal_(0, 0.5)
    return net.eval(), (x, y)


def test_only_plain_eval_layers_with_running_statistics_are_rewritten():
    net, (x, _) = net_with_norms()
    layers = affine_layers(net)
    assert layers == [net[1], net[3], net[5], net[9]]  # not the one without running statistics
    net[1].train()
    assert net[1] not in affine_layers(net)  # training mode normalizes with the batch


def test_the_affine_map_gives_batch_norms_values_and_is_undone_on_exit():
    net, (x, _) = net_with_norms()
    with torch.no_grad():
        native = net(x)
        with affine_norms(net) as layers:
            assert all("forward" in m.__dict__ for m in layers)
            rewritten = net(x)
    torch.testing.assert_close(rewritten, native, rtol=1e-12, atol=1e-12)
    assert not any("forward" in m.__dict__ for m in net.modules())
    with pytest.raises(RuntimeError, match="inside"), affine_norms(net):
        raise RuntimeError("an error inside")
    assert not any("forward" in m.__dict__ for m in net.modules())  # undone after an error too


def native_hvp(net, data, v):
    """H v by a double backward through PyTorch's own batch_norm."""
    params = [p for _, p in trainable(net)]
    with EvalMode(net):
        loss = loss_sum(net, *data, None)[0] / len(data[1])
        grads = torch.autograd.grad(loss, params, create_graph=True)
        parts = torch.split(v, [p.numel() for p in params])
        dot = sum((g * u.view_as(g)).sum() for g, u in zip(grads, parts, strict=True))
        return torch.cat([h.reshape(-1) for h in torch.autograd.grad(dot, params)])


@pytest.mark.parametrize("method,chunk", [("rr", None), ("rr", 7), ("fr", None)])
def test_hessian_vector_products_match_the_native_double_backward(method, chunk):
    net, data = net_with_norms()
    if chunk:  # batch statistics would make the loss depend on the chunks
        net[11] = nn.Identity()
    op = hessian.HessianOperator(net, data, chunk=chunk, method=method)
    v = torch.randn(op.n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(op @ v, native_hvp(net, data, v), rtol=1e-10, atol=1e-12)
    assert not any("forward" in m.__dict__ for m in net.modules())


def test_strided_only_keeps_the_native_kernel_on_contiguous_activations():
    net, (x, y) = net_with_norms()
    with torch.no_grad():
        native = net(x)
        with affine_norms(net, strided_only=True):
            contiguous = net(x)
        with affine_norms(net, strided_only=True):
            strided = net(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(contiguous, native)  # PyTorch's kernel itself, to the bit
    torch.testing.assert_close(strided, native, rtol=1e-12, atol=1e-12)


def test_first_derivatives_through_strided_activations_match_the_native_ones():
    net, (x, y) = net_with_norms()
    xs = x.contiguous(memory_format=torch.channels_last)
    params = [p for _, p in trainable(net)]
    with EvalMode(net):
        native = torch.autograd.grad(loss_sum(net, xs, y, None)[0], params)
    native = torch.cat([g.reshape(-1) for g in native]) / len(y)
    f, g = hessian.gradient(net.train(), (xs, y))  # eval mode inside
    torch.testing.assert_close(g, native, rtol=1e-10, atol=1e-12)
    assert net.training and not any("forward" in m.__dict__ for m in net.modules())
