"""How many steps a batch size needs: steps to a target training loss, the critical batch size,
and the gradient noise scale along training (chapter 07).

McCandlish et al. (2018) found that the steps S and examples E = B S needed to reach a given
loss trade off as (S / S_min - 1)(E / E_min - 1) = 1, that is S(B) = S_min (1 + B_crit / B)
with B_crit = E_min / S_min: below B_crit doubling the batch halves the steps (perfect
scaling), above it the steps stop falling. They predicted B_crit from the gradient noise
scale B_simple (:func:`gaputils.noise_scale.gradient_noise_scale`) measured where the loss
reaches the target. :func:`steps_to_target` trains every batch size until the training loss
reaches a target (``TrainConfig.stop_below``, cached), tuning each batch size's learning rate;
:func:`best_steps` picks the best, :func:`fit_critical` fits S(B), :func:`noise_along` measures
B_simple as the loss falls, and :func:`critical_batch` runs the whole experiment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from scipy.optimize import least_squares

from . import data, noise_scale, testbed, workers
from .remedies import FreshBNStats
from .runs import train_grids
from .train import TrainConfig, fit


def _score(steps: list[float]) -> float:
    """Geometric mean of per-seed steps; infinite if any seed did not reach the target."""
    return float(np.exp(np.mean(np.log(steps)))) if np.all(np.isfinite(steps)) else math.inf


def _eval_every(n: int, batch_size: int, per_epoch: int = 4) -> int:
    """Steps between evaluations: ``per_epoch`` per epoch of ``n`` examples, at least one."""
    return max(1, n // (per_epoch * batch_size))


def crossing(steps: Sequence[float], losses: Sequence[float], target: float) -> float:
    """The step at which the loss reached ``target``, read from evaluations at ``steps``
    (the last at or below the target): interpolated linearly in log loss between the last two
    evaluations, so that evaluations a quarter epoch apart do not round every run up to the
    next one. The last step if there is no earlier evaluation above the target. Chapter 07."""
    s1, l1 = float(steps[-1]), float(losses[-1])
    if len(steps) < 2 or not 0 < l1 <= target < float(losses[-2]):
        return s1
    s0, l0 = float(steps[-2]), float(losses[-2])
    return s0 + (s1 - s0) * (math.log(l0) - math.log(target)) / (math.log(l0) - math.log(l1))


def steps_to_target(ds: data.Dataset, batch_sizes: Sequence[int], seeds: Sequence[int],
                    target: float, lr: float = 0.1, max_epochs: float = 20,
                    setting: testbed.Setting | None = None, evals_per_epoch: int = 4,
                    progress: bool = False, fresh_bn: bool = True,
                    on_size: Callable[[int, dict], None] | None = None) -> dict:
    """Steps to reach training loss ``target`` (nats; eval mode, all training examples, checked
    ``evals_per_epoch`` times per epoch and at least every step, with BatchNorm's statistics
    recomputed before each check where ``fresh_bn``
    (:class:`~gaputils.remedies.FreshBNStats`), the step of the crossing interpolated
    between checks, :func:`crossing`) for every batch size, each with its own best constant
    learning rate, as a practitioner would tune it: from the best rate of the previous
    (smaller) batch size (``lr`` for the first), try twice and half that rate and keep
    doubling or halving while the geometric mean of the steps over ``seeds`` falls.
    ``setting``'s network, optimizer and weight decay (default: the testbed's); at most
    ``max_epochs``; every run cached, the first three rates of each batch size together (side by
    side on a CPU's cores, :mod:`gaputils.workers`). Where workers train side by side, those
    that a round leaves idle train the next batch size's run at the rate the round tries (of the
    first three, the highest: the best rate grows with the batch size), in the background, into
    the cache: the next size starts from this size's best rate, halved and doubled, so the rate
    is among its first three unless the search moves on two more rates from it. Returns
    ``{"steps": {B: {lr: [steps per seed]}}, ...}`` with ``nan`` for a run that diverged or did
    not reach the target (runs trained ahead are not in it until the search asks for them).
    ``on_size(b, result so far)`` is called as each batch size's search ends. Chapter 07."""
    n = len(ds.train[1])
    out = {"target": target, "max_epochs": max_epochs, "seeds": list(seeds),
           "batch_sizes": list(batch_sizes), "fresh_bn": fresh_bn, "interpolated": True,
           "steps": {}}

    def grid(b, r):
        every = _eval_every(n, b, evals_per_epoch)
        extra = {"remedies": (FreshBNStats(every),)} if fresh_bn else {}
        return [b], seeds, dict(lr=r, schedule="constant", epochs=max_epochs, stop_below=target,
                                eval_every=every, **extra)

    def scores(b, rates, ahead=None):
        """The score of every rate; those not yet run train together, with the run of
        ``ahead`` (a batch size and rate, not scored here) on workers they leave idle."""
        new = [r for r in dict.fromkeys(rates) if r not in out["steps"][b]]
        trained = train_grids(ds, [grid(b, r) for r in new], setting=setting, progress=progress,
                              ahead=[grid(*ahead)] if ahead and ahead[0] else []) if new else []
        for r, runs in zip(new, trained, strict=True):
            out["steps"][b][r] = [
                crossing(r_.history.step, r_.history.train_loss, target)
                if not r_.history.diverged and r_.history.train_loss[-1] <= target else math.nan
                for r_ in runs]
        return [_score(out["steps"][b][r]) for r in rates]

    sizes = sorted(batch_sizes)
    for b, after in zip(sizes, [*sizes[1:], None], strict=True):
        out["steps"][b] = {}
        trio = (lr / 2, lr, lr * 2)
        best = trio[int(np.argmin(scores(b, trio, (after, 2 * lr))))]
        factor = 2.0 if best > lr else 0.5 if best < lr else None
        while factor:
            if scores(b, [best * factor], (after, best * factor))[0] >= scores(b, [best])[0]:
                break
            best *= factor
        lr = best if math.isfinite(scores(b, [best])[0]) else lr
        if on_size is not None:
            on_size(b, out)
    return out


