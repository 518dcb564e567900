"""Remedies for the generalization gap, as options of the one training loop (chapter 05).

Nothing here trains on its own: :func:`gu.train.fit` calls these pieces when its
:class:`~gaputils.train.TrainConfig` asks for them, so every remedy is part of the cache key.

- :func:`augment`: random shifts (zero padding in the unnormalized image) and horizontal flips,
  on the batch tensor, from a seeded generator.
- :func:`proximal_step`: conservative training - a few optimizer steps on one batch's loss plus
  ``(lam / 2) ||x - x_k||^2`` around the weights ``x_k`` the step started from.
- :func:`adversarial`: FGSM (one step) or PGD (several, random start) in an L-infinity ball of
  the unnormalized image, made in eval mode.
- batch-size schedules (:func:`warm_start`, :func:`geometric`, :func:`increase_instead_of_decay`)
  and :func:`epoch_batches`, which covers each epoch's data exactly once whatever the size.
- Hoffer et al.'s and Goyal et al.'s rules (chapter 06): :func:`scale_lr` and
  :func:`adapt_regime`; Ghost BatchNorm is :mod:`gaputils.ghost`, multiplicative gradient noise
  :mod:`gaputils.noise`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data import permuted_batches

LR_RULES = ("none", "sqrt", "linear")

# A batch-size schedule: (first epoch, batch size, learning-rate multiplier) triples, first
# epochs increasing from 0; each entry holds until the next one starts.
Schedule = tuple[tuple[int, int, float], ...]


def _pixel_box(mean: Sequence[float], std: Sequence[float], like: torch.Tensor):
    """Per-channel tensors (1, C, 1, 1): the normalized values of intensities 0 and 1, and the
    normalized size of one unit of intensity."""
    m = torch.tensor(mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    return -m / s, (1 - m) / s, 1 / s


def augment(x: torch.Tensor, generator: torch.Generator, shift: int = 0, flip: bool = False,
            mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,)) -> torch.Tensor:
    """A randomly shifted and flipped copy of the normalized image batch ``x`` (N, C, H, W).

    Each image moves by its own offsets, uniform in ``[-shift, shift]`` pixels on each axis, into
    a frame padded with black (intensity 0, normalized with ``mean``/``std``), and with ``flip``
    is mirrored left-right with probability 1/2. The random numbers come from ``generator`` (on
    the CPU), so the same generator state gives the same batch on every device. Chapter 05.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0 pixels, got {shift}")
    n, c, h, w = x.shape
    out = x
    if shift:
        offsets = torch.randint(0, 2 * shift + 1, (2, n), generator=generator).to(x.device)
        black = _pixel_box(mean, std, x)[0].expand(1, c, 1, 1)
        padded = black.expand(n, c, h + 2 * shift, w + 2 * shift).clone()
        padded[:, :, shift:shift + h, shift:shift + w] = x
        rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                     torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    # in x's memory layout: a convolution picks its kernel by the strides, and on the CPU the
    # one-channel images' (N, 1, H, W) layout that loading gives trains 1.7x faster than the
    # layout the indexing above returns (benchmarks/README.md)
    return torch.empty_like(x).copy_(out)


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


# ---- batch-size schedules -----------------------------------------------------------------


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


# ---- learning-rate scaling and regime adaptation (chapter 06) ----------------------------


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
