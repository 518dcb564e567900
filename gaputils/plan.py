"""A run's plan, step by step: which examples form each batch, the learning-rate factor, the
epoch reached and whether to evaluate (chapter 00).

:class:`Plan` is what the training loop follows. :func:`fixed` plans the book's ordinary runs - a
fixed batch size, each epoch's last partial batch dropped, the learning rate read from the
schedule by step (:func:`lr_factor`); a remedy can plan otherwise (a batch-size schedule,
:class:`gaputils.remedies.BatchSchedule`, reads the schedule by epoch with :func:`epoch_factor`).
Functions take the run's ``TrainConfig`` (fields ``batch_size``, ``epochs``/``steps``,
``schedule``, ``milestones``, ``gamma``, ``warmup_epochs``, ``eval_every``, ``seed``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from .data import permuted_batches

SCHEDULES = ("constant", "step", "cosine")


@dataclass
class Plan:
    """``total`` optimizer steps; ``index`` yields each step's batch (an index tensor on the
    device); ``epoch(step)``, ``factor(step)`` (multiplier of the learning rate, step 0-based)
    and ``is_eval(step)`` (evaluate after this 1-based step); ``spe`` is the steps of one
    epoch of the first batch size."""

    total: int
    spe: int
    index: Iterator[torch.Tensor]
    epoch: Callable[[int], float]
    factor: Callable[[int], float]
    is_eval: Callable[[int], bool]


def lr_factor(config, step: int, steps_per_epoch: int, total: int) -> float:
    """Multiplier of ``config.lr`` at optimizer step ``step`` (0-based) - the schedule."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "step":
        passed = sum(step >= round(m * steps_per_epoch) for m in config.milestones)
        return config.gamma ** passed
    if config.schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return 1.0


def epoch_factor(config, start: float, end: float) -> float:
    """Multiplier of ``config.lr`` for a step that covers epochs ``[start, end)``: the
    schedule read in epochs instead of steps (:func:`lr_factor`), for runs whose batch size
    changes."""
    if end <= config.warmup_epochs:
        return end / config.warmup_epochs
    if config.schedule == "step":
        return config.gamma ** sum(start >= m for m in config.milestones)
    if config.schedule == "cosine":
        progress = (start - config.warmup_epochs) / max(config.epochs - config.warmup_epochs,
                                                         1e-12)
        return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


def fixed_steps(config, n: int) -> int:
    """Optimizer steps of a fixed-batch run over ``n`` examples (last partial batch dropped)."""
    if config.steps is not None:
        return config.steps
    return max(1, round(config.epochs * (n // config.batch_size)))


def endless(n: int, batch_size: int, generator: torch.Generator,
            device) -> Iterator[torch.Tensor]:
    """Index batches of ``batch_size`` from a fresh permutation of ``n`` every epoch, the last
    partial batch of each dropped, without end."""
    while True:
        yield from permuted_batches(n, [batch_size] * (n // batch_size), generator, device)


def fixed(config, n: int, device) -> Plan:
    """The plan of a run with a fixed batch size (module docstring); evaluations every
    ``config.eval_every`` steps (default: one epoch) and at the end. Chapter 00."""
    spe = n // config.batch_size
    if spe == 0:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {n} training examples")
    total = fixed_steps(config, n)
    every = config.eval_every or spe
    gen = torch.Generator().manual_seed(config.seed)
    return Plan(total, spe, endless(n, config.batch_size, gen, device),
                epoch=lambda step: step / spe,
                factor=lambda step: lr_factor(config, step, spe, total),
                is_eval=lambda step: step % every == 0 or step == total)
