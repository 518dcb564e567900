"""Remedies scored against plain SB and LB over seeds (chapters 05-07): per arm, its paired gain
over LB, the fraction of the SB - LB gap it closes (Fieller's interval), its curvature against
LB's; tables and verdicts in words read from the intervals. Takes the results of
:func:`gaputils.study.run` (live or committed)."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from . import arms, stats, study

RULES = {"plain": "learning rate unchanged", "sqrt": "√ scaling",
         "linear": "linear scaling + warm-up"}


def rule_sweep(results: dict, top: str = "SB", base: str = "LB") -> dict[str, list[tuple]]:
    """Per learning-rate rule of :func:`beyond_arms` ("plain", "sqrt", "linear"; plain
    ``base`` counts as plain): ``(batch size, mean, lo, hi, diverged runs)`` of the paired
    test accuracy difference from ``top`` (points, 95% t-interval over the seeds both hold;
    ``nan`` bounds with one seed), sorted by batch size. Chapter 07."""
    arms, out = results["arms"], {}
    for name, a in arms.items():
        group = "plain" if name == base else a["group"]
        if group not in RULES or name == top:
            continue
        acc, ref = _by_seed(results, "test_acc", name, top)
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


def summarize(results: dict, base: str = "LB", top: str = "SB") -> dict[str, dict]:
    """Per arm: test accuracy (mean, std ddof=1, in %), the paired gain over ``base`` (points,
    :func:`gaputils.stats.paired`), the fraction of the ``top`` - ``base`` gap it closes
    (:func:`gaputils.stats.fieller`), the paired difference from ``top`` ("vs_top", points),
    the geometric-mean ratios of lambda_max and sharpness to ``base`` over the measured seeds
    (paired t-interval on logs) and of the geometric means to ``top``'s ("lambda_max_vs_top",
    "sharpness_vs_top"), the mean steps and the median training seconds (robust to a
    run slowed by other work on the machine). Differences pair the seeds that the arm, ``base``
    and ``top`` share (an arm may hold more or fewer seeds than they). With one seed, an arm
    gets its difference from ``base`` ("diff", points) and no intervals."""
    arms = results["arms"]
    rows = {}
    for name, a in arms.items():
        acc = np.array(a["test_acc"])
        row = {"label": a.get("label", name), "group": a["group"], "x": a.get("x"),
               "batch_size": a["batch_size"],
               "n": len(acc), "n_measured": len(a["lambda_max"]),
               "acc": stats.mean_std(100 * acc),
               "steps": float(np.mean(a["step"])), "seconds": float(np.median(a["seconds"])),
               "diverged": int(sum(a.get("diverged", [])))}
        acc, lb, sb = _by_seed(results, "test_acc", name, base, top)  # the seeds all three share
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
                row[key + "_ratio"] = stats.ratio_interval(*_by_seed(results, key, name, base))
        rows[name] = row
    for row in rows.values():  # geometric means relative to plain SB's, over measured seeds
        for key in ("lambda_max", "sharpness"):
            row[key + "_vs_top"] = row[key] / rows[top][key]
    return rows


def _columns(head: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """A plain-text table: the columns in ``left`` left-aligned, the others right-aligned, each
    as wide as its widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  ".join(f"{c:<{w}}" if i in left else f"{c:>{w}}"
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
        label = r.get("label", name)
        acc.append([label, mean, gain, frac] + ([] if curvature else cost))
        curv.append([label, ratio("lambda_max_ratio"), ratio("sharpness_ratio")] + cost)
    head = ["arm", "test acc %", "gain over LB, pts", "fraction of gap"]
    out = _columns(head + ([] if curvature else ["steps", "median s"]), acc)
    if curvature:
        out += [""] + _columns(["arm", "λmax / LB", "sharpness / LB", "steps", "median s"], curv)
    note = "brackets: 95% intervals (paired t; Fieller's for the fraction)"
    if curvature:
        note += ";\nλmax and sharpness: ratios of geometric means over seeds"
    return "\n".join(out + [note])


def unjudged(d: stats.Difference) -> str | None:
    """Why a paired interval supports no verdict, or None where it does: fewer than three
    seeds (an interval on one degree of freedom rests on a single spread, and is wide or, by
    chance, narrow), or identical paired differences (a spread of zero, and an interval of no
    width, which test accuracies counted on a finite test set make possible)."""
    if d.n < 2:
        return f"{d.n} seed, no interval"
    if d.n == 2:
        return "2 seeds, an interval on one degree of freedom"
    if d.se <= 1e-9 * max(1.0, abs(d.mean)):  # zero but for the rounding of the differences
        return f"the {d.n} paired differences are identical, so the interval has no width"
    return None


