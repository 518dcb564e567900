"""Remedies measured on a setting: each arm (:mod:`gaputils.arms`) trained over seeds from the
same initial weights as plain SB and LB (chapters 05-07).

:func:`run` trains every arm for every seed (cached), records the final accuracies, steps and
seconds, and measures lambda_max and Keskar's sharpness on the first seeds; the result is a
plain dict, so a long run can be committed as JSON (``data/reference/``), split over processes
and joined (:func:`merge`), and read back by :func:`gaputils.scores.summarize` like a live one.
"""

from __future__ import annotations

import math

import numpy as np

from . import data, hessian, sharpness, testbed, walk, workers
from .arms import Arm
from .runs import plain_grids, start_grids, train_grids
from .train import History, evaluate


def _measure(model, data_, seed: int) -> tuple[float, float]:
    lam = hessian.top_eigenvalues(model, data_, k=1, tol=1e-2, check=False).values[0]
    return float(lam), float(sharpness.keskar(model, data_, eps=1e-3, seed=seed).value)


_CURVES = ("step", "epoch", "train_acc", "test_acc", "seconds", "weight_distance")


def _curves(history) -> dict:
    """A run's learning curves, and its per-step weight distance at log-spaced steps."""
    out = {k: getattr(history, k) for k in _CURVES}
    if history.distance_step:
        steps = np.asarray(history.distance_step)
        keep = np.unique(np.searchsorted(steps, walk.log_spaced(int(steps[-1]), 120)))
        out["distance_step"] = steps[keep].tolist()
        out["distance"] = np.asarray(history.distance)[keep].tolist()
    return out


def _to_measure(runs, data_, measure_seeds) -> list[tuple]:
    """The :func:`_measure` calls of ``runs``: those of ``measure_seeds`` that did not diverge."""
    return [(r.model, data_, r.seed) for r in runs
            if r.seed in measure_seeds and not r.history.diverged]


def _record(runs, values, measure_seeds, curve_seeds=(), ds=None) -> dict:
    """A run's record; ``values`` yields the (lambda_max, sharpness) of its
    :func:`_to_measure` calls in order. A diverged run (NaN loss) counts with the accuracies of
    the network it left, evaluated now (about chance), not with those of its last evaluation
    before the NaN; it is not measured (NaN)."""
    out = {k: [r.final[k] for r in runs] for k in ("test_acc", "train_acc", "step", "seconds")}
    for i, r in enumerate(runs):
        if r.history.diverged and ds is not None:
            out["train_acc"][i] = evaluate(r.model, *ds.train)[1]
            out["test_acc"][i] = evaluate(r.model, *ds.test)[1]
    out["seeds"] = [r.seed for r in runs]
    out["diverged"] = [r.history.diverged for r in runs]
    out["curves"] = {str(r.seed): _curves(r.history) for r in runs if r.seed in curve_seeds}
    measured = [(math.nan, math.nan) if r.history.diverged else next(values)
                for r in runs if r.seed in measure_seeds]
    out["lambda_max"], out["sharpness"] = map(list, zip(*measured, strict=True)) if measured \
        else ([], [])
    out["measured_seeds"] = [r.seed for r in runs if r.seed in measure_seeds]
    return out


