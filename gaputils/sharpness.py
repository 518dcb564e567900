"""Sharpness of a minimizer (chapter 03).

Keskar et al.'s epsilon-sharpness of the training loss f at x,

    phi(eps, A) = 100 * (max_{y in C} f(x + A y) - f(x)) / (1 + f(x)),
    C = { y : |y_i| <= eps * (|(A+ x)_i| + 1) },

in the full space (A = I) or in a random p-dimensional subspace, spanned by an n x p matrix A
with independent standard normal entries; A+ x is computed from the normal equations
(A^T A) c = A^T x, which are well conditioned when n >> p.
``adaptive`` is the scale-invariant variant (Kwon et al.'s ASAM box |y_i| <= eps (|c_i| + eta)
with a small eta), ``average`` the expected increase under Gaussian noise with the same per-
coordinate scale; the three share one objective, one box and one result type.

f is the mean of ``loss_fn`` (default: cross-entropy) over all of ``data`` in eval mode
(BatchNorm running statistics, no dropout), chunked with chunks weighted by size; ``data`` is an
(x, y) pair or a re-iterable of (x, y) batches such as a DataLoader without shuffling
(``batches``). ``bn="batch"`` normalizes with the data's own statistics instead. The model's
state is restored bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import batches
from .batches import Data, LossFn, loss_sum
from .hessian import gradient, hvp
from .landscape import BN_TYPES, restored
from .params import flat, set_flat
from .runtime import progress


@dataclass
class Sharpness:
    """A sharpness value (percent of 1 + f(x)) and how it was obtained."""

    value: float
    f0: float  # f(x), nats
    f_max: float  # the largest f found in the box (the mean f for ``average``), nats
    perturbation_norm: float  # Euclidean norm of the maximizing A y in parameter space
    evaluations: int  # points evaluated: passes over the data, forward (+ backward where the
    # solver needs the gradient there), counting f(x)'s
    seconds: float
    method: str
    per_restart: list[float] = field(default_factory=list)  # best value after each restart


class Objective:
    """f and its gradient at flat parameter vectors; ``x0`` is the point whose sharpness we
    measure. Subclass or use :class:`ModelObjective` / :class:`FunctionObjective`."""

    x0: torch.Tensor

    def __call__(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        raise NotImplementedError

    def value(self, x: torch.Tensor) -> float:
        """f(x) alone (subclasses skip the gradient where they can)."""
        return self(x)[0]


class FunctionObjective(Objective):
    """A differentiable function of one flat vector (used by the tests and for teaching)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor):
        self.fn, self.x0 = fn, x0.detach().clone()

    def __call__(self, x):
        x = x.detach().requires_grad_(True)
        value = self.fn(x)
        (grad,) = torch.autograd.grad(value, x)
        return float(value.detach()), grad

    def value(self, x):
        with torch.no_grad():
            return float(self.fn(x))


