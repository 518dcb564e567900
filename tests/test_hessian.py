import copy

import numpy as np
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
    with pytest.raises(ValueError, match="flat with"):
        hessian.hvp(net, data, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("method", ["rr", "fr"])
@pytest.mark.parametrize("chunk", [7, 4096])
def test_both_paths_and_blocks_match(method, chunk):
    net, data = tiny()
    h, _ = explicit_hessian(net, data)
    block = torch.randn(3, h.shape[0], dtype=torch.float64)
    op = hessian.HessianOperator(net, data, chunk=chunk, method=method)
    torch.testing.assert_close(op @ block[0], h @ block[0])
    torch.testing.assert_close(op.matmat(block), block @ h)
    assert op.n_hvp == 4


def eigs(net, data):
    h, _ = explicit_hessian(net, data)
    return torch.linalg.eigvalsh(h).numpy(), h


def test_lanczos_top_and_bottom_eigenvalues():
    net, data = tiny()
    exact, h = eigs(net, data)
    top = hessian.top_eigenvalues(net, data, k=3, tol=1e-8, vectors=True)
    np.testing.assert_allclose(top.values, exact[::-1][:3], rtol=1e-6)
    for lam, u, r in zip(top.values, top.vectors, top.residuals, strict=True):
        assert float(u.norm()) == pytest.approx(1.0)
        assert float((h @ u - lam * u).norm()) == pytest.approx(r, rel=1e-4, abs=1e-10)
        assert r < 1e-3 * abs(lam)
    bottom = hessian.top_eigenvalues(net, data, k=2, tol=1e-8, which="smallest")
    np.testing.assert_allclose(bottom.values, exact[:2], rtol=1e-5, atol=1e-8)
    assert top.n_hvp == top.steps + 0 and top.steps < len(exact)
    lam, n_power = hessian.power_iteration(net, data, tol=1e-8)
    assert lam == pytest.approx(max(exact, key=abs), rel=1e-4)


def test_rademacher_probes_are_the_int64_draws():
    """The probes are drawn as int8 for speed; they must be the very signs (and leave the
    generator where) the int64 draw did, so that every cached trace keeps its value."""
    for seed, shape in [(0, (3, 7)), (1, (10, 1001)), (2, (7, 12345))]:
        g, h = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        for _ in range(2):
            ours = hessian._rademacher(shape, g, torch.float32, "cpu")
            old = (torch.randint(0, 2, shape, generator=h) * 2 - 1).float()
            assert torch.equal(ours, old)


def test_trace_estimators():
    net, data = tiny()
    exact, _ = eigs(net, data)
    n = len(exact)
    est, se = hessian.trace(net, data, num_probes=200, method="hutchinson")
    assert abs(est - exact.sum()) < 4 * se and se > 0
    full, _ = hessian.trace(net, data, num_probes=3 * n + 3, method="hutch++")
    assert full == pytest.approx(exact.sum(), rel=1e-8)  # Q spans everything: exact
    part, part_se = hessian.trace(net, data, num_probes=30, method="hutch++")
    assert abs(part - exact.sum()) < 4 * part_se + 1e-9


def test_density_weights_and_nodes():
    net, data = tiny()
    exact, _ = eigs(net, data)
    d = hessian.density(net, data, num_runs=3, lanczos_steps=len(exact))
    for w, t in zip(d.weights, d.nodes, strict=True):
        assert w.sum() == pytest.approx(1.0, abs=1e-10)
        heavy = t[w > 1e-8]
        assert np.all(np.min(np.abs(heavy[:, None] - exact[None]), 1) < 1e-6)
    area = np.trapezoid(d.density, d.grid)
    assert area == pytest.approx(1.0, abs=1e-3)


def test_frozen_and_unused_parameters():
    net, data = tiny()
    net[1].unused = nn.Linear(4, 4).double()  # a parameter forward never uses
    net[5].weight.requires_grad_(False)  # a frozen one
    trainable = [(k, p.numel()) for k, p in net.named_parameters() if p.requires_grad]
    n = sum(size for _, size in trainable)
    start = sum(size for k, size in trainable[:[k for k, _ in trainable].index("1.unused.weight")])
    v = torch.randn(n, dtype=torch.float64)
    for method in ("rr", "fr"):
        out = hessian.hvp(net, data, v, method=method)
        assert out.shape == (n,) and torch.all(out[start:start + 20] == 0)
        assert out[:start].abs().sum() > 0
    assert hessian.top_eigenvalues(net, data, k=1).values[0] > 0


def test_nondeterministic_model_is_refused():
    net, data = tiny()

    class Noisy(nn.Module):
        def forward(self, x):
            return x + 0.1 * torch.randn_like(x)

    noisy = nn.Sequential(Noisy(), *net)
    with pytest.raises(RuntimeError, match="not deterministic"):
        hessian.top_eigenvalues(noisy, data)


class DiagonalOperator:
    """A known spectrum as an operator, for testing the Lanczos stopping rule."""

    def __init__(self, eigenvalues):
        self.d, self.n_hvp = torch.as_tensor(eigenvalues, dtype=torch.float64), 0

    def __matmul__(self, v):
        self.n_hvp += 1
        return self.d * v


def test_stopping_rule_does_not_settle_on_the_wrong_eigenvalue():
    # outliers like a trained F1's, with a close pair at positions 10 and 11 (1.4% apart), over
    # a bulk of small ones: a Ritz value can look converged at the 11th before the 10th shows up
    outliers = [2.68, 2.32, 1.15, 1.03, 0.755, 0.62, 0.58, 0.438, 0.422, 0.328, 0.3234, 0.283]
    bulk = np.random.default_rng(0).exponential(0.01, 3000) - 0.002  # and a few negative
    spectrum = np.concatenate([outliers, bulk])
    exact = np.sort(spectrum)[::-1]
    worst = {None: 0.0, 0: 0.0}
    for seed in range(20):
        v0 = torch.randn(len(spectrum), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.float64)
        for k in (1, 10):
            for guard in worst:
                vals = hessian._ritz(DiagonalOperator(spectrum), v0, k, 1e-3, 200, "largest",
                                     guard)[0]
                err = float(np.max(np.abs(vals - exact[:k]) / exact[:k]))
                worst[guard] = max(worst[guard], err)
    assert worst[None] <= 1e-3  # the default guards
    assert worst[0] > 5e-3  # without guards, the 11th eigenvalue is reported as the 10th


def test_scaled_operator_is_d_h_d_and_invariant_to_a_bn_rescaling():
    net, data = tiny()
    h, _ = explicit_hessian(net, data)
    d = torch.cat([p.detach().abs().reshape(-1) for p in net.parameters()])
    dhd = d[:, None] * h * d[None]
    v = torch.randn(len(d), dtype=torch.float64)
    torch.testing.assert_close(hessian.HessianOperator(net, data, scale="weights") @ v, dhd @ v)
    # the first Linear feeds BatchNorm: scaling its weight and bias by 7 keeps the function, and
    # multiplies that block of H by 1/49 - D H D must not change (bias included: BN removes it)
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        scaled[1].weight *= 7.0
        scaled[1].bias *= 7.0
        scaled[2].running_mean *= 7.0
        scaled[2].running_var *= 49.0
    scaled[2].eps *= 49.0
    h2, _ = explicit_hessian(scaled, data)
    assert not torch.allclose(h2, h)
    want = np.linalg.eigvalsh(dhd.numpy())[::-1][:3]
    got = hessian.top_eigenvalues(scaled, data, k=3, tol=1e-8, scale="weights").values
    np.testing.assert_allclose(got, want, rtol=1e-6)
    t, _ = hessian.trace(scaled, data, num_probes=len(d) * 3, scale="weights")
    assert abs(t - float(torch.trace(dhd))) < 1e-6 * abs(float(torch.trace(dhd))) + 1e-8
    with pytest.raises(ValueError, match="scale must be"):
        hessian.HessianOperator(net, data, scale="sizes")


def test_top_eigenvalues_warns_and_says_so_when_steps_run_out():
    net, data = tiny()
    with pytest.warns(RuntimeWarning, match="max_steps=3"):
        res = hessian.top_eigenvalues(net, data, k=2, tol=1e-10, max_steps=3)
    assert not res.converged
    assert hessian.top_eigenvalues(net, data, k=2, tol=1e-6).converged


def piecewise_linear_net(seed=0):
    """Convolution, BatchNorm, ReLU, max-pooling, dropout and linear layers: piecewise linear
    in each parameter, small enough for an explicit Hessian."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 4), nn.BatchNorm1d(4),
                        nn.ReLU(), nn.Linear(4, 3)).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    net.train()
    net(x)  # running statistics that are not the defaults
    return net.eval(), (x, y)


def test_exact_trace_is_the_trace_of_the_explicit_hessian():
    net, data = piecewise_linear_net()
    h = explicit_hessian(net, data)[0]
    exact = hessian.exact_trace(net, data, per_sample=7)  # 7: a last piece of 5 examples
    np.testing.assert_allclose(exact, float(torch.trace(h)), rtol=1e-9)
    d = torch.cat([p.detach().abs().reshape(-1) for p in net.parameters()])
    np.testing.assert_allclose(hessian.exact_trace(net, data, scale="weights"),
                               float((d**2 * torch.diagonal(h)).sum()), rtol=1e-9)
    assert hessian.trace(net, data, method="exact") == (pytest.approx(exact, rel=1e-12), 0.0)
    estimate, se = hessian.trace(net, data, num_probes=300, method="hutchinson")
    assert abs(estimate - exact) < 4 * se  # the estimators estimate this number


def test_exact_trace_layer_rules_on_another_network():
    """Conv1d, a linear layer applied along a sequence, in-place ReLU, a frozen bias, a
    BatchNorm without affine parameters and Conv3d: every rule of ggn.py against the explicit
    Hessian."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.BatchNorm1d(3), nn.ReLU(inplace=True),
                        nn.Linear(5, 4), nn.ReLU(inplace=True), nn.AvgPool1d(2), nn.Flatten(),
                        nn.BatchNorm1d(6, affine=False), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    net.train()
    net(x)
    net.eval()
    net[3].bias.requires_grad_(False)
    trainable = [p.requires_grad for p in net.parameters()]
    h = explicit_hessian(net, (x, y))[0]
    keep = torch.cat([torch.full((p.numel(),), p.requires_grad) for p in net.parameters()])
    np.testing.assert_allclose(hessian.exact_trace(net, (x, y), per_sample=8),
                               float(torch.diagonal(h)[keep].sum()), rtol=1e-9)
    d = torch.cat([p.detach().abs().reshape(-1) for p in net.parameters() if p.requires_grad])
    np.testing.assert_allclose(hessian.exact_trace(net, (x, y), scale="weights"),
                               float((d**2 * torch.diagonal(h)[keep]).sum()), rtol=1e-9)
    assert [p.requires_grad for p in net.parameters()] == trainable
    net = nn.Sequential(nn.Conv3d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(16, 3)).double()
    x3 = torch.randn(30, 1, 3, 3, 3, generator=g, dtype=torch.float64)  # per example by vmap
    np.testing.assert_allclose(hessian.exact_trace(net, (x3, y)),
                               float(torch.trace(explicit_hessian(net, (x3, y))[0])), rtol=1e-9)


def test_trace_default_is_exact_where_it_holds_and_hutchpp_elsewhere():
    net, data = piecewise_linear_net()
    assert hessian.trace(net, data) == (hessian.exact_trace(net, data), 0.0)
    tanh, tdata = tiny()
    assert hessian.trace(tanh, tdata, num_probes=9) == hessian.trace(tanh, tdata, num_probes=9,
                                                                    method="hutch++")
    assert hessian.trace(tanh, tdata, num_probes=9)[1] > 0
    assert hessian.trace(net, data, loss_fn=nn.functional.cross_entropy)[1] > 0  # not assumed


def test_exact_trace_refuses_networks_it_does_not_hold_for():
    net, data = tiny()  # tanh: its second derivatives along single parameters are not zero
    with pytest.raises(ValueError, match="Tanh.*hutch"):
        hessian.exact_trace(net, (data[0].reshape(len(data[0]), -1), data[1]))

    class Own(nn.Module):  # a forward of its own may multiply activations
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(36, 3), nn.Linear(36, 3)

        def forward(self, x):
            x = x.flatten(1)
            return self.a(x) * self.b(x)

    pl_net, pl_data = piecewise_linear_net()
    with pytest.raises(ValueError, match="own forward"):
        hessian.exact_trace(Own().double(), pl_data)
    with pytest.raises(ValueError, match="cross-entropy"):
        hessian.exact_trace(pl_net, pl_data, loss_fn=nn.functional.mse_loss)
    tied = nn.Sequential(nn.Flatten(), nn.Linear(36, 36), nn.ReLU(), nn.Linear(36, 36),
                         nn.ReLU(), nn.Linear(36, 3)).double()
    tied[3].weight = tied[1].weight  # |g1|^2 + |g2|^2 would not be |g1 + g2|^2
    with pytest.raises(ValueError, match="shared"):
        hessian.exact_trace(tied, pl_data)
    twice = nn.Sequential(nn.Flatten(), nn.Linear(36, 36), nn.ReLU())
    twice.append(twice[1]).append(nn.Linear(36, 3)).double()
    with pytest.raises(ValueError, match="once per forward"):
        hessian.exact_trace(twice, pl_data)
