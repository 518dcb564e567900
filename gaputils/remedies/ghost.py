"""Ghost Batch Normalization as a remedy (Hoffer et al. 2017; chapter 06): the layers are
:mod:`gaputils.ghost`; this swaps them in for the run and back after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

from .. import ghost
from .base import Remedy

__all__ = ["GhostBN"]



@dataclass(frozen=True)
class GhostBN(Remedy):
    """Every BatchNorm layer normalizes ghost batches of ``size`` examples during training
    (:func:`gaputils.ghost.to_ghost`); the trained model keeps plain BatchNorm layers with the
    ghost running statistics. Chapter 06."""

    size: int = 32

    data_parallel = True  # no random draws per batch
    flags = {"size": ("ghost_batch", 0)}

    def check(self, config) -> None:
        if int(self.size) != self.size or self.size < 2:
            raise ValueError(f"GhostBN(size={self.size}): a ghost batch has >= 2 examples")

    @contextlib.contextmanager
    def wrap(self, model: nn.Module) -> Iterator[None]:
        ghost.to_ghost(model, self.size)
        try:
            yield
        finally:
            ghost.to_plain(model)