def best_steps(result: dict) -> dict[int, dict]:
    """Per batch size, the learning rate whose runs reached the target in the fewest steps
    (geometric mean over seeds; only learning rates that reached it for every seed), with its
    per-seed ``steps``. Batch sizes where no learning rate reached it for every seed are left
    out. Chapter 07."""
    best = {}
    for b, row in result["steps"].items():
        done = {lr: s for lr, s in row.items() if np.all(np.isfinite(s))}
        if done:
            lr = min(done, key=lambda k: _score(done[k]))
            best[int(b)] = {"lr": float(lr), "steps": list(done[lr])}
    return best


def mean_steps(best: dict[int, dict]) -> dict[int, float]:
    """Per batch size of :func:`best_steps`, the geometric mean of its per-seed steps - the
    typical count that :func:`fit_critical` is fitted to. Chapter 07."""
    return {b: _score(r["steps"]) for b, r in best.items()}


def critical_curve(batch_size, s_min: float, b_crit: float):
    """McCandlish et al.'s steps to a target, S(B) = S_min (1 + B_crit / B)."""
    return s_min * (1 + b_crit / np.asarray(batch_size, dtype=float))


def fit_critical(batch_sizes: Sequence[float], steps: Sequence[float]) -> dict[str, float]:
    """Least-squares fit of log S(B) = log S_min + log(1 + B_crit / B) to steps measured at
    several batch sizes (the relative error of every point counts the same). Returns
    ``s_min`` (steps), ``b_crit`` (examples), ``e_min`` = S_min B_crit (examples) and ``curve``,
    the fitted S(B) on 100 batch sizes from a third below the smallest to half above the
    largest. Chapter 07."""
    b, s = np.asarray(batch_sizes, dtype=float), np.asarray(steps, dtype=float)
    if len(b) < 3 or not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError("fit_critical needs finite positive steps at three or more batch sizes")
    resid = lambda p: np.log(critical_curve(b, np.exp(p[0]), np.exp(p[1]))) - np.log(s)
    start = [np.log(s.min()), np.log(np.median(b))]
    p = least_squares(resid, start).x
    s_min, b_crit = float(np.exp(p[0])), float(np.exp(p[1]))
    grid = np.geomspace(b.min() / 1.5, b.max() * 1.5, 100)
    return {"s_min": s_min, "b_crit": b_crit, "e_min": s_min * b_crit,
            "curve": (grid, critical_curve(grid, s_min, b_crit))}


