"""How flat SB's and LB's minima are: paired tables of sharpness, curvature and weight norms over
the seeds of the testbed (chapters 02-04).

Each table holds one value per run and group ("SB", "LB"); runs of one seed share their initial
weights, so groups are compared by the geometric-mean ratio of the paired values with a
t-interval on their logarithms (:func:`gaputils.stats.ratio_interval`) - the values span orders
of magnitude.
"""

from __future__ import annotations

import numpy as np

from . import data, hessian, sharpness, stats, testbed, workers
from .params import flat
from .runs import Run, initial_model


def sharpness_table(runs: dict[str, list[Run]], data_: tuple, eps_values=(1e-3, 5e-4),
                    subspace_dim: int = 100, **kw) -> dict[tuple, dict]:
    """Keskar's sharpness of every run of every group, in the full space and in a random
    ``subspace_dim``-dimensional subspace (each seed draws its own), at every eps:
    ``{(space, eps): {group: array over seeds}}``. ``kw`` goes to ``sharpness.keskar``. On a CPU
    the networks are measured side by side in the workers (:func:`gaputils.workers.each`).
    Chapter 03 (Keskar et al.'s Tables 3 and 4)."""
    cells = [(space, p, eps, name) for space, p in (("full space", None),
                                                    (f"subspace p={subspace_dim}", subspace_dim))
             for eps in eps_values for name in runs]
    values = iter(workers.each(data_, _keskar, [(r.model, data_, eps, p, r.seed, kw)
                                                for _, p, eps, name in cells
                                                for r in runs[name]], desc="sharpness"))
    table: dict[tuple, dict] = {}
    for space, _, eps, name in cells:
        table.setdefault((space, eps), {})[name] = np.array([next(values) for _ in runs[name]])
    return table


def _keskar(model, data_, eps, subspace_dim, seed, kw) -> float:
    return sharpness.keskar(model, data_, eps=eps, subspace_dim=subspace_dim, seed=seed,
                            **kw).value


def format_sharpness_table(table: dict[tuple, dict], a: str = "LB", b: str = "SB") -> str:
    """Mean ± std (ddof=1) per group and the geometric-mean ratio a / b with its paired 95%
    interval, one row per (space, eps) of :func:`sharpness_table`."""
    n = len(next(iter(table.values()))[a])
    lines = [f"{'space':<18}{'eps':>7}{b:>17}{a:>17}{f'{a}/{b} [95% CI], {n} pairs':>30}"]
    for (space, eps), g in table.items():
        r, lo, hi = stats.ratio_interval(g[a], g[b])
        cell = lambda v: f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"
        lines.append(f"{space:<18}{eps:>7.0e}{cell(g[b]):>17}{cell(g[a]):>17}"
                     f"{f'{r:.2f} [{lo:.2f}, {hi:.2f}]':>30}")
    return "\n".join(lines)


def curvature_table(runs: dict[str, list[Run]], data_: tuple, probes: int = 30,
                    scale: str | None = None, a: str = "LB", b: str = "SB") -> dict[str, dict]:
    """lambda_max (Lanczos, tol 1e-3) and the trace (``hessian.trace``'s default: exact for a
    piecewise-linear network, otherwise Hutch++ with ``probes`` probes; with its standard error,
    0 when exact) of every run of groups ``a`` and ``b``, and the geometric-mean ratio a / b
    over seeds with its paired 95% interval (:func:`gaputils.stats.ratio_interval`).
    ``scale="weights"``: the same for D H D, D = diag(|x|). Chapter 04."""
    out = {"lambda_max": {}, "trace": {"se": {}}}
    for name in (b, a):
        tops = [hessian.top_eigenvalues(r.model, data_, k=1, scale=scale).values[0]
                for r in runs[name]]
        traces = [hessian.trace(r.model, data_, num_probes=probes, scale=scale)
                  for r in runs[name]]
        out["lambda_max"][name] = np.array(tops)
        out["trace"][name] = np.array([t for t, _ in traces])
        out["trace"]["se"][name] = np.array([se for _, se in traces])
    for row in out.values():
        row["ratio"] = stats.ratio_interval(row[a], row[b])
    return out


def format_curvature_table(table: dict[str, dict], what: str = "H", a: str = "LB",
                           b: str = "SB") -> str:
    """The rows of :func:`curvature_table`: mean ± std (ddof=1) over seeds per group and the
    ratio a / b with its interval. Where the trace was estimated, a last column gives the mean
    standard error of one estimate over the spread over seeds; an exact trace says so."""
    n = len(table["trace"][a])
    estimated = any(np.any(se > 0) for se in table["trace"]["se"].values())
    last = f"{f'trace SE/seed std, {b}/{a}':>27}" if estimated else "  (trace exact)"
    lines = [f"{what:<12}{b:>15}{a:>15}{f'{a}/{b} [95% CI], {n} pairs':>28}{last}"]
    for quantity, row in table.items():
        cell = lambda v: f"{v.mean():.3g} ± {v.std(ddof=1):.2g}"
        r, lo, hi = row["ratio"]
        extra = ""
        if "se" in row and estimated:
            extra = " / ".join(f"{row['se'][g].mean() / row[g].std(ddof=1):.2f}" for g in (b, a))
        lines.append(f"  {quantity:<10}{cell(row[b]):>15}{cell(row[a]):>15}"
                     f"{f'{r:.2f} [{lo:.2f}, {hi:.2f}]':>28}{extra:>27}".rstrip())
    return "\n".join(lines)


def weight_norms(runs: dict[str, list[Run]], ds: data.Dataset,
                 setting: testbed.Setting | None = None) -> dict[str, tuple]:
    """Per group: arrays over seeds of the Euclidean norm of all parameters, and of their
    distance from the run's initial weights (:func:`initial_model`). Chapter 04."""
    out = {}
    for name, group in runs.items():
        size = [float(flat(r.model).norm()) for r in group]
        moved = [float((flat(r.model).cpu() - flat(initial_model(ds, r.seed, setting))).norm())
                 for r in group]
        out[name] = (np.array(size), np.array(moved))
    return out


def layer_norms(runs: dict[str, list[Run]]) -> dict[str, dict[str, np.ndarray]]:
    """Per group and weight matrix (parameters with two or more dimensions, by name): the
    Euclidean norm of that matrix in every run, an array over seeds. Chapter 04."""
    return {name: {n: np.array([float(dict(r.model.named_parameters())[n].detach().norm())
                                for r in group])
                   for n, p in group[0].model.named_parameters() if p.dim() > 1}
            for name, group in runs.items()}
