"""Eval-mode BatchNorm written as the affine map it is, for cheap second derivatives.

In eval mode a BatchNorm layer with running statistics computes, per channel,

    y = x * s + t,    s = weight / sqrt(running_var + eps),    t = bias - running_mean * s,

an affine map of x whose coefficients depend only on the layer's own parameters. PyTorch's
``batch_norm`` gives the same values, but its double backward is one general formula for both
modes, with products and sums over every activation even in eval mode: on 2 CPU cores it took
about half of a Hessian-vector product of a small CNN with three BatchNorm layers
(benchmarks/README.md). Differentiating the two lines above twice costs a few
elementwise products instead.

:func:`affine_norms` swaps the layers' forward for those two lines while it is entered, and only
where they are exactly what the layer computes: a layer in eval mode that keeps running
statistics (one that does not normalizes with the batch's statistics even in eval mode) and whose
forward is PyTorch's own or Ghost BatchNorm's (plain BatchNorm in eval mode). The values agree
with ``batch_norm`` to rounding (about 2e-7 relative in float32), not to the bit. Chapter 04's
curvature runs through it (``hessian.HessianOperator``), and first derivatives
(``hessian.gradient``: the sharpness solvers' passes) through its ``strided_only`` form.
"""

from __future__ import annotations

import types
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .ghost import _Ghost

_PLAIN = (_BatchNorm.forward, nn.SyncBatchNorm.forward, _Ghost.forward)


def _affine(self: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    s = torch.rsqrt(self.running_var + self.eps)
    if self.weight is not None:
        s = s * self.weight
    t = -self.running_mean * s
    if self.bias is not None:
        t = t + self.bias
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x * s.view(shape) + t.view(shape)


def affine_layers(model: nn.Module) -> list[_BatchNorm]:
    """The layers of ``model`` that :func:`affine_norms` rewrites: BatchNorm in eval mode with
    running statistics and PyTorch's (or Ghost BatchNorm's) own forward."""
    return [m for m in model.modules()
            if isinstance(m, _BatchNorm) and not m.training and m.running_var is not None
            and type(m).forward in _PLAIN and "forward" not in m.__dict__]


def _affine_if_strided(self: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """The affine map on activations that are not contiguous (channels-last, as convolutions
    on the CPU return them), PyTorch's own kernel on contiguous ones."""
    if x.is_contiguous():
        return type(self).forward(self, x)
    return _affine(self, x)


@contextmanager
def affine_norms(model: nn.Module, strided_only: bool = False):
    """Inside, every layer of :func:`affine_layers` computes x * s + t (see the module
    docstring); on exit each gets its own forward back, also after an error. Enter it after
    putting the model in eval mode. ``strided_only=True`` rewrites a layer only while its input
    is not contiguous, for first derivatives: there PyTorch's eval-mode backward of
    ``batch_norm`` on the CPU is slow for channels-last activations (about 10x the affine map's
    on a conv layer's output) and fast for contiguous ones."""
    layers = affine_layers(model)
    forward = _affine_if_strided if strided_only else _affine
    try:
        for m in layers:
            m.forward = types.MethodType(forward, m)
        yield layers
    finally:
        for m in layers:
            m.__dict__.pop("forward", None)
