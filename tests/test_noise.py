"""Multiplicative gradient noise: the update's covariance equals the small batch's, exactly, on a
model small enough to enumerate every batch; the log-t fit recovers known lines."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gaputils import noise


def _per_example_gradients(n=9, d=3, classes=3):
    """Rows: gradients of each example's cross-entropy at a fixed linear softmax model."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=g)
    w = torch.randn(d, classes, generator=g, dtype=torch.float64, requires_grad=True)
    rows = []
    for i in range(n):
        (gi,) = torch.autograd.grad(F.cross_entropy(x[i:i + 1] @ w, y[i:i + 1]), w)
        rows.append(gi.reshape(-1))
    return torch.stack(rows), x, y, w


def _covariance(vectors):
    v = torch.stack(vectors)
    c = v - v.mean(0)
    return c.T @ c / len(v)


@pytest.mark.parametrize("big,small", [(6, 2), (4, 1), (5, 5)])
def test_noisy_large_batch_has_the_small_batchs_gradient_covariance_exactly(big, small):
    grads, *_ = _per_example_gradients()
    n = len(grads)
    var = noise.matching_variance(big, small)
    cov_w = var * (torch.eye(big, dtype=torch.float64) - 1 / big)  # covariance of the multipliers
    small_means = [grads[list(s)].mean(0) for s in itertools.combinations(range(n), small)]
    target = _covariance(small_means)
    means, noise_part = [], 0
    for s in itertools.combinations(range(n), big):
        gb = grads[list(s)]  # (big, p): the update is gb.T @ z / big, E z = 1, Cov z = cov_w
        means.append(gb.mean(0))
        noise_part = noise_part + gb.T @ cov_w @ gb / big**2
    total = _covariance(means) + noise_part / len(means)
    torch.testing.assert_close(total, target, rtol=1e-10, atol=1e-14)
    assert not torch.allclose(_covariance(means), target) or big == small


def test_multipliers_have_mean_one_and_the_stated_covariance():
    gen = torch.Generator().manual_seed(0)
    z = torch.stack([noise.multipliers(5, 2.0, gen, dtype=torch.float64) for _ in range(40000)])
    assert torch.allclose(z.mean(1), torch.ones(40000, dtype=torch.float64))  # every draw
    want = 2.0 * (torch.eye(5, dtype=torch.float64) - 1 / 5)
    torch.testing.assert_close(_covariance(list(z)), want, atol=0.05, rtol=0)


def test_the_weighted_loss_gradient_is_the_multiplier_weighted_gradient():
    grads, x, y, w = _per_example_gradients()
    z = noise.multipliers(len(y), 1.5, torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = (F.cross_entropy(x @ w, y, reduction="none") * z).mean()  # what fit minimizes
    (g,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(g.reshape(-1), grads.T @ z / len(y))


def test_matching_variance_values_and_errors():
    assert noise.matching_variance(500, 32) == pytest.approx((500 / 32 - 1) * 500 / 499)
    assert noise.matching_variance(8, 8) == 0
    with pytest.raises(ValueError, match="match"):
        noise.matching_variance(8, 16)
    with pytest.raises(ValueError, match=">= 0"):
        noise.multipliers(4, -1.0)


def test_log_fit_recovers_a_line_in_log_t():
    t = noise.log_spaced(10_000, 40)
    assert t[0] == 1 and t[-1] == 10_000 and np.all(np.diff(t) > 0)
    fit = noise.log_fit(t, 2.0 + 0.5 * np.log(t))
    assert fit["a"] == pytest.approx(2.0) and fit["b"] == pytest.approx(0.5)
    assert fit["r2"] == pytest.approx(1.0)
    sqrt_walk = noise.log_fit(t, np.sqrt(t))  # a random walk grows faster than log t
    assert sqrt_walk["r2"] < 0.9
    assert math.isnan(noise.log_fit([1, 2, 3], [1.0, 1.0, 1.0])["r2"])
    with pytest.raises(ValueError, match="step >= 1"):
        noise.log_fit([0, 1, 2], [0.0, 1.0, 2.0])


def _regression(n=20000, d=4, noise_sd=1.0, seed=0):
    """Linear regression at weights w = w* + a: per-example gradient (a.x - eps) x with
    x ~ N(0, I), so G = a and Sigma = (|a|^2 + s^2) I + a a^T in closed form."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w_star = torch.randn(d, generator=g, dtype=torch.float64)
    a = torch.tensor([0.5, -0.25] + [0.0] * (d - 2), dtype=torch.float64)
    y = x @ w_star + noise_sd * torch.randn(n, generator=g, dtype=torch.float64)
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_((w_star + a)[None])
    trace = d * (float(a @ a) + noise_sd**2) + float(a @ a)
    return model, (x, y), trace / float(a @ a)


def _mse(out, y):
    return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()


def test_per_sample_noise_scale_matches_the_closed_form_of_linear_regression():
    model, data, truth = _regression()
    est = noise.gradient_noise_scale(model, data, loss_fn=_mse, chunk=4096)
    assert abs(est["b_simple"] - truth) < 4 * est["se"] and est["se"] < 0.1 * truth
    x, y = data
    rows = torch.cat(list(noise.per_sample_gradients(model, (x[:5], y[:5]), _mse)))
    want = ((x[:5] @ model.weight[0] - y[:5])[:, None] * x[:5]).detach()
    torch.testing.assert_close(rows, want)  # each row is that example's own gradient


def test_the_two_batch_estimator_matches_the_closed_form_too():
    model, data, truth = _regression()
    est = noise.batch_gradient_noise_scale(model, data, small=16, big=1024, repeats=400,
                                           loss_fn=_mse, generator=torch.Generator().manual_seed(0))
    assert abs(est["b_simple"] - truth) < 4 * est["se"] and est["se"] < 0.3 * truth


def test_the_two_estimators_agree_on_a_small_network():
    from tests.helpers import toy_dataset

    ds = toy_dataset(n=2000, shape=(1, 6, 6), seed=3)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 16), torch.nn.BatchNorm1d(16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 3))
    net.eval()
    a = noise.gradient_noise_scale(net, ds.train)
    b = noise.batch_gradient_noise_scale(net, ds.train, small=8, big=512, repeats=300,
                                         generator=torch.Generator().manual_seed(1))
    assert abs(a["b_simple"] - b["b_simple"]) < 3 * math.hypot(a["se"], b["se"])
    assert net.training is False
