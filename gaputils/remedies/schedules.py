"""Batch-size schedules: warm starting and dynamic sampling (chapter 05).

A schedule is a tuple of (first epoch, batch size, learning-rate multiplier) triples, first
epochs increasing from 0; each entry holds until the next one starts. Every epoch covers the
training data exactly once, whatever its batch size (:func:`epoch_batches`), and the run's
learning-rate schedule is read in epochs (:func:`gaputils.plan.epoch_factor`).
:class:`BatchSchedule` is the remedy; :func:`warm_start`, :func:`geometric` and
:func:`increase_instead_of_decay` make its schedules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..data import permuted_batches
from ..plan import Plan, epoch_factor
from .base import Remedy

Schedule = tuple[tuple[int, int, float], ...]
__all__ = ["BatchSchedule", "Schedule", "epoch_batches", "epoch_sizes", "geometric",
           "increase_instead_of_decay", "per_epoch", "profile", "schedule_steps", "warm_start"]


def _check(schedule: Schedule, epochs: int) -> Schedule:
    schedule = tuple((int(e), int(b), float(m)) for e, b, m in schedule)
    starts = [e for e, _, _ in schedule]
    if not schedule or starts[0] != 0 or starts != sorted(set(starts)) or starts[-1] >= epochs:
        raise ValueError(f"a batch schedule needs increasing first epochs starting at 0 and "
                         f"below epochs={epochs}; got {starts}")
    if any(b < 1 or m < 0 for _, b, m in schedule):
        raise ValueError("batch sizes must be positive and lr multipliers non-negative")
    return schedule


def per_epoch(schedule: Schedule, epochs: int) -> list[tuple[int, float]]:
    """(batch size, lr multiplier) of every epoch of a ``schedule`` run for ``epochs``."""
    schedule = _check(schedule, epochs)
    out = []
    for e in range(epochs):
        _, b, m = [s for s in schedule if s[0] <= e][-1]
        out.append((b, m))
    return out


def epoch_sizes(n: int, batch_size: int) -> list[int]:
    """The batch sizes that cover ``n`` examples exactly once with batches of at most
    ``batch_size``: ceil(n / batch_size) batches whose sizes differ by at most one."""
    if not 0 < batch_size:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    k = math.ceil(n / batch_size)
    return [n // k + (i < n % k) for i in range(k)]


def epoch_batches(n: int, schedule: Schedule, epochs: int, generator: torch.Generator,
                  device=None) -> Iterator[tuple[int, torch.Tensor]]:
    """(epoch, index tensor) for every step of a ``schedule`` run: each epoch draws a fresh
    permutation of the ``n`` examples (on the CPU with ``generator``) and splits it into
    :func:`epoch_sizes` batches of its batch size, so every example is seen once per epoch.
    Chapter 05."""
    for e, (b, _) in enumerate(per_epoch(schedule, epochs)):
        for idx in permuted_batches(n, epoch_sizes(n, min(b, n)), generator, device):
            yield e, idx


def schedule_steps(n: int, schedule: Schedule, epochs: int) -> int:
    """Optimizer steps of a ``schedule`` run over ``n`` examples for ``epochs`` epochs."""
    return sum(len(epoch_sizes(n, min(b, n))) for b, _ in per_epoch(schedule, epochs))


def warm_start(sb: int, lb: int, k: int, epochs: int) -> Schedule:
    """Warm starting: ``k`` of ``epochs`` epochs with batch ``sb``, then batch ``lb`` (one run,
    one optimizer: SGD's momentum buffer carries over the switch). Chapter 05."""
    if k <= 0:
        return ((0, lb, 1.0),)
    return ((0, sb, 1.0),) if k >= epochs else ((0, sb, 1.0), (k, lb, 1.0))


def geometric(b0: int, b_max: int, every: int, epochs: int) -> Schedule:
    """Dynamic sampling: batch ``b0`` doubled every ``every`` epochs up to ``b_max``."""
    out, e, b = [], 0, b0
    while e < epochs:
        out.append((e, min(b, b_max), 1.0))
        if b >= b_max:
            break
        e, b = e + every, b * 2
    return tuple(out)


def increase_instead_of_decay(sb: int, b_max: int, epochs: int,
                              factor: Callable[[float], float]) -> Schedule:
    """Smith et al. (2018): where a learning-rate schedule would multiply the rate by
    ``factor(epoch)``, multiply the batch (from ``sb``) by ``1 / factor`` instead; once the
    batch reaches ``b_max`` the rate takes the rest of the decay. One entry per epoch, read at
    the epoch's start, so the ratio lr / batch follows the original schedule's. Use it with a
    constant schedule. Chapter 05."""
    out = []
    for e in range(epochs):
        f = factor(e)
        b = min(b_max, max(sb, round(sb / f))) if f > 0 else b_max
        out.append((e, b, f * b / sb))
    return tuple(out)


def plan(config, schedule: Schedule, n: int, device) -> Plan:
    """The plan of a run over ``n`` examples whose batch size follows ``schedule``: every
    epoch covers the data once; the learning rate is ``config.lr`` times the entry's multiplier
    times the run's schedule read in epochs; evaluations every ``config.eval_every`` steps of
    the first batch size (rounded to whole epochs; default every epoch) and at the end."""
    epochs = int(config.epochs)
    spe = n // config.batch_size
    if spe == 0:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {n} training examples")
    ends, factors, evals = [0.0], [], set()
    k_eval = max(1, round(config.eval_every / spe)) if config.eval_every else 1
    for e, (b, mult) in enumerate(per_epoch(schedule, epochs)):
        k = len(epoch_sizes(n, min(b, n)))
        factors += [mult * epoch_factor(config, e + i / k, e + (i + 1) / k) for i in range(k)]
        ends += [e + (i + 1) / k for i in range(k)]
        if (e + 1) % k_eval == 0:
            evals.add(len(factors))
    total = len(factors)
    gen = torch.Generator().manual_seed(config.seed)
    index = (idx for _, idx in epoch_batches(n, schedule, epochs, gen, device))
    return Plan(total, spe, index, epoch=lambda step: ends[step],
                factor=lambda step: factors[min(step, total - 1)],
                is_eval=lambda step: step in evals or step == total)


def profile(config, n: int) -> list[tuple[int, int, float, int]]:
    """Per epoch of a run of ``config`` over ``n`` examples, with or without a
    :class:`BatchSchedule`: (epoch, batch size, learning rate over the epoch as the schedule
    reads it in epochs, optimizer steps) - what chapter 05's figure of the schedules draws."""
    schedule = next((r.schedule for r in config.remedies if isinstance(r, BatchSchedule)), None)
    out = []
    for e, (b, mult) in enumerate(per_epoch(schedule or ((0, config.batch_size, 1.0),),
                                            int(config.epochs))):
        steps = len(epoch_sizes(n, min(b, n))) if schedule else n // b
        out.append((e, b, config.lr * mult * epoch_factor(config, e, e + 1), steps))
    return out


@dataclass(frozen=True)
class BatchSchedule(Remedy):
    """The batch size changes by epoch as ``schedule`` says (module docstring); the run's
    ``batch_size`` must be the schedule's first, its length a whole number of ``epochs``. One
    run, one optimizer: SGD's momentum carries over each switch. Chapter 05."""

    schedule: Schedule = ()

    data_parallel = False  # workers would slice batches of changing size
    flags = {"schedule": ("batch_schedule", ())}

    def __post_init__(self):
        object.__setattr__(self, "schedule", tuple(tuple(e) for e in self.schedule))

    def check(self, config) -> None:
        if config.epochs is None or config.epochs != int(config.epochs):
            raise ValueError("a BatchSchedule needs a whole number of epochs=..., not steps")
        per_epoch(self.schedule, int(config.epochs))  # raises on a malformed schedule
        if self.schedule[0][1] != config.batch_size:
            raise ValueError(f"batch_size={config.batch_size} must equal the schedule's first "
                             f"batch size {self.schedule[0][1]}")

    def plan(self, config, n: int, device) -> Plan:
        return plan(config, self.schedule, n, device)
