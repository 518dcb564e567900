"""Loss landscapes: 1-D interpolation between two minimizers, and 1-D and 2-D slices along
(filter-normalized) random directions (chapter 02).

All functions evaluate the mean loss (``loss_fn``, default cross-entropy) in eval mode
(BatchNorm running statistics, dropout off) on the data given - an (x, y) pair or a re-iterable
of (x, y) batches such as a DataLoader without shuffling (``batches``) - set the weights in
place on the model they receive - one flat parameter vector, one fused update per grid point, no
copy of the model - and restore the model's state bit for bit afterwards, also when an exception
interrupts the grid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from . import batches
from .batches import Data, LossFn
from .params import flat, set_flat
from .runtime import progress

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


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



def _runs(alphas: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The contiguous stretches of ``alphas`` where ``mask`` holds, as (first, last)."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if start is not None and (not m or i == len(mask) - 1):
            out.append((float(alphas[start]), float(alphas[i if m else i - 1])))
            start = None
    return out


def describe_interpolation(res: dict, naive: dict | None = None) -> str:
    """A few lines on an :func:`interpolate` result: the training loss at both minimizers
    (alpha 0 and 1) and at both ends, the barrier between the minimizers (the highest loss for
    alpha in [0, 1] above the higher of the two, and the lowest training accuracy there, with
    the error barrier read against Frankle et al.'s 2 points), the test loss and accuracy at
    both minimizers when ``res`` has them, and - given the ``bn="interpolate"`` result - its
    loss at the grid point nearest alpha = 0.5 and the stretches of alpha where it is not
    finite. Chapter 02."""
    a, loss = res["alpha"], res["train_loss"]
    at = lambda v: int(np.argmin(np.abs(a - v)))
    i0, i1, mid = at(0.0), at(1.0), at(0.5)
    inside = loss[min(i0, i1):max(i0, i1) + 1]
    barrier = float(np.max(inside) - max(loss[i0], loss[i1]))
    acc = res["train_acc"][min(i0, i1):max(i0, i1) + 1]
    drop = 100 * float(min(acc[0], acc[-1]) - acc.min())  # in error, points
    lines = [f"train loss at alpha = {a[0]:.2f} (beyond SB) {loss[0]:.3f}, SB {loss[i0]:.4f}, "
             f"LB {loss[i1]:.4f}, at alpha = {a[-1]:.2f} (beyond LB) {loss[-1]:.3f} (nats)",
             f"barrier between the minimizers: {barrier:.3f} nats (highest loss on [0, 1] "
             f"{np.max(inside):.3f}); train accuracy drops to {acc.min():.1%} (ends "
             f"{acc[0]:.1%}, {acc[-1]:.1%})",
             f"training-error barrier {drop:.1f} points: "
             + ("within" if drop <= 2 else "beyond")
             + " the 2 points under which Frankle et al. call two minimizers linearly connected"]
    if "test_loss" in res:
        lines.append(f"test loss SB {res['test_loss'][i0]:.3f}, LB {res['test_loss'][i1]:.3f}; "
                     f"test accuracy SB {res['test_acc'][i0]:.1%}, LB {res['test_acc'][i1]:.1%}")
    if naive is not None:
        lines.append(f"at alpha = {a[mid]:.2f}: {loss[mid]:.3f} with recomputed BN statistics, "
                     f"{naive['train_loss'][mid]:.3f} with interpolated ones")
        bad = _runs(a, ~np.isfinite(naive["train_loss"]))
        where = "; ".join(f"[{lo:.2f}, {hi:.2f}]" if hi > lo else f"{lo:.2f}" for lo, hi in bad)
        lines.append(f"interpolated statistics give no finite loss at "
                     f"{int(np.sum(~np.isfinite(naive['train_loss'])))} of {len(a)} points"
                     + (f": alpha in {where}" if bad else ""))
    return "\n".join(lines)


def _inputs(data: torch.Tensor | Data, batch_size: int, device) -> Iterator[torch.Tensor]:
    """The input batches of ``data`` on ``device``, one at a time: a tensor ``x`` (or the x of a
    pair) in whole batches of ``batch_size`` (one batch if shorter), or a loader's inputs."""
    if isinstance(data, torch.Tensor) or batches.is_pair(data):
        x = data if isinstance(data, torch.Tensor) else data[0]
        last = len(x) - batch_size + 1 if len(x) >= batch_size else 1
        return (x[i:i + batch_size].to(device) for i in range(0, last, batch_size))
    return (xb for xb, _ in batches.Batches(data, device=device))


@torch.no_grad()
def recompute_bn(model: nn.Module, x: torch.Tensor | Data, batch_size: int = 256) -> None:
    """Re-estimate every BatchNorm's running mean and variance on ``x`` (inputs, an (x, y) pair
    or a loader) with the current weights: the average over batches - whole batches of
    ``batch_size`` of a tensor, a loader's own batches - weighted by their sizes, so that a
    loader's shorter last batch counts for what it holds. Other layers stay in eval mode (no
    dropout). The model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    model.eval()
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.train()
    seen = 0
    for xb in _inputs(x, batch_size, batches.device_of(model)):
        seen += len(xb)
        for m in bns:  # running <- running + (batch - running) * size / seen
            m.momentum = len(xb) / seen
        model(xb)
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
        m.eval()


def interpolate(model_a: nn.Module, model_b: nn.Module, train: Data, test: Data | None = None,
                alphas: Sequence[float] = tuple(np.linspace(-1, 2, 25)),
                bn: str = "recompute", bn_batch: int = 256,
                loss_fn: LossFn | None = None) -> dict[str, np.ndarray]:
    """Loss and accuracy at x(alpha) = alpha * x_b + (1 - alpha) * x_a (Keskar's parametric plot).

    Parameters are interpolated. BatchNorm running statistics are re-estimated on the inputs of
    ``train`` at every alpha (``bn="recompute"``, the default), or interpolated like the
    parameters (``bn="interpolate"``, shown in chapter 02 to explain why not). Returns arrays
    ``alpha``, ``train_loss``, ``train_acc`` and, with ``test``, ``test_loss`` and ``test_acc``;
    losses in nats. ``model_a`` is used as the work space and restored; ``model_b`` is not
    touched.
    """
    if bn not in ("recompute", "interpolate"):
        raise ValueError(f"bn must be 'recompute' or 'interpolate', got {bn!r}")
    xa, xb = flat(model_a), flat(model_b)
    if xa.shape != xb.shape:
        raise ValueError("model_a and model_b must have the same architecture")
    bufs_b = {k: v for k, v in model_b.state_dict().items() if v.is_floating_point()}
    out: dict[str, list] = {k: [] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    with restored(model_a):
        bufs_a = {k: v.detach().clone() for k, v in model_a.state_dict().items()
                  if v.is_floating_point()}
        buf_refs = {k: v for k, v in model_a.state_dict().items() if k in bufs_a}
        for alpha in alphas:
            set_flat(model_a, torch.lerp(xa, xb, float(alpha)))
            if bn == "recompute":
                recompute_bn(model_a, train, bn_batch)
            else:
                with torch.no_grad():
                    for k, ref in buf_refs.items():
                        if "running" in k:
                            ref.copy_(torch.lerp(bufs_a[k], bufs_b[k], float(alpha)))
            for name, data in (("train", train), ("test", test)):
                if data is not None:
                    loss, acc = batches.evaluate(model_a, data, loss_fn)
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
          data: Data, loss_fn: LossFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at x + sum_i coords[k, i] * directions[i] for every row k."""
    x0 = flat(model)
    if any(d.shape != x0.shape for d in directions):
        raise ValueError(f"a direction must be a flat vector of {x0.numel()} entries")
    losses, accs = [], []
    bar = progress(len(coords), "landscape", "point", least=50)
    with restored(model):
        for c in coords:
            bar.update()
            point = x0.clone()
            for coef, d in zip(c, directions, strict=True):
                point.add_(d, alpha=float(coef))
            set_flat(model, point)
            loss, acc = batches.evaluate(model, data, loss_fn)
            losses.append(loss)
            accs.append(acc)
    bar.close()
    return np.asarray(losses), np.asarray(accs)


def line(model: nn.Module, direction: torch.Tensor, data: Data, span: float = 1.0,
         n: int = 21, loss_fn: LossFn | None = None) -> dict[str, np.ndarray]:
    """Loss and accuracy at x + t d for ``n`` values of t in [-span, span] (eval mode)."""
    t = np.linspace(-span, span, n)
    loss, acc = _grid(model, [direction], t[:, None], data, loss_fn)
    return {"t": t, "loss": loss, "acc": acc}


def plane(model: nn.Module, d1: torch.Tensor, d2: torch.Tensor, data: Data, span: float = 1.0,
          n: int = 21, loss_fn: LossFn | None = None) -> dict[str, np.ndarray]:
    """Loss and accuracy on the n x n grid x + a d1 + b d2, a and b in [-span, span];
    ``loss[i, j]`` is at (a = t[j], b = t[i]), as matplotlib's contour expects."""
    t = np.linspace(-span, span, n)
    b, a = np.meshgrid(t, t, indexing="ij")
    loss, acc = _grid(model, [d1, d2], np.stack([a.ravel(), b.ravel()], 1), data, loss_fn)
    return {"t": t, "loss": loss.reshape(n, n), "acc": acc.reshape(n, n)}


def loss_increase(model: nn.Module, data: Data, distance: float, num_directions: int,
                  seed: int = 0, bn: str = "running", loss_fn: LossFn | None = None,
                  **direction_kwargs) -> np.ndarray:
    """Loss at x + distance * d minus loss at x, for ``num_directions`` random directions
    (filter-normalized by default): a simple, direction-averaged sharpness. ``bn="running"``
    keeps the minimizer's BatchNorm running statistics at the perturbed points (as slices and
    planes do); ``bn="recompute"`` re-estimates them on ``data`` at x and at every perturbed
    point, as :func:`interpolate` does. Chapter 02."""
    if bn not in ("running", "recompute"):
        raise ValueError(f"bn must be 'running' or 'recompute', got {bn!r}")
    dirs = [random_direction(model, seed=seed + i, **direction_kwargs)
            for i in range(num_directions)]
    if bn == "running":
        base, _ = batches.evaluate(model, data, loss_fn)
        ups = [_grid(model, [d], np.array([[distance]]), data, loss_fn)[0][0] for d in dirs]
        return np.asarray(ups) - base
    x0, ups = flat(model), []
    with restored(model):
        for point in [x0] + [x0 + distance * d for d in dirs]:
            set_flat(model, point)
            recompute_bn(model, data)
            ups.append(batches.evaluate(model, data, loss_fn)[0])
    return np.asarray(ups[1:]) - ups[0]
