"""Loss landscapes: 1-D interpolation between two minimizers, and 1-D and 2-D slices along
(filter-normalized) random directions (chapter 02).

All functions evaluate the mean cross-entropy in eval mode (BatchNorm running statistics,
dropout off) on the data given, set the weights in place on the model they receive - one flat
parameter vector, one fused update per grid point, no copy of the model - and restore the
model's state bit for bit afterwards, also when an exception interrupts the grid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .train import evaluate

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
Data = tuple[torch.Tensor, torch.Tensor]


@contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block that changes ``model`` and put its state, mode and BN settings back."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = {m: m.training for m in model.modules()}
    bn = {m: (m.momentum, m.eps) for m in model.modules() if isinstance(m, BN_TYPES)}
    try:
        yield model
    finally:
        with torch.no_grad():
            model.load_state_dict(state)
        for m, training in modes.items():
            m.training = training
        for m, (momentum, eps) in bn.items():
            m.momentum, m.eps = momentum, eps


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _set_flat(model: nn.Module, vec: torch.Tensor) -> None:
    with torch.no_grad():
        offset = 0
        for p in model.parameters():
            p.copy_(vec[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


@torch.no_grad()
def recompute_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> None:
    """Re-estimate every BatchNorm's running mean and variance on ``x`` with the current weights:
    the average over batches of ``batch_size`` (cumulative, ``momentum=None``). Other layers stay
    in eval mode (no dropout). The model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    model.eval()
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for i in range(0, len(x) - batch_size + 1 if len(x) >= batch_size else 1, batch_size):
        model(x[i:i + batch_size])
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
        m.eval()


