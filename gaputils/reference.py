"""Reference numbers: the papers' published values and the book's committed results
(``gaputils/results/*.json``, written by the scripts in ``data/reference/``), shown beside live
results and labelled as such (chapter 01). The results ship inside the package, so a
``pip install`` (Colab) has them too."""

from __future__ import annotations

import json
import statistics
from importlib import resources

from . import stats

# Keskar et al. (2017), Table 2, as quoted in the book's notes (approx.):
# network -> (data, SB test accuracy %, LB test accuracy %).
KESKAR_TABLE2 = {"F1": ("MNIST", 98.03, 97.81), "F2": ("TIMIT", 64.02, 59.45),
                 "C1": ("CIFAR-10", 80.04, 77.26), "C2": ("CIFAR-10", 89.24, 87.26),
                 "C3": ("CIFAR-100", 49.58, 46.45), "C4": ("CIFAR-100", 63.08, 57.81)}

# Keskar et al. (2017), Table 3 (approx.): epsilon-sharpness (%) in the full space at eps 1e-3,
# network -> (SB, LB).
KESKAR_TABLE3 = {"F1": (1.23, 205.14), "C1": (28.58, 707.23), "C2": (8.68, 925.32)}


def stamp(note: str = "") -> dict:
    """Where and when a committed result is made: ``device`` (machine and CPU cores, then
    ``note``, e.g. the threads per process), ``torch`` (version) and ``date``. The scripts in
    ``data/reference/`` add it to what they write. Chapter 01."""
    import os
    import platform
    from datetime import date

    import torch

    device = f"{platform.machine()}, {os.cpu_count()} CPU cores" + (f", {note}" if note else "")
    return {"device": device, "torch": torch.__version__, "date": str(date.today())}


def load(name: str) -> dict:
    """The committed result ``gaputils/results/<name>.json``. Chapter 01."""
    path = resources.files("gaputils.results") / f"{name}.json"
    if not path.is_file():
        known = sorted(p.name[:-5] for p in resources.files("gaputils.results").iterdir()
                       if p.name.endswith(".json"))
        raise FileNotFoundError(f"no committed result {name!r}; there are: {', '.join(known)}")
    return json.loads(path.read_text())


def selection_rows(results: dict[str, list[dict]], seeds_in_chapter: int = 5) -> dict[str, dict]:
    """Per candidate of chapter 01's validation study: SB, LB, their lowest training accuracy
    over seeds (``min_sb``, ``min_lb``), the paired validation difference SB - LB in points
    (``diff``, a ``gu.stats.Difference``) and the seconds that ``seeds_in_chapter`` SB + LB
    pairs take (``seconds``)."""
    out = {}
    for name, rows in results.items():
        sizes = sorted({r["batch_size"] for r in rows})
        sb, lb = sizes[0], sizes[-1]
        by = {(r["seed"], r["batch_size"]): r for r in rows}
        seeds = sorted({r["seed"] for r in rows})
        low = lambda b: min(r["train_acc"] for r in rows if r["batch_size"] == b)
        diff = stats.paired([by[s, sb]["val_acc"] for s in seeds],
                            [by[s, lb]["val_acc"] for s in seeds]).scaled(100)
        pair = statistics.fmean(by[s, sb].get("seconds", 0) + by[s, lb].get("seconds", 0)
                                for s in seeds)
        out[name] = {"sb": sb, "lb": lb, "min_sb": low(sb), "min_lb": low(lb), "diff": diff,
                     "seconds": seeds_in_chapter * pair}
    return out


def chosen_setting(results: dict[str, list[dict]], min_train: float = 0.99,
                   max_seconds: float = 300.0) -> str | None:
    """Chapter 01's rule: among candidates where SB and LB reach ``min_train`` training accuracy
    on every seed and five SB + LB pairs take at most ``max_seconds``, the one with the largest
    lower end of the 95% paired t-interval of the validation difference SB - LB."""
    rows = selection_rows(results)
    ok = {k: r["diff"].lo for k, r in rows.items()
          if min(r["min_sb"], r["min_lb"]) >= min_train and r["seconds"] <= max_seconds}
    return max(ok, key=ok.get) if ok else None


def selection_table(results: dict[str, list[dict]]) -> str:
    """Chapter 01's validation study: per candidate, SB and LB, their lowest training accuracy
    over seeds, the seconds of the chapter's five SB + LB pairs, and the validation difference
    SB - LB paired over seeds (mean ± standard error, 95% t-interval); the chosen one marked."""
    best = chosen_setting(results)
    head = (f"{'candidate':<20}{'SB':>4}{'LB':>6}{'min train SB/LB %':>19}{'5 pairs s':>10}"
            f"{'val SB - LB ± SE':>19}{'95% CI':>18}")
    lines = [head, "-" * len(head)]
    for name, r in selection_rows(results).items():
        d = r["diff"]
        fits = f"{100 * r['min_sb']:.2f} / {100 * r['min_lb']:.2f}"
        mean, ci = f"{d.mean:+.2f} ± {d.se:.2f}", f"[{d.lo:+.2f}, {d.hi:+.2f}]"
        lines.append(f"{name:<20}{r['sb']:>4}{r['lb']:>6}{fits:>19}{r['seconds']:>10.1f}"
                     f"{mean:>19}{ci:>18}{'  <- chosen' if name == best else ''}")
    return "\n".join(lines)
