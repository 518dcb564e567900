"""Curvature of the training loss: gradients, Hessian-vector products, eigenvalues, trace and
spectral density (chapters 03-04).

The loss is the mean of ``loss_fn`` (default: cross-entropy) over all of ``data`` in eval mode
(BatchNorm running statistics, dropout off), computed in chunks weighted by their size (of a
size chosen from the memory they take, ``batches.auto_chunk``, unless ``chunk`` is given), so
every result is the full-batch quantity whatever the chunk size. ``data`` is an (x, y) pair or
any re-iterable of (x, y) batches, such as a DataLoader without shuffling (``batches``). Vectors
are flat, over the trainable parameters in ``model.parameters()`` order; frozen parameters are
left out, unused ones have zero curvature.

Hessian-vector products, two ways:

- ``"rr"`` (reverse over reverse): the gradient is computed with its graph kept, then
  differentiated against v. When the data fit in one chunk the graph is built once and every
  product is a single backward pass through it (what PyHessian does); otherwise it is rebuilt
  per chunk.
- ``"fr"`` (forward over reverse): ``torch.func.jvp`` of ``torch.func.grad`` on
  ``functional_call``; ``vmap`` runs several vectors at once.

Measured on 2 CPU cores (F1, 2,048 Fashion-MNIST images; benchmarks/README.md): ``"rr"``
with a kept graph takes about two gradients per product and is the fastest, for one vector and
for blocks alike (``"fr"`` with ``vmap`` was 1.5-2 times slower there). ``method="auto"``
therefore uses ``"rr"``; ``"fr"`` remains for devices where ``vmap`` may pay off (GPUs, not
measured yet). Both differentiate eval-mode BatchNorm as the affine map it is
(``evalnorm.affine_norms``): PyTorch's own double backward of ``batch_norm`` took about half of a
small CNN's product (1.6x faster products without it, the same values to rounding).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from . import batches as _batches
from .batches import Data, EvalMode, LossFn, loss_sum, trainable  # noqa: F401
from .evalnorm import affine_norms
from .ggn import exact_trace, not_piecewise_linear
from .params import scale_vector
from .runtime import finish, progress


def gradient(model: nn.Module, data: Data, chunk: int | None = None,
             loss_fn: LossFn | None = None) -> tuple[float, torch.Tensor]:
    """The mean loss (nats) in eval mode and its gradient as one flat vector
    (``batches.gradient``), with BatchNorm on channels-last activations computed as the affine
    map it is there (``evalnorm.affine_norms(strided_only=True)``): on the CPU PyTorch's
    eval-mode backward of ``batch_norm`` is about ten times slower on the channels-last output
    of a convolution than on contiguous activations, which keep its kernel. The same values to
    rounding; a C1 gradient over 1,000 images 117 -> 87 ms on 2 cores. Chapters 03 and 04."""
    with EvalMode(model), affine_norms(model, strided_only=True):
        return _batches.gradient(model, data, chunk, loss_fn)


class HessianOperator:
    """The Hessian of the mean training loss as a linear operator: ``op @ v`` for a flat vector,
    ``op.matmat(V)`` for a block ``V`` of shape (k, n). ``op.n_hvp`` counts products (a block
    of k counts k). Build once per model and data; the model must not change meanwhile.

    ``scale`` (a flat vector d of length n, or ``"weights"`` for d = |x|) makes the operator
    D H D with D = diag(d): the Hessian in the coordinates u of x = D u. With d = |x| it does
    not change when a layer followed by BatchNorm is rescaled (chapter 04)."""

    def __init__(self, model: nn.Module, data: Data, chunk: int | None = None,
                 method: str = "auto", scale: torch.Tensor | str | None = None,
                 loss_fn: LossFn | None = None):
        if method not in ("auto", "rr", "fr"):
            raise ValueError(f"method must be 'auto', 'rr' or 'fr', got {method!r}")
        self.model, self.chunk, self.method, self.loss_fn = model, chunk, method, loss_fn
        self.data = _batches.batches(data, model, chunk)
        named = trainable(model)
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.sizes = [p.numel() for p in self.params]
        self.shapes = [p.shape for p in self.params]
        self.n = sum(self.sizes)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.scale = self._scale(scale)
        self.n_hvp = 0
        self._graph = None
        one = self.data.single() if method in ("auto", "rr") else None
        if one is not None:
            with EvalMode(model), affine_norms(model):  # one chunk: keep the gradient's graph
                loss = loss_sum(model, *one, loss_fn)[0] / len(one[1])
                self._graph = torch.autograd.grad(loss, self.params, create_graph=True,
                                                  allow_unused=True)

    def _scale(self, scale) -> torch.Tensor | None:
        return None if scale is None else scale_vector(self.params, scale)

    def _split(self, v: torch.Tensor) -> list[torch.Tensor]:
        return [part.view(s) for part, s in zip(torch.split(v, self.sizes), self.shapes,
                                                 strict=True)]

    def _check(self, v: torch.Tensor) -> torch.Tensor:
        if v.shape[-1] != self.n:
            raise ValueError(f"vectors must be flat with {self.n} entries, got {tuple(v.shape)}")
        return v.to(device=self.device, dtype=self.dtype)

    def _rr(self, v: torch.Tensor) -> torch.Tensor:
        vs = self._split(v)
        if self._graph is not None:
            used = [(g, p, u) for g, p, u in zip(self._graph, self.params, vs, strict=True)
                    if g is not None]
            parts = torch.autograd.grad([g for g, _, _ in used], self.params,
                                        grad_outputs=[u for _, _, u in used],
                                        retain_graph=True, allow_unused=True)
            return self._flat(parts)
        out, n = [torch.zeros_like(p) for p in self.params], 0
        with EvalMode(self.model), affine_norms(self.model):
            for xb, yb in self.data:
                loss = loss_sum(self.model, xb, yb, self.loss_fn)[0]
                gs = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
                dot = sum((g * u).sum() for g, u in zip(gs, vs, strict=True) if g is not None)
                hs = torch.autograd.grad(dot, self.params, allow_unused=True)
                for acc, h in zip(out, hs, strict=True):
                    if h is not None:
                        acc += h
                n += len(yb)
        return self._flat(out) / n

    def _flat(self, parts) -> torch.Tensor:
        return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1)
                          for h, p in zip(parts, self.params, strict=True)])

    def _fr_block(self, block: torch.Tensor) -> torch.Tensor:
        params, rest = _functional_state(self.model)

        fn = F.cross_entropy if self.loss_fn is None else self.loss_fn

        def total(ps, xb, yb):
            return fn(functional_call(self.model, (ps | rest,), (xb,)), yb) * len(yb)

        def one(v, xb, yb):
            tangent = dict(zip(self.names, self._split(v), strict=True))
            return jvp(lambda ps: grad(total)(ps, xb, yb), (params,), (tangent,))[1]

        out, n = torch.zeros_like(block), 0
        with EvalMode(self.model), affine_norms(self.model):
            for xb, yb in self.data:
                res = vmap(one, in_dims=(0, None, None))(block, xb, yb)
                out += torch.cat([res[k].reshape(len(block), -1) for k in self.names], 1)
                n += len(yb)
        return out / n

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v[None])[0] if v.dim() == 1 else self.matmat(v)

    def matmat(self, block: torch.Tensor) -> torch.Tensor:
        """H (or D H D) applied to each row of ``block`` (k, n); ``vmap`` over rows with
        method "fr"."""
        block = self._check(block)
        self.n_hvp += len(block)
        if self.scale is not None:
            block = block * self.scale
        out = (self._fr_block(block) if self.method == "fr"
               else torch.stack([self._rr(v) for v in block]))
        return out if self.scale is None else out * self.scale

    def check_deterministic(self, rtol: float = 1e-5, n_check: int = 256) -> None:
        """Raise if two passes over the data differ (a shuffling or augmenting DataLoader) or
        two gradients on the first ``n_check`` examples do (dropout or BatchNorm kept in train
        mode): no curvature result would be reproducible. See ``batches.check``. Chapter 04."""
        _batches.check(self.model, self.data, self.loss_fn, rtol, n_check)


def _functional_state(model: nn.Module) -> tuple[dict, dict]:
    """The trainable parameters (detached) and everything else a ``functional_call`` of
    ``model`` needs: frozen parameters and buffers."""
    params = {n: p.detach() for n, p in trainable(model)}
    rest = {n: t for n, t in model.named_parameters() if n not in params}
    return params, rest | dict(model.named_buffers())


def hvp(model: nn.Module, data: Data, v: torch.Tensor, chunk: int | None = None,
        method: str = "auto", loss_fn: LossFn | None = None) -> torch.Tensor:
    """Hessian-vector product H v of the mean loss over all of ``data``; ``v`` flat, or a block
    (k, n) of vectors. Chapter 03 (``method``: see the module docstring)."""
    op = HessianOperator(model, data, chunk, method, loss_fn=loss_fn)
    return op @ v if v.dim() == 1 else op.matmat(v)


@dataclass
class Eigen:
    """Eigenvalues (descending for "largest", ascending for "smallest"), eigenvectors as rows
    (or None), Ritz residual norms, the Lanczos steps and the Hessian-vector products used, and
    whether the stopping rule was met (False: ``max_steps`` ran out first)."""

    values: np.ndarray
    vectors: torch.Tensor | None
    residuals: np.ndarray
    n_hvp: int
    steps: int
    converged: bool = True


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, steps: int,
            stop: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None
            ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Lanczos with full reorthogonalization from ``v0``: the tridiagonal (alpha, beta) after at
    most ``steps`` steps and the basis Q (rows). ``stop(alpha, beta, ...)`` ends it early."""
    n = v0.numel()
    steps = min(steps, n)
    # rows are written before they are read: no zeros to pay for (16 rows of F1: 19 ms)
    q_basis = torch.empty(min(steps, 16), n, dtype=v0.dtype, device=v0.device)
    alpha, beta = [], []
    q = v0 / v0.norm()
    bar = progress(steps, "Lanczos", "step", least=20)
    for j in range(steps):
        bar.update()
        if j == len(q_basis):  # grow the basis by doubling, not all at once
            q_basis = torch.cat([q_basis, torch.empty_like(q_basis[:min(j, steps - j)])])
        q_basis[j] = q
        w = matvec(q)
        a = float(w @ q)
        w = w - a * q - (beta[-1] * q_basis[j - 1] if j else 0)
        for _ in range(2):  # full reorthogonalization, twice is enough
            w = w - q_basis[:j + 1].T @ (q_basis[:j + 1] @ w)
        alpha.append(a)
        b = float(w.norm())
        if b < 1e-10 * max(1.0, abs(a)) or j == steps - 1:
            beta.append(b)
            break
        beta.append(b)
        q = w / b
        if stop is not None and stop(np.array(alpha), np.array(beta)):
            break
    finish(bar)
    k = len(alpha)
    return np.array(alpha), np.array(beta[:k]), q_basis[:k]