def interpolate(model_a: nn.Module, model_b: nn.Module, train: Data, test: Data | None = None,
                alphas: Sequence[float] = tuple(np.linspace(-1, 2, 25)),
                bn: str = "recompute", bn_batch: int = 256) -> dict[str, np.ndarray]:
    """Loss and accuracy at x(alpha) = alpha * x_b + (1 - alpha) * x_a (Keskar's parametric plot).

    Parameters are interpolated. BatchNorm running statistics are re-estimated on ``train[0]``
    at every alpha (``bn="recompute"``, the default), or interpolated like the parameters
    (``bn="interpolate"``, shown in chapter 02 to explain why not). Returns arrays ``alpha``,
    ``train_loss``, ``train_acc`` and, with ``test``, ``test_loss`` and ``test_acc``; losses in
    nats. ``model_a`` is used as the work space and restored; ``model_b`` is not touched.
    """
    if bn not in ("recompute", "interpolate"):
        raise ValueError(f"bn must be 'recompute' or 'interpolate', got {bn!r}")
    xa, xb = _flat(model_a), _flat(model_b)
    if xa.shape != xb.shape:
        raise ValueError("model_a and model_b must have the same architecture")
    bufs_b = {k: v for k, v in model_b.state_dict().items() if v.is_floating_point()}
    out: dict[str, list] = {k: [] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    with restored(model_a):
        bufs_a = {k: v.detach().clone() for k, v in model_a.state_dict().items()
                  if v.is_floating_point()}
        buf_refs = {k: v for k, v in model_a.state_dict().items() if k in bufs_a}
        for alpha in alphas:
            _set_flat(model_a, torch.lerp(xa, xb, float(alpha)))
            if bn == "recompute":
                recompute_bn(model_a, train[0], bn_batch)
            else:
                with torch.no_grad():
                    for k, ref in buf_refs.items():
                        if "running" in k:
                            ref.copy_(torch.lerp(bufs_a[k], bufs_b[k], float(alpha)))
            for name, data in (("train", train), ("test", test)):
                if data is not None:
                    loss, acc = evaluate(model_a, *data)
                    out[f"{name}_loss"].append(loss)
                    out[f"{name}_acc"].append(acc)
    return {"alpha": np.asarray(alphas, dtype=float)} | {
        k: np.asarray(v) for k, v in out.items() if v}


def random_direction(model: nn.Module, filter_norm: bool = True, ignore: str | None = "biasbn",
                     seed: int = 0) -> torch.Tensor:
    """A Gaussian direction in parameter space, as one flat vector (``model.parameters()`` order).

    With ``filter_norm`` (Li et al., 2018) every output filter - each row of a weight matrix,
    each output channel of a convolution - is scaled to the norm of the same filter of the
    weights. ``ignore="biasbn"`` (the default) zeroes the direction on every 1-D parameter
    (biases, BatchNorm scales and shifts). Without ``filter_norm`` the whole direction is scaled
    to the norm of the weights it covers (one global scale). Drawn on the CPU with ``seed``.
    """
    if ignore not in (None, "biasbn"):
        raise ValueError(f"ignore must be None or 'biasbn', got {ignore!r}")
    g = torch.Generator().manual_seed(seed)
    parts, covered = [], []
    for p in model.parameters():
        w = p.detach()
        d = torch.randn(w.shape, generator=g, dtype=w.dtype).to(w.device)
        if w.dim() <= 1 and ignore == "biasbn":
            d.zero_()
        elif filter_norm:
            dims = tuple(range(1, w.dim())) if w.dim() > 1 else (0,)
            norm = lambda t: torch.linalg.vector_norm(t, dim=dims, keepdim=True)
            d *= norm(w) / (norm(d) + 1e-10)
        covered.append(w.dim() > 1 or ignore != "biasbn")
        parts.append(d.reshape(-1))
    direction = torch.cat(parts)
    if not filter_norm:
        w_norm = torch.cat([p.detach().reshape(-1) for p, c in
                            zip(model.parameters(), covered, strict=True) if c]).norm()
        direction *= w_norm / direction.norm()
    return direction


def _grid(model: nn.Module, directions: list[torch.Tensor], coords: np.ndarray,
          data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at x + sum_i coords[k, i] * directions[i] for every row k."""
    x0 = _flat(model)
    if any(d.shape != x0.shape for d in directions):
        raise ValueError(f"a direction must be a flat vector of {x0.numel()} entries")
    losses, accs = [], []
    with restored(model):
        for c in coords:
            point = x0.clone()
            for coef, d in zip(c, directions, strict=True):
                point.add_(d, alpha=float(coef))
            _set_flat(model, point)
            loss, acc = evaluate(model, *data)
            losses.append(loss)
            accs.append(acc)
    return np.asarray(losses), np.asarray(accs)


def line(model: nn.Module, direction: torch.Tensor, data: Data, span: float = 1.0,
         n: int = 21) -> dict[str, np.ndarray]:
    """Loss and accuracy at x + t d for ``n`` values of t in [-span, span] (eval mode)."""
    t = np.linspace(-span, span, n)
    loss, acc = _grid(model, [direction], t[:, None], data)
    return {"t": t, "loss": loss, "acc": acc}


def plane(model: nn.Module, d1: torch.Tensor, d2: torch.Tensor, data: Data, span: float = 1.0,
          n: int = 21) -> dict[str, np.ndarray]:
    """Loss and accuracy on the n x n grid x + a d1 + b d2, a and b in [-span, span];
    ``loss[i, j]`` is at (a = t[j], b = t[i]), as matplotlib's contour expects."""
    t = np.linspace(-span, span, n)
    b, a = np.meshgrid(t, t, indexing="ij")
    loss, acc = _grid(model, [d1, d2], np.stack([a.ravel(), b.ravel()], 1), data)
    return {"t": t, "loss": loss.reshape(n, n), "acc": acc.reshape(n, n)}


def loss_increase(model: nn.Module, data: Data, distance: float, num_directions: int,
                  seed: int = 0, **direction_kwargs) -> np.ndarray:
    """Loss at x + distance * d minus loss at x, for ``num_directions`` random directions
    (filter-normalized by default): a simple, direction-averaged sharpness. Chapter 02."""
    base, _ = evaluate(model, *data)
    dirs = [random_direction(model, seed=seed + i, **direction_kwargs)
            for i in range(num_directions)]
    ups = [_grid(model, [d], np.array([[distance]]), data)[0][0] for d in dirs]
    return np.asarray(ups) - base
