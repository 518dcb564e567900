"""MultiplicativeNoise: the update's covariance equals the small batch's, exactly, on a model
small enough to enumerate every batch."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from gaputils.remedies import MultiplicativeNoise
from gaputils.remedies.noise import matching_variance, multipliers
from gaputils.train import TrainConfig


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
    var = matching_variance(big, small)
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
    z = torch.stack([multipliers(5, 2.0, gen, dtype=torch.float64) for _ in range(40000)])
    assert torch.allclose(z.mean(1), torch.ones(40000, dtype=torch.float64))  # every draw
    want = 2.0 * (torch.eye(5, dtype=torch.float64) - 1 / 5)
    torch.testing.assert_close(_covariance(list(z)), want, atol=0.05, rtol=0)


def test_the_weighted_loss_gradient_is_the_multiplier_weighted_gradient():
    grads, x, y, w = _per_example_gradients()
    z = multipliers(len(y), 1.5, torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = (F.cross_entropy(x @ w, y, reduction="none") * z).mean()  # what fit minimizes
    (g,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(g.reshape(-1), grads.T @ z / len(y))


def test_matching_variance_values_and_errors():
    assert matching_variance(500, 32) == pytest.approx((500 / 32 - 1) * 500 / 499)
    assert matching_variance(8, 8) == 0
    with pytest.raises(ValueError, match="match"):
        matching_variance(8, 16)
    with pytest.raises(ValueError, match=">= 0"):
        multipliers(4, -1.0)


def test_the_remedy_imitates_a_batch_no_larger_than_its_own():
    with pytest.raises(ValueError, match="batch size from 1"):
        TrainConfig(batch_size=16, epochs=1, remedies=(MultiplicativeNoise(match=32),))