def _tridiag_eigh(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    return np.linalg.eigh(t)


def _ritz(op: HessianOperator, v0: torch.Tensor, k: int, tol: float, max_steps: int,
          which: str, guard: int | None = None):
    """Lanczos on ``op`` from ``v0`` until the wanted Ritz pairs and ``guard`` more meet
    ``tol`` (see ``top_eigenvalues``)."""
    guard = 1 + k // 10 if guard is None else guard

    def order(theta):
        return np.argsort(theta)[::-1] if which == "largest" else np.argsort(theta)

    def done(alpha, beta):
        m = min(k + guard, max_steps)  # k wanted pairs and the guard pairs
        if len(alpha) >= v0.numel() or beta[-1] < 1e-10 * max(1.0, float(np.abs(alpha).max())):
            return True  # the Krylov space is invariant: every Ritz value is exact
        if len(alpha) < m + 1:
            return False
        theta, s = _tridiag_eigh(alpha, beta)
        res = np.abs(beta[-1] * s[-1])
        idx = order(theta)[:m]
        # distance to the nearest other eigenvalue, as far as the Ritz values know it: each
        # neighbour lies within its own residual of an eigenvalue
        gaps = np.array([np.min(np.delete(np.abs(theta - theta[i]) - res, i)) for i in idx])
        err = np.where(gaps > 0, np.minimum(res[idx], res[idx]**2 / np.maximum(gaps, 1e-30)),
                       res[idx])
        # a guard pair only has to show that the Krylov space has resolved the spectrum down
        # to it: its residual within sqrt(tol) of its value, the accuracy a wanted pair's
        # r^2 / gap bound would give with a gap of its own size (its own gap, to the unresolved
        # bulk below, is near zero and would demand full accuracy of it)
        err[k:] = res[idx[k:]]**2 / np.maximum(np.abs(theta[idx[k:]]), 1e-30)
        return bool(np.all(err <= tol * np.maximum(np.abs(theta[idx]), 1e-12)))

    alpha, beta, q = lanczos(lambda v: op @ v, v0, max_steps, done)
    theta, s = _tridiag_eigh(alpha, beta)
    idx = order(theta)[:k]
    res = np.abs(beta[-1] * s[-1, idx])
    return (theta[idx], torch.from_numpy(s[:, idx].T.copy()).to(q) @ q, res, len(alpha),
            done(alpha, beta))


def top_eigenvalues(model: nn.Module, data: Data, k: int = 1, tol: float = 1e-3,
                    max_steps: int = 200, which: str = "largest", seed: int = 0,
                    vectors: bool = False, chunk: int | None = None, check: bool = True,
                    guard: int | None = None, scale: torch.Tensor | str | None = None,
                    loss_fn: LossFn | None = None) -> Eigen:
    """The ``k`` largest (or smallest, ``which="smallest"``) Hessian eigenvalues by Lanczos with
    full reorthogonalization. Residual-based stopping: with the Ritz residual
    r = ||H u - theta u|| = |beta_j s_j| and the gap d from theta to the nearest other Ritz value
    (less that value's own residual), the eigenvalue error is at most about r^2 / d, and at most
    r when d is not positive. Lanczos stops when that is <= tol * |theta| for the k wanted pairs
    and when ``guard`` pairs beyond them (default 1 + k // 10) have residuals within
    sqrt(tol) * |theta| - the Krylov space has then resolved the spectrum down to them. Without
    guards, an eigenvalue the Krylov space has not found yet - one of a close pair such as a
    trained F1's 10th and 11th - lets a Ritz value look converged at the wrong eigenvalue:
    errors of 1-8% at tol 1e-3 on trained F1 networks, and in ``tests/test_hessian.py``. The
    start vector is drawn with ``seed``. ``check`` first verifies that the loss is
    deterministic. If ``max_steps`` runs out first, the result says ``converged=False`` and a
    warning names the step count. ``scale``: eigenvalues of D H D instead (see
    ``HessianOperator``); ``loss_fn``: the mean loss of a batch (default cross-entropy).
    Chapter 04."""
    if which not in ("largest", "smallest"):
        raise ValueError(f"which must be 'largest' or 'smallest', got {which!r}")
    op = HessianOperator(model, data, chunk, scale=scale, loss_fn=loss_fn)
    if check:
        op.check_deterministic()
    v0 = torch.randn(op.n, generator=torch.Generator().manual_seed(seed),
                     dtype=op.dtype).to(op.device)
    vals, vecs, res, steps, converged = _ritz(op, v0, k, tol, max_steps, which, guard)
    if not converged:
        warnings.warn(f"Lanczos did not reach tol={tol:g} for the {k} {which} eigenvalues in "
                      f"max_steps={max_steps} steps; the values are less accurate than asked "
                      "(raise max_steps or tol)", RuntimeWarning, stacklevel=2)
    return Eigen(vals, vecs if vectors else None, res, op.n_hvp, steps, converged)


def power_iteration(model: nn.Module, data: Data, tol: float = 1e-3, max_iter: int = 1000,
                    seed: int = 0, loss_fn: LossFn | None = None) -> tuple[float, int]:
    """The eigenvalue of largest magnitude by power iteration - for teaching: five lines, and
    usually more Hessian-vector products than Lanczos for a less accurate answer. Returns
    (eigenvalue, products used). Chapter 04."""
    op = HessianOperator(model, data, loss_fn=loss_fn)
    v = torch.randn(op.n, generator=torch.Generator().manual_seed(seed), dtype=op.dtype)
    v, lam = v.to(op.device) / v.norm(), 0.0
    for _ in range(max_iter):
        w = op @ v
        new, v = float(w @ v), w / w.norm()
        if abs(new - lam) <= tol * abs(new):
            return new, op.n_hvp
        lam = new
    return lam, op.n_hvp


def _rademacher(shape, generator, dtype, device) -> torch.Tensor:
    """Signs +-1 drawn on the host generator (the same probes on every device). Drawn as int8:
    the same values and stream as int64, eight times fewer bytes to fill and to move."""
    bits = torch.randint(0, 2, shape, generator=generator, dtype=torch.int8)
    return bits.to(device).to(dtype) * 2 - 1


def trace(model: nn.Module, data: Data, num_probes: int = 30, method: str = "auto",
          seed: int = 0, chunk: int | None = None, block: int = 10,
          scale: torch.Tensor | str | None = None,
          loss_fn: LossFn | None = None) -> tuple[float, float]:
    """tr(H) and its standard error. ``method="exact"``: no probes, standard error 0, for a
    network piecewise linear in each parameter under cross-entropy (``ggn.exact_trace``).
    Otherwise an estimate from ``num_probes`` Hessian-vector products with Rademacher probes:
    ``"hutchinson"``, the mean of z^T H z; ``"hutch++"`` (Meyer et al., 2021), where a third of
    the products find the dominant subspace Q = orth(H S), a third compute its part of the
    trace exactly and a third run Hutchinson on the rest (its standard error comes from that
    part). All probes are used - no early stop. ``"auto"`` (default): ``"exact"`` where it
    holds, ``"hutch++"`` elsewhere - the exact trace took 0.4 s (F1) and 1.3 s (a small CNN)
    where PyHessian's Hutchinson would need about 150 and 400 s for a 1 % standard error
    (benchmarks/README.md). ``scale``: the trace of D H D (see
    ``HessianOperator``). Chapter 04."""
    if method not in ("auto", "hutchinson", "hutch++", "exact"):
        raise ValueError("method must be 'auto', 'hutchinson', 'hutch++' or 'exact', got "
                         f"{method!r}")
    if method == "auto":
        method = "exact" if not_piecewise_linear(model, loss_fn) is None else "hutch++"
    if method == "exact":
        return exact_trace(model, data, chunk=chunk, scale=scale, loss_fn=loss_fn), 0.0
    op = HessianOperator(model, data, chunk, scale=scale, loss_fn=loss_fn)
    op.check_deterministic()
    g = torch.Generator().manual_seed(seed)

    bar = progress(num_probes, "trace", "product", least=20)

    def apply(z):  # H on a block, in pieces of ``block`` rows
        out = []
        for i in range(0, len(z), block):
            out.append(op.matmat(z[i:i + block]))
            bar.update(len(out[-1]))
        return torch.cat(out)

    if method == "hutchinson":
        z = _rademacher((num_probes, op.n), g, op.dtype, op.device)
        samples = (z * apply(z)).sum(1).double().cpu().numpy()
        bar.close()
        return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(len(samples)))
    if num_probes < 6:
        raise ValueError("hutch++ needs at least 6 probes (3 x 2)")
    m = num_probes // 3
    s = _rademacher((m, op.n), g, op.dtype, op.device)
    q, _ = torch.linalg.qr(apply(s).T)  # (n, m), orthonormal columns
    exact = float((q.T * apply(q.T)).sum())
    z = _rademacher((num_probes - 2 * m, op.n), g, op.dtype, op.device)
    z = z - (z @ q) @ q.T
    hz = apply(z)
    hz = hz - (hz @ q) @ q.T
    samples = (z * hz).sum(1).double().cpu().numpy()
    bar.close()
    return exact + float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(len(samples)))


