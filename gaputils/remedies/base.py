"""What a remedy is: a frozen dataclass whose fields are its settings and whose methods are hooks
that the one training loop, :func:`gaputils.train.fit`, calls (chapter 05).

Write one as a frozen dataclass (``@dataclass(frozen=True)``) subclassing :class:`Remedy`, and
override the hooks you need; the others do nothing. Keep run state off the remedy: its fields
are settings, and they enter the cache key. The loop calls, in this order:

==================================  =========================================================
``check(config)``                   when a ``TrainConfig`` is made: raise ``ValueError`` for a
                                    configuration the remedy cannot run with
``wrap(model)``                     a context manager around the whole run (Ghost BatchNorm
                                    swaps layers in and out)
``plan(config, n, device)``         the batches, learning-rate factors and evaluation steps
                                    (:class:`gaputils.plan.Plan`) - replaces the fixed batch
``optimizer(params, config)``       the optimizer - replaces the one ``config`` names
``batch(ctx, x, y)``                every batch, before the step: returns a new ``(x, y)``;
                                    remedies run in the order of their ``order``
``weights(ctx, y)``                 per-example multipliers of the loss, or None
``loss(out, y)``                    the per-example training loss, shape (N,) - replaces
                                    cross-entropy in the objective (the History's losses,
                                    ``stop_below`` and adversarial attacks keep cross-entropy)
``step(ctx, closure)``              the update - replaces zero_grad, backward, clip, step;
                                    ``closure()`` evaluates the batch's mean loss
``after_step(ctx, step)``           after every batch's update (``step``, 1-based; a remedy that
                                    takes several optimizer steps per batch counts one)
``stop(ctx, history)``              after every evaluation: True ends the run
==================================  =========================================================

A hook marked "replaces" may be defined by only one remedy of a run: two would clash, and
``TrainConfig`` says so. ``ctx`` is the run's :class:`Context`. A remedy that draws random numbers
per batch takes them from ``ctx.generator`` (on the CPU, seeded from the run's seed), so a run is
deterministic. Data-parallel training refuses a remedy unless it declares
``data_parallel = True``: one that draws per batch would repeat the same draws on every worker's
slice. The remedy's class name, its fields (JSON values) and a digest of its code enter the run's
cache key (:meth:`Remedy.key`, :func:`code_digest`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
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
    remedies' random generator (CPU), the device, the History so far and the current step.
    ``evaluated``: (step, loss, accuracy) of the eval-mode network on the whole training set,
    where a hook has computed them at that step; the run records them instead of evaluating
    again."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    config: Any
    dataset: Any
    generator: torch.Generator
    device: torch.device
    history: Any = None
    step: int = 0
    evaluated: tuple[int, float, float] | None = None

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


def _digest_value(h, value, seen: set) -> None:
    """Feed a constant, a code object or a callable's code into the hash ``h``."""
    if hasattr(value, "co_code"):
        if id(value) in seen:
            return
        seen.add(id(value))
        h.update(value.co_code)
        h.update(repr(value.co_names).encode())
        for c in value.co_consts:
            _digest_value(h, c, seen)
    elif isinstance(value, (set, frozenset)):
        h.update(repr(sorted(map(repr, value))).encode())  # a stable order, whatever the seed
    elif callable(value) and not isinstance(value, type):
        _digest_callable(h, value, seen)
    else:
        h.update(repr(value).encode())


def _digest_callable(h, fn, seen: set) -> None:
    """A function's code, names, defaults and closure; what a decorator or partial wraps."""
    for inner in ("__wrapped__", "__func__"):
        if hasattr(fn, inner):
            _digest_callable(h, getattr(fn, inner), seen)
    if hasattr(fn, "func") and hasattr(fn, "args"):  # functools.partial
        _digest_callable(h, fn.func, seen)
        h.update(repr((fn.args, sorted(fn.keywords.items()))).encode())
    code = getattr(fn, "__code__", None)
    if code is None:
        if not hasattr(fn, "func") and callable(fn) and not hasattr(fn, "__wrapped__"):
            _digest_class(h, type(fn), seen)  # a callable instance: its class's code
            h.update(repr(sorted(vars(fn).items()) if hasattr(fn, "__dict__") else ()).encode())
        return
    _digest_value(h, code, seen)
    for extra in (fn.__defaults__, fn.__kwdefaults__):
        h.update(repr(extra).encode())
    for cell in fn.__closure__ or ():
        try:
            _digest_value(h, cell.cell_contents, seen)
        except ValueError:  # an empty cell
            pass


def _digest_class(h, cls: type, seen: set) -> None:
    """Every function and plain attribute a class and its bases (up to Remedy) define."""
    for klass in cls.__mro__:
        if klass in (Remedy, object) or klass.__module__ == "builtins":
            break
        for name, value in sorted(vars(klass).items()):
            if name.startswith("__") and name not in ("__call__", "__post_init__"):
                continue
            h.update(name.encode())
            if isinstance(value, (staticmethod, classmethod, property)):
                value = getattr(value, "__func__", None) or value.fget
            _digest_value(h, value, seen)


def code_digest(obj) -> str:
    """A short digest of the code of a function (its bytecode, the names it uses, its defaults,
    what its closure holds, what a decorator or ``functools.partial`` wraps) or of a class (every
    function and plain attribute it and its bases up to :class:`Remedy` define) - so that
    editing a remedy or an optimizer factory written in a notebook gives its runs a new cache
    key. Module-level globals that the code reads are not followed: change their names, or
    make them fields. The same in every process (sets are hashed in a sorted order)."""
    h, seen = hashlib.sha256(), set()
    if isinstance(obj, type):
        _digest_class(h, obj, seen)
    elif callable(obj):
        _digest_callable(h, obj, seen)
    else:
        raise TypeError(f"code_digest needs a function or a class, got {type(obj).__name__}")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Remedy:
    """A change to training that plugs into the one loop (module docstring). Subclass it as a
    frozen dataclass and override the hooks you need. Chapter 05."""

    order: ClassVar[int] = 50  # batch hooks run in increasing order
    data_parallel: ClassVar[bool] = False  # True: safe on several workers (no per-batch draws)
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
        if "flags" in vars(type(self)) and type(self).__module__.startswith(__package__):
            out = {}
            for name, (flag, default) in self.flags.items():
                v = getattr(self, name)
                if v != default:
                    out[flag] = [list(e) for e in v] if isinstance(v, tuple) else v
            return out
        fields_ = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.compare}
        try:
            json.dumps(fields_)
        except TypeError as err:
            raise TypeError(f"{type(self).__name__}'s fields must be JSON values (numbers, "
                            f"strings, lists, dicts) to enter the cache key: {err}") from err
        return {"remedies": [{"name": type(self).__qualname__, "fields": fields_,
                              "code": code_digest(type(self))}]}


def validate(remedies: Sequence[Remedy], config) -> tuple[Remedy, ...]:
    """The remedies as a tuple, checked: each is a :class:`Remedy`, no two of one kind, no two
    defining the same replacing hook, and each one's own ``check``."""
    remedies = tuple(remedies)
    for r in remedies:
        params = vars(type(r)).get("__dataclass_params__")
        if not isinstance(r, Remedy) or params is None or not params.frozen:
            raise TypeError(f"{r!r} is not a remedy: subclass gaputils.remedies.Remedy with "
                            "@dataclass(frozen=True) - its fields are its settings - and "
                            "override the hooks you need")
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

