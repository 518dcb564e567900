"""Keskar's epsilon-sharpness: gaputils' default solver against the authors' route, SciPy's
L-BFGS-B (float64 on the host), 10 iterations each, full space, eps 1e-3, on four minimizers:
F1 and the small CNN, each trained at a small (64) and a large (1,024) batch on 2,048 images.

The goal: the default reaches an equal or higher maximum than L-BFGS-B on every minimizer, at
least twice as fast. Agreement is the ratio of the two maxima (ours / L-BFGS-B).
"""

from __future__ import annotations

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
        raw[f"{name} {size}"] = {m: {"seconds": t, "value": o.value, "evaluations":
                                     o.evaluations} for m, (t, o) in res.items()}
        rows.append(row(f"sharpness {name} {size} (B={batch})", "SciPy L-BFGS-B", ta, tl,
                        f"{a.value:.1f} % (ours) / {b.value:.1f} %, ratio "
                        f"{a.value / b.value:.2f}", f"{a.evaluations} / {b.evaluations} evals"))
    return rows, raw