def noise_along(model, ds: data.Dataset, config: TrainConfig, losses: Sequence[float],
                n: int | None = None, groups: int = 10) -> list[dict]:
    """Train ``model`` with ``config`` (not cached) and, the first time the training loss falls
    to each of ``losses`` (nats, decreasing), measure the gradient noise scale B_simple on the
    first ``n`` training examples (default: all;
    :func:`gaputils.noise_scale.gradient_noise_scale`, eval mode), as the noise of SGD's batches
    drawn from the training set: G is the training set's gradient (the population is the
    training set; with all examples measured, their mean gradient is G). Returns one dict per level
    reached: ``loss`` (the level), ``step``, ``train_loss``, ``b_simple`` and ``se``
    (examples), and ``population`` (the training set's size). Chapter 07."""
    levels, out = sorted(losses, reverse=True), []
    sample = ds.train[0][:n], ds.train[1][:n]

    def measure(net, history):
        reached = [lv for lv in levels if history.train_loss[-1] <= lv]
        for lv in reached:
            levels.remove(lv)
        if reached:
            g = noise_scale.gradient_noise_scale(net, sample, groups=groups,
                                                 population=len(ds.train[1]))
            out.extend({"loss": lv, "step": history.step[-1], "train_loss":
                        history.train_loss[-1], "b_simple": g["b_simple"], "se": g["se"],
                        "population": len(ds.train[1])} for lv in reached)

    fit(model, ds, config, progress=False, callback=measure)
    return out


def by_level(noise: dict[str, list[dict]]) -> dict[float, list[float]]:
    """B_simple per loss level, one value per seed, from :func:`study`'s ``["noise"]``.
    Chapter 07."""
    out: dict[float, list[float]] = {}
    for rows in noise.values():
        for r in rows:
            out.setdefault(r["loss"], []).append(r["b_simple"])
    return out


def critical_batch(ds: data.Dataset, sizes: Sequence[int], seeds: Sequence[int], target: float,
                   noise_seeds: Sequence[int] = (), levels: Sequence[float] = (),
                   setting: testbed.Setting | None = None, max_epochs: float = 30,
                   n: int | None = None, fresh_bn: bool = True) -> dict:
    """Chapter 07's critical-batch-size experiment on ``setting`` (default: the testbed):
    :func:`steps_to_target` at every batch size of ``sizes`` for ``seeds``, starting the
    learning-rate search at SB's rate scaled linearly down to the smallest size; then, for each
    of ``noise_seeds``, an SB run at SB's tuned rate with the noise scale measured as the loss
    falls through ``levels`` (:func:`noise_along`, first ``n`` examples, default all), under
    ``["noise"]`` by seed (:func:`noise_runs`); ``fresh_bn`` as in :func:`steps_to_target`, for
    both. The noise-scale runs train on one thread: in a worker, beside the search of the
    largest batch size (its rounds of one rate leave a core idle; SB's rate is tuned by then,
    :func:`gaputils.workers.submit`), or here after the search - the same numbers either way.
    Chapter 07."""
    setting = setting or testbed.get()
    sb, job = setting.sb, {}
    when = max(sb, sorted(sizes)[-2] if len(sizes) > 1 else sb)  # the last size comes next
    noise = lambda res: (ds, noise_seeds, levels, best_steps(res)[sb]["lr"], setting,
                         max_epochs, n, fresh_bn)

    def tuned(b, res):
        if b == when and noise_seeds:
            job["noise"] = workers.submit(ds, noise_runs, *noise(res))

    out = steps_to_target(ds, sizes, seeds, target, lr=setting.lr * min(sizes) / sb,
                          max_epochs=max_epochs, setting=setting, fresh_bn=fresh_bn,
                          on_size=tuned)
    if job.get("noise") is not None:
        out["noise"] = job["noise"].result()
    else:
        with workers.one_thread() if ds.train[0].device.type == "cpu" else nullcontext():
            out["noise"] = noise_runs(*noise(out))
    return out


def noise_runs(ds: data.Dataset, seeds: Sequence[int], levels: Sequence[float], lr: float,
               setting: testbed.Setting, max_epochs: float = 30, n: int | None = None,
               fresh_bn: bool = True) -> dict[str, list[dict]]:
    """The noise-scale part of :func:`critical_batch`: for each of ``seeds``, an SB run of
    ``setting`` at the constant rate ``lr`` (SB's tuned one), checked as in
    :func:`steps_to_target`, with B_simple measured as the loss falls through ``levels``
    (:func:`noise_along`); by seed. Chapter 07."""
    sb, out = setting.sb, {}
    for seed in seeds:
        torch.manual_seed(seed)
        every = _eval_every(len(ds.train[1]), sb)
        cfg = setting.config(sb, seed, n_train=len(ds.train[1]), lr=lr, schedule="constant",
                             epochs=max_epochs, stop_below=min(levels), eval_every=every,
                             **({"remedies": (FreshBNStats(every),)} if fresh_bn else {}))
        out[str(seed)] = noise_along(setting.build(ds), ds, cfg, levels, n=n)
    return out
