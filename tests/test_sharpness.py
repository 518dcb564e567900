import copy
import itertools

import pytest
import torch
from helpers import assert_same_state, state, trained

from gaputils import reparam
from gaputils import sharpness as sh


def quadratic(n=6, seed=0, convex=True):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    h = m @ m.T if convex else m + m.T
    grad = torch.randn(n, generator=g, dtype=torch.float64) * 0.1
    x0 = torch.randn(n, generator=g, dtype=torch.float64)

    def f(x):
        d = x - x0
        return 0.5 * d @ h @ d + grad @ d + 0.3

    return sh.FunctionObjective(f, x0), h, grad, x0


def exact_max(obj, bound):
    """A convex function's maximum over a box is at a vertex: try them all."""
    best = -float("inf")
    for signs in itertools.product((-1.0, 1.0), repeat=len(bound)):
        best = max(best, obj(obj.x0 + torch.tensor(signs, dtype=bound.dtype) * bound)[0])
    return best


@pytest.mark.parametrize("method", ["ascent", "lbfgsb"])
def test_full_space_matches_the_exact_box_maximum(method):
    obj, h, grad, x0 = quadratic()
    eps = 0.05
    res = sh.keskar(obj, eps=eps, max_iter=30, restarts=8, method=method)
    bound = eps * (x0.abs() + 1)
    f0 = 0.3
    exact = 100 * (exact_max(obj, bound) - f0) / (1 + f0)
    assert res.f0 == pytest.approx(f0)
    assert res.value == pytest.approx(exact, rel=1e-6)
    assert res.perturbation_norm <= float(bound.norm()) + 1e-12


def test_subspace_box_uses_the_pseudo_inverse():
    obj, *_ = quadratic(n=8)
    a = sh.random_matrix(8, 3, seed=2, dtype=torch.float64)
    torch.testing.assert_close(sh.pinv_apply(a, obj.x0), torch.linalg.pinv(a) @ obj.x0)
    res = sh.keskar(obj, eps=0.05, subspace_dim=3, seed=2, max_iter=30, restarts=6)
    bound = 0.05 * ((torch.linalg.pinv(a) @ obj.x0).abs() + 1)
    sub = sh.FunctionObjective(lambda y: obj.fn(obj.x0 + a @ y), torch.zeros(3,
                                                                          dtype=torch.float64))
    exact = 100 * (exact_max(sub, bound) - 0.3) / 1.3
    assert res.value == pytest.approx(exact, rel=1e-6)


def test_small_eps_is_first_order():
    obj, h, grad, x0 = quadratic()
    eps = 1e-6
    res = sh.keskar(obj, eps=eps, max_iter=5)
    first_order = 100 * eps * float((grad.abs() * (x0.abs() + 1)).sum()) / 1.3
    assert res.value == pytest.approx(first_order, rel=1e-4)


def test_at_a_minimum_small_eps_is_second_order():
    obj, h, _, x0 = quadratic()
    at_min = sh.FunctionObjective(lambda x: 0.5 * (x - x0) @ h @ (x - x0), x0)
    eps = 1e-4
    res = sh.keskar(at_min, eps=eps, max_iter=30, restarts=8)
    d = eps * (x0.abs() + 1)
    exact = max(0.5 * float((torch.tensor(s, dtype=d.dtype) * d) @ h @
                            (torch.tensor(s, dtype=d.dtype) * d))
                for s in itertools.product((-1.0, 1.0), repeat=6))
    assert res.value == pytest.approx(100 * exact, rel=1e-6)  # f0 = 0


def test_restarts_never_lower_the_value():
    obj, *_ = quadratic(convex=False, seed=3)
    values = [sh.keskar(obj, eps=0.2, max_iter=3, restarts=r).value for r in (1, 2, 5)]
    assert values[0] <= values[1] <= values[2]
    trace = sh.keskar(obj, eps=0.2, max_iter=3, restarts=5).per_restart
    assert trace == sorted(trace)


def test_model_weights_are_restored_and_methods_agree():
    net, ds = trained()
    before = state(net)
    a = sh.keskar(net, ds.train, eps=1e-3, max_iter=10, restarts=2)
    b = sh.keskar(net, ds.train, eps=1e-3, max_iter=10, method="lbfgsb")
    assert_same_state(before, state(net))
    assert a.value > 0 and b.value > 0
    assert a.value == pytest.approx(b.value, rel=0.2)
    c = sh.keskar(net, ds.train, eps=1e-3, subspace_dim=5)
    assert c.value >= 0 and c.evaluations == 11  # f(x), then 10 steps (the last: its value)
    assert_same_state(before, state(net))


