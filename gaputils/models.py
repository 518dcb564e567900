"""The papers' networks, for 1x28x28 and 3x32x32 inputs (chapter 00).

``build(name, input_shape, num_classes)`` with ``name`` one of:

====== ============================================================ ===========================
name   architecture                                                 parameters (10 classes)
====== ============================================================ ===========================
F1     Keskar's MLP: 5 x [Linear 512, BN, ReLU] -> Linear           1,462,794 (1x28x28)
C1     Keskar's shallow conv net (AlexNet-like), dropout 0.5        1,385,994 (1x28x28),
                                                                    1,757,834 (3x32x32)
C2     Keskar's VGG-style net, 13 convs, dropout 0.3-0.5            14,990,794 (1x28x28),
                                                                    14,991,946 (3x32x32)
resnet He et al.'s CIFAR ResNet (depth 6n+2, 16/32/64 channels)     272,490 (depth 20, 3x32x32)
vit    tiny Vision Transformer: 7x7 patches, 2 layers of 64, 4 heads  71,946 (1x28x28)
====== ============================================================ ===========================

BatchNorm follows every conv and hidden dense layer, as in Keskar et al.'s code. ``F1`` takes
``width``, ``depth`` and ``batchnorm``; ``resnet`` takes ``depth`` (20, 32, 44, 56, ...);
``vit`` (no BatchNorm; LayerNorm) takes ``patch``, ``dim``, ``depth`` and ``heads``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _dense_block(n_in: int, n_out: int, dropout: float = 0.0,
                 batchnorm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    layers += [nn.BatchNorm1d(n_out), nn.ReLU()] if batchnorm else [nn.ReLU()]
    return layers + ([nn.Dropout(dropout)] if dropout else [])


def _conv_bn_relu(c_in: int, c_out: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.BatchNorm2d(c_out), nn.ReLU()]


def f1(input_shape: tuple[int, ...], num_classes: int, width: int = 512,
       depth: int = 5, batchnorm: bool = True) -> nn.Sequential:
    """Keskar's F1: ``depth`` hidden layers of ``width`` units, each Linear, BN, ReLU
    (``batchnorm=False`` drops the BN layers, e.g. for full-batch dynamics in chapter 04)."""
    n_in = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(depth):
        layers += _dense_block(n_in if i == 0 else width, width, batchnorm=batchnorm)
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


def c1(input_shape: tuple[int, ...], num_classes: int, channels: tuple[int, int] = (64, 64),
       hidden: tuple[int, ...] = (384, 192), dropout: float = 0.5) -> nn.Sequential:
    """Keskar's C1/C3: two [conv 5x5, BN, ReLU, max-pool 3 stride 2] of ``channels``, then dense
    layers of ``hidden`` units (BN, ReLU, ``dropout``). The defaults are the paper's; the book's
    testbed uses a narrow version (see ``gu.testbed``)."""
    c, h, w = input_shape
    pool = lambda: nn.MaxPool2d(3, stride=2, padding=1)
    out = lambda s: (s + 2 - 3) // 2 + 1
    flat = channels[1] * out(out(h)) * out(out(w))
    dense: list[nn.Module] = []
    for n_in, n_out in zip((flat, *hidden)[:-1], hidden, strict=True):
        dense += _dense_block(n_in, n_out, dropout)
    return nn.Sequential(
        *_conv_bn_relu(c, channels[0], 5), pool(), *_conv_bn_relu(channels[0], channels[1], 5),
        pool(), nn.Flatten(), *dense, nn.Linear(hidden[-1] if hidden else flat, num_classes),
    )


_VGG_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def c2(input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    """Keskar's C2/C4: VGG-16-style, 13 convs 3x3 with BN and ReLU, max-pool after each block.

    Dropout 0.3 after the first conv of the first block, 0.4 after every other conv except the
    last of each block; then Dropout 0.5, Dense 512, BN, ReLU, Dropout 0.5. Pools round up
    (``ceil_mode``) so that 28x28 inputs survive five halvings.
    """
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for b, widths in enumerate(_VGG_BLOCKS):
        for i, width in enumerate(widths):
            layers += _conv_bn_relu(c, width, 3)
            c = width
            if i < len(widths) - 1:
                layers.append(nn.Dropout(0.3 if b == 0 and i == 0 else 0.4))
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.5),
                         *_dense_block(c * h * w, 512, 0.5), nn.Linear(512, num_classes))


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet(input_shape: tuple[int, ...], num_classes: int, depth: int = 20) -> nn.Sequential:
    """He et al.'s CIFAR ResNet: conv 16, three stages of (depth-2)/6 basic blocks (16/32/64)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet depth must be 6n+2 with n >= 1 (20, 32, 44, ...), got {depth}")
    n = (depth - 2) // 6
    layers: list[nn.Module] = _conv_bn_relu(input_shape[0], 16, 3)
    c = 16
    for stage, width in enumerate((16, 32, 64)):
        for i in range(n):
            layers.append(_BasicBlock(c, width, 2 if stage > 0 and i == 0 else 1))
            c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, num_classes))


class _Attention(nn.Module):
    """Multi-head self-attention written out (softmax(Q K^T / sqrt(d)) V), so that it can be
    differentiated twice: PyTorch's fused CPU attention kernels have no double backward, which
    Hessian-vector products need."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, t, d))


class _Block(nn.Module):
    """A pre-LayerNorm transformer encoder layer: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = _Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A tiny Vision Transformer: non-overlapping ``patch`` x ``patch`` patches embedded to
    ``dim``, a learned position embedding, ``depth`` pre-LayerNorm encoder layers (``heads``
    heads, MLP of 2 x dim, GELU, no dropout), a final LayerNorm, the mean over patches, a
    linear head. No BatchNorm anywhere; twice differentiable (Hessians, chapter 04)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, patch: int = 7,
                 dim: int = 64, depth: int = 2, heads: int = 4):
        super().__init__()
        c, h, w = input_shape
        if h % patch or w % patch or dim % heads:
            raise ValueError(f"patch={patch} must divide the image size {h}x{w}, and heads="
                             f"{heads} must divide dim={dim}")
        self.embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.position = nn.Parameter(torch.zeros(1, (h // patch) * (w // patch), dim))
        nn.init.normal_(self.position, std=0.02)
        self.encoder = nn.Sequential(*[_Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.position
        return self.head(self.norm(self.encoder(tokens)).mean(1))


def vit(input_shape: tuple[int, ...], num_classes: int, **kwargs) -> ViT:
    """The tiny Vision Transformer :class:`ViT` (chapter 07)."""
    return ViT(input_shape, num_classes, **kwargs)


BUILDERS = {"F1": f1, "C1": c1, "C2": c2, "resnet": resnet, "vit": vit}


def build(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs) -> nn.Module:
    """Build network ``name`` for inputs of ``input_shape`` (C, H, W). Chapter 00.

    Initialization uses torch's global generator: call ``gu.setup(seed)`` or
    ``torch.manual_seed`` first for a reproducible start.
    """
    key = {k.lower(): k for k in BUILDERS}.get(name.lower())
    if key is None:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(BUILDERS)}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    return BUILDERS[key](tuple(input_shape), num_classes, **kwargs)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
