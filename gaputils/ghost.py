"""Ghost Batch Normalization (Hoffer, Hubara and Soudry 2017; chapter 06).

In training, a :class:`GhostBatchNorm2d` (or ``1d``) layer normalizes each *ghost batch* - each
contiguous chunk of ``ghost_size`` examples of the batch - with that chunk's own mean and
variance, as if the large batch were many small ones. It does so in one vectorized call: the
batch (N, C, ...) is folded to (g, N/g * C, ...), so that every (ghost batch, channel) pair is
one channel of an ordinary batch norm. When N is not a multiple of g, the last N mod g examples
form one smaller ghost batch of their own (a second call); a batch of at most g examples is one
ghost batch, which is plain BatchNorm.

Running statistics. Each forward pass in training updates them *once*, with the average over the
ghost batches (weighted by size) of their means and unbiased variances:

    running <- (1 - momentum) * running + momentum * average over ghost batches

so their averaging horizon is the same number of steps as plain BatchNorm's, whatever the number
of ghost batches in a batch, and the average of unbiased within-ghost variances estimates the
population variance just as BatchNorm's unbiased batch variance does. (Updating once per ghost
batch instead would shorten the horizon by the number of ghost batches; see the chapter.) In
evaluation the layer is plain BatchNorm with those running statistics - never ghost batches.

:func:`to_ghost` and :func:`to_plain` swap every BatchNorm of a model for its ghost version and
back, keeping the very same parameter and buffer tensors (an optimizer built before the swap
still holds the layer's weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Ghost:
    """The forward pass shared by the 1d and 2d layers."""

    ghost_size: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if not self.training or n <= self.ghost_size:
            return super().forward(x)
        self._check_input_dim(x)
        k, rest = divmod(n, self.ghost_size)
        if rest == 1 and x.dim() == 2:
            raise ValueError(f"a batch of {n} with ghost_size={self.ghost_size} leaves one example "
                             "as a ghost batch of its own, whose variance is undefined; use a "
                             "batch size that is not 1 more than a multiple of ghost_size")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative average, as in nn.BatchNorm
                factor = 1.0 / float(self.num_batches_tracked)
        parts = [(x[:k * self.ghost_size], k)] + ([(x[k * self.ghost_size:], 1)] if rest else [])
        outs, mean_sum, var_sum = [], 0.0, 0.0
        for part, count in parts:
            out, mean, var = self._normalize(part, count, factor)
            outs.append(out)
            if mean is not None:
                size = len(part) // count
                mean_sum = mean_sum + size * mean.sum(0)
                var_sum = var_sum + size * var.sum(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.copy_(mean_sum / n)
                self.running_var.copy_(var_sum / n)
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    def _normalize(self, part: torch.Tensor, count: int, factor: float):
        """Batch-normalize ``count`` equal contiguous ghost batches of ``part`` in one call;
        returns the output and each ghost batch's updated running mean and variance
        (count, C), or ``None`` twice without running statistics."""
        size, c, tail = len(part) // count, part.shape[1], part.shape[2:]
        folded = part.reshape(count, size, c, *tail).transpose(0, 1).reshape(size, count * c,
                                                                             *tail)
        mean = var = None
        if self.track_running_stats:
            mean, var = self.running_mean.repeat(count), self.running_var.repeat(count)
        rep = (lambda t: None if t is None else t.repeat(count))
        out = F.batch_norm(folded, mean, var, rep(self.weight), rep(self.bias), True, factor,
                           self.eps)
        out = out.reshape(size, count, c, *tail).transpose(0, 1).reshape(part.shape)
        if mean is None:
            return out, None, None
        return out, mean.view(count, c), var.view(count, c)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", ghost_size={self.ghost_size}"


class GhostBatchNorm1d(_Ghost, nn.BatchNorm1d):
    """BatchNorm1d over ghost batches of ``ghost_size`` examples in training (module docstring).
    Input (N, C) or (N, C, L). Chapter 06."""

    def __init__(self, num_features: int, ghost_size: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.ghost_size = _check_size(ghost_size, self)


class GhostBatchNorm2d(_Ghost, nn.BatchNorm2d):
    """BatchNorm2d over ghost batches of ``ghost_size`` examples in training (module docstring).
    Input (N, C, H, W). Chapter 06."""

    def __init__(self, num_features: int, ghost_size: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.ghost_size = _check_size(ghost_size, self)


def _check_size(ghost_size: int, layer: nn.Module) -> int:
    if int(ghost_size) != ghost_size or ghost_size < 2:
        raise ValueError(f"ghost_size must be a whole number >= 2, got {ghost_size}")
    if not layer.track_running_stats:
        raise ValueError("Ghost BatchNorm needs track_running_stats=True: in evaluation it "
                         "normalizes with the running statistics, never with ghost batches")
    return int(ghost_size)


_PAIRS = {nn.BatchNorm1d: GhostBatchNorm1d, nn.BatchNorm2d: GhostBatchNorm2d}


def _swap(model: nn.Module, make) -> int:
    """Replace every module m for which ``make(m)`` returns a module; returns how many."""
    if make(model) is not None:
        raise ValueError("the model is itself a BatchNorm layer; wrap it in a container first")
    targets = [(name, m, make(m)) for name, m in model.named_modules() if name]
    targets = [t for t in targets if t[2] is not None]
    for name, old, new in targets:
        parent, _, child = name.rpartition(".")
        for attr in ("weight", "bias"):
            setattr(new, attr, getattr(old, attr))
        for attr in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(new, attr, getattr(old, attr))
        new.train(old.training)
        setattr(model.get_submodule(parent) if parent else model, child, new)
    return len(targets)


def _plain_args(m: nn.Module) -> dict:
    return dict(eps=m.eps, momentum=m.momentum, affine=m.affine,
                track_running_stats=m.track_running_stats)


def to_ghost(model: nn.Module, ghost_size: int) -> nn.Module:
    """Swap every ``nn.BatchNorm1d``/``2d`` of ``model`` (in place) for the ghost version with
    ``ghost_size``, sharing its weights, bias and running statistics; a ghost layer already there
    gets the new size. Returns the model. Chapter 06."""

    def make(m):
        if type(m) in _PAIRS:
            return _PAIRS[type(m)](m.num_features, ghost_size, **_plain_args(m))
        if isinstance(m, _Ghost):
            m.ghost_size = _check_size(ghost_size, m)
        return None

    if not _swap(model, make) and not any(isinstance(m, _Ghost) for m in model.modules()):
        raise ValueError("the model has no BatchNorm1d or BatchNorm2d layer to make a ghost of")
    return model


def to_plain(model: nn.Module) -> nn.Module:
    """Swap every ghost layer of ``model`` (in place) back for plain BatchNorm, sharing its
    tensors. Returns the model. Chapter 06."""
    plain = {v: k for k, v in _PAIRS.items()}
    _swap(model, lambda m: plain[type(m)](m.num_features, **_plain_args(m))
          if type(m) in plain else None)
    return model
