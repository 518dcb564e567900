"""Function-preserving rescalings (Dinh et al., 2017): the same function, other weights, other
sharpness (chapter 02).

``rescale(model, layer, alpha)`` multiplies the ``layer``-th Linear or Conv layer of a
``nn.Sequential`` by ``alpha`` and undoes it downstream, so that the network computes exactly the
same function in eval mode:

- followed by BatchNorm: BN's running mean is multiplied by ``alpha``, its running variance and
  ``eps`` by ``alpha**2`` - BN then sees the same normalized input;
- followed (through a ReLU, which is positively homogeneous) by the next Linear or Conv layer:
  that layer's weight is divided by ``alpha``.
"""

from __future__ import annotations

import torch
from torch import nn

from .landscape import BN_TYPES

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def affine_layers(model: nn.Sequential) -> list[int]:
    """Indices (in ``model``) of its Linear and Conv layers."""
    return [i for i, m in enumerate(model) if isinstance(m, _AFFINE)]


@torch.no_grad()
def rescale(model: nn.Sequential, layer: int, alpha: float) -> nn.Sequential:
    """Rescale the ``layer``-th affine layer by ``alpha > 0`` without changing the function
    (eval mode). Modifies ``model`` in place and returns it. Chapter 02."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive (ReLU is only positively homogeneous): {alpha}")
    idx = affine_layers(model)
    if not 0 <= layer < len(idx) - 1:
        raise ValueError(f"layer must be in 0..{len(idx) - 2}: the last affine layer has "
                         "nothing downstream to absorb the scale")
    first = model[idx[layer]]
    first.weight.mul_(alpha)
    if first.bias is not None:
        first.bias.mul_(alpha)
    nxt = model[idx[layer] + 1]
    if isinstance(nxt, BN_TYPES):
        nxt.running_mean.mul_(alpha)
        nxt.running_var.mul_(alpha**2)
        nxt.eps *= alpha**2
        return model
    between = list(model)[idx[layer] + 1:idx[layer + 1]]
    if not all(isinstance(m, (nn.ReLU, nn.Dropout, nn.MaxPool2d, nn.Flatten)) for m in between):
        raise ValueError("rescale needs BatchNorm or positively homogeneous layers (ReLU, "
                         f"max-pool, dropout, flatten) after layer {layer}, found {between}")
    model[idx[layer + 1]].weight.div_(alpha)
    return model