@dataclass
class Density:
    """Spectral density by stochastic Lanczos quadrature: Gaussian-broadened density on
    ``grid``, and the raw nodes and weights of every run (each run's weights sum to 1)."""

    grid: np.ndarray
    density: np.ndarray
    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    n_hvp: int


def density(model: nn.Module, data: Data, num_runs: int = 5, lanczos_steps: int = 40,
            sigma: float | None = None, grid_points: int = 1000, seed: int = 0,
            chunk: int | None = None, loss_fn: LossFn | None = None) -> Density:
    """Stochastic Lanczos quadrature (Ghorbani et al., 2019): ``num_runs`` Lanczos runs of
    ``lanczos_steps`` from Gaussian starts; nodes are the Ritz values (eigh of the tridiagonal),
    weights the squared first components of its eigenvectors. The density is the average of
    Gaussians of width ``sigma`` (default: 1% of the spectrum's range) on a grid spanning the
    nodes. Chapter 04."""
    op = HessianOperator(model, data, chunk, loss_fn=loss_fn)
    op.check_deterministic()
    g = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(num_runs):
        v0 = torch.randn(op.n, generator=g, dtype=op.dtype).to(op.device)
        alpha, beta, _ = lanczos(lambda v: op @ v, v0, lanczos_steps)
        theta, s = _tridiag_eigh(alpha, beta)
        nodes.append(theta)
        weights.append(s[0] ** 2)
    grid, dens = broaden(nodes, weights, sigma, grid_points)
    return Density(grid, dens, nodes, weights, op.n_hvp)


