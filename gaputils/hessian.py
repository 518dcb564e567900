"""Curvature of the training loss: gradients and Hessian-vector products (chapters 03-04).

The loss is the mean cross-entropy over all of ``data`` in eval mode (BatchNorm running
statistics, dropout off), computed in chunks weighted by their size, so every result is the
full-batch quantity whatever the chunk size. Vectors are flat, in ``model.parameters()`` order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Data = tuple[torch.Tensor, torch.Tensor]


def _chunks(data: Data, chunk: int):
    x, y = data
    for i in range(0, len(y), chunk):
        yield x[i:i + chunk], y[i:i + chunk], len(y)


def _eval_params(model: nn.Module) -> list[torch.nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return params


def gradient(model: nn.Module, data: Data, chunk: int = 4096) -> tuple[float, torch.Tensor]:
    """The mean loss (nats) and its gradient as one flat vector. Chapter 03."""
    params = _eval_params(model)
    was = model.training
    model.eval()
    total, grads = 0.0, [torch.zeros_like(p) for p in params]
    try:
        for xb, yb, n in _chunks(data, chunk):
            loss = F.cross_entropy(model(xb), yb, reduction="sum") / n
            for acc, g in zip(grads, torch.autograd.grad(loss, params), strict=True):
                acc += g
            total += float(loss.detach())
    finally:
        model.train(was)
    return total, torch.cat([g.reshape(-1) for g in grads])


def hvp(model: nn.Module, data: Data, v: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Hessian-vector product H v of the mean loss over all of ``data`` (reverse over reverse:
    the gradient's graph is kept per chunk and differentiated once more). ``v`` is flat, in
    ``model.parameters()`` order over the trainable parameters. Chapter 03."""
    params = _eval_params(model)
    n_params = sum(p.numel() for p in params)
    if v.shape != (n_params,):
        raise ValueError(f"v must be a flat vector of {n_params} entries, got {tuple(v.shape)}")
    vs = list(torch.split(v.to(params[0].dtype), [p.numel() for p in params]))
    vs = [part.view_as(p) for part, p in zip(vs, params, strict=True)]
    was = model.training
    model.eval()
    out = [torch.zeros_like(p) for p in params]
    try:
        for xb, yb, n in _chunks(data, chunk):
            loss = F.cross_entropy(model(xb), yb, reduction="sum") / n
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, vs, strict=True))
            for acc, h in zip(out, torch.autograd.grad(dot, params), strict=True):
                acc += h
    finally:
        model.train(was)
    return torch.cat([h.reshape(-1) for h in out])
