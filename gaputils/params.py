"""A network's parameters as one flat vector (chapters 02-04).

Landscapes, sharpness and curvature all move a network through parameter space. They do it by
reading its parameters into one flat vector, changing the vector, and writing it back in place
(no copy of the model); the order is that of ``model.parameters()``.
"""

from __future__ import annotations

import torch
from torch import nn


def flat(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one detached vector of length n (a copy). Chapter 02."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_flat(model: nn.Module, vec: torch.Tensor) -> None:
    """Write the length-n vector ``vec`` into the parameters of ``model``, in place. Chapter 02."""
    n = sum(p.numel() for p in model.parameters())
    if vec.numel() != n:
        raise ValueError(f"the vector has {vec.numel()} entries but the model {n} parameters")
    with torch.no_grad():
        offset = 0
        for p in model.parameters():
            p.copy_(vec[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


def layer_of(model: nn.Module) -> list[tuple[str, slice]]:
    """(parameter name, slice of the flat vector) for every parameter, in order. Chapter 04."""
    out, offset = [], 0
    for name, p in model.named_parameters():
        out.append((name, slice(offset, offset + p.numel())))
        offset += p.numel()
    return out


def scale_vector(params: list[torch.Tensor], scale: torch.Tensor | str) -> torch.Tensor:
    """The flat vector d of a diagonal rescaling D = diag(d) of ``params``: ``scale`` itself,
    or |x| for ``"weights"``. Chapter 04."""
    n = sum(p.numel() for p in params)
    if isinstance(scale, str):
        if scale != "weights":
            raise ValueError(f"scale must be a flat vector or 'weights', got {scale!r}")
        return torch.cat([p.detach().abs().reshape(-1) for p in params])
    if scale.shape != (n,):
        raise ValueError(f"scale must be flat with {n} entries, got {tuple(scale.shape)}")
    return scale.detach().to(device=params[0].device, dtype=params[0].dtype)
