"""Data augmentation: random shifts and horizontal flips of every batch (chapter 05)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .base import Context, Remedy

__all__ = ["Augment", "augment"]



def _pixel_box(mean: Sequence[float], std: Sequence[float], like: torch.Tensor):
    """Per-channel tensors (1, C, 1, 1): the normalized values of intensities 0 and 1, and the
    normalized size of one unit of intensity."""
    m = torch.tensor(mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    return -m / s, (1 - m) / s, 1 / s


def augment(x: torch.Tensor, generator: torch.Generator, shift: int = 0, flip: bool = False,
            mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,)) -> torch.Tensor:
    """A randomly shifted and flipped copy of the normalized image batch ``x`` (N, C, H, W).

    Each image moves by its own offsets, uniform in ``[-shift, shift]`` pixels on each axis, into
    a frame padded with black (intensity 0, normalized with ``mean``/``std``), and with ``flip``
    is mirrored left-right with probability 1/2. The random numbers come from ``generator`` (on
    the CPU), so the same generator state gives the same batch on every device. Chapter 05.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0 pixels, got {shift}")
    n, c, h, w = x.shape
    out = x
    if shift:
        offsets = torch.randint(0, 2 * shift + 1, (2, n), generator=generator).to(x.device)
        black = _pixel_box(mean, std, x)[0].expand(1, c, 1, 1)
        padded = black.expand(n, c, h + 2 * shift, w + 2 * shift).clone()
        padded[:, :, shift:shift + h, shift:shift + w] = x
        rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                     torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    # in x's memory layout, so that augmented batches go through the same convolution kernels
    # as the run's plain ones (a convolution picks its kernel by the strides; which of the two
    # layouts trains faster depends on the machine: benchmarks/README.md, `augment`)
    return torch.empty_like(x).copy_(out)


@dataclass(frozen=True)
class Augment(Remedy):
    """Every training batch shifted by up to ``shift`` pixels (black frame) and, with ``flip``,
    mirrored left-right half the time (:func:`augment`); the evaluation data stay as they are.
    Chapter 05."""

    shift: int = 2
    flip: bool = True

    order = 10  # before adversarial examples are made of the batch
    data_parallel = False
    flags = {"shift": ("augment_shift", 0), "flip": ("augment_flip", False)}

    def describe(self) -> str:
        moves = [f"random shifts of up to {self.shift} pixels"] if self.shift else []
        return "every batch augmented with " + " and ".join(
            moves + (["horizontal flips"] if self.flip else [])) if moves or self.flip else ""

    def check(self, config) -> None:
        if self.shift < 0:
            raise ValueError(f"Augment(shift={self.shift}): the shift is >= 0 pixels")

    def batch(self, ctx: Context, x: torch.Tensor, y: torch.Tensor):
        if self.flip and ctx.dataset.name == "mnist":
            raise ValueError("Augment(flip=True) would turn digits into other symbols; use it "
                             "on Fashion-MNIST or CIFAR, not MNIST")
        return augment(x, ctx.generator, self.shift, self.flip, ctx.dataset.mean,
                       ctx.dataset.std), y