class ModelObjective(Objective):
    """Mean loss (``loss_fn``, default cross-entropy) of ``model`` over all of ``data``, as a
    function of its flat parameter vector; call inside ``landscape.restored(model)``.
    ``bn="running"`` (default): eval mode, BatchNorm with its running statistics.
    ``bn="batch"``: BatchNorm normalizes with the statistics of the data themselves at every
    point (recomputed for the perturbed weights, running statistics left alone, no dropout);
    the data must then be one batch."""

    def __init__(self, model: nn.Module, data: Data, chunk: int | None = None,
                 bn: str = "running", loss_fn: LossFn | None = None):
        if not all(p.requires_grad for p in model.parameters()):
            raise ValueError("sharpness perturbs every parameter: unfreeze them first")
        if bn not in ("running", "batch"):
            raise ValueError(f"bn must be 'running' or 'batch', got {bn!r}")
        if bn == "batch" and chunk is None:
            chunk = batches.MAX_CHUNK
        self.data = batches.batches(data, model, chunk)
        self.one = self.data.single() if bn == "batch" else None
        if bn == "batch" and self.one is None:
            raise ValueError(f"bn='batch' normalizes over all the data at once: give at most "
                             f"chunk={chunk} examples (or a loader of one batch), or a larger "
                             "chunk")
        if not self.data.pair:
            batches.check(model, self.data, loss_fn)
        self.model, self.bn, self.loss_fn = model, bn, loss_fn
        self.x0 = flat(model)
        if bn == "batch":
            model.eval()
            for m in model.modules():
                if isinstance(m, BN_TYPES):
                    m.train()
                    m.momentum = 0.0  # use the batch's statistics, leave the running ones

    def __call__(self, x):
        set_flat(self.model, x)
        if self.bn == "running":
            return gradient(self.model, self.data, loss_fn=self.loss_fn)
        params = list(self.model.parameters())
        loss = loss_sum(self.model, *self.one, self.loss_fn)[0] / len(self.one[1])
        return float(loss.detach()), torch.cat([g.reshape(-1) for g in
                                                torch.autograd.grad(loss, params)])

    def value(self, x):
        set_flat(self.model, x)
        if self.bn == "batch":
            with torch.no_grad():
                return float(loss_sum(self.model, *self.one, self.loss_fn)[0]) / len(self.one[1])
        return batches.evaluate(self.model, self.data, self.loss_fn)[0]


def random_matrix(n: int, p: int, seed: int = 0, device=None,
                  dtype=torch.float32) -> torch.Tensor:
    """An n x p matrix of independent standard normal entries, drawn on the CPU with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, p, generator=g, dtype=dtype).to(device)


def pinv_apply(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A+ x for a tall matrix ``a`` of full column rank, via (A^T A) c = A^T x in float64."""
    gram = (a.T @ a).double()
    return torch.linalg.solve(gram, (a.T @ x).double()).to(x.dtype)


def _bound(obj: Objective, basis: torch.Tensor | None, eps: float, eta: float) -> torch.Tensor:
    c = obj.x0 if basis is None else pinv_apply(basis, obj.x0)
    return eps * (c.abs() + eta)


