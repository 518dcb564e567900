"""What a remedy is: a frozen dataclass whose fields are its settings and whose methods are hooks
that the one training loop, :func:`gaputils.train.fit`, calls (chapter 05).

Write one by subclassing :class:`Remedy` and overriding the hooks you need; the others do
nothing. The loop calls, in this order:

==================================  =========================================================
``check(config)``                   when a ``TrainConfig`` is made: raise ``ValueError`` for a
                                    configuration the remedy cannot run with
``plan(config, n, device)``         the batches, learning-rate factors and evaluation steps
                                    (:class:`gaputils.plan.Plan`) - replaces the fixed batch
``wrap(model)``                     a context manager around the whole run (Ghost BatchNorm
                                    swaps layers in and out)
``optimizer(params, config)``       the optimizer - replaces the one ``config`` names
``batch(ctx, x, y)``                every batch, before the step: returns a new ``(x, y)``;
                                    remedies run in the order of their ``order``
``weights(ctx, y)``                 per-example multipliers of the loss, or None
``loss(out, y)``                    the per-example loss (N,) - replaces cross-entropy
``step(ctx, closure)``              the update - replaces zero_grad, backward, clip, step;
                                    ``closure()`` evaluates the batch's mean loss
``after_step(ctx, step)``           after every optimizer step
``stop(ctx, history)``              after every evaluation: True ends the run
==================================  =========================================================

A hook marked "replaces" may be defined by only one remedy of a run: two would clash, and
``TrainConfig`` says so. ``ctx`` is the run's :class:`Context`. A remedy that draws random numbers
per batch takes them from ``ctx.generator`` (on the CPU, seeded from the run's seed), so a run is
deterministic; such a remedy sets ``data_parallel = False`` (each worker would repeat the same
draws on its slice). The remedy's class name and fields, and a digest of its methods' code,
enter the run's cache key (:meth:`Remedy.key`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

REPLACING = ("plan", "optimizer", "loss", "step")  # hooks one remedy of a run may define


@dataclass
class Context:
    """What a hook sees of the run: the model (``net`` is the data-parallel wrapper, or the model
    itself), its optimizer, the run's config, the dataset (``.mean``, ``.std``, ``.name``), the
    remedies' random generator (CPU), the device, the History so far and the current step."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    config: Any
    dataset: Any
    generator: torch.Generator
    device: torch.device
    history: Any = None
    step: int = 0

    @property
    def clip(self) -> float | None:
        """The gradient-norm clip of the run (``config.grad_clip``)."""
        return self.config.grad_clip


