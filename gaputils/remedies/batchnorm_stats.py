"""BatchNorm statistics recomputed before evaluations: not a remedy but a plug-in of the same
kind, for measurements that read the eval-mode loss early in a run (chapter 07's steps to a
target loss)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from .. import batches
from .base import Context, Remedy

__all__ = ["FreshBNStats", "recompute_bn_stats"]


class _Enough(Exception):
    """Raised by the hook once it has the layer's input: the rest of the forward pass is
    not needed."""


def _moments(h: torch.Tensor, block: int = 1 << 16) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Count, sum and sum of squares per channel (dim 1) of a BatchNorm layer's input, summed in
    double precision, without a double copy of ``h``. On a CPU in blocks of about ``block``
    values, each a (rows, channels) table converted to double on its own: one reduction in double
    across the other dimensions of the whole of ``h`` took ten times as long there (150 ms
    against 13 ms for C1's first layer on 2,000 images, one thread). Elsewhere that one
    reduction."""
    c = h.shape[1]
    n = h.numel() // c
    if h.device.type != "cpu":
        dims = [d for d in range(h.dim()) if d != 1]
        s = torch.sum(h, dim=dims, dtype=torch.float64)
        return n, s, torch.linalg.vector_norm(h, dim=dims, dtype=torch.float64) ** 2
    rows = h.movedim(1, -1)  # a view: a (rows, channels) table per example block
    per = max(1, block // max(1, rows[0].numel()))
    s = torch.zeros(c, dtype=torch.float64, device=h.device)
    s2 = torch.zeros_like(s)
    for i in range(0, len(h), per):
        part = rows[i:i + per].reshape(-1, c).to(torch.float64)
        s += part.sum(0)
        s2 += (part * part).sum(0)
    return n, s, s2


def _set(norm: nn.Module, n: int, s: torch.Tensor, s2: torch.Tensor) -> None:
    mean = s / n
    var = (s2 / n - mean * mean).clamp_min(0) * n / max(n - 1, 1)  # unbiased, as BatchNorm keeps
    norm.running_mean.copy_(mean)
    norm.running_var.copy_(var)


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, x: torch.Tensor,
                       chunk: int = 4096) -> torch.Tensor | None:
    """Set every BatchNorm layer's running mean and (unbiased) variance to the exact statistics
    of its input over all of ``x``, as the eval-mode network computes it: each layer's with the
    layers before it already set, so that the result is what an evaluation of the current
    weights sees. When ``x`` fits in one ``chunk``, one forward pass does it (each layer sets
    its statistics from its input just before it runs; an ``nn.Sequential`` runs in cache-sized
    pieces between its BatchNorm layers) and its output - the eval-mode network's on ``x`` - is
    returned; otherwise one pass per layer, cut short after it, and None. In eval
    mode throughout (no dropout, no random draws); the model's modes are restored. Unlike
    :func:`gaputils.landscape.recompute_bn` (the average of training-mode batch statistics, for
    interpolated networks), every layer sees the eval-mode network's inputs. Chapter 07."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        if len(x) <= chunk and type(model) is nn.Sequential and all(
                any(n is m for m in model) for n in norms):
            return _staged(model, x)
        if len(x) <= chunk:
            handles = [m.register_forward_pre_hook(lambda m, inp: _set(m, *_moments(inp[0])))
                       for m in norms]
            try:
                return model(x)
            finally:
                for h in handles:
                    h.remove()
        for norm in norms:
            total = [0, 0.0, 0.0]

            def take(_module, inputs, total=total):
                for i, v in enumerate(_moments(inputs[0])):
                    total[i] = total[i] + v
                raise _Enough

            handle = norm.register_forward_pre_hook(take)
            try:
                for i in range(0, len(x), chunk):
                    with contextlib.suppress(_Enough):
                        model(x[i:i + chunk])
            finally:
                handle.remove()
            _set(norm, *total)
        return None
    finally:
        for m, training in modes.items():
            m.train(training)


def _staged(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The one pass of :func:`recompute_bn_stats` for an ``nn.Sequential`` whose BatchNorm layers
    are its own: each stretch of layers up to the next BatchNorm runs over ``x`` in pieces small
    enough for the processor's caches (:func:`gaputils.batches.eval_chunk`), and the BatchNorm's
    statistics are set from all of its input before the next stretch, which starts with it."""
    piece = batches.eval_chunk(model, x)
    cuts = [i for i, m in enumerate(model) if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    h, start = x, 0
    for end in [*cuts, len(model)]:
        if end > start:
            stretch = model[start:end]
            h = torch.cat([stretch(h[i:i + piece]) for i in range(0, len(h), piece)])
        if end < len(model):
            _set(model[end], *_moments(h))
        start = end
    return h


@dataclass(frozen=True)
class FreshBNStats(Remedy):
    """Before every evaluation that falls on a multiple of ``every`` steps (give the run's
    ``eval_every``), recompute the BatchNorm running statistics on all training examples
    (:func:`recompute_bn_stats`), so that the recorded eval-mode losses - and ``stop_below`` -
    see the current weights' statistics rather than a running average that still carries the
    initial ones (momentum 0.1 forgets them over tens of steps; a large-batch run to a target
    takes about thirty). Training itself is unchanged: training-mode BatchNorm uses batch
    statistics. Where the training set fits one pass, that pass is the evaluation's own forward
    pass, so its loss and accuracy are handed to the run (``Context.evaluated``) rather than
    computed twice. Chapter 07."""

    every: int = 1

    data_parallel = False  # each worker would recompute on its own slice's model copy

    def check(self, config) -> None:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"FreshBNStats(every={self.every}): give a whole number of steps "
                             ">= 1, the run's eval_every")

    def after_step(self, ctx: Context, step: int) -> None:
        if step % self.every == 0:
            x, y = ctx.dataset.train
            out = recompute_bn_stats(ctx.model, x)
            if out is not None:
                ctx.evaluated = (step, *batches.score(out, y))
