"""Training and evaluation: ``fit(model, dataset, config) -> History`` (chapter 00).

One loop trains every run of the book. Remedies plug into it as objects with hooks
(:mod:`gaputils.remedies`, ``TrainConfig(remedies=(...))``); a reader's own optimizer or update
step goes in as ``fit(..., optimizer=..., step=...)``. Batches are drawn on the device from
tensors already there (:mod:`gaputils.plan`); the only host synchronizations are at evaluation
points (once per epoch by default) and, on the CPU where they cost nothing, a finiteness check of
the loss after every step.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import batches, distributed
from .. import plan as plans
from ..data import Dataset
from ..plan import SCHEDULES, epoch_factor, lr_factor  # noqa: F401 (public names of old)
from ..remedies.base import Context, Remedy, first, key_of, ordered, plain_step, validate
from ..runtime import mode

OPTIMIZERS = ("adam", "sgd")
_OMIT = {"omit_default": True}  # added after the first runs: left out of the key at its default


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Give ``epochs`` (may be fractional) or ``steps``, not both.

    ``milestones`` (for ``schedule="step"``) and ``warmup_epochs`` are in epochs; the learning
    rate is multiplied by ``gamma`` at each milestone. ``warmup_epochs`` ramps it linearly from
    ``lr / warmup_steps`` to ``lr``. ``grad_clip`` clips the global gradient norm. ``seed`` fixes
    the batch order and dropout. ``eval_every`` is in steps (default: one epoch).
    ``distance_every`` = k records ||w_t - w_0|| every k steps (``History.distance``, chapter
    06); ``stop_below`` > 0 ends the run at the first evaluation whose training loss (nats) is at
    or below it - steps to a target loss (:mod:`gaputils.scaling`, chapter 07).

    ``remedies``: objects that plug into the loop (:mod:`gaputils.remedies`: augmentation,
    conservative and adversarial training, batch schedules, Ghost BatchNorm, multiplicative
    noise, SAM, or your own); each enters the cache key. Scaled learning rates and regime
    adaptation change the fields themselves (:func:`gaputils.remedies.scale_lr`,
    :func:`gaputils.remedies.adapt_regime`).
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
    distance_every: int = field(default=0, metadata=_OMIT)
    stop_below: float = field(default=0.0, metadata=_OMIT)
    remedies: tuple[Remedy, ...] = field(default=(), metadata=_OMIT)

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give TrainConfig exactly one of epochs=... or steps=...")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS} "
                             "(or pass your own: fit(..., optimizer=...))")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"batch_size ({self.batch_size}) and lr ({self.lr}) must be positive")
        if self.distance_every < 0 or self.stop_below < 0:
            raise ValueError("distance_every and stop_below must be >= 0 (0: off)")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        object.__setattr__(self, "remedies", validate(self.remedies, self))

    def as_dict(self) -> dict:
        """The fields as JSON-friendly values (tuples become lists) - what the cache key
        hashes. Fields added after the first runs are left out at their defaults, and each
        remedy adds its own part (:meth:`gaputils.remedies.Remedy.key`), so every run keeps the
        key it always had."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.metadata.get("omit_default") and v == f.default:
                continue
            if f.name == "remedies":
                out.update(key_of(v))
            else:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def planned(self, n: int, device=None) -> plans.Plan:
        """The run's :class:`~gaputils.plan.Plan` over ``n`` training examples: a remedy's
        (a batch schedule) or the fixed batch's."""
        planner = first(self.remedies, "plan")
        dev = torch.device("cpu") if device is None else device
        return planner.plan(self, n, dev) if planner else plans.fixed(self, n, dev)

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps for ``n_train`` training examples (last partial batch dropped; with
        a batch schedule, every example once per epoch)."""
        if first(self.remedies, "plan") is None:
            return plans.fixed_steps(self, n_train)
        return self.planned(n_train).total


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
             batch_size: int | None = None) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` in eval mode on ``(x, y)``.

    Chunked by ``batch_size`` (default: ``batches.eval_chunk``); chunks are weighted by their
    size, so the result is the full-batch value (to rounding). The model's train/eval mode is
    restored. Chapter 00 (any data and loss: ``batches.evaluate``).
    """
    return batches.evaluate(model, (x, y), chunk=batch_size)


def make_optimizer(model: nn.Module, config: TrainConfig,
                   factory: Callable | None = None) -> torch.optim.Optimizer:
    """The run's optimizer over the model's trainable parameters: ``factory(params, config)``
    if given, else a remedy's (its ``optimizer`` hook), else Adam or SGD as ``config`` says."""
    params = [p for p in model.parameters() if p.requires_grad]
    remedy = first(config.remedies, "optimizer")
    if factory is not None and remedy is not None:
        raise ValueError(f"{type(remedy).__name__} and fit(optimizer=...) both choose the "
                         "optimizer; give one")
    if factory is not None or remedy is not None:
        return factory(params, config) if factory is not None else remedy.optimizer(params,
                                                                                    config)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov, weight_decay=config.weight_decay)


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

    def record(self, step: int, epoch: float, lr: float,
               train: tuple[float, float] | None = None) -> None:
        """Append the evaluation at ``step``; ``train``: the training set's loss and accuracy,
        where a hook already has them (:class:`~gaputils.remedies.base.Context`)."""
        h = self.history
        if self.pending:
            h.distance_step += [s for s, _ in self.pending]
            h.distance += torch.stack([d for _, d in self.pending]).double().sqrt().tolist()
            self.pending = []
        dist = float(self.squared_distance()) ** 0.5
        trl, tra = train if train is not None else evaluate(self.model, *self.dataset.train)
        tel, tea = evaluate(self.model, *self.dataset.test)
        for k, v in zip(_SERIES, (epoch, step, trl, tra, tel, tea, self.seconds,
                                  dist, lr), strict=True):
            getattr(h, k).append(v)