def plain_step(ctx: Context, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The update without remedies: the batch's loss, its gradient, clipping to ``ctx.clip``
    if set, one optimizer step. Returns the loss (detached). Chapter 00."""
    loss = closure()
    ctx.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if ctx.clip is not None:
        nn.utils.clip_grad_norm_([p for p in ctx.model.parameters() if p.requires_grad],
                                 ctx.clip)
    ctx.optimizer.step()
    return loss.detach()


def code_digest(obj) -> str:
    """A short digest of the code of a function, or of every function a class defines - so that
    editing a remedy written in a notebook gives its runs a new cache key."""
    h = hashlib.sha256()

    def add(code):
        h.update(code.co_code)
        for c in code.co_consts:
            add(c) if hasattr(c, "co_code") else h.update(repr(c).encode())

    funcs = ([obj] if callable(obj) and hasattr(obj, "__code__") else
             [v for k, v in sorted(vars(obj).items()) if hasattr(v, "__code__")])
    for f in funcs:
        add(f.__code__)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Remedy:
    """A change to training that plugs into the one loop (module docstring). Subclass it as a
    frozen dataclass and override the hooks you need. Chapter 05."""

    order: ClassVar[int] = 50  # batch hooks run in increasing order
    data_parallel: ClassVar[bool] = True  # False if it draws random numbers per batch
    # the book's own remedies were TrainConfig flags once: field -> (flag, flag's default), so
    # that their runs keep their cache keys (see key())
    flags: ClassVar[dict[str, tuple[str, object]]] = {}

    def check(self, config) -> None:
        """Raise ValueError if the remedy cannot run with ``config``."""

    def plan(self, config, n: int, device: torch.device):
        raise NotImplementedError

    @contextlib.contextmanager
    def wrap(self, model: nn.Module) -> Iterator[None]:
        yield

    def optimizer(self, params: list[torch.Tensor], config) -> torch.optim.Optimizer:
        raise NotImplementedError

    def batch(self, ctx: Context, x: torch.Tensor, y: torch.Tensor):
        return x, y

    def weights(self, ctx: Context, y: torch.Tensor) -> torch.Tensor | None:
        return None

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, ctx: Context, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, ctx: Context, step: int) -> None:
        """Called after every optimizer step."""

    def stop(self, ctx: Context, history) -> bool:
        return False

    def describe(self) -> str:
        """The remedy in a few words, for a setting's description."""
        return repr(self)

    def defines(self, hook: str) -> bool:
        """True if this remedy overrides ``hook``."""
        return getattr(type(self), hook) is not getattr(Remedy, hook)

    def key(self) -> dict:
        """What enters the run's cache key. The book's remedies: their old flags, each only where
        it differs from the flag's default (so every run keeps the key it always had). Any
        other remedy: ``{"remedies": [{"name", "fields", "code"}]}``."""
        if self.flags:
            out = {}
            for name, (flag, default) in self.flags.items():
                v = getattr(self, name)
                if v != default:
                    out[flag] = [list(e) for e in v] if isinstance(v, tuple) else v
            return out
        fields_ = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"remedies": [{"name": type(self).__qualname__, "fields": fields_,
                              "code": code_digest(type(self))}]}


def validate(remedies: Sequence[Remedy], config) -> tuple[Remedy, ...]:
    """The remedies as a tuple, checked: each is a :class:`Remedy`, no two of one kind, no two
    defining the same replacing hook, and each one's own ``check``."""
    remedies = tuple(remedies)
    for r in remedies:
        if not isinstance(r, Remedy):
            raise TypeError(f"{r!r} is not a gaputils.remedies.Remedy; subclass it (a frozen "
                            "dataclass) and override the hooks you need")
    kinds = [type(r).__qualname__ for r in remedies]
    twice = sorted({k for k in kinds if kinds.count(k) > 1})
    if twice:
        raise ValueError(f"two remedies of one kind: {twice}; give each kind once")
    for hook in REPLACING:
        users = [type(r).__name__ for r in remedies if r.defines(hook)]
        if len(users) > 1:
            raise ValueError(f"{' and '.join(users)} both replace the training loop's {hook}; "
                             "a run can take only one of them")
    for r in remedies:
        r.check(config)
    return remedies


def key_of(remedies: Sequence[Remedy]) -> dict:
    """The remedies' part of a run's cache key (:meth:`Remedy.key`), merged."""
    out: dict = {}
    for r in remedies:
        for k, v in r.key().items():
            if k == "remedies":
                out.setdefault("remedies", []).extend(v)
            elif k in out:
                raise ValueError(f"two remedies set the cache-key field {k!r}")
            else:
                out[k] = v
    return out


def first(remedies: Sequence[Remedy], hook: str) -> Remedy | None:
    """The remedy that defines the replacing ``hook``, or None."""
    return next((r for r in remedies if r.defines(hook)), None)


def ordered(remedies: Sequence[Remedy], hook: str) -> list[Remedy]:
    """The remedies that define ``hook``, in increasing ``order`` (stable)."""
    return sorted((r for r in remedies if r.defines(hook)), key=lambda r: r.order)


def not_data_parallel(remedies: Sequence[Remedy]) -> list[str]:
    """Names of the remedies that cannot run data-parallel."""
    return [type(r).__name__ for r in remedies if not r.data_parallel]

