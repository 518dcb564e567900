"""Sharpness-aware minimization (Foret et al. 2021) and its adaptive version ASAM (Kwon et al.
2021), over any base optimizer (chapter 07).

One SAM update takes two gradients: g at the weights w, then the gradient at the perturbed
weights w + e, which the base optimizer applies at w.

- SAM: e = rho g / ||g||, the steepest ascent step of length rho.
- ASAM: e = rho T^2 g / ||T g||, with T = |w| + eta elementwise for *weight tensors* (two or more
  dimensions: the weights of convolutions and linear layers) and T = 1 for biases and the
  parameters of normalization layers, which Kwon et al.'s scale-invariance argument does not
  cover. ||T^-1 e|| = rho: the ball is measured relative to each weight's size.

BatchNorm: the second forward pass, at w + e, runs in training mode (batch statistics, as the
first), but it must not move the running statistics a second time - :func:`step` restores them,
so after a SAM step they equal those after the first pass alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def _scales(params: list[torch.Tensor], adaptive: bool, eta: float) -> list[torch.Tensor | None]:
    """T per parameter: |w| + eta for weight tensors under ASAM, None (1) otherwise."""
    return [p.detach().abs() + eta if adaptive and p.dim() > 1 else None for p in params]


@torch.no_grad()
def perturbation(params: list[torch.Tensor], rho: float, adaptive: bool = False,
                 eta: float = 0.01) -> list[torch.Tensor]:
    """The SAM (or ASAM) perturbation e of every parameter from the gradients in ``.grad``
    (module docstring); a parameter without a gradient gets zeros. Chapter 07."""
    if rho < 0 or eta < 0:
        raise ValueError(f"rho and eta must be >= 0, got rho={rho}, eta={eta}")
    scales = _scales(params, adaptive, eta)
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    tg = [g if t is None else t * g for g, t in zip(grads, scales, strict=True)]
    norm = torch.sqrt(sum((x.float() ** 2).sum() for x in tg))
    factor = rho / (norm + 1e-12)
    return [factor * (x if t is None else t * x) for x, t in zip(tg, scales, strict=True)]


@contextmanager
def frozen_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """Inside, forward passes in training mode may update BatchNorm running statistics; on
    exit they are restored exactly (running mean, variance and batch count). Chapter 07."""
    saved = [(m, [b.clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked)])
             for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


def step(model: nn.Module, optimizer: torch.optim.Optimizer,
         loss_fn: Callable[[], torch.Tensor], rho: float, adaptive: bool = False,
         eta: float = 0.01, clip: float | None = None) -> torch.Tensor:
    """One SAM (``adaptive``: ASAM) update of ``model`` with the base ``optimizer``:
    gradient at w, move to w + e, gradient there (BatchNorm running statistics untouched by
    this second pass), back to w, then ``optimizer.step()`` with that gradient, clipped to
    norm ``clip`` if given. ``loss_fn`` evaluates one fixed batch. ``rho = 0`` is the base
    optimizer's step exactly. Returns the loss at w (detached). Chapter 07."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    e = perturbation(params, rho, adaptive, eta)
    start = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, d in zip(params, e, strict=True):
            p.add_(d)
    optimizer.zero_grad(set_to_none=True)
    with frozen_batchnorm_statistics(model):
        loss_fn().backward()
    with torch.no_grad():  # back to w exactly (not w + e - e, which rounds)
        for p, w in zip(params, start, strict=True):
            p.copy_(w)
    if clip is not None:
        nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return loss.detach()
