"""Hoffer et al.'s multiplicative gradient noise (chapter 06): a large batch's update is the
gradient of ``mean_n(z_n * loss_n)`` with random per-example multipliers ``z_n`` of mean 1,
chosen so that the update's covariance over batches and noise equals that of a smaller batch's
plain gradient (:class:`MultiplicativeNoise`).

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
from dataclasses import dataclass

import torch

from .base import Context, Remedy

__all__ = ["MultiplicativeNoise", "matching_variance", "multipliers"]



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


@dataclass(frozen=True)
class MultiplicativeNoise(Remedy):
    """Every example's loss multiplied by noise (:func:`multipliers`) that gives the update
    the gradient covariance of plain batches of ``match`` examples (:func:`matching_variance`).
    Chapter 06."""

    match: int = 32

    data_parallel = False
    flags = {"match": ("noise_batch", 0)}

    def check(self, config) -> None:
        if not 1 <= self.match <= config.batch_size:
            raise ValueError(f"MultiplicativeNoise(match={self.match}) must imitate a batch "
                             f"size from 1 to batch_size={config.batch_size}")

    def weights(self, ctx: Context, y: torch.Tensor) -> torch.Tensor:
        var = matching_variance(len(y), min(self.match, len(y)))
        return multipliers(len(y), var, ctx.generator, device=y.device)
