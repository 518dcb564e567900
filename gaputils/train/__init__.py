"""Training and evaluation: ``fit(model, dataset, config) -> History`` (chapter 00).

Batches are drawn on the device from tensors already there; the only host synchronizations are
at evaluation points (once per epoch by default) and, on the CPU where they cost nothing, a
finiteness check of the loss after every step.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from .. import batches, distributed, ghost, noise, remedies, sam
from ..data import Dataset, permuted_batches
from ..runtime import mode

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Give ``epochs`` (may be fractional) or ``steps``, not both.

    ``milestones`` (for ``schedule="step"``) and ``warmup_epochs`` are in epochs; the learning
    rate is multiplied by ``gamma`` at each milestone. ``warmup_epochs`` ramps it linearly from
    ``lr / warmup_steps`` to ``lr``. ``grad_clip`` clips the global gradient norm. ``seed`` fixes
    the batch order and dropout. ``eval_every`` is in steps (default: one epoch).

    Remedies (chapter 05, :mod:`gaputils.remedies`; at their defaults they are left out of
    :meth:`as_dict`, so the cache keys of plain runs do not change):
    ``augment_shift`` (pixels) and ``augment_flip`` augment every batch; ``proximal`` (lambda)
    with ``inner_steps`` > 1 is conservative training; ``adv_eps`` > 0 (intensity of the [0, 1]
    image) replaces a fraction ``adv_ratio`` of every batch by FGSM (``adv_steps = 1``) or PGD
    examples; ``batch_schedule`` - (first epoch, batch size, lr multiplier) triples, see
    :func:`gaputils.remedies.warm_start` and its neighbours - changes the batch size by epoch,
    each epoch covering the data exactly once; ``batch_size`` must then be its first size,
    ``epochs`` a whole number, and ``eval_every`` counts epochs of the first size's steps.
    Chapter 06: ``ghost_batch`` = g >= 2 trains with Ghost BatchNorm over ghost batches of g
    (:mod:`gaputils.ghost`; the trained model keeps plain BatchNorm layers); ``noise_batch`` =
    b multiplies every example's loss by noise that gives the update the gradient covariance of
    batches of b (:mod:`gaputils.noise`); ``distance_every`` = k records ||w_t - w_0|| every k
    steps (``History.distance``). Scaled learning rates and regime adaptation are plain fields
    (:func:`gaputils.remedies.scale_lr`, :func:`gaputils.remedies.adapt_regime`).
    Chapter 07: ``sam_rho`` > 0 makes every step a SAM step of radius rho over the optimizer
    (``sam_adaptive``: ASAM; :mod:`gaputils.sam`). ``stop_below`` > 0 ends the run at the first
    evaluation whose training loss (nats) is at or below it - steps to a target loss
    (:mod:`gaputils.scaling`).
    """

    batch_size: int = 256
    lr: float = 1e-3
    epochs: float | None = None
    steps: int | None = None
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    grad_clip: float | None = None
    seed: int = 0
    eval_every: int | None = None
    bf16: bool = False
    augment_shift: int = 0
    augment_flip: bool = False
    proximal: float = 0.0
    inner_steps: int = 1
    adv_eps: float = 0.0
    adv_steps: int = 1
    adv_ratio: float = 0.5
    batch_schedule: tuple[tuple[int, int, float], ...] = ()
    ghost_batch: int = 0
    noise_batch: int = 0
    distance_every: int = 0
    sam_rho: float = 0.0
    sam_adaptive: bool = False
    stop_below: float = 0.0

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give TrainConfig exactly one of epochs=... or steps=...")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"batch_size ({self.batch_size}) and lr ({self.lr}) must be positive")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        self._check_remedies()

    def _check_remedies(self) -> None:
        if self.augment_shift < 0 or self.proximal < 0 or self.adv_eps < 0:
            raise ValueError("augment_shift, proximal and adv_eps must be >= 0")
        if self.inner_steps < 1 or self.adv_steps < 1 or not 0 < self.adv_ratio <= 1:
            raise ValueError("need inner_steps >= 1, adv_steps >= 1 and 0 < adv_ratio <= 1")
        if self.ghost_batch == 1 or self.ghost_batch < 0 or self.distance_every < 0:
            raise ValueError("ghost_batch must be 0 (off) or >= 2, distance_every >= 0")
        if self.stop_below < 0:
            raise ValueError(f"stop_below={self.stop_below} must be 0 (off) or a target loss > 0")
        if self.sam_rho < 0 or (self.sam_rho and self.inner_steps > 1):
            raise ValueError("sam_rho must be >= 0, and SAM does not combine with inner_steps > 1")
        if not 0 <= self.noise_batch <= self.batch_size:
            raise ValueError(f"noise_batch={self.noise_batch} must be 0 (off) or a batch size "
                             f"up to batch_size={self.batch_size} whose noise to imitate")
        if self.batch_schedule:
            sched = tuple(tuple(entry) for entry in self.batch_schedule)
            object.__setattr__(self, "batch_schedule", sched)
            if self.epochs is None or self.epochs != int(self.epochs):
                raise ValueError("a batch_schedule needs a whole number of epochs=..., not steps")
            remedies.per_epoch(sched, int(self.epochs))  # raises on a malformed schedule
            if sched[0][1] != self.batch_size:
                raise ValueError(f"batch_size={self.batch_size} must equal the schedule's first "
                                 f"batch size {sched[0][1]}")

    def as_dict(self) -> dict:
        """The fields as JSON-friendly values (tuples become lists); remedy fields only where
        they differ from their defaults, so plain runs keep the keys they always had."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in REMEDY_FIELDS and v == f.default:
                continue
            out[f.name] = [list(e) for e in v] if f.name == "batch_schedule" else (
                list(v) if isinstance(v, tuple) else v)
        return out

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps for ``n_train`` training examples (last partial batch dropped; with
        a batch schedule, every example once per epoch)."""
        if self.steps is not None:
            return self.steps
        if self.batch_schedule:
            return remedies.schedule_steps(n_train, self.batch_schedule, int(self.epochs))
        return max(1, round(self.epochs * (n_train // self.batch_size)))


# Fields left out of the cache key at their defaults (remedies, and what a run records).
REMEDY_FIELDS = ("augment_shift", "augment_flip", "proximal", "inner_steps", "adv_eps",
                 "adv_steps", "adv_ratio", "batch_schedule", "ghost_batch", "noise_batch",
                 "distance_every", "sam_rho", "sam_adaptive", "stop_below")


_SERIES = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "seconds",
           "weight_distance", "lr")


@dataclass
class History:
    """Per-evaluation records of one run. Losses are mean cross-entropy (nats), accuracies are
    fractions in [0, 1], ``seconds`` is cumulative training wall-clock time (evaluation
    excluded), ``weight_distance`` is ||w_t - w_0|| over all parameters. ``distance`` holds
    the same distance at the steps ``distance_step`` when ``TrainConfig.distance_every`` asks
    for it (every k steps, between evaluations too)."""

    epoch: list[float] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    weight_distance: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    distance_step: list[int] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    diverged: bool = False
    message: str = ""
    config: dict = field(default_factory=dict)

    def final(self) -> dict:
        """The last record as a dict of numbers."""
        return {k: getattr(self, k)[-1] for k in _SERIES if getattr(self, k)}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"not a History record: unknown keys {sorted(unknown)}")
        return cls(**d)

    def __repr__(self) -> str:
        if not self.step:
            return "History(empty)"
        f = self.final()
        flag = ", diverged" if self.diverged else ""
        return (f"History(steps={f['step']}, epochs={f['epoch']:.3g}, "
                f"train_acc={f['train_acc']:.4f}, test_acc={f['test_acc']:.4f}, "
                f"seconds={f['seconds']:.1f}{flag})")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` in eval mode on ``(x, y)``.

    Chunked by ``batch_size``; chunks are weighted by their size, so the result is the
    full-batch value. The model's train/eval mode is restored. Chapter 00 (any data and loss:
    ``batches.evaluate``).
    """
    return batches.evaluate(model, (x, y), chunk=batch_size)


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int, total: int) -> float:
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


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov, weight_decay=config.weight_decay)


def epoch_factor(config: TrainConfig, start: float, end: float) -> float:
    """Multiplier of ``config.lr`` for a step of a batch-schedule run that covers epochs
    ``[start, end)``: the schedule read in epochs instead of steps (:func:`lr_factor`)."""
    if end <= config.warmup_epochs:
        return end / config.warmup_epochs
    if config.schedule == "step":
        return config.gamma ** sum(start >= m for m in config.milestones)
    if config.schedule == "cosine":
        progress = (start - config.warmup_epochs) / max(config.epochs - config.warmup_epochs,
                                                         1e-12)
        return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


class _Plan:
    """Step by step: the batch, the learning-rate factor, the epoch reached and whether to
    evaluate. A fixed batch size drops each epoch's last partial batch (the book's runs); a
    ``batch_schedule`` covers every example once per epoch (:mod:`gaputils.remedies`)."""

    def __init__(self, config: TrainConfig, n: int, device: torch.device):
        self.spe = n // config.batch_size
        if self.spe == 0:
            raise ValueError(f"batch_size={config.batch_size} exceeds the {n} training examples")
        self.total = config.total_steps(n)
        gen = torch.Generator().manual_seed(config.seed)
        if not config.batch_schedule:
            every = config.eval_every or self.spe
            self.index = self._endless(n, config.batch_size, gen, device)
            self.epoch = lambda step: step / self.spe
            self.factor = lambda step: lr_factor(config, step, self.spe, self.total)
            self.is_eval = lambda step: step % every == 0 or step == self.total
            return
        epochs = int(config.epochs)
        ends, factors, evals = [0.0], [], set()
        k_eval = max(1, round(config.eval_every / self.spe)) if config.eval_every else 1
        for e, (b, mult) in enumerate(remedies.per_epoch(config.batch_schedule, epochs)):
            k = len(remedies.epoch_sizes(n, min(b, n)))
            factors += [mult * epoch_factor(config, e + i / k, e + (i + 1) / k) for i in range(k)]
            ends += [e + (i + 1) / k for i in range(k)]
            if (e + 1) % k_eval == 0:
                evals.add(len(factors))
        batches_ = remedies.epoch_batches(n, config.batch_schedule, epochs, gen, device)
        self.index = (idx for _, idx in batches_)
        self.epoch = lambda step: ends[step]
        self.factor = lambda step: factors[min(step, self.total - 1)]
        self.is_eval = lambda step: step in evals or step == self.total

    @staticmethod
    def _endless(n, batch_size, generator, device) -> Iterator[torch.Tensor]:
        while True:
            yield from permuted_batches(n, [batch_size] * (n // batch_size), generator, device)


def _check_devices(model: nn.Module, dataset: Dataset) -> torch.device:
    dev = next(model.parameters()).device
    if dataset.train[0].device != dev:
        raise ValueError(f"the model is on {dev} but the data is on {dataset.train[0].device}; "
                         "move one of them (model.to(...) or dataset.to(...))")
    if dataset.train[0].dim() < 2 or len(dataset.train[0]) != len(dataset.train[1]):
        raise ValueError("dataset.train must be (x, y) with x of shape (N, ...) and y of (N,)")
    return dev


class _Recorder:
    """Appends evaluation records to a History; times training, not evaluation."""

    def __init__(self, model: nn.Module, dataset: Dataset, history: History):
        self.model, self.dataset, self.history = model, dataset, history
        self.w0 = [p.detach().clone() for p in model.parameters()]
        self.dev = self.w0[0].device
        self.seconds = 0.0
        self.pending: list[tuple[int, torch.Tensor]] = []
        self.t0 = time.perf_counter()

    def pause(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
        self.seconds += time.perf_counter() - self.t0

    def resume(self) -> None:
        self.t0 = time.perf_counter()

    @torch.no_grad()
    def squared_distance(self) -> torch.Tensor:
        """||w - w_0||^2 over all parameters, a tensor on the device (no synchronization)."""
        return sum(((p - p0) ** 2).sum() for p, p0 in
                   zip(self.model.parameters(), self.w0, strict=True))

    def track(self, step: int) -> None:
        """Note the distance at ``step``; it is read into the History at the next record."""
        self.pending.append((step, self.squared_distance()))

    def record(self, step: int, epoch: float, lr: float) -> None:
        h = self.history
        if self.pending:
            h.distance_step += [s for s, _ in self.pending]
            h.distance += torch.stack([d for _, d in self.pending]).double().sqrt().tolist()
            self.pending = []
        dist = float(self.squared_distance()) ** 0.5
        trl, tra = evaluate(self.model, *self.dataset.train)
        tel, tea = evaluate(self.model, *self.dataset.test)
        for k, v in zip(_SERIES, (epoch, step, trl, tra, tel, tea, self.seconds,
                                  dist, lr), strict=True):
            getattr(h, k).append(v)


def _batch_fn(model: nn.Module, dataset: Dataset, config: TrainConfig,
              generator: torch.Generator) -> Callable[[torch.Tensor, torch.Tensor], tuple]:
    """What the remedies do to a batch before the step: augmentation, then adversarial
    examples in place of its first ``adv_ratio`` part; returns ``(x, y, weights)``, the
    weights the per-example multipliers of the loss (multiplicative noise) or ``None``."""
    if config.augment_flip and dataset.name == "mnist":
        raise ValueError("augment_flip would turn digits into other symbols; use it on "
                         "Fashion-MNIST or CIFAR, not MNIST")
    norm = {"mean": dataset.mean, "std": dataset.std}

    def apply(xb, yb):
        if config.augment_shift or config.augment_flip:
            xb = remedies.augment(xb, generator, config.augment_shift, config.augment_flip,
                                  **norm)
        if config.adv_eps:
            k = max(1, round(config.adv_ratio * len(yb)))
            adv = remedies.adversarial(model, xb[:k], yb[:k], config.adv_eps, config.adv_steps,
                                       generator=generator, **norm)
            xb = torch.cat([adv, xb[k:]])
        weights = None
        if config.noise_batch:
            var = noise.matching_variance(len(yb), min(config.noise_batch, len(yb)))
            weights = noise.multipliers(len(yb), var, generator, device=yb.device)
        return xb, yb, weights

    return apply


def fit(model: nn.Module, dataset: Dataset, config: TrainConfig, *,
        progress: bool | None = None,
        callback: Callable[[nn.Module, History], None] | None = None) -> History:
    """Train ``model`` in place on ``dataset.train``; evaluate on train and test sets.

    Records are taken before the first step and every ``config.eval_every`` steps (default: one
    epoch) and at the end; ``callback(model, history)`` runs after each. Seeds torch's global
    generator with ``config.seed`` (dropout) and draws batches from a generator with the same
    seed (remedies from another one), so two runs from the same weights give the same history
    on the same device. A NaN or infinite loss stops the run with a warning and returns the
    history so far, with ``diverged=True`` and a ``message`` saying where. ``progress``
    defaults to on except in smoke mode. Under ``torchrun`` the run is data-parallel
    (:mod:`gaputils.distributed`). Chapter 00; remedies chapters 05 and 06.
    """
    dev = _check_devices(model, dataset)
    if not config.ghost_batch:
        return _fit(model, dataset, config, dev, progress, callback)
    ghost.to_ghost(model, config.ghost_batch)
    try:
        return _fit(model, dataset, config, dev, progress, callback)
    finally:
        ghost.to_plain(model)


def _fit(model, dataset, config, dev, progress, callback) -> History:
    x, y = dataset.train
    plan = _Plan(config, len(y), dev)
    par = distributed.Parallel(model, config)  # one process: the model itself
    check_every = 1 if dev.type == "cpu" else (config.eval_every or plan.spe)
    torch.manual_seed(config.seed)
    prepare = _batch_fn(model, dataset, config, torch.Generator().manual_seed(config.seed + 1))
    opt = _optimizer(model, config)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, plan.factor)
    history = History(config=config.as_dict())
    rec = _Recorder(model, dataset, history)
    rec.record(0, 0.0, opt.param_groups[0]["lr"])
    show = (mode() != "smoke" if progress is None else progress) and par.rank == 0
    from tqdm.auto import tqdm

    bar = tqdm(total=plan.total, unit="step", disable=not show, leave=True,
               desc=f"{config.optimizer} B={config.batch_size}"
                    + (f" on {par.size} workers" if par.size > 1 else ""))
    nonfinite = torch.zeros((), dtype=torch.bool, device=dev)
    lam = config.proximal if config.inner_steps > 1 else 0.0
    model.train()
    rec.resume()
    for step in range(1, plan.total + 1):
        idx = par.slice(next(plan.index))
        xb, yb, wb = prepare(x[idx], y[idx])

        def batch_loss():
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=config.bf16):
                out = par.net(xb)
                if wb is None:
                    return F.cross_entropy(out, yb)
            return (F.cross_entropy(out.float(), yb, reduction="none") * wb).mean()

        if config.sam_rho:
            loss = sam.step(model, opt, batch_loss, config.sam_rho, config.sam_adaptive,
                            clip=config.grad_clip)
        else:
            loss = remedies.proximal_step(model, opt, batch_loss, lam, config.inner_steps,
                                          config.grad_clip)
        sched.step()
        par.after_step()
        if config.distance_every and step % config.distance_every == 0:
            rec.track(step)
        nonfinite |= ~torch.isfinite(loss)
        at_eval = plan.is_eval(step)
        if (at_eval or step % check_every == 0) and par.any(nonfinite).item():
            history.diverged = True
            history.message = (
                f"loss became {loss.item()} by step {step} (epoch {plan.epoch(step):.2f}); the "
                f"run stopped and its history up to step {history.step[-1]} is kept. Try a "
                f"smaller lr than {config.lr} or grad_clip.")
            warnings.warn(history.message, RuntimeWarning, stacklevel=2)
            break
        if at_eval:
            rec.pause()
            rec.record(step, plan.epoch(step), opt.param_groups[0]["lr"])
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}",
                            test_acc=f"{history.test_acc[-1]:.3f}")
            if callback is not None:
                callback(model, history)
            if config.stop_below and history.train_loss[-1] <= config.stop_below:
                break
            model.train()
            rec.resume()
    bar.close()
    return history
