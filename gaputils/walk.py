"""How far the weights travel: the fit d(t) = a + b ln t of the distance ||w_t - w_0|| from the
initial weights against the step t - Hoffer et al.'s "ultra-slow diffusion" (chapter 06).
``TrainConfig(distance_every=k)`` records the distance (``History.distance``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def log_fit(steps: Sequence[float], distance: Sequence[float]) -> dict[str, float]:
    """Least-squares fit ``distance = a + b ln(step)`` over the given points (steps >= 1).

    Returns ``a``, ``b`` (distance per unit of ln t, i.e. per factor e of steps) and ``r2``, the
    fraction of the distances' variance the fit explains. Give points evenly spaced in ln t (see
    :func:`log_spaced`) so that every decade of steps weighs the same. Chapter 06."""
    t, d = np.asarray(steps, dtype=float), np.asarray(distance, dtype=float)
    if t.shape != d.shape or t.size < 3 or (t < 1).any():
        raise ValueError("log_fit needs three or more (step >= 1, distance) pairs of equal length")
    x = np.log(t)
    b, a = np.polyfit(x, d, 1)
    resid = d - (a + b * x)
    total = ((d - d.mean()) ** 2).sum()
    return {"a": float(a), "b": float(b),
            "r2": float(1 - (resid ** 2).sum() / total) if total > 0 else math.nan}


def log_spaced(last: int, points: int = 60, first: int = 1) -> np.ndarray:
    """About ``points`` distinct whole steps from ``first`` to ``last``, evenly spaced in ln t."""
    if not 1 <= first <= last:
        raise ValueError(f"need 1 <= first <= last, got first={first}, last={last}")
    return np.unique(np.round(np.geomspace(first, last, points)).astype(int))


def fit_walk(steps: Sequence[int], distance: Sequence[float], last: int | None = None,
             points: int = 60) -> dict[str, float]:
    """:func:`log_fit` of a recorded walk (``History.distance_step``, ``History.distance``)
    over its steps up to ``last`` (default: all), thinned to about ``points`` steps evenly
    spaced in ln t; also returns the ``first`` and ``last`` step fitted. Chapter 06."""
    t, d = np.asarray(steps), np.asarray(distance)
    if t.size < 3 or t[0] < 1:
        raise ValueError("fit_walk needs three or more recorded steps, the first >= 1")
    end = int(t[-1] if last is None else min(last, t[-1]))
    grid = log_spaced(end, points, first=int(t[0]))
    idx = np.unique(np.searchsorted(t, grid).clip(0, t.size - 1))
    idx = idx[t[idx] <= end]
    return log_fit(t[idx], d[idx]) | {"first": int(t[idx[0]]), "last": int(t[idx[-1]])}
