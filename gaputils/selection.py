"""Chapter 01's validation study: how the testbed was chosen from its candidates by a rule fixed
in advance, read from its committed result (``gaputils/results/ch01_selection.json``)."""

from __future__ import annotations

import statistics

from . import stats


def selection_rows(results: dict[str, list[dict]], seeds_in_chapter: int = 5) -> dict[str, dict]:
    """Per candidate of chapter 01's validation study: SB, LB, their lowest training accuracy
    over seeds (``min_sb``, ``min_lb``), the paired validation difference SB - LB in points
    (``diff``, a ``gu.stats.Difference``) and the seconds that ``seeds_in_chapter`` SB + LB
    pairs take by the mean pair (``seconds``, what the rule uses) and by the median pair
    (``median_seconds``, which one run stretched by another process moves less)."""
    out = {}
    for name, rows in results.items():
        sizes = sorted({r["batch_size"] for r in rows})
        sb, lb = sizes[0], sizes[-1]
        by = {(r["seed"], r["batch_size"]): r for r in rows}
        seeds = sorted({r["seed"] for r in rows})
        low = lambda b: min(r["train_acc"] for r in rows if r["batch_size"] == b)
        diff = stats.paired([by[s, sb]["val_acc"] for s in seeds],
                            [by[s, lb]["val_acc"] for s in seeds]).scaled(100)
        pairs = [by[s, sb].get("seconds", 0) + by[s, lb].get("seconds", 0) for s in seeds]
        out[name] = {"sb": sb, "lb": lb, "min_sb": low(sb), "min_lb": low(lb), "diff": diff,
                     "seconds": seeds_in_chapter * statistics.fmean(pairs),
                     "median_seconds": seeds_in_chapter * statistics.median(pairs)}
    return out


def _left_out(row: dict, min_train: float = 0.99, max_seconds: float = 300.0) -> str:
    """Why a candidate of chapter 01's study is out of the rule ("" where it is in): a training
    accuracy below ``min_train`` on some seed ("fit"), more than ``max_seconds`` ("time")."""
    why = []
    if min(row["min_sb"], row["min_lb"]) < min_train:
        why.append("fit")
    if row["seconds"] > max_seconds:
        why.append("time")
    return ", ".join(why)


def chosen_setting(results: dict[str, list[dict]], min_train: float = 0.99,
                   max_seconds: float = 300.0) -> str | None:
    """Chapter 01's rule: among candidates where SB and LB reach ``min_train`` training accuracy
    on every seed and five SB + LB pairs take at most ``max_seconds``, the one with the largest
    lower end of the 95% paired t-interval of the validation difference SB - LB."""
    rows = selection_rows(results)
    ok = {k: r["diff"].lo for k, r in rows.items() if not _left_out(r, min_train, max_seconds)}
    return max(ok, key=ok.get) if ok else None


def time_only_rivals(results: dict[str, list[dict]], min_train: float = 0.99,
                     max_seconds: float = 300.0) -> dict[str, dict]:
    """The candidates of chapter 01's study that the time limit alone kept out and that the rule
    would otherwise have preferred to the chosen one (a larger lower end of the interval): per
    name, its row of ``selection_rows`` and ``over``, the seconds by which it missed the limit.
    Empty when the time limit decided nothing."""
    best, rows = chosen_setting(results, min_train, max_seconds), selection_rows(results)
    floor = rows[best]["diff"].lo if best else float("-inf")
    return {k: {**r, "over": r["seconds"] - max_seconds} for k, r in rows.items()
            if _left_out(r, min_train, max_seconds) == "time" and r["diff"].lo > floor}


def selection_table(results: dict[str, list[dict]]) -> str:
    """Chapter 01's validation study: per candidate, SB and LB, their lowest training accuracy
    over seeds, the seconds of the chapter's five SB + LB pairs, and the validation difference
    SB - LB paired over seeds (mean ± standard error, 95% t-interval); whether the rule admits it
    ("eligible", or "out: fit" / "out: time") and the chosen one marked."""
    best, rows = chosen_setting(results), selection_rows(results)
    w = max(len("candidate"), *map(len, rows)) + 2
    head = (f"{'candidate':<{w}}{'SB':>4}{'LB':>6}{'min train SB/LB %':>19}{'5 pairs s':>10}"
            f"{'val SB - LB ± SE':>19}{'95% CI':>18}  rule")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        d = r["diff"]
        fits = f"{100 * r['min_sb']:.2f} / {100 * r['min_lb']:.2f}"
        mean = f"{stats.signed(d.mean)} ± {d.se:.2f}"
        ci = f"[{stats.signed(d.lo)}, {stats.signed(d.hi)}]"
        out = _left_out(r)
        rule = f"out: {out}" if out else "eligible" + (" <- chosen" if name == best else "")
        lines.append(f"{name:<{w}}{r['sb']:>4}{r['lb']:>6}{fits:>19}{r['seconds']:>10.1f}"
                     f"{mean:>19}{ci:>18}  {rule}")
    return "\n".join(lines)
