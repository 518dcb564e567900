"""The log-t fit recovers known lines; the gradient noise scale (multiplicative gradient noise:
test_remedy_noise.py)."""

import math

import numpy as np
import pytest
import torch

from gaputils import noise_scale, walk


def test_log_fit_recovers_a_line_in_log_t():
    t = walk.log_spaced(10_000, 40)
    assert t[0] == 1 and t[-1] == 10_000 and np.all(np.diff(t) > 0)
    fit = walk.log_fit(t, 2.0 + 0.5 * np.log(t))
    assert fit["a"] == pytest.approx(2.0) and fit["b"] == pytest.approx(0.5)
    assert fit["r2"] == pytest.approx(1.0)
    sqrt_walk = walk.log_fit(t, np.sqrt(t))  # a random walk grows faster than log t
    assert sqrt_walk["r2"] < 0.9
    assert math.isnan(walk.log_fit([1, 2, 3], [1.0, 1.0, 1.0])["r2"])
    with pytest.raises(ValueError, match="step >= 1"):
        walk.log_fit([0, 1, 2], [0.0, 1.0, 2.0])


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
    est = noise_scale.gradient_noise_scale(model, data, loss_fn=_mse, chunk=4096)
    assert abs(est["b_simple"] - truth) < 4 * est["se"] and est["se"] < 0.1 * truth
    x, y = data
    rows = torch.cat(list(noise_scale.per_sample_gradients(model, (x[:5], y[:5]), _mse)))
    want = ((x[:5] @ model.weight[0] - y[:5])[:, None] * x[:5]).detach()
    torch.testing.assert_close(rows, want)  # each row is that example's own gradient


def test_the_two_batch_estimator_matches_the_closed_form_too():
    model, data, truth = _regression()
    est = noise_scale.batch_gradient_noise_scale(model, data, small=16, big=1024, repeats=400,
                                                 loss_fn=_mse,
                                                 generator=torch.Generator().manual_seed(0))
    assert abs(est["b_simple"] - truth) < 4 * est["se"] and est["se"] < 0.3 * truth


def test_the_two_estimators_agree_on_a_small_network():
    from tests.helpers import toy_dataset

    ds = toy_dataset(n=2000, shape=(1, 6, 6), seed=3)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 16), torch.nn.BatchNorm1d(16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 3))
    net.eval()
    a = noise_scale.gradient_noise_scale(net, ds.train)
    b = noise_scale.batch_gradient_noise_scale(net, ds.train, small=8, big=512, repeats=300,
                                               generator=torch.Generator().manual_seed(1))
    assert abs(a["b_simple"] - b["b_simple"]) < 3 * math.hypot(a["se"], b["se"])
    assert net.training is False


def test_the_whole_training_set_gives_the_noise_scale_of_its_own_gradient():
    # all N examples measured: the mean gradient is G itself, nothing is subtracted, and
    # B_simple = tr(S) / |mean g|^2 with S the examples' covariance (divisor N - 1), exactly
    model, (x, y), _ = _regression(n=200)
    g = torch.cat(list(noise_scale.per_sample_gradients(model, (x, y), _mse)))
    mean, trace = g.mean(0), float(((g - g.mean(0)) ** 2).sum() / (len(g) - 1))
    whole = noise_scale.gradient_noise_scale(model, (x, y), loss_fn=_mse, population=200)
    assert whole["b_simple"] == pytest.approx(trace / float(mean @ mean), rel=1e-9)
    # as a sample of an unlimited distribution, the noise of the mean is taken off |G|^2
    sample = noise_scale.gradient_noise_scale(model, (x, y), loss_fn=_mse)
    assert sample["g2"] == pytest.approx(float(mean @ mean) - trace / 200, rel=1e-9)
    # half of the set: the finite-population term (1/n - 1/N) in between
    half = noise_scale.gradient_noise_scale(model, (x[:100], y[:100]), loss_fn=_mse,
                                            population=200)
    gh = g[:100]
    th = float(((gh - gh.mean(0)) ** 2).sum() / 99)
    assert half["g2"] == pytest.approx(float(gh.mean(0) @ gh.mean(0)) - th * (1 / 100 - 1 / 200),
                                       rel=1e-9)
    with pytest.raises(ValueError, match="population=50 is smaller than the 200"):
        noise_scale.gradient_noise_scale(model, (x, y), loss_fn=_mse, population=50)
    # the two-batch estimator, batches drawn without replacement from the same 200 examples
    two = noise_scale.batch_gradient_noise_scale(model, (x, y), small=4, big=150, repeats=2000,
                                                 loss_fn=_mse, population=200,
                                                 generator=torch.Generator().manual_seed(0))
    assert abs(two["b_simple"] - whole["b_simple"]) < 4 * two["se"], (two, whole)