Step = Callable[[Context, Callable[[], torch.Tensor]], torch.Tensor]


def fit(model: nn.Module, dataset: Dataset, config: TrainConfig, *,
        progress: bool | None = None,
        callback: Callable[[nn.Module, History], None] | None = None,
        optimizer: Callable[[list, TrainConfig], torch.optim.Optimizer] | None = None,
        step: Step | None = None) -> History:
    """Train ``model`` in place on ``dataset.train``; evaluate on train and test sets.

    Records are taken before the first step and every ``config.eval_every`` steps (default: one
    epoch) and at the end; ``callback(model, history)`` runs after each. ``config.remedies``
    plug into the loop (:mod:`gaputils.remedies`). ``optimizer(params, config)`` replaces the
    optimizer that ``config`` names; ``step(ctx, closure)`` replaces the update (zero_grad,
    backward, clip, optimizer step; ``closure()`` is the batch's mean loss, ``ctx`` a
    :class:`gaputils.remedies.Context`) and returns the loss. Seeds torch's global generator
    with ``config.seed`` (dropout) and draws batches from a generator with the same seed
    (remedies from another one), so two runs from the same weights give the same history on
    the same device. A NaN or infinite loss stops the run with a warning and returns the
    history so far, with ``diverged=True`` and a ``message`` saying where. ``progress``
    defaults to on except in smoke mode. Under ``torchrun`` the run is data-parallel
    (:mod:`gaputils.distributed`). Chapter 00; remedies chapters 05-07.
    """
    dev = _check_devices(model, dataset)
    stepper = first(config.remedies, "step")
    if step is not None and stepper is not None:
        raise ValueError(f"{type(stepper).__name__} and fit(step=...) both replace the update "
                         "step; give one")
    with contextlib.ExitStack() as stack:
        for r in config.remedies:
            stack.enter_context(r.wrap(model))
        return _fit(model, dataset, config, dev, progress, callback, optimizer,
                    step or (stepper.step if stepper else plain_step))


def _batch_loss(ctx: Context, xb, yb, wb, criterion: Remedy | None) -> Callable:
    """The closure of one step: the batch's mean loss - cross-entropy, or the remedy's
    per-example ``loss`` - weighted per example by ``wb`` where a remedy asks."""
    config = ctx.config

    def closure() -> torch.Tensor:
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = ctx.net(xb)
            if wb is None and criterion is None:
                return F.cross_entropy(out, yb)
        per = (criterion.loss(out.float(), yb) if criterion is not None
               else F.cross_entropy(out.float(), yb, reduction="none"))
        if per.shape != yb.shape[:1]:
            raise ValueError(f"{type(criterion).__name__}.loss returned shape {tuple(per.shape)}; "
                             f"it must return one loss per example, shape ({len(yb)},) - use "
                             "reduction='none'")
        return (per * wb).mean() if wb is not None else per.mean()

    return closure


def _prepare(ctx: Context, xb, yb, hooks: dict[str, list[Remedy]]):
    """The remedies' batch transforms in their order, then their per-example weights (the
    product, or None)."""
    for r in hooks["batch"]:
        xb, yb = r.batch(ctx, xb, yb)
    wb = None
    for r in hooks["weights"]:
        w = r.weights(ctx, yb)
        if w is not None:
            wb = w if wb is None else wb * w
    return xb, yb, wb


def _fit(model, dataset, config, dev, progress, callback, factory, stepper) -> History:
    x, y = dataset.train
    plan = config.planned(len(y), dev)
    par = distributed.Parallel(model, config)  # one process: the model itself
    check_every = 1 if dev.type == "cpu" else (config.eval_every or plan.spe)
    torch.manual_seed(config.seed)
    opt = make_optimizer(model, config, factory)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, plan.factor)
    history = History(config=config.as_dict())
    ctx = Context(model, par.net, opt, config, dataset,
                  torch.Generator().manual_seed(config.seed + 1), dev, history)
    hooks = {h: ordered(config.remedies, h) for h in ("batch", "weights", "after_step", "stop")}
    criterion = first(config.remedies, "loss")
    rec = _Recorder(model, dataset, history)
    rec.record(0, 0.0, opt.param_groups[0]["lr"])
    show = (mode() != "smoke" if progress is None else progress) and par.rank == 0
    bar = tqdm(total=plan.total, unit="step", disable=not show, leave=True,
               desc=f"{config.optimizer} B={config.batch_size}"
                    + (f" on {par.size} workers" if par.size > 1 else ""))
    nonfinite = torch.zeros((), dtype=torch.bool, device=dev)
    model.train()
    rec.resume()
    for step in range(1, plan.total + 1):
        ctx.step = step
        idx = par.slice(next(plan.index))
        xb, yb, wb = _prepare(ctx, x[idx], y[idx], hooks)
        loss = stepper(ctx, _batch_loss(ctx, xb, yb, wb, criterion))
        sched.step()
        par.after_step()
        for r in hooks["after_step"]:
            r.after_step(ctx, step)
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
            warnings.warn(history.message, RuntimeWarning, stacklevel=3)
            break
        if at_eval:
            rec.pause()
            done = ctx.evaluated if ctx.evaluated and ctx.evaluated[0] == step else None
            rec.record(step, plan.epoch(step), opt.param_groups[0]["lr"],
                       done[1:] if done else None)
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}",
                            test_acc=f"{history.test_acc[-1]:.3f}")
            if callback is not None:
                callback(model, history)
            if (config.stop_below and history.train_loss[-1] <= config.stop_below) or any(
                    r.stop(ctx, history) for r in hooks["stop"]):
                break
            model.train()
            rec.resume()
    bar.close()
    return history
