"""Robust training: adversarial examples in place of part of every batch (chapter 05)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .augmentation import _pixel_box
from .base import Context, Remedy

__all__ = ["Adversarial", "adversarial"]



def adversarial(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 1,
                mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial versions of the normalized images ``x`` within ``eps`` (intensity units of
    the unnormalized image, whose pixels lie in [0, 1]; 8/255 ~ 0.031) in the L-infinity norm,
    kept in [0, 1]. ``steps = 1``: FGSM (Goodfellow et al. 2015), one signed-gradient step of
    size eps. ``steps > 1``: PGD (Madry et al. 2018) from a uniform random start (drawn with
    ``generator``) with steps of 2.5 eps / steps. Made in eval mode (BatchNorm statistics
    untouched, mode restored) without touching the parameters' gradients. Chapter 05."""
    if eps < 0 or steps < 1:
        raise ValueError(f"need eps >= 0 and steps >= 1, got eps={eps}, steps={steps}")
    lo, hi, unit = _pixel_box(mean, std, x)
    radius = eps * unit
    was = model.training
    model.eval()
    try:
        if steps == 1:
            start, size = x.detach(), radius
        else:
            noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
            start, size = torch.clamp(x + noise * radius, lo, hi), 2.5 * radius / steps
        xa = start
        for _ in range(steps):
            xa = xa.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
            xa = xa.detach() + size * g.sign()
            xa = torch.clamp(torch.minimum(torch.maximum(xa, x - radius), x + radius), lo, hi)
    finally:
        model.train(was)
    return xa.detach()


@dataclass(frozen=True)
class Adversarial(Remedy):
    """The first ``ratio`` of every batch replaced by adversarial versions of itself within
    ``eps`` (intensity units of the [0, 1] image): FGSM with ``steps = 1``, PGD with more
    (:func:`adversarial`) - Kurakin et al.'s variant of Goodfellow et al.'s mixed loss, the
    replaced part weighted by its share of the batch. Chapter 05."""

    eps: float = 0.03
    steps: int = 1
    ratio: float = 0.5

    order = 20  # after augmentation: the adversary attacks the augmented images
    data_parallel = False
    flags = {"eps": ("adv_eps", 0.0), "steps": ("adv_steps", 1), "ratio": ("adv_ratio", 0.5)}

    def check(self, config) -> None:
        if self.eps <= 0 or self.steps < 1 or not 0 < self.ratio <= 1:
            raise ValueError(f"Adversarial needs eps > 0, steps >= 1 and 0 < ratio <= 1, got "
                             f"eps={self.eps}, steps={self.steps}, ratio={self.ratio}")

    def batch(self, ctx: Context, x: torch.Tensor, y: torch.Tensor):
        k = max(1, round(self.ratio * len(y)))
        adv = adversarial(ctx.model, x[:k], y[:k], self.eps, self.steps, ctx.dataset.mean,
                          ctx.dataset.std, ctx.generator)
        return torch.cat([adv, x[k:]]), y
