"""Remedies measured on the testbed: each one trained over seeds from the same initial weights as
plain SB and LB, then compared with them (chapters 05-07).

An :class:`Arm` is one way to train - a batch size and the :class:`~gaputils.train.TrainConfig`
fields that make the remedy. :func:`run` trains every arm for every seed (cached), records the
final accuracies, steps and seconds, and measures lambda_max and Keskar's sharpness on the
first seeds; the result is a plain dict, so a long run can be committed as JSON
(``data/reference/``) and read back by :func:`summarize` like a live one. Each remedy is scored
by its paired gain over plain LB and by the fraction of the SB-LB gap it closes, with Fieller's
interval (:func:`gaputils.stats.fieller`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import textwrap
from dataclasses import dataclass, field

import numpy as np

from . import data, hessian, noise, remedies, sharpness, stats, testbed
from .experiments import minimizers, train_runs
from .measures import ratio_interval
from .remedies.base import key_of
from .runtime import mode
from .train import evaluate


@dataclass(frozen=True)
class Arm:
    """One way to train on the testbed: ``batch_size`` and TrainConfig ``options``; ``x`` is
    the value its group sweeps (lambda, SB epochs of a warm start), if any."""

    name: str
    group: str
    batch_size: int
    options: dict = field(default_factory=dict)
    x: float | None = None

    def described(self) -> dict[str, str]:
        """The options as text, each remedy by its cache-key fields - what a result records."""
        opts = dict(self.options)
        flat = key_of(opts.pop("remedies", ())) | opts
        return {k: str(tuple(tuple(e) for e in v) if k == "batch_schedule" else v)
                for k, v in flat.items()}


def keskar_arms(setting: testbed.Setting, lambdas=(0.0, 1.0, 5.0), inner_steps: int = 3,
                adv_eps: float = 0.03, pgd_steps: int = 3, warm_epochs=(2, 5, 10, 20),
                double_every: int = 8) -> list[Arm]:
    """The remedies of chapter 05 on ``setting``: augmentation (shifts of up to 2 pixels and
    flips) at LB and SB; conservative training at every lambda of ``lambdas`` with
    ``inner_steps`` steps per batch; FGSM and ``pgd_steps``-step PGD at ``adv_eps`` on half of
    each batch; warm starts of ``warm_epochs`` SB epochs; and two batch schedules - doubling
    from SB every ``double_every`` epochs, and Smith et al.'s batch growth in place of the
    cosine decay. Chapter 05."""
    if setting.schedule != "cosine":
        raise ValueError(f"keskar_arms grows the batch in place of a cosine decay; the setting's "
                         f"schedule is {setting.schedule!r}: build that arm with "
                         "gu.remedies.increase_instead_of_decay and your schedule's factor")
    sb, lb, epochs = setting.sb, setting.lb, int(setting.epochs)
    aug = {"remedies": (remedies.Augment(shift=2, flip=True),)}
    cosine = lambda e: 0.5 * (1 + math.cos(math.pi * e / epochs))
    arms = [Arm("LB + augmentation", "augmentation", lb, aug),
            Arm("SB + augmentation", "augmentation", sb, aug)]
    arms += [Arm(f"LB conservative λ={lam:g}", "conservative", lb,
                 {"remedies": (remedies.Conservative(lam, inner_steps),)}, lam)
             for lam in lambdas]
    arms += [Arm(f"LB + {name} ε={adv_eps:g}", "robust", lb,
                 {"remedies": (remedies.Adversarial(adv_eps, s),)})
             for name, s in (("FGSM", 1), (f"PGD-{pgd_steps}", pgd_steps))]
    sched = lambda schedule: (remedies.BatchSchedule(schedule),)
    arms += [Arm(f"warm start k={k}", "warm start", sb,
                 {"remedies": sched(remedies.warm_start(sb, lb, k, epochs))}, k)
             for k in warm_epochs]
    arms += [Arm(f"doubling every {double_every}", "dynamic sampling", sb,
                 {"remedies": sched(remedies.geometric(sb, lb, double_every, epochs))}),
             Arm("batch instead of decay", "dynamic sampling", sb,
                 {"remedies": sched(remedies.increase_instead_of_decay(sb, lb, epochs, cosine)),
                  "schedule": "constant"})]
    return arms


def hoffer_arms(setting: testbed.Setting, ghost: int | None = None, rule: str = "sqrt",
                ghost_sizes=(16, 64, 125, 250), warmup_epochs: float | None = None,
                names: tuple[str, ...] | None = None) -> list[Arm]:
    """The remedies of chapter 06 on ``setting``, all at LB: every non-empty subset of {learning
    rate scaled by ``rule`` ("LR"), Ghost BatchNorm over ghost batches of ``ghost`` (default
    SB's size; "GBN"), regime adaptation to SB's number of steps ("RA")}; Goyal et al.'s linear
    scaling with ``warmup_epochs`` of warm-up (default: an eighth of the epochs), without and
    with RA - the latter holds SB's noise temperature lr / B and SB's number of steps (group
    "temperature"); multiplicative gradient noise of SB's covariance without and with RA; and
    Ghost BatchNorm at each of ``ghost_sizes`` (group "ghost size"). Every arm records
    ||w_t - w_0|| at every step. ``names`` keeps only the arms named. Chapter 06."""
    sb, lb = setting.sb, setting.lb
    ghost = ghost or sb
    warmup = setting.epochs / 8 if warmup_epochs is None else warmup_epochs
    base = setting.config(lb, 0)
    ra = lambda cfg: {k: getattr(remedies.adapt_regime(cfg, lb / sb), k)
                      for k in ("epochs", "milestones", "warmup_epochs")
                      if getattr(remedies.adapt_regime(cfg, lb / sb), k) != getattr(cfg, k)}
    parts = {"LR": {"lr": remedies.scale_lr(setting.lr, lb, sb, rule)},
             "GBN": {"remedies": (remedies.GhostBN(ghost),)}, "RA": ra(base)}
    track = {"distance_every": 1}
    arms = []
    for k in (1, 2, 3):
        for subset in itertools.combinations(parts, k):
            options = track | {key: v for p in subset for key, v in parts[p].items()}
            arms.append(Arm("LB + " + " + ".join(subset), "ablation", lb, options))
    linear = {"lr": remedies.scale_lr(setting.lr, lb, sb, "linear"), "warmup_epochs": warmup}
    arms.append(Arm("LB + linear LR, warm-up", "linear scaling", lb, track | linear))
    arms.append(Arm("LB + linear LR, warm-up + RA", "temperature", lb,
                    track | linear | ra(dataclasses.replace(base, **linear))))
    noise = {"remedies": (remedies.MultiplicativeNoise(sb),)}
    arms += [Arm("LB + noise" + name, "noise", lb, track | noise | ra_)
             for name, ra_ in (("", {}), (" + RA", parts["RA"]))]
    arms += [Arm(f"LB + GBN {g}", "ghost size", lb,
                 track | {"remedies": (remedies.GhostBN(g),)}, g)
             for g in ghost_sizes if g != ghost and g < lb]
    if names is not None:
        unknown = set(names) - {a.name for a in arms}
        if unknown:
            raise ValueError(f"no arm named {sorted(unknown)}; the arms: {[a.name for a in arms]}")
        arms = [a for a in arms if a.name in names]
    return arms


# The arms of chapter 06 in Hoffer's regime (gu.testbed.hoffer): Hoffer et al.'s Table 1, RA
# alone, and the three that tell steps, noise covariance and temperature apart.
HOFFER_REGIME_ARMS = ("LB + LR", "LB + GBN", "LB + LR + GBN", "LB + LR + GBN + RA", "LB + RA",
                      "LB + LR + RA", "LB + noise + RA", "LB + linear LR, warm-up + RA")


def beyond_arms(setting: testbed.Setting, sizes=(64, 125, 250, 500, 1000), rho: float = 0.05,
                asam_rho: float = 0.5, warmup_epochs: float = 5.0) -> list[Arm]:
    """The arms of chapter 07 on ``setting``: SAM (radius ``rho``) and ASAM (``asam_rho``) at
    SB and at LB (group "sam"), and at every batch size of ``sizes`` above SB: the setting's
    learning rate unchanged ("plain"; plain LB is the study's own LB), scaled by the square
    root of B / SB ("sqrt") and linearly with ``warmup_epochs`` of warm-up ("linear"), each
    arm's ``x`` its batch size. Chapter 07."""
    sb, lb = setting.sb, setting.lb
    arms = [Arm(f"{name} + {kind}", "sam", b,
                {"remedies": (remedies.SAM(r, adaptive=kind == "ASAM"),)})
            for name, b in (("SB", sb), ("LB", lb))
            for kind, r in (("SAM", rho), ("ASAM", asam_rho))]
    for b in sorted(s for s in sizes if s > sb):
        if b != lb:
            arms.append(Arm(f"B={b}", "plain", b, {}, b))
        arms.append(Arm(f"B={b}, √ lr", "sqrt", b,
                        {"lr": remedies.scale_lr(setting.lr, b, sb, "sqrt")}, b))
        arms.append(Arm(f"B={b}, linear lr", "linear", b,
                        {"lr": remedies.scale_lr(setting.lr, b, sb, "linear"),
                         "warmup_epochs": warmup_epochs}, b))
    return arms


RULES = {"plain": "learning rate unchanged", "sqrt": "√ scaling",
         "linear": "linear scaling + warm-up"}


def rule_sweep(results: dict, top: str = "SB", base: str = "LB") -> dict[str, list[tuple]]:
    """Per learning-rate rule of :func:`beyond_arms` ("plain", "sqrt", "linear"; plain
    ``base`` counts as plain): ``(batch size, mean, lo, hi, diverged runs)`` of the paired
    test accuracy difference from ``top`` (points, 95% t-interval; ``nan`` bounds with one
    seed), sorted by batch size. Chapter 07."""
    arms, out = results["arms"], {}
    ref = np.array(arms[top]["test_acc"])
    for name, a in arms.items():
        group = "plain" if name == base else a["group"]
        if group not in RULES or name == top:
            continue
        acc = np.array(a["test_acc"])
        if len(acc) > 1:
            d = stats.paired(acc, ref).scaled(100)
            trio = (d.mean, d.lo, d.hi)
        else:
            trio = (float(100 * (acc - ref).mean()), math.nan, math.nan)
        out.setdefault(group, []).append((a["batch_size"], *trio,
                                          int(sum(a.get("diverged", [])))))
    return {g: sorted(out[g]) for g in RULES if g in out}


def largest_kept(points: list[tuple], tolerance: float = 0.5) -> int | None:
    """The largest batch size up to which every point of a :func:`rule_sweep` rule keeps
    ``top``'s accuracy: its 95% interval reaches zero or above (not measurably worse), or,
    with one seed and no interval, it is within ``tolerance`` points below. ``None`` if the
    smallest already loses. Chapter 07."""
    kept = None
    for b, mean, _lo, hi, _ in points:
        ok = hi >= 0 if math.isfinite(hi) else mean >= -tolerance
        if not ok:
            break
        kept = b
    return kept


def _measure(model, data_, seed: int) -> tuple[float, float]:
    lam = hessian.top_eigenvalues(model, data_, k=1, tol=1e-2, check=False).values[0]
    return float(lam), float(sharpness.keskar(model, data_, eps=1e-3, seed=seed).value)


_CURVES = ("step", "epoch", "train_acc", "test_acc", "seconds", "weight_distance")


def _curves(history) -> dict:
    """A run's learning curves, and its per-step weight distance at log-spaced steps."""
    out = {k: getattr(history, k) for k in _CURVES}
    if history.distance_step:
        steps = np.asarray(history.distance_step)
        keep = np.unique(np.searchsorted(steps, noise.log_spaced(int(steps[-1]), 120)))
        out["distance_step"] = steps[keep].tolist()
        out["distance"] = np.asarray(history.distance)[keep].tolist()
    return out


def _record(runs, data_, measure_seeds, curve_seeds=(), ds=None) -> dict:
    """A diverged run (NaN loss) counts with the accuracies of the network it left, evaluated
    now (about chance), not with those of its last evaluation before the NaN; it is not
    measured (NaN)."""
    out = {k: [r.final[k] for r in runs] for k in ("test_acc", "train_acc", "step", "seconds")}
    for i, r in enumerate(runs):
        if r.history.diverged and ds is not None:
            out["train_acc"][i] = evaluate(r.model, *ds.train)[1]
            out["test_acc"][i] = evaluate(r.model, *ds.test)[1]
    out["seeds"] = [r.seed for r in runs]
    out["diverged"] = [r.history.diverged for r in runs]
    out["curves"] = {str(r.seed): _curves(r.history) for r in runs if r.seed in curve_seeds}
    measured = [(math.nan, math.nan) if r.history.diverged else _measure(r.model, data_, r.seed)
                for r in runs if r.seed in measure_seeds]
    out["lambda_max"], out["sharpness"] = map(list, zip(*measured, strict=True)) if measured \
        else ([], [])
    return out


def run(arms: list[Arm], seeds, measure_seeds=(), setting: testbed.Setting | None = None,
        ds: data.Dataset | None = None, n_curvature: int = 1000,
        progress: bool | None = None, evals: int = 1, curve_seeds=()) -> dict:
    """Train plain SB and LB and every arm for every seed (same initial weights per seed,
    cached), and measure lambda_max (Lanczos, tol 1e-2) and Keskar's full-space sharpness at
    eps 1e-3 on the first ``n_curvature`` training examples, for the seeds in
    ``measure_seeds``. Remedy runs are evaluated ``evals`` times, evenly over their epochs
    (once, at the end, by default); the learning curves of the seeds in ``curve_seeds`` are
    kept (``["arms"][name]["curves"][str(seed)]``). Chapters 05 and 06."""
    from tqdm.auto import tqdm

    setting = (setting or testbed.get()).replace(seeds=tuple(seeds))
    ds = ds if ds is not None else setting.load()
    n = len(ds.train[1])
    data_ = ds.train[0][:n_curvature], ds.train[1][:n_curvature]
    base = minimizers(ds, setting=setting)
    out = {"setting": setting.describe(), "seeds": list(seeds),
           "measure_seeds": list(measure_seeds), "n_curvature": n_curvature, "arms": {}}
    for name in ("SB", "LB"):
        out["arms"][name] = {"group": "plain", "batch_size": base[name][0].batch_size,
                             **_record(base[name], data_, measure_seeds, curve_seeds, ds)}
    show = mode() != "smoke" if progress is None else progress
    for arm in tqdm(arms, desc="remedies", unit="arm", disable=not show):
        epochs = arm.options.get("epochs", setting.epochs)
        every = {"eval_every": max(1, round(epochs * (n // arm.batch_size) / evals))}
        runs = train_runs(ds, [arm.batch_size], seeds, setting=setting, progress=False,
                          **(every | arm.options))
        out["arms"][arm.name] = {"group": arm.group, "batch_size": arm.batch_size, "x": arm.x,
                                 "options": arm.described(),
                                 **_record(runs, data_, measure_seeds, curve_seeds, ds)}
    return out


def histories(results: dict, name: str) -> list:
    """The learning curves of arm ``name`` kept by :func:`run` (``curve_seeds``), one
    :class:`~gaputils.train.History` per seed, for the book's curve plots. Chapter 06."""
    from .train import History

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
    """One result from several :func:`run` results of the same arms on different seeds (runs
    split over processes or machines): every per-seed list joined, in seed order."""
    first = results[0]
    same = lambda r: (r["setting"].split("; seeds")[0], {n: (a["group"], a["batch_size"],
                      a.get("options")) for n, a in r["arms"].items()})
    if any(same(r) != same(first) for r in results):
        raise ValueError("merge needs results of the same setting and arms (only the seeds "
                         "may differ)")
    seeds = sorted(s for r in results for s in r["seeds"])
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the results share seeds: {seeds}")
    out = {k: v for k, v in first.items() if k != "arms"} | {
        "seeds": seeds, "measure_seeds": sorted(s for r in results for s in r["measure_seeds"]),
        "arms": {}}
    out["setting"] = out["setting"].split("; seeds")[0] + f"; seeds {', '.join(map(str, seeds))}"
    for name, arm in first["arms"].items():
        parts = [r["arms"][name] for r in results]
        merged = dict(arm)
        order = np.argsort([s for p in parts for s in p["seeds"]])
        for key in ("test_acc", "train_acc", "step", "seconds", "seeds", "diverged"):
            if all(key in p for p in parts):
                merged[key] = [[v for p in parts for v in p[key]][i] for i in order]
        measured = [s for p in parts for s in p["seeds"] if s in out["measure_seeds"]]
        for key in ("lambda_max", "sharpness"):  # in the order of the measured seeds
            values = [v for p in parts for v in p[key]]
            merged[key] = [values[i] for i in np.argsort(measured)]
        merged["curves"] = {k: v for p in parts for k, v in p.get("curves", {}).items()}
        out["arms"][name] = merged
    return out


def summarize(results: dict, base: str = "LB", top: str = "SB") -> dict[str, dict]:
    """Per arm: test accuracy (mean, std ddof=1, in %), the paired gain over ``base`` (points,
    :func:`gaputils.stats.paired`), the fraction of the ``top`` - ``base`` gap it closes
    (:func:`gaputils.stats.fieller`), the paired difference from ``top`` ("vs_top", points),
    the geometric-mean ratios of lambda_max and sharpness to ``base`` over the measured seeds
    (paired t-interval on logs) and of the geometric means to ``top``'s ("lambda_max_vs_top",
    "sharpness_vs_top"), the mean steps and the median training seconds (robust to a
    run slowed by other work on the machine). With one seed, an arm gets its difference from
    ``base`` ("diff", points) and no intervals."""
    arms = results["arms"]
    lb, sb = np.array(arms[base]["test_acc"]), np.array(arms[top]["test_acc"])
    rows = {}
    for name, a in arms.items():
        acc = np.array(a["test_acc"])
        row = {"group": a["group"], "x": a.get("x"), "batch_size": a["batch_size"],
               "n": len(acc), "n_measured": len(a["lambda_max"]),
               "acc": stats.mean_std(100 * acc),
               "steps": float(np.mean(a["step"])), "seconds": float(np.median(a["seconds"])),
               "diverged": int(sum(a.get("diverged", [])))}
        scored = name != base and len(acc) > 1
        if name != base and not scored:  # one seed: the difference, without an interval
            row["diff"] = float(100 * (acc - lb).mean())
        if scored:
            row["gain"] = stats.paired(acc, lb).scaled(100)
        if scored and name != top:
            row["fraction"] = stats.fieller(acc - lb, sb - lb)
            row["vs_top"] = stats.paired(acc, sb).scaled(100)
        for key in ("lambda_max", "sharpness"):
            v = np.array(a[key])
            row[key] = float(np.exp(np.log(v).mean())) if len(v) else math.nan
            if name != base and len(v) > 1:
                row[key + "_ratio"] = ratio_interval(v, np.array(arms[base][key]))
        rows[name] = row
    for row in rows.values():  # geometric means relative to plain SB's, over measured seeds
        for key in ("lambda_max", "sharpness"):
            row[key + "_vs_top"] = row[key] / rows[top][key]
    return rows


def _columns(head: list[str], rows: list[list[str]]) -> list[str]:
    """A plain-text table: the first column left-aligned, the others right-aligned, each as
    wide as its widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return [line(head), "-" * len(line(head))] + [line(r).rstrip() for r in rows]


def format_summary(rows: dict[str, dict], curvature: bool = True) -> str:
    """The summary table of :func:`summarize`: per arm its test accuracy (mean ± std over seeds),
    gain over LB and fraction of the gap closed, steps and median seconds per run; with
    ``curvature``, a second table of lambda_max and sharpness against LB's (geometric-mean
    ratios with 95% intervals) takes the steps and seconds. Each stays within 100 characters."""
    acc, curv = [], []
    for name, r in rows.items():
        g, f = r.get("gain"), r.get("fraction")
        gain = (g.brief() if g else f"{stats.signed(r['diff'])} (one seed)" if "diff" in r else "")
        frac = "" if f is None else f.brief()
        ratio = lambda k: f"{r[k][0]:.2g} [{r[k][1]:.2g}, {r[k][2]:.2g}]" if k in r else ""
        mean = f"{r['acc'][0]:.2f}" + (f" ± {r['acc'][1]:.2f}" if r["n"] > 1 else "")
        cost = [f"{r['steps']:.0f}", f"{r['seconds']:.1f}"]
        acc.append([name, mean, gain, frac] + ([] if curvature else cost))
        curv.append([name, ratio("lambda_max_ratio"), ratio("sharpness_ratio")] + cost)
    head = ["arm", "test acc %", "gain over LB, pts", "fraction of gap"]
    out = _columns(head + ([] if curvature else ["steps", "median s"]), acc)
    if curvature:
        out += [""] + _columns(["arm", "λmax / LB", "sharpness / LB", "steps", "median s"], curv)
    note = "brackets: 95% intervals (paired t; Fieller's for the fraction)"
    if curvature:
        note += ";\nλmax and sharpness: ratios of geometric means over seeds"
    return "\n".join(out + [note])


def verdict(row: dict) -> str:
    """What a row of :func:`summarize` supports, in words read from its 95% intervals: the
    accuracy gain over LB, the fraction of the gap, and lambda_max against LB's (only with
    three or more measured seeds)."""
    g, f = row["gain"], row["fraction"]
    acc = ("raises LB's test accuracy" if g.lo > 0 else "lowers LB's test accuracy" if g.hi < 0
           else "cannot be told from plain LB in test accuracy")
    if f.bounded and f.lo >= 1:
        acc += ", closing at least the whole gap"
    elif f.bounded and f.lo > 0.5:
        acc += ", closing more than half of the gap"
    elif g.lo > 0:
        acc += (", closing an unknown part of the gap" if not f.bounded
                else f", closing between {max(f.lo, 0):.0%} and {f.hi:.0%} of the gap")
    ratio = row.get("lambda_max_ratio")
    if ratio is None or row["n_measured"] < 3:  # an interval on one degree of freedom
        return acc
    curv = ("a flatter minimizer than LB's" if ratio[2] < 1 else "a sharper one" if ratio[1] > 1
            else "lambda_max not told apart from LB's")
    return (f"{acc}; {curv} (λmax x{ratio[0]:.2g} [{ratio[1]:.2g}, {ratio[2]:.2g}] of LB's, "
            f"x{row['lambda_max_vs_top']:.2g} of SB's)")


def findings(rows: dict[str, dict], base: str = "LB", top: str = "SB") -> str:
    """One paragraph per remedy, wrapped at 100 characters: :func:`verdict` for the arms that
    change LB's training; for a remedy applied at SB's fixed batch size, its paired difference
    from plain SB."""
    lines = []
    for name, r in rows.items():
        if name in (base, top):
            continue
        at_top = (r["batch_size"] == rows[top]["batch_size"]
                  and r["group"] not in ("warm start", "dynamic sampling"))
        d = r["vs_top"]
        text = (f"against plain {top}: {d.brief()} pts" if at_top
                else verdict(r))
        lines.append(textwrap.fill(text, 100, initial_indent=f"{name:<28}",
                                   subsequent_indent=" " * 28))
    return "\n".join(lines)


def key_numbers(rows: dict[str, dict], prefix: str = "",
                skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Per row of :func:`summarize` not named in ``skip``: the mean test accuracy (%) and, where
    it is defined, the estimated fraction of the gap closed - what chapters 05-07 set beside
    their reference runs (``gu.reference.compare``)."""
    out = {}
    for name, r in rows.items():
        if name in skip:
            continue
        out[f"{prefix}{name}: test accuracy %"] = r["acc"][0]
        if r.get("fraction") is not None:
            out[f"{prefix}{name}: fraction of the gap"] = r["fraction"].estimate
    return out
