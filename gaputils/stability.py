"""The edge of stability (Cohen et al. 2021): full-batch gradient descent sharpens until the
largest Hessian eigenvalue hovers at 2 / lr (chapter 04)."""

from __future__ import annotations

import numpy as np
import torch

from . import data, hessian, models
from .train import History, TrainConfig, fit


def full_batch_gd(ds: data.Dataset, lr: float, steps: int, n: int, every: int = 20,
                  seed: int = 0, model_kwargs: dict | None = None) -> tuple[History, list]:
    """Full-batch gradient descent (no momentum) on the first ``n`` training examples with a
    BatchNorm-free F1 (default 2 x 128), recording lambda_max of the training-loss Hessian at
    the start and every ``every`` steps (one value per ``history.step``) - the edge-of-stability
    experiment of Cohen et al. (2021). Chapter 04."""
    sub = data.Dataset(ds.name, (ds.train[0][:n], ds.train[1][:n]),
                       (ds.test[0][:n], ds.test[1][:n]), ds.num_classes, ds.classes, ds.mean,
                       ds.std, ds.source, ds.subset_seed)
    torch.manual_seed(seed)
    kwargs = {"width": 128, "depth": 2, "batchnorm": False} | (model_kwargs or {})
    net = models.build("F1", sub.input_shape, sub.num_classes, **kwargs).to(sub.train[0].device)
    lams: list[float] = []

    def track(model, history):
        lams.append(float(hessian.top_eigenvalues(model, sub.train, k=1, tol=1e-2,
                                                  check=False).values[0]))

    cfg = TrainConfig(batch_size=n, lr=lr, optimizer="sgd", momentum=0.0, steps=steps,
                      eval_every=every, seed=seed)
    track(net, None)  # at the initial weights: the history's step 0
    return fit(net, sub, cfg, callback=track, progress=False), lams


def edge_of_stability(history: History, lams: list[float], lr: float,
                      reach: float = 0.95) -> dict[str, float]:
    """Summary of one :func:`full_batch_gd` run, as ratios r = lambda_max / (2 / lr): the ratio
    at the initial weights, the step at which r first reached ``reach`` (None if never), the median,
    minimum and maximum of r from then on (over the whole run if never), and the last r.
    Chapter 04."""
    ratio = np.asarray(lams) * lr / 2
    steps = np.asarray(history.step)
    if len(steps) != len(ratio):
        raise ValueError(f"{len(ratio)} lambda_max values for {len(steps)} recorded steps")
    hit = np.flatnonzero(ratio >= reach)
    after = ratio[hit[0]:] if len(hit) else ratio
    return {"threshold": 2 / lr, "first": float(ratio[0]),
            "reached_step": int(steps[hit[0]]) if len(hit) else None,
            "median": float(np.median(after)), "lo": float(after.min()),
            "hi": float(after.max()), "last": float(ratio[-1]), "steps": int(steps[-1])}


def side(summary: dict[str, float]) -> str:
    """Where an :func:`edge_of_stability` summary's range of ratios lies against 2 / lr: "on
    both sides of", "above" or "below" it. Chapter 04."""
    lo, hi = summary["lo"], summary["hi"]
    return "on both sides of" if lo < 1 < hi else "above" if lo >= 1 else "below"