def test_adaptive_is_invariant_to_rescaling_and_keskar_is_not():
    net, ds = trained()
    k0 = sh.keskar(net, ds.train, eps=1e-2).value
    a0 = sh.adaptive(net, ds.train, eps=1e-2, eta=1e-6).value
    av0 = sh.average(net, ds.train, sigma=1e-2, eta=1e-6, num_samples=4).value
    reparam.rescale(net, 0, 20.0)
    k1 = sh.keskar(net, ds.train, eps=1e-2).value
    a1 = sh.adaptive(net, ds.train, eps=1e-2, eta=1e-6).value
    av1 = sh.average(net, ds.train, sigma=1e-2, eta=1e-6, num_samples=4).value
    assert a1 == pytest.approx(a0, rel=1e-2)
    assert av1 == pytest.approx(av0, rel=1e-2)
    assert abs(k1 - k0) > 0.1 * k0


def test_bad_input():
    obj, *_ = quadratic()
    with pytest.raises(ValueError, match="lbfgsb"):
        sh.keskar(obj, method="newton")
    with pytest.raises(ValueError, match="eps > 0"):
        sh.keskar(obj, eps=0)
    with pytest.raises(ValueError, match="training data"):
        sh.keskar(torch.nn.Linear(2, 2))


def test_taylor_prediction_matches_at_small_eps():
    net, ds = trained()
    net = net.double()
    data = (ds.train[0].double(), ds.train[1])
    eps = 1e-7
    pred = sh.taylor_prediction(net, data, eps)
    value = sh.keskar(net, data, eps=eps).value
    assert value == pytest.approx(pred["first_order"], rel=1e-3)
    assert abs(value - pred["second_order"]) <= abs(value - pred["first_order"]) + 1e-12


def test_value_without_gradient_matches_the_objective():
    net, ds = trained()
    obj = sh.ModelObjective(net, ds.train)
    x = obj.x0 + 1e-2 * torch.randn(obj.x0.shape, generator=torch.Generator().manual_seed(0))
    with sh.restored(net):
        assert obj.value(x) == pytest.approx(obj(x)[0], rel=1e-5)
    quad = sh.FunctionObjective(lambda v: (v**2).sum(), torch.ones(3))
    assert quad.value(2 * torch.ones(3)) == quad(2 * torch.ones(3))[0] == 12.0


def test_average_antithetic_cancels_the_first_order_term():
    obj, h, grad, x0 = quadratic()
    linear = sh.FunctionObjective(lambda x: grad @ (x - x0) + 0.3, x0)
    assert sh.average(linear, sigma=1e-2, num_samples=3).value == pytest.approx(0, abs=1e-12)
    assert abs(sh.average(linear, sigma=1e-2, num_samples=3, antithetic=False).value) > 1e-4
    # on the quadratic, each antithetic pair gives exactly 0.5 z^T H z: compare with the draws
    sigma, seed = 1e-2, 4
    scale = sigma * (x0.abs() + 1)
    g = torch.Generator().manual_seed(seed)
    zs = [torch.randn(scale.shape, generator=g, dtype=scale.dtype) * scale for _ in range(5)]
    want = sum(0.5 * float(z @ h @ z) for z in zs) / 5 * 100 / 1.3
    got = sh.average(obj, sigma=sigma, num_samples=5, seed=seed)
    assert got.value == pytest.approx(want, rel=1e-9)
    assert got.evaluations == 11
    with pytest.raises(ValueError, match="num_samples"):
        sh.average(obj, num_samples=0)


def test_batch_statistics_objective():
    net, ds = trained()
    before = state(net)
    res = sh.keskar(net, ds.train, eps=1e-2, bn="batch")
    assert_same_state(state(net), before)  # running statistics and weights untouched
    probe = copy.deepcopy(net).train()
    with torch.no_grad():
        want = float(torch.nn.functional.cross_entropy(probe(ds.train[0]), ds.train[1]))
    assert res.f0 == pytest.approx(want, rel=1e-6)
    assert res.value > 0 and res.value != sh.keskar(net, ds.train, eps=1e-2).value
    with pytest.raises(ValueError, match="at most"):
        sh.ModelObjective(net, ds.train, chunk=8, bn="batch")
    with pytest.raises(ValueError, match="bn must be"):
        sh.keskar(net, ds.train, bn="ghost")


def test_ascent_is_the_plain_loop_without_repeated_or_unused_passes():
    """The ascent reuses f(x)'s gradient at y = 0 and takes the last point's value alone; its
    result is that of the plain loop, which evaluates loss and gradient at every point."""
    obj, *_ = quadratic(n=8, seed=3, convex=False)
    bound = 1e-1 * (obj.x0.abs() + 1)
    g = torch.Generator().manual_seed(7)
    f0, best = obj(obj.x0)[0], -float("inf")
    for r in range(3):
        y = torch.zeros_like(bound) if r == 0 else (
            2 * torch.rand(bound.shape, generator=g, dtype=bound.dtype) - 1) * bound
        for _ in range(5):
            f, grad = obj(obj.x0 + y)
            best = max(best, f)
            y = torch.clamp(y + bound * torch.sign(grad), -bound, bound)
        best = max(best, obj(obj.x0 + y)[0])
    got = sh.keskar(obj, eps=1e-1, max_iter=5, restarts=3, seed=7)
    assert got.value == pytest.approx(100 * (best - f0) / (1 + f0), rel=1e-12)
    assert got.evaluations == 1 + 5 + 2 * 6