def verdict(row: dict) -> str:
    """What a row of :func:`summarize` supports, in words read from its 95% intervals: the
    accuracy gain over LB, the fraction of the gap, and lambda_max against LB's (only with
    three or more measured seeds). No verdict at all where the gain's interval supports none
    (:func:`unjudged`): then the estimate and the reason."""
    g, f = row["gain"], row["fraction"]
    why = unjudged(g)
    if why:
        return f"{stats.signed(g.mean)} pts over LB: an estimate, not a verdict ({why})"
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
        why = unjudged(d)
        text = (f"against plain {top}: {d.brief()} pts" + (f" - not a verdict ({why})" if why
                                                            else "") if at_top else verdict(r))
        lines.append(textwrap.fill(text, 100, initial_indent=f"{r.get('label', name):<28}",
                                   subsequent_indent=" " * 28))
    return "\n".join(lines)


def key_numbers(rows: dict[str, dict], prefix: str = "",
                skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Per row of :func:`summarize` not named in ``skip``: the mean test accuracy (%), the gain
    over LB with its 95% interval (points) and the estimated fraction of the gap closed, where
    they are defined - what chapters 05-07 set beside their reference runs
    (``gu.reference.compare``), each under the arm's label."""
    out = {}
    for key, r in rows.items():
        if key in skip:
            continue
        name = r.get("label", key)
        out[f"{prefix}{name}: test accuracy %"] = r["acc"][0]
        if r.get("gain") is not None:  # an estimate with its interval (gu.reference.agreement)
            g = r["gain"]
            out |= {f"{prefix}{name}: gain over LB, pts": g.mean, f"  {prefix}{name}: 95% CI low":
                    g.lo, f"  {prefix}{name}: 95% CI high": g.hi}
        if r.get("fraction") is not None:
            out[f"{prefix}{name}: fraction of the gap"] = r["fraction"].estimate
    return out


def label(results: dict, name: str) -> str:
    """What tables show for arm ``name`` of ``results``: its recorded label, or its name."""
    return results["arms"][name].get("label", name)


def _by_seed(results: dict, key: str, *names: str) -> list[np.ndarray]:
    """``key`` ("test_acc", or "lambda_max" / "sharpness" of the measured seeds) of ``names``
    over the seeds they all share, in seed order (arms may hold different seeds)."""
    arms_ = results["arms"]
    seeds_of = {n: arms_[n]["seeds"] if key == "test_acc" else study.measured_seeds(results, n)
                for n in names}
    shared = sorted(set.intersection(*(set(v) for v in seeds_of.values())))
    return [np.array([arms_[n][key][seeds_of[n].index(s)] for s in shared], float)
            for n in names]


def _accuracies(results: dict, *names: str) -> list[np.ndarray]:
    """Test accuracies (points) of ``names`` over the seeds they all share, in seed order."""
    return [100 * a for a in _by_seed(results, "test_acc", *names)]


def paired(results: dict, a: str, b: str) -> stats.Difference:
    """Arm ``a``'s test accuracy minus arm ``b``'s in ``results``, in points, paired by seed over
    the seeds both share (:func:`gaputils.stats.paired`). Chapters 05-07."""
    return stats.paired(*_accuracies(results, a, b))


def verdicts(results: dict, names, base: str = "LB",
             words: tuple[str, str] = ("helps", "hurts")) -> dict[str, stats.Verdict]:
    """Holm's correction over the family "each of ``names`` against ``base``" in ``results``
    (a :func:`gaputils.study.run` result): paired test accuracy differences in points, over the
    seeds both share, and a verdict in words for each (:func:`gaputils.stats.family`). Declare
    ``names`` before looking at the numbers. Chapters 05-07."""
    missing = [n for n in [base, *names] if n not in results["arms"]]
    if missing:
        raise KeyError(f"not in the results: {missing}")
    return stats.family({n: paired(results, n, base) for n in names}, words=words,
                        labels={n: label(results, n) for n in names})


def hoffer_families(results: dict) -> tuple[dict[str, stats.Verdict],
                                             dict[str, stats.Verdict]]:
    """Chapter 06's two families (declared before the runs of Hoffer's regime) in one setting:
    every arm trained at LB's batch size against plain LB ("helps" / "hurts"), and the
    regime-adapted arms (:data:`gaputils.arms.HOFFER_CLOSERS`) against plain SB ("above SB" /
    "below SB"); Holm within each. Chapters 06 and 07."""
    lb = results["arms"]["LB"]["batch_size"]
    at_lb = [n for n, a in results["arms"].items() if n != "LB" and a["batch_size"] == lb]
    return (verdicts(results, at_lb),
            verdicts(results, arms.HOFFER_CLOSERS, base="SB", words=("above SB", "below SB")))


def keskar_families(results: dict) -> tuple[dict[str, stats.Verdict],
                                             dict[str, stats.Verdict]]:
    """Chapter 05's first two families: every remedy that changes LB's training (every arm but
    plain SB and LB and the SB controls, "SB_...") against plain LB ("helps" / "hurts"), and
    the schedules that start with small batches (warm starts, dynamic sampling) against plain SB
    ("above SB" / "below SB"); Holm within each. The binding proximal term
    (:func:`gaputils.arms.binding_proximal`), added later, is a family of its own
    (:func:`binding_family`). Chapters 05-07."""
    names = [n for n, a in results["arms"].items() if n not in ("SB", "LB")
             and not n.startswith("SB_") and a["group"] != "binding proximal"]
    schedules = [n for n in names
                 if results["arms"][n]["group"] in ("warm start", "dynamic sampling")]
    return (verdicts(results, names),
            verdicts(results, schedules, base="SB", words=("above SB", "below SB")))


def binding_family(results: dict) -> dict[str, stats.Verdict]:
    """Chapter 05's fifth family, declared before its arm was run: conservative training whose
    proximal term binds (group "binding proximal") against the same three steps per batch
    without the term (the lambda = 0 arm, "higher" / "lower") and against plain LB; Holm within
    the family. Empty when the result has no such arm."""
    arms_ = results["arms"]
    binding = [n for n, a in arms_.items() if a["group"] == "binding proximal"]
    if not binding:
        return {}
    plain = min((a["x"], n) for n, a in arms_.items() if a["group"] == "conservative")[1]
    return versus(results, [(n, other) for n in binding for other in (plain, "LB")])


def versus(results: dict, pairs: list[tuple[str, str]]) -> dict[str, stats.Verdict]:
    """One Holm family of comparisons of arm ``a`` against arm ``b`` for each pair of ``pairs``,
    paired by seed, keyed "<a> - <b>" ("higher" / "lower"; shown by the arms' labels). Declare
    the pairs before looking at the numbers. Chapters 05 and 07."""
    return stats.family({f"{a} - {b}": paired(results, a, b) for a, b in pairs},
                        words=("higher", "lower"),
                        labels={f"{a} - {b}": f"{label(results, a)} - {label(results, b)}"
                                for a, b in pairs})


def sam_families(results: dict) -> tuple[dict[str, stats.Verdict], dict[str, stats.Verdict],
                                          dict[str, stats.Verdict]]:
    """Chapter 07's three families (declared before its added seeds and controls were run):
    every arm of the SAM question at LB's batch size (groups "sam" and "sam controls") against
    plain LB; SAM's and ASAM's SB controls (:func:`controls`); and the two at LB against plain
    SB and against LB trained for twice the epochs (:data:`gaputils.arms.TWICE_EPOCHS`; keys
    "<arm> - <other>", "higher" / "lower"). Holm within each. Chapter 07."""
    lb = results["arms"]["LB"]["batch_size"]
    at_lb = [n for n, a in results["arms"].items()
             if a["group"] in ("sam", "sam controls") and a["batch_size"] == lb]
    sams = [n for n in at_lb if results["arms"][n]["group"] == "sam"]
    return (verdicts(results, at_lb), controls(results),
            versus(results, [(n, other) for n in sams for other in ("SB", arms.TWICE_EPOCHS)]))


def controlled(results: dict, base: str = "LB", top: str = "SB") -> dict[str, tuple[str, str]]:
    """The remedies of ``results`` trained at both batch sizes: remedy "X" -> (its arm at
    ``base``, its arm at ``top``), pairing the arms named "LB_X" and "SB_X"."""
    names = results["arms"]
    return {n[len(base) + 1:]: (n, top + n[len(base):]) for n in names
            if n.startswith(base + "_") and top + n[len(base):] in names}


def remedy_label(results: dict, remedy: str, base: str = "LB") -> str:
    """What tables show for a remedy of :func:`controlled`: its ``base`` arm's label without
    "LB + " ("augmentation" for "LB_augment"), or the remedy's own name. Chapters 05-07."""
    arm = results["arms"].get(f"{base}_{remedy}", {})
    return arm.get("label", f"{base} + {remedy}").removeprefix(f"{base} + ")


def controls(results: dict, base: str = "LB", top: str = "SB") -> dict[str, stats.Verdict]:
    """For every remedy with an SB control (:func:`controlled`), two paired comparisons in one
    Holm family: its gain at SB, (SB + r) - SB, and the change of the gap under it,
    ((SB + r) - (LB + r)) - (SB - LB). A remedy that narrows the gap ("lower") closes it; one
    that raises SB as well, with the gap not narrowed, raises both. Keys "<r>: gain at SB" and
    "<r>: change of the gap" (r as in :func:`controlled`; each verdict's name shows
    :func:`remedy_label`). Chapters 05 and 06."""
    diffs, labels = {}, {}
    for r, (at_lb, at_sb) in controlled(results, base, top).items():
        sb, lb, sb_r, lb_r = _accuracies(results, top, base, at_sb, at_lb)
        shown = remedy_label(results, r, base)
        for what, d in ((f"gain at {top}", stats.paired(sb_r, sb)),
                        ("change of the gap", stats.paired(sb_r - lb_r, sb - lb))):
            diffs[f"{r}: {what}"], labels[f"{r}: {what}"] = d, f"{shown}: {what}"
    if not diffs:
        raise KeyError(f"no remedy in the results is trained at both {base} and {top}")
    return stats.family(diffs, words=("higher", "lower"), labels=labels)


def control_reading(family: dict[str, stats.Verdict], gains: dict[str, stats.Verdict],
                    top: str = "SB") -> dict[str, str]:
    """Per remedy, what its control says, from the verdicts of :func:`controls` and of its gain
    at LB (``gains``, e.g. from :func:`verdicts`, keyed by the LB arm's name "LB_r"): "closes
    the gap" when it helps at LB and narrows the gap; "raises both" when it helps at LB and at SB
    without narrowing the gap; else what was not told apart."""
    out = {}
    for r in {k.split(": ")[0] for k in family}:
        at_lb = gains[f"LB_{r}"].verdict
        at_sb = family[f"{r}: gain at {top}"].verdict
        gap = family[f"{r}: change of the gap"].verdict
        if at_lb == "helps" and gap == "lower":
            out[r] = "closes the gap"
        elif at_lb == "helps" and at_sb == "higher":
            out[r] = "raises both" + (" and widens the gap" if gap == "higher" else "")
        else:
            out[r] = f"at LB {at_lb}; at {top} {at_sb}; the gap {gap}"
    return dict(sorted(out.items()))


def sorted_verdicts(family: dict[str, stats.Verdict]) -> str:
    """A family's comparisons grouped by verdict, one line: "helps: a, b; not told apart at 12
    seeds: c" - the sentence a summary can be read from."""
    groups: dict[str, list[str]] = {}
    for v in family.values():
        groups.setdefault(v.verdict, []).append(v.name)
    return "; ".join(f"{verdict}: {', '.join(names)}" for verdict, names in groups.items())


def format_verdicts(family: dict[str, stats.Verdict], against: str = "LB") -> str:
    """A table of a family: per comparison the paired difference with its 95% interval, the
    interval at its Holm level, the raw and adjusted p-values and the verdict."""
    head = ["arm", f"vs {against}, pts [95%]", "[Holm]", "p", "p Holm", "verdict"]
    rows = [[v.name, v.raw.brief(), f"[{stats.signed(v.corrected.lo)}, "
             f"{stats.signed(v.corrected.hi)}]", f"{v.p:.3f}", f"{v.p_holm:.3f}", v.verdict]
            for v in family.values()]
    m = len(family)
    note = (f"Holm's correction over these {m} comparisons: a verdict other than 'not told apart' "
            "needs an adjusted p below 0.05")
    return "\n".join(_columns(head, rows, left=(0, 5)) + [note])
