"""Trace and spectral density: gaputils against PyHessian, curvlinops and hessian-eigenthings
at an equal number of Hessian-vector products (F1, 2,048 images) and at equal accuracy.

Trace: Hutch++ (gaputils, curvlinops, hessian-eigenthings) and PyHessian's Hutchinson, 30
products each (PyHessian: ``maxIter=30, tol=0``, so it runs all 30). The agreement column is
each estimate's relative distance from a 300-product Hutch++ estimate (first seed).
Density: stochastic Lanczos quadrature, 2 runs of 40 steps (80 products) each tool; agreement
is the largest Ritz value (it should match the top eigenvalue). Every timing includes building
the tool's operator. A peer that fails gives a row with its error.
Trace at equal accuracy, on F1 and the CNN (1,024 images): the seconds each estimator would need
for a relative standard error of 1 %, projected from 60 products (its standard error falls as
1 / sqrt(products) - for Hutch++, whose sketch grows too, faster: the projection is pessimistic
for it). On 2 CPU cores 1 % takes about a thousand products, too many to run in the suite.
Beside them, gaputils' default, ``hessian.trace(net, data)``: these networks are piecewise linear in
each parameter, so it computes the trace exactly (``ggn.exact_trace``), with no probes, timed as it
runs.
"""

from __future__ import annotations

import numpy as np
import torch

from gaputils import hessian

from .common import curvature_network, missing, network, row, timed

PRODUCTS = 30
PILOT = 60  # products per estimator in the equal-accuracy rows
TARGET_SE = 0.01  # the relative standard error they are projected to


def _trace_peers(net, data):
    peers = {}
    try:
        from pyhessian import hessian as PyHessian

        peers["PyHessian (Hutchinson)"] = lambda: float(np.mean(PyHessian(
            net, torch.nn.CrossEntropyLoss(), data=data, cuda=data[0].is_cuda
        ).trace(maxIter=PRODUCTS, tol=0.0)))
    except ImportError:
        peers["PyHessian (Hutchinson)"] = missing("pyhessian")
    try:
        from curvlinops import HessianLinearOperator, hutchpp_trace

        params = [p for p in net.parameters() if p.requires_grad]
        peers["curvlinops (Hutch++)"] = lambda: float(hutchpp_trace(HessianLinearOperator(
            net, torch.nn.CrossEntropyLoss(), params, [data], check_deterministic=False),
            PRODUCTS))
    except ImportError:
        peers["curvlinops (Hutch++)"] = missing("curvlinops")
    try:
        import hessian_eigenthings as he

        loss = he.supervised_loss(torch.nn.functional.cross_entropy)
        peers["hessian-eigenthings (Hutch++)"] = lambda: float(he.hutch_plus_plus(
            he.HessianOperator(net, [data], loss), num_matvecs=PRODUCTS, seed=0).estimate)
    except ImportError:
        peers["hessian-eigenthings (Hutch++)"] = missing("hessian_eigenthings")
    return peers


def trace(repeat: int) -> tuple[list[dict], dict]:
    net, data = network("F1")
    ref, ref_se = hessian.trace(net, data, num_probes=300, method="hutch++")
    t_ours, outs = timed(lambda: hessian.trace(net, data, num_probes=PRODUCTS,
                                               method="hutch++")[0], repeat)
    rows, raw = [], {"reference": [ref, ref_se], "ours": [t_ours, outs]}
    off = lambda v: f"{100 * abs(v - ref) / ref:.1f} %"
    for peer, fn in _trace_peers(net, data).items():
        if isinstance(fn, str):
            rows.append(row("trace F1", peer, t_ours, None, fn))
            continue
        try:
            t, theirs = timed(fn, repeat)
        except Exception as err:  # a broken peer must not lose the other rows
            rows.append(row("trace F1", peer, t_ours, None, f"fails: {err}"[:120]))
            continue
        raw[peer] = [t, theirs]
        rows.append(row("trace F1", peer, t_ours, t,
                        f"off the 300-product estimate by {off(outs[0])} (ours) / "
                        f"{off(theirs[0])}",
                        f"{PRODUCTS} / {PRODUCTS}"))
    return rows, raw


def _projection(seconds: float, estimate: float, se: float) -> tuple[float, float, float]:
    """(relative SE, products, seconds) to reach TARGET_SE, projected from a run of PILOT
    products: the SE of a mean of independent samples falls as 1 / sqrt(products)."""
    rel = se / abs(estimate)
    need = PILOT * (rel / TARGET_SE) ** 2
    return rel, need, seconds * need / PILOT


