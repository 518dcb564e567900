"""The gradient noise scale: McCandlish et al.'s B_simple = tr(Sigma) / |G|^2, two ways - from
per-example gradients and from the gradients of two batch sizes - each with a jackknife standard
error (chapter 07)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from .runtime import progress
from .stats import jackknife


def _model_loss(model, loss_fn):
    buffers = dict(model.named_buffers())

    def one(params, x, y):
        return loss_fn(functional_call(model, (params, buffers), (x.unsqueeze(0),)),
                       y.unsqueeze(0))

    return one


def per_sample_gradients(model, data: tuple, loss_fn=None, chunk: int = 256):
    """Flat per-example gradients (n, P) of ``loss_fn`` (default mean cross-entropy) for the
    (x, y) pair ``data``, in chunks of ``chunk`` examples (a generator). The model is used in
    eval mode - BatchNorm with its running statistics, dropout off - so that each example's
    gradient is its own: in training mode BatchNorm would mix the examples of a batch.
    Chapter 07."""
    loss_fn = loss_fn or F.cross_entropy
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    was = model.training
    model.eval()
    try:
        g = vmap(grad(_model_loss(model, loss_fn)), in_dims=(None, 0, 0))
        x, y = data
        for i in range(0, len(y), chunk):
            out = g(params, x[i:i + chunk], y[i:i + chunk])
            yield torch.cat([v.reshape(len(v), -1) for v in out.values()], 1)
    finally:
        model.train(was)


def _scale(trace: float, g2: float) -> float:
    return trace / g2 if g2 > 0 else math.inf


def _finite(population: int | None, m: int) -> float:
    """1 / population, the term that turns an estimate of |G|^2 for an infinite population into
    one for the finite set of ``population`` examples the data were drawn from (0 for None)."""
    if population is None:
        return 0.0
    if population < m:
        raise ValueError(f"population={population} is smaller than the {m} examples measured; "
                         "pass the size of the set the examples were drawn from, or None")
    return 1.0 / population


def gradient_noise_scale(model, data: tuple, loss_fn=None, groups: int = 10,
                         chunk: int = 256, population: int | None = None) -> dict[str, float]:
    """McCandlish et al.'s simple noise scale B_simple = tr(Sigma) / |G|^2 at the model's
    current weights, from per-example gradients (:func:`per_sample_gradients`, eval mode) of
    the n examples of ``data``: tr(Sigma) with divisor n - 1, and |G|^2 corrected for the
    noise of the mean, |mean g|^2 - tr(Sigma) (1/n - 1/N). ``population`` is N, the size of the
    set the n examples were drawn from without replacement: the training set, when G is the
    gradient of the training loss that SGD samples its batches from (with n = N, all of it,
    the mean is G itself and nothing is subtracted); None (the default) treats the examples as
    a sample of an unlimited distribution (N infinite). Its standard error is a delete-one-group
    jackknife over ``groups`` equal groups of examples. Returns ``b_simple``, ``se``,
    ``trace`` and ``g2``. Chapter 07."""
    x, y = data
    n = len(y) - len(y) % groups
    if n < 2 * groups:
        raise ValueError(f"need at least {2 * groups} examples for {groups} groups, got {len(y)}")
    inv_pop = _finite(population, len(y))
    sums, sq = [], []
    bar = progress(groups, "noise scale", "group", least=5)
    for k in range(groups):
        bar.update()
        part = (x[k::groups][:n // groups], y[k::groups][:n // groups])
        s1, s2 = 0, 0.0
        for g in per_sample_gradients(model, part, loss_fn, chunk):
            g = g.double()
            s1, s2 = s1 + g.sum(0), s2 + float((g ** 2).sum())
        sums.append(s1.cpu().numpy())
        sq.append(s2)
    bar.close()
    rows = np.concatenate([np.array(sums), np.array(sq)[:, None]], 1)

    def estimate(r):
        m = (len(r)) * (n // groups)
        s1, s2 = r[:, :-1].sum(0), r[:, -1].sum()
        trace = (s2 - (s1 ** 2).sum() / m) / (m - 1)
        g2 = ((s1 / m) ** 2).sum() - trace * (1 / m - inv_pop)
        return _scale(trace, g2), trace, g2

    b, trace, g2 = estimate(rows)
    return {"b_simple": b, "se": jackknife(rows, lambda r: estimate(r)[0]), "trace": trace,
            "g2": g2}


def batch_gradient_noise_scale(model, data: tuple, small: int, big: int, repeats: int = 20,
                               loss_fn=None, generator: torch.Generator | None = None,
                               population: int | None = None) -> dict[str, float]:
    """McCandlish et al.'s two-batch-size estimator of B_simple: for ``repeats`` random batches
    of ``small`` and of ``big`` examples of ``data`` (eval mode, as
    :func:`gradient_noise_scale`), |G_B|^2 has expectation |G|^2 + tr(Sigma) / B, which two
    sizes solve for |G|^2 and tr(Sigma); each is averaged over the repeats before their ratio
    is taken, and the standard error is a jackknife over the repeats. The batches are drawn
    without replacement from ``data``, so for a finite set of N examples the expectation is
    |G|^2 + tr(Sigma) (1/B - 1/N): ``population`` as in :func:`gradient_noise_scale` (N, which
    adds tr(Sigma) / N to the solved |G|^2; None, the default, for an unlimited distribution).
    Chapter 07."""
    if not 0 < small < big <= len(data[1]) or repeats < 2:
        raise ValueError(f"need 0 < small < big <= {len(data[1])} and repeats >= 2")
    inv_pop = _finite(population, len(data[1]))
    loss_fn = loss_fn or F.cross_entropy
    params = [p for p in model.parameters() if p.requires_grad]
    was = model.training
    model.eval()
    norms = []
    try:
        for _ in range(repeats):
            row = []
            for b in (small, big):
                idx = torch.randperm(len(data[1]), generator=generator)[:b].to(data[1].device)
                grads = torch.autograd.grad(loss_fn(model(data[0][idx]), data[1][idx]), params)
                row.append(float(sum((g.double() ** 2).sum() for g in grads)))
            norms.append(row)
    finally:
        model.train(was)
    norms = np.array(norms)

    def estimate(r):
        gs, gb = r.mean(0)
        trace = (gs - gb) / (1 / small - 1 / big)
        g2 = (big * gb - small * gs) / (big - small) + trace * inv_pop
        return _scale(trace, g2), trace, g2

    b, trace, g2 = estimate(norms)
    return {"b_simple": b, "se": jackknife(norms, lambda r: estimate(r)[0]), "trace": trace,
            "g2": g2}