def default_broadening(densities) -> float:
    """The default Gaussian broadening of spectral densities (:class:`Density`): 1% of the range
    of all their nodes together. Chapter 04."""
    nodes = [t for d in densities for t in d.nodes]
    return 0.01 * max(max(t.max() for t in nodes) - min(t.min() for t in nodes), 1e-12)


def broadened(densities: dict[str, Density], sigma: float | None = None,
              separate: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per label, the density broadened with ``sigma`` - by default :func:`default_broadening`
    of all densities together, or with ``separate`` of each on its own, so that a narrow
    spectrum is not hidden under one wide Gaussian: ``(grid, density, sigma)``, what
    :func:`gaputils.plots.spectra` draws. Chapter 04."""
    out = {}
    for label, d in densities.items():
        width = sigma or default_broadening([d] if separate else densities.values())
        out[label] = (*broaden(d.nodes, d.weights, width), width)
    return out


def broaden(nodes: list[np.ndarray], weights: list[np.ndarray], sigma: float | None = None,
            grid_points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Average over runs of Gaussians of width ``sigma`` (default 1% of the nodes' range) at
    the quadrature nodes, on a grid spanning them; integrates to 1. Chapter 04."""
    lo = min(float(t.min()) for t in nodes)
    hi = max(float(t.max()) for t in nodes)
    width = sigma if sigma is not None else 0.01 * max(hi - lo, 1e-12)
    grid = np.linspace(lo - 5 * width, hi + 5 * width, grid_points)
    dens = np.zeros_like(grid)
    for t, w in zip(nodes, weights, strict=True):
        dens += (w[:, None] * np.exp(-((grid[None] - t[:, None]) ** 2) / (2 * width**2))).sum(0)
    return grid, dens / (len(nodes) * width * math.sqrt(2 * math.pi))
