"""Conservative training: a few optimizer steps on each batch with a proximal term around the
weights the step started from (Keskar et al.'s remedy, after Li et al. 2014; chapter 05)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .base import Context, Remedy

__all__ = ["Conservative", "proximal_step"]



def proximal_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                  loss_fn: Callable[[], torch.Tensor], lam: float, steps: int,
                  clip: float | None = None) -> torch.Tensor:
    """Conservative training's update (Keskar et al.'s remedy, after Li et al. 2014): ``steps``
    steps of ``optimizer`` on ``loss_fn() + (lam / 2) ||x - x_k||^2``, where ``x_k`` are the
    weights before the first step and ``loss_fn`` evaluates one fixed batch. ``lam = 0`` is
    plain steps on the batch; ``steps = 1`` is the plain step whatever ``lam`` (the proximal
    gradient vanishes at ``x_k``). ``clip`` clips the gradient norm. Returns the batch loss of
    the first step (detached). Chapter 05."""
    if steps < 1 or lam < 0:
        raise ValueError(f"need steps >= 1 and lam >= 0, got steps={steps}, lam={lam}")
    params = [p for p in model.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params] if lam and steps > 1 else None
    first = None
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if anchor is not None:
            with torch.no_grad():
                for p, a in zip(params, anchor, strict=True):
                    p.grad.add_(p - a, alpha=lam)
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        first = loss.detach() if first is None else first
    return first


@dataclass(frozen=True)
class Conservative(Remedy):
    """``inner_steps`` steps of the run's optimizer on every batch's loss plus
    ``(lam / 2) ||x - x_k||^2`` (:func:`proximal_step`). ``lam = 0`` separates the extra steps
    from the proximal term. Chapter 05."""

    lam: float = 0.0
    inner_steps: int = 3

    data_parallel = True  # no random draws per batch
    flags = {"lam": ("proximal", 0.0), "inner_steps": ("inner_steps", 1)}

    def check(self, config) -> None:
        if self.lam < 0 or self.inner_steps < 1:
            raise ValueError(f"Conservative needs lam >= 0 and inner_steps >= 1, got "
                             f"lam={self.lam}, inner_steps={self.inner_steps}")

    def step(self, ctx: Context, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        lam = self.lam if self.inner_steps > 1 else 0.0
        return proximal_step(ctx.model, ctx.optimizer, closure, lam, self.inner_steps, ctx.clip)
