"""Keskar's epsilon-sharpness: gaputils' default solver against the authors' route, SciPy's
L-BFGS-B (float64 on the host), 10 iterations each, full space, eps 1e-3, on four minimizers:
F1 and the small CNN, each trained at a small (64) and a large (1,024) batch on 2,048 images;
and on the book's own sixteen: chapter 01's six Keskar F1 minimizers and the testbed's ten
(standard mode, from the book's cache - trained first if it is empty, about seven minutes on
2 CPU cores), each measured on the first ``budget.n_curvature`` training examples as chapter 03
does. Left out with ``--quick``.

The goal: the default reaches an equal or higher maximum than L-BFGS-B on every minimizer, at
least twice as fast. Agreement is the ratio of the two maxima (ours / L-BFGS-B). Each row also
bounds what following L-BFGS-B's own path could gain: its evaluations, less the one at y = 0
that f(x) shares, at the ascent's cost per evaluation, against SciPy's time ("a replica: at
most ...x"). A replica without any overhead of its own, it is an upper bound.
"""

from __future__ import annotations

import gaputils as gu
from gaputils import sharpness

from .common import network, row, timed

MINIMIZERS = {("F1", "SB"): (64, 10), ("F1", "LB"): (1024, 30), ("CNN", "SB"): (64, 10),
              ("CNN", "LB"): (1024, 30)}


def run(quick: bool = False) -> tuple[list[dict], dict]:
    rows, raw = [], {}
    for (name, size), (batch, epochs) in MINIMIZERS.items():
        if quick and name == "CNN":
            continue
        net, data = network(name, batch_size=batch, epochs=epochs)
        res = {}
        for method in ("ascent", "lbfgsb"):
            t, (out,) = timed(lambda: sharpness.keskar(net, data, eps=1e-3, max_iter=10,
                                                       method=method))
            res[method] = (t, out)
        (ta, a), (tl, b) = res["ascent"], res["lbfgsb"]
        raw[f"{name} {size}"] = one = {m: {"seconds": t, "value": o.value, "evaluations":
                                           o.evaluations} for m, (t, o) in res.items()}
        rows.append(row(f"sharpness {name} {size} (B={batch})", "SciPy L-BFGS-B", ta, tl,
                        f"{a.value:.1f} % (ours) / {b.value:.1f} %, ratio "
                        f"{a.value / b.value:.2f}", f"{a.evaluations} / {b.evaluations} evals",
                        f"a replica: at most {replica(one):.2f}x"))
    if not quick:
        for name, (mins, data) in book_minimizers().items():
            raw[name] = _both(mins, data)
            rows.append(_summary(name, raw[name]))
    return rows, raw


def book_minimizers() -> dict[str, tuple[dict, tuple]]:
    """Chapter 01's Keskar F1 and testbed minimizers of the standard mode, with the training
    examples chapter 03 measures them on."""
    b = gu.budget("standard")
    keskar = gu.testbed.keskar("standard")
    ds = keskar.load()
    tb = gu.runs.testbed_minimizers(b)
    return {"Keskar F1": (gu.runs.minimizers(ds, setting=keskar), gu.runs.curvature_data(ds, b)),
            "testbed C1": (tb.runs, tb.train)}


def _both(mins: dict, data: tuple) -> dict:
    """Seconds, value and evaluations of both solvers on every minimizer."""
    found = {}
    for group, runs in mins.items():
        for r in runs:
            found[f"{group} seed {r.seed}"] = one = {}
            for method in ("ascent", "lbfgsb"):
                t, (out,) = timed(lambda m=method, net=r.model: sharpness.keskar(
                    net.eval(), data, eps=1e-3, max_iter=10, method=m))
                one[method] = {"seconds": t, "value": out.value, "evaluations": out.evaluations}
    return found


def replica(one: dict) -> float:
    """SciPy's seconds over those of a zero-overhead replica of L-BFGS-B's path: its
    evaluations less the shared one at y = 0, at the ascent's seconds per evaluation."""
    a, b = one["ascent"], one["lbfgsb"]
    return b["seconds"] / ((b["evaluations"] - 1) * a["seconds"] / a["evaluations"])


def _summary(name: str, found: dict) -> dict:
    ratios = {k: v["ascent"]["value"] / v["lbfgsb"]["value"] for k, v in found.items()}
    low = min(ratios, key=ratios.get)
    seconds = [sum(v[m]["seconds"] for v in found.values()) for m in ("ascent", "lbfgsb")]
    evals = " / ".join(_span([v[m]["evaluations"] for v in found.values()])
                       for m in ("ascent", "lbfgsb"))
    bounds = [replica(v) for v in found.values()]
    return row(f"sharpness {name}, {len(found)} minimizers", "SciPy L-BFGS-B", *seconds,
               f"ours >= L-BFGS-B on {sum(r >= 1 for r in ratios.values())} of {len(ratios)}; "
               f"ratios {min(ratios.values()):.2f}-{max(ratios.values()):.2f} (lowest: {low})",
               f"{evals} evals each", "times summed over the minimizers; a replica: at most "
               f"{min(bounds):.2f}-{max(bounds):.2f}x")


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"