def _point(obj: Objective, basis: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
    return obj.x0 + (y if basis is None else basis @ y)


def _ascent(obj, basis, bound, max_iter, restarts, seed, step, at_zero):
    """Projected sign-gradient ascent in the box, from 0 and then from random points of the
    box; returns the best (f, y) seen, the points evaluated and the best value after each
    restart. ``at_zero``: (f, gradient) at y = 0, already computed. The last point of a start
    needs its value only: a forward pass."""
    g = torch.Generator().manual_seed(seed)
    best_f, best_y, evals, trace = -np.inf, torch.zeros_like(bound), 0, []
    bar = progress(restarts, "sharpness starts", "start", least=3)
    for r in range(restarts):
        bar.update()
        if r == 0:
            y = torch.zeros_like(bound)
        else:
            y = (2 * torch.rand(bound.shape, generator=g, dtype=bound.dtype) - 1).to(bound)
            y = y * bound
        for it in range(max_iter + 1):
            if r == 0 and it == 0:
                f, grad = at_zero
            elif it == max_iter:
                f, grad = obj.value(_point(obj, basis, y)), None
            else:
                f, grad = obj(_point(obj, basis, y))
            evals += r > 0 or it > 0
            if f > best_f:
                best_f, best_y = f, y.clone()
            if it == max_iter:
                break
            gy = grad if basis is None else basis.T @ grad
            y = torch.clamp(y + step * bound * torch.sign(gy), -bound, bound)
        trace.append(best_f)
    bar.close()
    return best_f, best_y, evals, trace


def _lbfgsb(obj, basis, bound, max_iter, restarts, seed):
    """SciPy's L-BFGS-B (Keskar et al.'s choice) on -f, float64 on the host."""
    from scipy.optimize import Bounds, minimize

    b = bound.double().cpu().numpy()
    rng = np.random.default_rng(seed)
    state = {"f": -np.inf, "y": np.zeros_like(b), "evals": 0}

    def neg(y_np):
        y = torch.from_numpy(y_np).to(bound)
        f, grad = obj(_point(obj, basis, y))
        state["evals"] += 1
        if f > state["f"]:
            state["f"], state["y"] = f, y_np.copy()
        gy = grad if basis is None else basis.T @ grad
        return -f, -gy.double().cpu().numpy()

    trace = []
    for r in range(restarts):
        start = np.zeros_like(b) if r == 0 else rng.uniform(-b, b)
        minimize(neg, start, jac=True, method="L-BFGS-B", bounds=Bounds(-b, b),
                 options={"maxiter": max_iter, "gtol": 0.0, "ftol": 0.0})
        trace.append(state["f"])
    return state["f"], torch.from_numpy(state["y"]).to(bound), state["evals"], trace


def _measure(model_or_obj, data, eps, eta, subspace_dim, max_iter, restarts, seed, method,
             step, bn="running", loss_fn=None) -> Sharpness:
    t0 = time.perf_counter()
    if isinstance(model_or_obj, Objective):
        return _solve(model_or_obj, eps, eta, subspace_dim, max_iter, restarts, seed, method,
                      step, t0)
    if data is None:
        raise ValueError("give the training data (x, y) whose mean loss is f")
    with restored(model_or_obj):
        obj = ModelObjective(model_or_obj, data, bn=bn, loss_fn=loss_fn)
        return _solve(obj, eps, eta, subspace_dim, max_iter, restarts, seed, method, step, t0)


def _solve(obj, eps, eta, subspace_dim, max_iter, restarts, seed, method, step, t0):
    if method not in ("ascent", "lbfgsb"):
        raise ValueError(f"method must be 'ascent' or 'lbfgsb', got {method!r}")
    if restarts < 1 or max_iter < 0 or eps <= 0:
        raise ValueError("need restarts >= 1, max_iter >= 0 and eps > 0")
    basis = None
    if subspace_dim is not None:
        basis = random_matrix(obj.x0.numel(), subspace_dim, seed, obj.x0.device,
                              obj.x0.dtype)
    bound = _bound(obj, basis, eps, eta)
    f0, g0 = obj(obj.x0)
    if method == "ascent":
        f_max, y, evals, trace = _ascent(obj, basis, bound, max_iter, restarts, seed, step,
                                         (f0, g0))
    else:
        f_max, y, evals, trace = _lbfgsb(obj, basis, bound, max_iter, restarts, seed)
    pct = lambda f: 100 * (f - f0) / (1 + f0)
    norm = float((y if basis is None else basis @ y).norm())
    return Sharpness(pct(f_max), f0, f_max, norm, evals + 1, time.perf_counter() - t0, method,
                     [pct(f) for f in trace])


def keskar(model: nn.Module | Objective, data: Data | None = None, eps: float = 1e-3,
           subspace_dim: int | None = None, max_iter: int = 10, restarts: int = 1,
           seed: int = 0, method: str = "ascent", step: float | None = None,
           bn: str = "running", loss_fn: LossFn | None = None) -> Sharpness:
    """Keskar et al.'s epsilon-sharpness (percent) of ``model`` on ``data``. Chapter 03.

    ``subspace_dim=None`` is the full space; ``p`` draws a random p-dimensional subspace with
    ``seed``. ``method="ascent"`` (default) runs ``max_iter`` steps of projected sign-gradient
    ascent on the device from y = 0 and then from ``restarts - 1`` random points of the box
    (``step`` times the box half-width per step, then clipped to the box: with the default 1.0
    the first step from y = 0 lands on the vertex sign(g), where the first-order maximum lies;
    a coordinate whose gradient sign later flips moves back to 0, not to the opposite face, so
    the iterates from y = 0 stay on the grid {-b, 0, +b}); ``method="lbfgsb"``
    runs SciPy's L-BFGS-B for ``max_iter`` iterations per start, as the authors did. The value
    is the best over every point evaluated, so more restarts never lower it. ``bn``: which
    BatchNorm statistics f uses (see :class:`ModelObjective`); ``loss_fn``: the mean loss of a
    batch (default cross-entropy).
    """
    step = step if step is not None else 1.0
    return _measure(model, data, eps, 1.0, subspace_dim, max_iter, restarts, seed, method, step,
                    bn, loss_fn)


def adaptive(model: nn.Module | Objective, data: Data | None = None, eps: float = 1e-3,
             eta: float = 1e-4, subspace_dim: int | None = None, max_iter: int = 10,
             restarts: int = 1, seed: int = 0, method: str = "ascent",
             step: float | None = None, bn: str = "running",
             loss_fn: LossFn | None = None) -> Sharpness:
    """Scale-invariant sharpness: ``keskar`` with the box |y_i| <= eps (|c_i| + eta), c = x
    (or A+ x), as in ASAM's T_w = |w| + eta. Rescaling a layer and undoing it downstream scales
    its box with it, so the value does not change as long as ``eta`` is small next to the
    weights (ASAM's eta = 0.01 is not, for F1: try it). Chapter 03."""
    step = step if step is not None else 1.0
    return _measure(model, data, eps, eta, subspace_dim, max_iter, restarts, seed, method, step,
                    bn, loss_fn)


def average(model: nn.Module | Objective, data: Data | None = None, sigma: float = 1e-2,
            eta: float = 1.0, num_samples: int = 10, seed: int = 0,
            antithetic: bool = True, loss_fn: LossFn | None = None) -> Sharpness:
    """Expected loss increase (percent of 1 + f(x)) under Gaussian weight noise z with per-
    coordinate standard deviation sigma (|x_i| + eta): the average-case counterpart of
    ``keskar`` (``eta=1``, Keskar's scale) or ``adaptive`` (small ``eta``). With
    ``antithetic=True`` every draw z is paired with -z, so the first-order term g^T z cancels
    exactly and the estimate grows like sigma^2 at small sigma; without it, the gradient's
    random first-order term adds noise that shrinks only like sigma. ``num_samples`` draws
    (2 evaluations each when antithetic). Chapter 03."""
    if num_samples < 1 or sigma <= 0:
        raise ValueError("need num_samples >= 1 and sigma > 0")
    t0 = time.perf_counter()

    def run(obj: Objective) -> Sharpness:
        scale = _bound(obj, None, sigma, eta)
        g = torch.Generator().manual_seed(seed)
        f0 = obj.value(obj.x0)
        fs, norms = [], []
        for _ in range(num_samples):
            z = torch.randn(scale.shape, generator=g, dtype=scale.dtype).to(scale) * scale
            pair = [obj.value(obj.x0 + z)] + ([obj.value(obj.x0 - z)] if antithetic else [])
            fs.append(float(np.mean(pair)))
            norms.append(float(z.norm()))
        pct = 100 * (float(np.mean(fs)) - f0) / (1 + f0)
        return Sharpness(pct, f0, float(np.mean(fs)), float(np.mean(norms)),
                         num_samples * (1 + antithetic) + 1, time.perf_counter() - t0,
                         "average")

    if isinstance(model, Objective):
        return run(model)
    with restored(model):
        return run(ModelObjective(model, data, loss_fn=loss_fn))


def taylor_prediction(model: nn.Module, data: Data, eps: float,
                      loss_fn: LossFn | None = None) -> dict[str, float]:
    """First- and second-order predictions of ``keskar(model, data, eps)`` in the full space.

    With D = diag(|x_i| + 1) and s = sign(g): first order 100 eps ||D g||_1 / (1 + f), reached
    at the vertex z = eps D s; second order adds 100 eps^2 (D s)^T H (D s) / (2 (1 + f)), the
    curvature at that vertex (one Hessian-vector product). Chapter 03."""
    f0, g = gradient(model, data, loss_fn=loss_fn)
    d = flat(model).abs() + 1
    vertex = d * torch.sign(g)
    first = eps * float((d * g.abs()).sum())
    second = 0.5 * eps**2 * float(vertex @ hvp(model, data, vertex, loss_fn=loss_fn))
    scale = 100 / (1 + f0)
    return {"first_order": scale * first, "second_order": scale * (first + second)}