def equal_accuracy(net_name: str) -> tuple[list[dict], dict]:
    """The time each estimator would need for a relative standard error of TARGET_SE, projected
    from PILOT products: gaputils' Hutchinson and Hutch++ against PyHessian's Hutchinson (the
    one peer whose trace returns its samples, so that its standard error can be computed)."""
    net, data = curvature_network(net_name)
    ours, rows = {}, []
    for method in ("hutch++", "hutchinson"):
        t, ((est, se),) = timed(lambda m=method: hessian.trace(net, data, PILOT, method=m))
        ours[method] = (t, est, se, *_projection(t, est, se))
    raw = {"ours": ours}
    try:
        from pyhessian import hessian as PyHessian
    except ImportError:
        return [row(f"trace to 1 % SE, {net_name}", "PyHessian (Hutchinson)", ours["hutch++"][-1],
                    None, missing("pyhessian"))], raw
    t, (samples,) = timed(lambda: PyHessian(net, torch.nn.CrossEntropyLoss(), data=data,
                                            cuda=data[0].is_cuda).trace(maxIter=PILOT, tol=0.0))
    est, se = float(np.mean(samples)), float(np.std(samples, ddof=1) / np.sqrt(len(samples)))
    theirs = raw["PyHessian"] = (t, est, se, *_projection(t, est, se))
    for method, (_, _, _, rel, need, secs) in ours.items():
        rows.append(row(f"trace to 1 % SE, {net_name}", "PyHessian (Hutchinson)", secs,
                        theirs[-1], f"relative SE after {PILOT} products {100 * rel:.1f} % "
                        f"(ours, {method}) / {100 * theirs[3]:.1f} %",
                        f"{need:.0f} / {theirs[4]:.0f} (projected)",
                        f"projected from {PILOT} products each, SE ~ 1 / sqrt(products)"))
    # gaputils' default: for these piecewise-linear networks the exact trace, no probes
    t, ((exact, _),) = timed(lambda: hessian.trace(net, data))
    raw["exact"] = (t, exact)
    rows.append(row(f"trace to 1 % SE, {net_name}", "PyHessian (Hutchinson)", t, theirs[-1],
                    f"exact (ours, the default here) {exact:.2f}; their {PILOT}-product estimate "
                    f"{theirs[1]:.1f} +- {theirs[2]:.1f}", f"- / {theirs[4]:.0f} (projected)",
                    "ours measured, theirs projected"))
    return rows, raw


def density() -> tuple[list[dict], dict]:
    net, data = network("F1")
    top = hessian.top_eigenvalues(net, data, k=1, tol=1e-6).values[0]
    t_ours, (ours,) = timed(lambda: hessian.density(net, data, num_runs=2, lanczos_steps=40))
    largest = lambda nodes: max(float(np.max(t)) for t in nodes)
    agree = lambda theirs: (f"largest node {largest(ours.nodes):.4f} (ours) / {theirs:.4f}, "
                            f"top eigenvalue {top:.4f}")
    rows, raw = [], {"top": top, "ours": largest(ours.nodes)}
    try:
        from pyhessian import hessian as PyHessian

        t, (res,) = timed(lambda: PyHessian(net, torch.nn.CrossEntropyLoss(), data=data,
                                            cuda=data[0].is_cuda).density(iter=40, n_v=2))
        rows.append(row("density F1", "PyHessian", t_ours, t, agree(largest(res[0])),
                        "80 / 80"))
    except ImportError:
        rows.append(row("density F1", "PyHessian", t_ours, None, missing("pyhessian")))
    except RuntimeError as err:  # it calls torch.eig, deprecated in torch 1.9, since removed
        rows.append(row("density F1", "PyHessian", t_ours, None, "fails on torch "
                        f"{torch.__version__}: {str(err).splitlines()[0][:80]}"))
    try:
        import hessian_eigenthings as he

        loss = he.supervised_loss(torch.nn.functional.cross_entropy)
        t, (res,) = timed(lambda: he.spectral_density(he.HessianOperator(net, [data], loss),
                                                      num_runs=2, lanczos_steps=40, seed=0))
        rows.append(row("density F1", "hessian-eigenthings", t_ours, t,
                        agree(float(res.raw_eigenvalues.max())), "80 / 80"))
    except ImportError:
        rows.append(row("density F1", "hessian-eigenthings", t_ours, None,
                        missing("hessian_eigenthings")))
    return rows, raw


def run(quick: bool = False) -> tuple[list[dict], dict]:
    rows, raw = trace(1 if quick else 2)
    if quick:
        return rows, {"trace": raw}
    raws = {"trace": raw}
    for net_name in ("F1", "CNN"):
        more, raws[f"trace_equal_accuracy_{net_name}"] = equal_accuracy(net_name)
        rows += more
    more, raws["density"] = density()
    return rows + more, raws