def _grids(arms, seeds, setting, ds, evals):
    """The setting (with ``seeds``), its data and :func:`run`'s grids: plain SB, LB, each arm."""
    setting = (setting or testbed.get()).replace(seeds=tuple(seeds))
    ds = ds if ds is not None else setting.load()
    n = len(ds.train[1])
    every = lambda arm: {"eval_every": max(1, round(arm.options.get("epochs", setting.epochs)
                                                    * (n // arm.batch_size) / evals))}
    grids = [([arm.batch_size], seeds, every(arm) | arm.options) for arm in arms]
    return setting, ds, plain_grids(setting) + grids


def start(arms: list[Arm], seeds, setting: testbed.Setting | None = None,
          ds: data.Dataset | None = None, evals: int = 1) -> int:
    """Start the runs a later :func:`run` with these arguments will ask for, in the background,
    the longest first, where workers train side by side on a CPU
    (:func:`gaputils.runs.start_grids`), and return at once; :func:`run` then waits for them.
    So a chapter that runs two studies one after the other keeps both cores busy: the second's
    runs train beside the first's instead of after its last one. How many runs started.
    Chapter 06."""
    setting, ds, grids = _grids(arms, seeds, setting, ds, evals)
    return start_grids(ds, grids, setting=setting)


def run(arms: list[Arm], seeds, measure_seeds=(), setting: testbed.Setting | None = None,
        ds: data.Dataset | None = None, n_curvature: int = 1000,
        progress: bool | None = None, evals: int = 1, curve_seeds=()) -> dict:
    """Train plain SB and LB and every arm for every seed (same initial weights per seed,
    cached), and measure lambda_max (Lanczos, tol 1e-2) and Keskar's full-space sharpness at
    eps 1e-3 on the first ``n_curvature`` training examples, for the seeds in
    ``measure_seeds``. Remedy runs are evaluated ``evals`` times, evenly over their epochs
    (once, at the end, by default); the learning curves of the seeds in ``curve_seeds`` are
    kept (``["arms"][name]["curves"][str(seed)]``). Arms are keyed by their names (ids), plain
    SB and LB by "SB" and "LB"; each records its ``label``. Plain SB and LB (those of
    :func:`gaputils.runs.minimizers`) and the arms train together; on a CPU their curvature is
    measured side by side in the workers (:func:`gaputils.workers.each`). Chapters 05 and 06."""
    setting, ds, grids = _grids(arms, seeds, setting, ds, evals)
    data_ = ds.train[0][:n_curvature], ds.train[1][:n_curvature]
    sb, lb, *trained = train_grids(ds, grids, setting=setting, progress=progress)
    out = {"setting": setting.describe(), "seeds": list(seeds),
           "measure_seeds": list(measure_seeds), "n_curvature": n_curvature, "arms": {}}
    groups = [(name, runs, {"label": name, "group": "plain", "batch_size": runs[0].batch_size})
              for name, runs in (("SB", sb), ("LB", lb))]
    groups += [(arm.name, runs, {"label": arm.label, "group": arm.group,
                                 "batch_size": arm.batch_size, "x": arm.x,
                                 "options": arm.described()})
               for arm, runs in zip(arms, trained, strict=True)]
    # every network's curvature at once: two at a time in the workers on a CPU
    values = iter(workers.each(ds, _measure, [c for _, runs, _ in groups
                                              for c in _to_measure(runs, data_, measure_seeds)],
                               desc="curvature" if progress is not False else None))
    for name, runs, info in groups:
        out["arms"][name] = info | _record(runs, values, measure_seeds, curve_seeds, ds)
    return out


def histories(results: dict, name: str) -> list:
    """The learning curves of arm ``name`` kept by :func:`run` (``curve_seeds``), one
    :class:`~gaputils.train.History` per seed, for the book's curve plots. Chapter 06."""
    curves = results["arms"][name].get("curves", {})
    if not curves:
        raise ValueError(f"no curves kept for {name!r}; run gu.study.run with curve_seeds=...")
    return [History(**c) for _, c in sorted(curves.items(), key=lambda kv: int(kv[0]))]


def peak(history) -> dict:
    """Where a run's test accuracy was best: its ``step``, the points lost from there to the
    end (``drop``) and the lowest training accuracy from there on (``train_after``).
    Chapter 06."""
    best = int(np.argmax(history.test_acc))
    return {"step": history.step[best],
            "drop": 100 * (history.test_acc[best] - history.test_acc[-1]),
            "train_after": min(history.train_acc[best:])}


def merge(*results: dict) -> dict:
    """One result from several :func:`run` results of the same setting on different seeds (runs
    split over processes or machines, or more seeds of some arms added later): every per-seed
    list joined, in seed order. An arm that only some results hold is joined from those."""
    first = results[0]
    setting_of = lambda r: r["setting"].split("; seeds")[0]
    known = {}
    for r in results:
        for n, a in r["arms"].items():
            k = known.setdefault(n, a)
            opts, kopts = a.get("options") or {}, k.get("options") or {}
            # options recorded by older versions list some defaults the newer leave out
            same_options = all(opts[o] == kopts[o] for o in set(opts) & set(kopts))
            if ((a["group"], a["batch_size"]) != (k["group"], k["batch_size"])
                    or not same_options or setting_of(r) != setting_of(first)):
                raise ValueError(f"merge needs results of the same setting and arms (only the "
                                 f"seeds may differ); {n!r} differs")
    seeds = sorted({s for r in results for s in r["seeds"]})
    out = {k: v for k, v in first.items() if k != "arms"} | {
        "seeds": seeds, "measure_seeds": sorted({s for r in results for s in r["measure_seeds"]}),
        "arms": {}}
    out["setting"] = setting_of(first) + f"; seeds {', '.join(map(str, seeds))}"
    for name in known:
        holders = [r for r in results if name in r["arms"]]
        parts = [r["arms"][name] for r in holders]
        merged = dict(parts[0])
        every = [s for p in parts for s in p["seeds"]]
        if len(set(every)) != len(every):
            raise ValueError(f"the results share seeds of {name!r}: {sorted(every)}")
        order = np.argsort(every)
        for key in ("test_acc", "train_acc", "step", "seconds", "seeds", "diverged"):
            if all(key in p for p in parts):
                merged[key] = [[v for p in parts for v in p[key]][i] for i in order]
        measured = [s for r in holders for s in measured_seeds(r, name)]
        for key in ("lambda_max", "sharpness"):  # in the order of the measured seeds
            values = [v for p in parts for v in p[key]]
            merged[key] = [values[i] for i in np.argsort(measured)]
        merged["measured_seeds"] = sorted(measured)
        merged["curves"] = {k: v for p in parts for k, v in p.get("curves", {}).items()}
        out["arms"][name] = merged
    return out


def measured_seeds(result: dict, name: str) -> list[int]:
    """The seeds of arm ``name`` whose lambda_max and sharpness ``result`` holds, in the order
    of its lists: the arm's ``measured_seeds``, or (older results) its seeds among the
    result's ``measure_seeds``. Chapters 05-07."""
    arm = result["arms"][name]
    if "measured_seeds" in arm:
        return list(arm["measured_seeds"])
    return [s for s in arm["seeds"] if s in result.get("measure_seeds", ())]


def _only(result: dict, name: str, keep: set) -> dict:
    """Arm ``name`` of a :func:`run` result restricted to the seeds in ``keep``."""
    arm = result["arms"][name]
    seeds, done = arm["seeds"], measured_seeds(result, name)
    out = dict(arm)
    for key in ("test_acc", "train_acc", "step", "seconds", "seeds", "diverged"):
        if key in arm:
            out[key] = [v for s, v in zip(seeds, arm[key], strict=True) if s in keep]
    for key in ("lambda_max", "sharpness"):
        out[key] = [v for s, v in zip(done, arm[key], strict=True) if s in keep]
    out["measured_seeds"] = [s for s in done if s in keep]
    out["curves"] = {k: v for k, v in arm.get("curves", {}).items() if int(k) in keep}
    return out


def same_networks(result: dict, other: dict, name: str) -> dict[int, bool]:
    """For every seed of arm ``name`` that both results hold, whether it is the same network in
    both (the same test accuracy): another thread count, processor or library version trains
    another one from the same seed. Chapters 05 and 07."""
    a, b = result["arms"][name], other["arms"][name]
    acc = dict(zip(b["seeds"], b["test_acc"], strict=True))
    return {s: acc[s] == v for s, v in zip(a["seeds"], a["test_acc"], strict=True) if s in acc}


def networks_line(live: dict, reference: dict, names) -> str:
    """One line for a chapter: whether the seeds of arms ``names`` that ``live`` and
    ``reference`` both hold are the reference's networks (:func:`same_networks`). Chapters 05
    and 07."""
    same = [same_networks(live, reference, k) for k in names
            if k in live["arms"] and k in reference["arms"]]
    seeds = sorted(set().union(*same))
    if not seeds:
        return f"live {', '.join(names)}: no seed in common with the reference"
    verdict = ("the reference's networks (equal test accuracies)"
               if all(all(v.values()) for v in same) else "other networks than the reference's")
    return f"live seeds {seeds} of {', '.join(names)}: {verdict}"


def extend(result: dict, added: dict, arms=None) -> dict:
    """``result`` with ``added`` (a :func:`run` result of the same setting) joined in: the arms
    named in ``arms`` (default: all of ``added``'s), and for the others - plain SB and LB,
    trained to pair with - only the seeds ``result`` lacks. A seed both hold must be the same
    network (the same test accuracy), or the two were trained differently (another thread
    count, another machine) and cannot be paired: ValueError. New arms, more seeds of old
    ones, or both."""
    names = set(added["arms"] if arms is None else arms)
    missing_ = names - set(added["arms"])
    if missing_:
        raise KeyError(f"not in the added result: {sorted(missing_)}")
    trimmed = {}
    for name, arm in added["arms"].items():
        old = result["arms"].get(name)
        if name in names or old is None:
            trimmed[name] = arm
            continue
        for s, same in same_networks(result, added, name).items():
            if not same:
                raise ValueError(f"{name} seed {s} is another network than the one in the "
                                 "result (trained with other threads or on another machine?): "
                                 "train the added arms where the result was made")
        new = set(arm["seeds"]) - set(old["seeds"])
        if new:
            trimmed[name] = _only(added, name, new)
    return merge(result, added | {"arms": trimmed})
