"""Reference numbers: the papers' published values and the book's committed results
(``data/reference/*.json``), shown beside live results and labelled as such (chapter 01)."""

from __future__ import annotations

import json
import statistics

from .runtime import project_root

# Keskar et al. (2017), Table 2, as quoted in the book's notes (approx.):
# network -> (data, SB test accuracy %, LB test accuracy %).
KESKAR_TABLE2 = {"F1": ("MNIST", 98.03, 97.81), "F2": ("TIMIT", 64.02, 59.45),
                 "C1": ("CIFAR-10", 80.04, 77.26), "C2": ("CIFAR-10", 89.24, 87.26),
                 "C3": ("CIFAR-100", 49.58, 46.45), "C4": ("CIFAR-100", 63.08, 57.81)}


def load(name: str) -> dict | None:
    """The committed result ``data/reference/<name>.json``, or None outside a checkout."""
    root = project_root()
    path = root / "data" / "reference" / f"{name}.json" if root else None
    if path is None or not path.is_file():
        print(f"reference result {name!r} not found: it ships with a checkout of the book")
        return None
    return json.loads(path.read_text())


def _selection_rows(results: dict[str, list[dict]]) -> dict[str, tuple[float, float, list]]:
    """Per candidate: lowest SB and LB training accuracy over seeds, validation gaps (points)."""
    out = {}
    for name, rows in results.items():
        sizes = sorted({r["batch_size"] for r in rows})
        sb, lb = sizes[0], sizes[-1]
        by = {(r["seed"], r["batch_size"]): r for r in rows}
        seeds = sorted({r["seed"] for r in rows})
        low = lambda b: min(r["train_acc"] for r in rows if r["batch_size"] == b)
        gaps = [100 * (by[s, sb]["val_acc"] - by[s, lb]["val_acc"]) for s in seeds]
        out[name] = (low(sb), low(lb), gaps)
    return out


def chosen_setting(results: dict[str, list[dict]], min_train: float = 0.99) -> str | None:
    """Chapter 01's rule: among candidates where SB and LB reach ``min_train`` training accuracy
    on every seed, the one with the largest mean validation gap SB - LB."""
    rows = _selection_rows(results)
    fit = {k: statistics.fmean(g) for k, (a, b, g) in rows.items() if min(a, b) >= min_train}
    return max(fit, key=fit.get) if fit else None


def selection_table(results: dict[str, list[dict]]) -> str:
    """Chapter 01's validation study: per candidate setting, the lowest training accuracy of
    SB and LB over seeds and the validation gap (SB - LB) as mean +- std over seeds; the
    chosen setting is marked."""
    best = chosen_setting(results)
    head = f"{'setting':<16}{'min train SB':>13}{'min train LB':>13}{'val gap SB-LB (pts)':>22}"
    lines = [head, "-" * len(head)]
    for name, (low_sb, low_lb, gaps) in _selection_rows(results).items():
        spread = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
        mark = "  <- chosen" if name == best else ""
        lines.append(f"{name:<16}{low_sb:>13.2%}{low_lb:>13.2%}"
                     f"{f'{statistics.fmean(gaps):+.2f} ± {spread:.2f}':>22}{mark}")
    return "\n".join(lines)
