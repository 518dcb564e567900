"""Learning-rate rules for a larger batch and regime adaptation (Hoffer et al., Goyal et al.;
chapter 06). These change a run's configuration - its learning rate, its length - rather than
plug into the loop."""

from __future__ import annotations

import dataclasses
import math

LR_RULES = ("none", "sqrt", "linear")
__all__ = ["LR_RULES", "adapt_regime", "scale_lr"]


def scale_lr(lr: float, batch_size: int, base_batch: int, rule: str = "sqrt") -> float:
    """The learning rate for ``batch_size`` when ``lr`` suits ``base_batch``: unchanged
    (``"none"``), times sqrt(batch_size / base_batch) (``"sqrt"``, Hoffer et al.: the update's
    covariance stays the same) or times batch_size / base_batch (``"linear"``, Goyal et al.:
    k steps of the small batch are about one step of the k times larger one; use it with a
    warm-up). Chapter 06."""
    if rule not in LR_RULES:
        raise ValueError(f"unknown learning-rate rule {rule!r}; choose one of {LR_RULES}")
    if batch_size < 1 or base_batch < 1:
        raise ValueError(f"batch sizes must be positive, got {batch_size} and {base_batch}")
    k = batch_size / base_batch
    return lr * {"none": 1.0, "sqrt": math.sqrt(k), "linear": k}[rule]


def adapt_regime(config, factor: float):
    """Regime adaptation (Hoffer et al.): the training configuration ``config`` with its length
    (``epochs`` or ``steps``) and every breakpoint of its schedule - ``milestones`` and
    ``warmup_epochs`` - multiplied by ``factor``, usually |B_L| / |B_S|, so that the large batch
    takes as many steps as the small one, with its learning-rate changes at the same steps. A
    cosine schedule, which is read in steps, stretches with the length. Chapter 06."""
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    longer = ({"epochs": config.epochs * factor} if config.epochs is not None
              else {"steps": max(1, round(config.steps * factor))})
    return dataclasses.replace(config, **longer,
                               milestones=tuple(m * factor for m in config.milestones),
                               warmup_epochs=config.warmup_epochs * factor)
