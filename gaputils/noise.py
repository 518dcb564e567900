"""Gradient noise and the distance the weights travel (chapter 06).

- :func:`multipliers` and :func:`matching_variance`: Hoffer et al.'s multiplicative gradient
  noise. A large batch's update is the gradient of ``mean_n(z_n * loss_n)`` with random
  per-example multipliers ``z_n`` of mean 1, chosen so that the update's covariance over batches
  and noise equals that of a smaller batch's plain gradient. ``train.fit`` uses them when
  ``TrainConfig.noise_batch`` is set.
- :func:`log_fit`: the fit ``d(t) = a + b ln t`` of the weight distance ``||w_t - w_0||``
  against the step ``t`` (Hoffer et al.'s "ultra-slow diffusion"), with its R^2.

Why these multipliers. For a batch of B examples drawn uniformly without replacement from N,
with per-example gradients g_n, population covariance S (divisor N), the plain mean gradient has
covariance S (N - B) / (B (N - 1)). Weighting the examples by ``z = 1 + e - mean(e)``, e_n iid
N(0, s2), leaves the mean gradient of every batch unchanged (the weights sum to B) and adds
covariance s2 (B - 1) / B^2 times the batch's unbiased sample covariance, whose expectation is
S N / (N - 1). The total equals the smaller batch b's covariance S (N - b) / (b (N - 1)) exactly
when s2 = (B / b - 1) B / (B - 1), for every N (:func:`matching_variance`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def matching_variance(batch_size: int, match: int) -> float:
    """The variance s2 of the per-example multipliers that gives batches of ``batch_size`` the
    gradient covariance of plain batches of ``match`` examples: (B / b - 1) B / (B - 1)
    (module docstring). Chapter 06."""
    if not 1 <= match <= batch_size or batch_size < 2:
        raise ValueError(f"need 1 <= match <= batch_size and batch_size >= 2, got "
                         f"match={match}, batch_size={batch_size}")
    return (batch_size / match - 1) * batch_size / (batch_size - 1)


def multipliers(batch_size: int, variance: float, generator: torch.Generator | None = None,
                device=None, dtype=torch.float32) -> torch.Tensor:
    """Per-example loss multipliers (batch_size,): ``1 + e - mean(e)`` with e iid normal of
    ``variance`` - mean exactly 1 over the batch, covariance ``variance (I - 11^T / B)``. Drawn
    on the CPU with ``generator`` (the same numbers on every device). Chapter 06."""
    if variance < 0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    e = torch.randn(batch_size, generator=generator, dtype=torch.float64) * math.sqrt(variance)
    return (1 + e - e.mean()).to(device=device, dtype=dtype)


def log_fit(steps: Sequence[float], distance: Sequence[float]) -> dict[str, float]:
    """Least-squares fit ``distance = a + b ln(step)`` over the given points (steps >= 1).

    Returns ``a``, ``b`` (distance per unit of ln t, i.e. per factor e of steps) and ``r2``, the
    fraction of the distances' variance the fit explains. Give points evenly spaced in ln t (see
    :func:`log_spaced`) so that every decade of steps weighs the same. Chapter 06."""
    t, d = np.asarray(steps, dtype=float), np.asarray(distance, dtype=float)
    if t.shape != d.shape or t.size < 3 or (t < 1).any():
        raise ValueError("log_fit needs three or more (step >= 1, distance) pairs of equal length")
    x = np.log(t)
    b, a = np.polyfit(x, d, 1)
    resid = d - (a + b * x)
    total = ((d - d.mean()) ** 2).sum()
    return {"a": float(a), "b": float(b),
            "r2": float(1 - (resid ** 2).sum() / total) if total > 0 else math.nan}


def log_spaced(last: int, points: int = 60, first: int = 1) -> np.ndarray:
    """About ``points`` distinct whole steps from ``first`` to ``last``, evenly spaced in ln t."""
    if not 1 <= first <= last:
        raise ValueError(f"need 1 <= first <= last, got first={first}, last={last}")
    return np.unique(np.round(np.geomspace(first, last, points)).astype(int))


def fit_walk(steps: Sequence[int], distance: Sequence[float], last: int | None = None,
             points: int = 60) -> dict[str, float]:
    """:func:`log_fit` of a recorded walk (``History.distance_step``, ``History.distance``)
    over its steps up to ``last`` (default: all), thinned to about ``points`` steps evenly
    spaced in ln t; also returns the ``first`` and ``last`` step fitted. Chapter 06."""
    t, d = np.asarray(steps), np.asarray(distance)
    if t.size < 3 or t[0] < 1:
        raise ValueError("fit_walk needs three or more recorded steps, the first >= 1")
    end = int(t[-1] if last is None else min(last, t[-1]))
    grid = log_spaced(end, points, first=int(t[0]))
    idx = np.unique(np.searchsorted(t, grid).clip(0, t.size - 1))
    idx = idx[t[idx] <= end]
    return log_fit(t[idx], d[idx]) | {"first": int(t[idx[0]]), "last": int(t[idx[-1]])}
