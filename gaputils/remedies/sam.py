"""Sharpness-aware minimization as a remedy (Foret et al. 2021; ASAM, Kwon et al. 2021;
chapter 07): every update is a SAM step (:func:`gaputils.sam.step`) over the run's optimizer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import sam
from .base import Context, Remedy

__all__ = ["SAM"]



@dataclass(frozen=True)
class SAM(Remedy):
    """Each step takes the gradient at the worst point of a ball of radius ``rho`` around the
    weights (``adaptive``: ASAM's ball, relative to each weight's size). Chapter 07."""

    rho: float = 0.05
    adaptive: bool = False

    data_parallel = True  # no random draws per batch
    flags = {"rho": ("sam_rho", 0.0), "adaptive": ("sam_adaptive", False)}

    def check(self, config) -> None:
        if self.rho <= 0:
            raise ValueError(f"SAM(rho={self.rho}): the radius must be > 0 (rho = 0 is plain "
                             "training: leave SAM out)")

    def step(self, ctx: Context, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        return sam.step(ctx.model, ctx.optimizer, closure, self.rho, self.adaptive,
                        clip=ctx.clip)
