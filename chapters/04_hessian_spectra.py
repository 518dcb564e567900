# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Hessian spectra
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/generalization-gap/book/blob/main/chapters/04_hessian_spectra.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/generalization-gap/book/main?labpath=chapters%2F04_hessian_spectra.ipynb)
#
# Keskar et al. described sharp minimizers as having "many large positive eigenvalues" of the
# Hessian. A network with a million parameters has a million eigenvalues and a Hessian we
# cannot store, yet we can compute its largest eigenvalues, its trace and the shape of its
# whole spectrum from Hessian-vector products alone. This chapter does that, compares the SB and
# LB minimizers of chapter 1, and ends with a training run that drives its own largest
# eigenvalue to a predictable value.
#
# **What you will learn**
# - what a Hessian-vector product is and why it costs a small multiple of a gradient;
# - power iteration and Lanczos, and how many products each needs;
# - the top eigenvalues, the trace and the spectral density of the SB and LB minimizers;
# - how lambda_max relates to chapter 3's sharpness across batch sizes;
# - the edge of stability: full-batch gradient descent keeps lambda_max near 2 / lr.
#
# **Prerequisites**: chapters 1 and 3.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the book's package, at this edition
    import subprocess

    repo, tag = "git+https://github.com/generalization-gap/book", "v0.2.0"
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if subprocess.run([*pip, f"{repo}@{tag}"]).returncode:  # the tag is not published yet
        subprocess.run([*pip, repo], check=True)
    # keep trained networks between sessions, on Google Drive (chapter 0): uncomment
    # import gaputils; gaputils.runtime.drive_cache()

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import gaputils as gu
from gaputils import hessian

gu.setup(seed=0)
budget = gu.budget()
tb = gu.runs.testbed_minimizers()
ds, runs, train, sb, lb = tb.ds, tb.runs, tb.train, tb.sb, tb.lb
print(tb)

# %% [markdown]
# ## Hessian-vector products
#
# The Hessian H of the mean training loss f is an n x n matrix, n the number of parameters
# (printed below): too large to store for any real network. What we can afford is its action
# on a vector, H v: differentiate the gradient once more, in the direction v. Reverse-mode
# autodiff computes the gradient g with its graph kept, and a second backward pass through
# g . v gives H v - a small multiple of the cost of a gradient (the ratio is printed below,
# measured once the graph is built). When the data fit in one chunk,
# `gu.hessian.HessianOperator` builds the gradient's graph once and every product is one
# backward pass through it. As everywhere in the book, the
# loss is taken in eval mode on `budget.n_curvature` training examples. In eval mode a BatchNorm
# layer is the affine map x s + t, with s and t fixed by its parameters and running statistics;
# `HessianOperator` differentiates it as that map, because PyTorch's double backward of
# `batch_norm` is one formula for both modes, with sums over every activation, and took about
# half of a product of a small CNN (`gaputils/evalnorm.py`; the timings in benchmarks/README.md).

# %%
op = hessian.HessianOperator(sb, train)
v = torch.randn(op.n, generator=torch.Generator().manual_seed(0))
hessian.gradient(sb, train), op @ v  # warm-up: the first call of each pays for allocations
t0 = time.perf_counter()
f, g = hessian.gradient(sb, train)
t_grad = time.perf_counter() - t0
t0 = time.perf_counter()
hv = op @ v
t_hvp = time.perf_counter() - t0
print(f"n = {op.n:,}; gradient {t_grad * 1000:.0f} ms, Hessian-vector product "
      f"{t_hvp * 1000:.0f} ms ({t_hvp / t_grad:.1f} gradients); v^T H v / |v|^2 = "
      f"{float(v @ hv / (v @ v)):.2e}")

# %% [markdown]
# ## Power iteration and Lanczos
#
# The curvature along a random direction (printed last, from a single direction) is tiny: on
# average it is tr(H) / n, the trace spread over n directions.
# The largest eigenvalue by power iteration takes five lines (read them with
# `hessian.power_iteration??`): apply H, normalize, repeat until the Rayleigh quotient stops
# changing. Lanczos builds the same Krylov space but keeps every
# vector, so it extracts far more from the same products: it returns several eigenvalues at
# once, and it stops on the residual ||H u - theta u||, not on a stalled estimate.

# %%
exact = hessian.top_eigenvalues(sb, train, k=1, tol=1e-6).values[0]  # float32's floor
tol, errors = 1e-3, {"power iteration": [], "Lanczos": []}
cost = {"power iteration": [], "Lanczos": []}
for seed in range(3 if gu.mode() != "smoke" else 1):
    lam, products = hessian.power_iteration(sb, train, tol=tol, seed=seed)
    lz = hessian.top_eigenvalues(sb, train, k=1, tol=tol, seed=seed)
    errors["power iteration"].append(abs(lam - exact) / exact)
    errors["Lanczos"].append(abs(lz.values[0] - exact) / exact)
    cost["power iteration"].append(products)
    cost["Lanczos"].append(lz.n_hvp)
    print(f"start {seed}: power iteration {products:2d} products, error "
          f"{errors['power iteration'][-1]:.1e} | Lanczos {lz.n_hvp:2d} products, error "
          f"{errors['Lanczos'][-1]:.1e}")
print(f"converged value {exact:.5f}; errors above the tolerance {tol:g}: " + ", ".join(
    f"{name} {sum(e > tol for e in errs)} of {len(errs)}" for name, errs in errors.items()))

# %% [markdown]
# Compare the errors and the products (printed, a line per random start, and how often each
# method missed its tolerance). Power iteration's count depends on the start, and its stopping
# rule only asks whether the estimate has stopped moving - which is not the same as converged:
# when the second eigenvalue is close to the first, the estimate creeps, each step moves it by
# less than the tolerance, and the error can stay larger than the tolerance. Whether that
# happens depends on the network and the start (the count above says what it did here).
# Lanczos stops on a residual-based estimate of the error itself, and for a fixed number of
# products its Krylov space contains the power iterate, so its estimate is at least as good.
# The difference grows with the number of eigenvalues wanted: power iteration must deflate and
# start over for each, Lanczos gets them from the same basis.
# `benchmarks/run.py` times `top_eigenvalues`, `trace` and `density` against PyHessian,
# hessian-eigenthings and curvlinops, the libraries most readers would reach for, at the same
# accuracy; the README of that folder lists the measured speed-ups.
#
# ## The trace: estimated, and exact
#
# The trace is the sum of all n eigenvalues. Without H itself, the usual route is Hutchinson's
# estimator: for a random vector z of independent signs +-1, E[z^T H z] = tr(H), so the mean of
# z^T H z over m probes estimates it with a standard error that shrinks like 1 / sqrt(m).
# Hutch++ (Meyer et al., 2021) splits its products in three: a third finds the dominant subspace,
# a third computes that subspace's part of the trace exactly, and a third runs Hutchinson on what
# is left. It wins when a few eigenvalues dominate: its error can then shrink as fast as 1 / m.
#
# For the testbed's network neither is needed. Write the Hessian of the cross-entropy through the
# logits z: H = J^T (diag p - p p^T) J + sum_c (dl/dz_c) d^2 z_c / dtheta^2, where J is the
# Jacobian of the logits and p the predicted probabilities. The first term is the Gauss-Newton
# matrix. Linear and convolutional layers, ReLU, max-pooling and eval-mode BatchNorm make the
# network piecewise linear in each single parameter when the others are held fixed, so every
# *diagonal* entry of d^2 z_c / dtheta^2 is zero and the trace of H is that of the Gauss-Newton
# matrix: the mean over examples of sum_c p_c |grad log p_c|^2 (provided each parameter is used
# once: no weights shared between layers). One backward pass per class, for each piece of up to
# 256 examples, gives every layer's share of those squared norms (`gaputils/ggn.py`), so
# `gu.hessian.trace` computes the trace exactly, with standard error 0, for such networks -
# its default - and falls back to Hutch++ for any other (tanh, attention, a forward of one's
# own). On this chapter's first minimizer, the two estimators with the same number of products
# beside the exact value:

# %%
probes = 6 * budget.probes
t0 = time.perf_counter()
exact_tr, _ = hessian.trace(sb, train)
t_exact = time.perf_counter() - t0
print(f"exact trace {exact_tr:.2f} ({t_exact:.1f} s)")
estimates = {}
for method in ("hutchinson", "hutch++"):
    t0 = time.perf_counter()
    est, se = estimates[method] = hessian.trace(sb, train, num_probes=probes, method=method)
    print(f"{method:>10}, {probes} products: {est:.2f} ± {se:.2f} (standard error), off by "
          f"{(est - exact_tr) / se:+.1f} standard errors ({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# Each estimate should lie within a few of its standard errors of the exact value (the "off by"
# figure on each line says by how many), and its standard error says how many more products a
# given accuracy would take: for Hutchinson a quarter of it needs sixteen times the products; for
# Hutch++ at most that many, fewer where a few eigenvalues dominate. (Hutch++'s standard error
# comes from its Hutchinson third alone, ten probes here, so it is itself rough.)
#
# ## SB against LB: top eigenvalue and trace
#
# For every seed's SB and LB minimizer: the largest eigenvalue (Lanczos, tol 1e-3) and the
# exact trace. The values span orders of magnitude, so the comparison is the ratio LB / SB: the
# geometric mean over seeds of the paired ratios, with a t-interval on their logarithms; ± is
# the standard deviation over seeds (ddof = 1). The trace is exact and the eigenvalue converged
# to its tolerance, so the spread over seeds is real differences between the minimizers, not
# estimation noise.

# %%
curv = gu.flatness.curvature_table(runs, train, probes)
print(gu.flatness.format_curvature_table(curv))

# %% [markdown]
# Where the intervals lie above 1, both numbers are larger for the LB minimizers, by the factors
# printed: in this sense Keskar et al.'s description - "many large positive eigenvalues" - holds for
# our networks (the testbed's C1; as many seed pairs as the table's header says; the eval-mode loss
# on the training examples counted at the top; the two minimizers of a seed share their initial
# weights, hence paired ratios); the bar chart further down shows the largest ones.
#
# ## How much of it is scale?
#
# Every hidden weight matrix of the testbed's network is followed by BatchNorm, which divides the
# layer's output by its standard deviation (in eval mode by the running estimate, which scales with
# the weights too); the output layer is not. Multiply a hidden layer's weights and bias by a (and
# its BatchNorm's running mean by a, its running variance and eps by a^2) and the network computes
# the same function - in eval mode a change of variables, exact up to rounding - but the curvature
# with respect to those weights falls by a^2. So a minimizer whose weights are small looks sharp for
# a reason that has nothing to do with its function. How large are the weights, and how far did they
# move from the shared starting point?

# %%
norms = gu.flatness.weight_norms(runs, ds)
for name, (size, moved) in norms.items():
    print(f"{name}: ||x|| {size.mean():.1f} ± {size.std(ddof=1):.1f}, distance from the "
          f"initial weights {moved.mean():.1f} ± {moved.std(ddof=1):.1f}")
layers = gu.flatness.layer_norms(runs)
print("(||w_SB|| / ||w_LB||)^2 per weight matrix, mean over seeds: " + ", ".join(
    f"{n} {((layers['SB'][n] / layers['LB'][n]) ** 2).mean():.2f}" for n in layers["SB"]))

# %% [markdown]
# A curvature that ignores scale is that of the loss in relative coordinates: write each weight as
# x_i = |x_i| u_i and take the Hessian with respect to u, D H D with D = diag(|x|). Rescaling a
# layer by a multiplies its block of D by a, its block of H by 1/a^2 and its cross-blocks with the
# other layers by 1/a, so no block of D H D changes (`scale="weights"` in `gu.hessian`; the tests
# check the invariance on a network whose BatchNorm undoes the rescaling). Its top eigenvalue and
# trace, for every seed:

# %%
scaled = gu.flatness.curvature_table(runs, train, probes, scale="weights")
print(gu.flatness.format_curvature_table(scaled, "D H D"))
hidden = list(layers["SB"])[:-1]  # the output layer has no BatchNorm: its scale is no symmetry
per_layer = [((layers["SB"][n] / layers["LB"][n]) ** 2).mean() for n in hidden]
removed = {}
for w in ("lambda_max", "trace"):
    raw, free = curv[w]["ratio"][0], scaled[w]["ratio"][0]
    removed[w] = gu.stats.ratio_interval(curv[w]["LB"] / curv[w]["SB"],
                                         scaled[w]["LB"] / scaled[w]["SB"])  # paired by seed
    _, lo, hi = removed[w]
    where = ("its interval lies above" if lo > max(per_layer) else "its interval lies below"
             if hi < min(per_layer) else "its interval reaches into")
    print(f"{w}: raw LB / SB {raw:.1f} = scale-free {free:.1f} x {raw / free:.1f} removed by "
          f"the change to relative coordinates (95% CI [{lo:.2f}, {hi:.2f}]) - {where} the range "
          f"{min(per_layer):.2f}-{max(per_layer):.2f} of the hidden layers ({', '.join(hidden)})")

# %% [markdown]
# The first table compares the raw curvature, the second the scale-free one, and the last lines
# split each raw ratio into the two: the factor removed by measuring in relative coordinates, and
# the scale-free factor that is left. D reweights every coordinate by its own |x_i|, not only each
# layer by its norm; the squared per-layer norm ratios printed above are what a per-layer rescaling
# alone would remove, layer by layer - where the removed factor's interval reaches into their range
# (each line says), the layers' scale can account for it; where it lies above, the change to
# relative coordinates removed more than the layers' norms explain, from how the weights are spread
# within layers (compare the weight norms and distances printed above too). What is left is
# curvature that no per-layer rescaling can explain away; its interval in the second table says
# whether it is told apart from 1. Chapter 3 reached the same point from the other side, with the
# adaptive sharpness.
#
# ## The whole spectrum
#
# Stochastic Lanczos quadrature (Ghorbani et al., 2019) turns a few Lanczos runs into an
# estimate of the eigenvalue density: each run's Ritz values are quadrature nodes, weighted by
# the squared first components of the tridiagonal's eigenvectors, and a Gaussian broadening
# smooths them. A log scale shows the bulk and the outliers at once.

# %%
dens = {f"{name} (seed 0)": hessian.density(r[0].model, train, num_runs=budget.probes,
                                            lanczos_steps=budget.lanczos_steps)
        for name, r in runs.items()}
fig = gu.plots.spectra(hessian.broadened(dens, separate=True), gu.plots.PAIR, separate=True)
for name, d in dens.items():
    print(f"{name}: Ritz values from {min(t.min() for t in d.nodes):+.3g} to "
          f"{max(t.max() for t in d.nodes):.3g}")

# %% [markdown]
# Each spectrum is drawn with its own broadening, 1% of its own range (with LB's, the whole SB
# spectrum would fit inside one Gaussian), so peak heights are not comparable between the panels.
# Both are a tall bulk near zero - most directions are almost flat - and a tail of large eigenvalues
# (the bar chart below shows how gradually it decays); note the different eigenvalue axes. The
# density just left of zero is mostly the broadening: each Gaussian spreads a node at or near zero
# to both sides. Whether the Hessian has negative eigenvalues is what the smallest Ritz value says
# (printed): a Ritz value never lies below the smallest eigenvalue, so a negative one proves that
# the Hessian has an eigenvalue at least this negative - the minimizer sits where the loss still
# curves down along some directions; how far down, exercise 1 computes properly. The printed ranges
# say how much further right the LB spectrum reaches.
#
# Sagun et al. (2017) and Papyan (2019) linked the number of outliers to the number of classes
# (about one per class, or one fewer: Papyan discusses C - 1 for the cross-entropy). The
# largest relative drop among the top eigenvalues is a crude way to count them; we compute a
# few more than there are classes so that a drop after the tenth can show:

# %%
k = max(budget.top_k, ds.num_classes + 5)
spectra = {f"{name} (seed 0)": hessian.top_eigenvalues(r[0].model, train, k=k)
           for name, r in runs.items()}
top = {name: e.values for name, e in spectra.items()}
ax = gu.plots.eigenvalue_bars(top, colors=gu.plots.PAIR)
after, worst = {}, {}
for name, e in spectra.items():  # each Ritz value's residual ||H u - θ u|| bounds its error
    rel = e.residuals / np.abs(e.values)
    worst[name] = rel.max()
    node = max(t.max() for t in dens[name].nodes)
    print(f"{name}: {e.steps} Lanczos steps; largest relative residual of the top {k} "
          f"{rel.max():.1e} (eigenvalue {int(np.argmax(rel)) + 1}); the density's largest "
          f"Ritz value ({budget.lanczos_steps} steps) is {node / e.values[0]:.4f} x λmax")
print(f"all top {k} within 1% of an eigenvalue: "
      + ("yes" if max(worst.values()) < 0.01 else "no") + " (residual / value)")
for name, vals in top.items():
    drops = vals[:-1] / vals[1:]
    after[name] = int(np.argmax(drops)) + 1
    print(f"{name}: among the top {k}, the largest relative drop comes after eigenvalue "
          f"{after[name]} ({drops.max():.2f}x); {ds.num_classes} classes")

# %% [markdown]
# The residuals say how far each of the top eigenvalues can be from a true one (at most the
# residual; printed relative to the value): the line after them says whether all of them, not only
# the first, converged to within 1%. The density's few Lanczos steps per run reach the top of the
# spectrum too (its largest Ritz value against λmax, printed); its bulk is a quadrature - weights on
# nodes that need not be eigenvalues - and is as good as the smoothed moments it matches, not value
# by value.
#
# If the drop came after eigenvalue 9 or 10 for these ten classes, the picture of "one outlier
# per class" would hold; the printed positions say where it comes in our runs. Where it comes
# earlier, a few dominant outliers are followed by eigenvalues that decay gradually (the bar
# chart), and the clean picture does not show up in this BatchNorm network trained to a small
# training loss (chapter 1 prints it) on a small subset of Fashion-MNIST.
#
# ## lambda_max and epsilon-sharpness across batch sizes
#
# Chapter 3 argued that for small eps the sharpness metric measures the gradient, and that the
# curvature enters at larger eps. Across the networks of chapter 1's sweep, how well does
# lambda_max track Keskar's metric at the paper's eps?

# %%
sweep = gu.runs.train_runs(ds, budget.batch_sizes, budget.sweep_seeds,
                           epochs=budget.sweep_epochs)
lmax = np.array([hessian.top_eigenvalues(r.model, train, k=1).values[0] for r in sweep])
sharp = np.array([gu.sharpness.keskar(r.model, train, eps=1e-3).value for r in sweep])
batch = np.array([r.batch_size for r in sweep])
fig, ax = plt.subplots()
points = ax.scatter(lmax, sharp, c=np.log2(batch), cmap="viridis")
ax.set(xscale="log", yscale="log", xlabel="lambda_max (log scale)",
       ylabel="sharpness (%), eps 1e-3 (log scale)", title=f"chapter 1's sweep: "
       f"{len(set(batch))} batch sizes x {len(budget.sweep_seeds)} seed(s)")
gu.plots.plain_log(ax.xaxis, ax.yaxis)
sizes = sorted(set(batch))
fig.colorbar(points, label="batch size (log scale)").set_ticks(np.log2(sizes), labels=sizes)
fig.tight_layout()
corr = gu.stats.rank_correlation(lmax, sharp)
print("lambda_max vs sharpness:", gu.stats.format_correlation(corr))

# %% [markdown]
# The rank correlation (printed, with its interval) says how consistently the two orderings agree,
# and the colour shows the batch size behind each point; the ten networks are five batch sizes times
# two seeds, and the networks of one seed share their initial weights, so they are not independent:
# the p-value and the bootstrap interval, which resamples networks one by one, are optimistic (with
# two seeds, resampling by seed is no remedy). Read the colours too: where the largest batches
# spread in lambda_max while their sharpness levels off, the agreement comes from the smaller ones.
# Even where they agree, they are not the same quantity: the metric weights each coordinate by
# |x_i| + 1, mixes in the gradient and, as chapter 3 showed, bounds a trace-like sum over many
# directions, while lambda_max is the curvature along a single one.
#
# ## The edge of stability
#
# Gradient descent with learning rate lr on a quadratic diverges along any direction with
# curvature above 2 / lr. Cohen et al. (2021) found that full-batch gradient descent on neural
# networks first *sharpens* - lambda_max rises - until it reaches 2 / lr, and then hovers there
# while the loss keeps decreasing, non-monotonically. A short run shows it: a small
# BatchNorm-free perceptron (two layers of 128) on 1,000 training images, two learning rates,
# lambda_max every 20 steps.

# %%
eos_steps = 600 if gu.mode() != "smoke" else 40
n_eos = min(1000, len(ds.train[1]))
eos = {lr: gu.stability.full_batch_gd(ds, lr, eos_steps, n=n_eos) for lr in (0.05, 0.1)}
fig = gu.plots.edge_of_stability(eos)
fig.suptitle(f"BatchNorm-free perceptron (2 x 128), {n_eos:,} training images, seed 0")
fig.tight_layout()
eos_summary = {lr: gu.stability.edge_of_stability(h, lams, lr) for lr, (h, lams) in eos.items()}
for lr, e in eos_summary.items():
    where = f"at step {e['reached_step']}" if e["reached_step"] is not None else "never"
    print(f"lr {lr}: 2/lr = {e['threshold']:.0f}; lambda_max started at {e['first']:.2f} x 2/lr, "
          f"first reached 95% of it {where}; from then on median {e['median']:.2f}, range "
          f"{e['lo']:.2f}-{e['hi']:.2f} ({gu.stability.side(e)} 2/lr); at step {e['steps']}: "
          f"{e['last']:.2f}")

# %% [markdown]
# Read the lines above against the figure. lambda_max starts well below 2 / lr (dashed; the
# starting ratio is printed) and climbs - progressive sharpening - until it reaches the threshold
# at the printed step. Where that step is the first sample after the start (step 20), the climb
# was faster than our sampling resolves, and this run shows the threshold, not the sharpening.
# From then on lambda_max stays in a band around 2 / lr (the printed median and range, and on
# which side of 2 / lr the range lies; the check cell takes "around" to mean a median between 0.9
# and 1.6 times 2 / lr - a band written down after these runs had been seen, so a run on another
# machine is its first real test) instead of climbing on as it did before, while the loss keeps
# falling - unevenly where the sharpest direction is being overshot, which shows as bumps in the
# loss curve (sampled every 20 steps, so oscillations from one step to the next are hidden). The
# last ratio says where each run ended: near zero loss the cross-entropy flattens out, and
# lambda_max can fall below 2 / lr and stay there. Cohen et al. describe the same picture:
# lambda_max at, or around, 2 / lr while training is unstable in the sharpest direction. The
# largest eigenvalue that gradient descent ends with is set by its learning rate as much as by the
# data - one more reason to compare SB and LB at matched learning rates, and a thread chapter 7
# picks up.
#
# The testbed's own training is stochastic, with momentum and a decaying rate, but the same
# bound applies in a form: heavy-ball momentum β on a quadratic is stable for curvature below
# 2 (1 + β) / lr. Set against the SB and LB minimizers' lambda_max from the table above (measured
# on the eval-mode loss of the curvature examples, while training saw train-mode BatchNorm on
# mini-batches - a close relative of the loss the bound is about, not the same one):
#
# %%
cfg = budget.testbed.config(budget.testbed.sb, 0)  # SB and LB share rate and momentum
beta, peak = cfg.momentum, cfg.lr
bound = 2 * (1 + beta) / peak
for name in ("SB", "LB"):
    lam_g = float(np.exp(np.log(curv["lambda_max"][name]).mean()))
    print(f"{name}: λmax {lam_g:.3g} (geometric mean over seeds); heavy ball with β = {beta} "
          f"is stable below 2(1 + β)/lr = {bound:.0f} at the peak rate {peak:g}: "
          f"{'above' if lam_g > bound else 'below'} it; stable below the rate "
          f"{2 * (1 + beta) / lam_g:.3g}")

# %% [markdown]
# A minimizer above the bound could not be a stable fixed point of training at the peak rate: the
# iterates would be thrown out along its sharpest direction. The cosine schedule takes the rate
# to zero, and the bound rises as it falls, so a minimizer of any sharpness becomes reachable in
# the last part of the run - at the rate printed last on each line. Where LB's minimizer lies
# above the peak-rate bound (the line says), it is one that LB's training could settle into only
# late, once the rate had decayed; SB's, at the same peak rate, needs no such decay. Batch noise
# adds to this (noisier steps are thrown out of a sharp minimum at a lower curvature), which is
# one reading of why SB ends flatter.
#
# ## Your own model and data
#
# Nothing above is tied to the book's networks or to data held in memory. Every function of
# `gu.hessian`, `gu.sharpness` and `gu.landscape` also takes any re-iterable of (x, y) batches -
# a `DataLoader` included - and a `loss_fn` (default: mean cross-entropy; pass
# `torch.nn.functional.mse_loss` for a regression). Batches are weighted by their size, so the
# result is the full-data quantity however the loader cuts the data, and each batch moves to
# the model's device only when it is used. Here is torchvision's ResNet-18, with random weights,
# on our images fed through a `DataLoader`:

# %%
import torchvision
from torch.utils.data import DataLoader, TensorDataset

resnet = torchvision.models.resnet18(num_classes=10).to(gu.device()).eval()  # random weights
n = budget.n_curvature // 2
images = ds.train[0][:n].cpu().expand(-1, 3, -1, -1)  # grey to three channels
loader = DataLoader(TensorDataset(images, ds.train[1][:n].cpu()), batch_size=100)
start = time.perf_counter()
res_top = hessian.top_eigenvalues(resnet, loader, k=2)
print(f"ResNet-18 ({gu.models.num_parameters(resnet):,} parameters) on {n} images in batches "
      f"of 100: top eigenvalues {np.round(res_top.values, 3)}, {res_top.n_hvp} products, "
      f"{time.perf_counter() - start:.0f} s")

# %% [markdown]
# A loader must give the same batches on every pass: with `shuffle=True` or random
# augmentation the loss is a different function on every pass, and its curvature is not a
# number. The determinism check that runs before any product refuses such a loader, and says
# why:

# %%
try:
    hessian.top_eigenvalues(resnet, DataLoader(loader.dataset, batch_size=100, shuffle=True))
except RuntimeError as err:
    refused = str(err)
    print("refused:", refused)

# %% [markdown]
# ## Explore
#
# Redraw the spectra above with another broadening (a percentage of each spectrum's range) or
# number of eigenvalues, each spectrum in its own panel as above or both on one axis (then the
# broadening is a percentage of their common range, and the narrow SB spectrum shrinks into one
# Gaussian at zero). No new Hessian products are computed.

# %%
box = gu.widgets.spectrum_explorer(dens, top, colors=gu.plots.PAIR)

# %% [markdown]
# ## Beside the reference runs
#
# The chapter's key numbers and curves from this run, beside the same ones from the committed
# reference runs of the whole chapter, each labelled with its device, mode and date: a
# standard-mode run on a CPU and, where one is committed, a full-scale paper-mode run
# (`python -m gaputils.reproduce --mode paper --chapter 4` makes one). The lines under the
# table say whether this run agrees with the reference run of its own mode -
# statistically, where a number has an interval - and what to conclude.

# %%
lr, (h, lams) = max(eos.items())
gu.reference.compare("04", {
    "LB / SB lambda_max": curv["lambda_max"]["ratio"][0],
    "LB / SB trace": curv["trace"]["ratio"][0],
    "tau, lambda_max vs sharpness": corr["tau"],
    f"edge of stability, lr {lr}: median lambda_max / (2/lr)": eos_summary[lr]["median"],
}, {f"edge of stability, lr {lr}": gu.reference.curve(h.step, [v * lr / 2 for v in lams], "step",
                                                     "lambda_max / (2 / lr)")})

# %% [markdown]
# ## Summary
#
# 1. A Hessian-vector product costs a small multiple of a gradient; eigenvalues and spectra
#    are built from them. The trace of a network piecewise linear in each parameter needs none:
#    it equals the Gauss-Newton trace, exact from one backward pass per class; elsewhere
#    Hutchinson and Hutch++ estimate it, Hutchinson with a standard error that shrinks like
#    1 / sqrt(products), Hutch++ as fast or faster.
# 2. Lanczos with full reorthogonalization stops on an estimate of its error, needs no more
#    products than power iteration for a given accuracy (here, from every start: no more
#    products and a smaller error, printed above), and gives many eigenvalues from one basis.
# 3. In our runs, the LB minimizers have a larger top eigenvalue and a larger trace than the SB
#    ones; part of the ratio is the scale of the weights, and the scale-free D H D says how much
#    is left. Both spectra are a bulk near zero and a tail of large eigenvalues.
# 4. lambda_max and Keskar's sharpness rank the sweep's networks alike to the degree the
#    printed rank correlation says, but measure different things.
# 5. Full-batch gradient descent drives lambda_max up to about 2 / lr and keeps it in a band
#    around the threshold (medians and ranges printed) until the loss nears zero: the learning
#    rate sets the largest curvature that training can sustain. With momentum and a decaying
#    rate the bound is 2 (1 + β) / lr and rises as the rate falls.
# 6. The same functions measure any model on any re-iterable of batches with any loss; a
#    loader that shuffles or augments is refused.
#
# ## Exercises
#
# 1. Compute the most negative eigenvalues (`which="smallest"`). How negative are they, and is
#    the minimizer a minimum?
# 2. Count the products Hutchinson needs for the same standard error as Hutch++.
# 3. Repeat the edge-of-stability run with momentum 0.9. Where does lambda_max settle?
#    (Cohen et al. give 2 (1 + beta) / lr.)
# 4. Compute the top eigenvalues on test data. Are the LB minimizers sharper there too?
# 5. `gu.hessian.exact_trace` refuses a network with tanh. Which term of H, written through the
#    logits above, does it rely on being zero on the diagonal, and why is it not for tanh?
#
# ## Further reading
#
# - Pearlmutter (1994). *Fast Exact Multiplication by the Hessian.* Neural Computation.
# - Sagun, Evci, Guney, Dauphin and Bottou (2017). *Empirical Analysis of the Hessian of
#   Over-Parametrized Neural Networks.* arXiv:1706.04454.
# - Ghorbani, Krishnan and Xiao (2019). *An Investigation into Neural Net Optimization via
#   Hessian Eigenvalue Density.* ICML.
# - Yao, Gholami, Keutzer and Mahoney (2020). *PyHessian: Neural Networks Through the Lens of
#   the Hessian.* IEEE Big Data.
# - Hutchinson (1990). *A Stochastic Estimator of the Trace of the Influence Matrix for
#   Laplacian Smoothing Splines.* Communications in Statistics - Simulation and Computation.
# - Meyer, Musco, Musco and Woodruff (2021). *Hutch++: Optimal Stochastic Trace Estimation.*
# - Schraudolph (2002). *Fast Curvature Matrix-Vector Products for Second-Order Gradient
#   Descent.* Neural Computation.
# - Lin, Saad and Yang (2016). *Approximating Spectral Densities of Large Matrices.* SIAM
#   Review.
# - Papyan (2019). *Measurements of Three-Level Hierarchical Structure in the Outliers in the
#   Spectrum of Deepnet Hessians.* ICML.
# - Cohen, Kaur, Li, Kolter and Talwalkar (2021). *Gradient Descent on Neural Networks
#   Typically Occurs at the Edge of Stability.* ICLR.
# - Cohen, Ghorbani, Krishnan, Agarwal, Medapati, Badura, Suo, Cardoze, Nado, Dahl and Gilmer
#   (2022). *Adaptive Gradient Methods at the Edge of Stability.* arXiv:2207.14484.

# %% tags=["remove-cell"]
# Check: both trace estimators lie within 4 standard errors of the exact trace, which the tables
# use (standard, paper); LB has the larger lambda_max and trace, raw and scale-free, beyond seed
# noise, and part of each ratio is the weights' scale (LB's hidden layers are smaller); every top
# eigenvalue converged to 1%; full-batch GD sits at the edge of stability (standard, paper);
# smoke: everything ran.
assert all(np.all(np.isfinite(v)) for v in top.values())
assert np.all(np.isfinite(res_top.values)) and "shuffle=False" in refused
assert all(abs(np.trapezoid(d.density, d.grid) - 1) < 1e-2 for d in dens.values())
if gu.mode() != "smoke":  # smoke's 12 probes leave Hutch++ four samples for its standard error
    assert all(abs(e - exact_tr) < 4 * se for e, se in estimates.values()), (exact_tr, estimates)
    for table in (curv, scaled):
        for what, row in table.items():
            assert row["ratio"][1] > 1, (what, row["ratio"])  # the interval's lower end
        assert all(np.all(se == 0) for se in table["trace"]["se"].values())  # exact, as said
    for pi, lz, e_pi, e_lz in zip(*cost.values(), *errors.values(), strict=True):
        assert lz <= pi and e_lz < min(e_pi, tol)  # Lanczos: no more products, smaller error
    assert max(worst.values()) < 0.01, worst  # every top eigenvalue converged, not only the first
    assert all(r[1] > 1 for r in removed.values()), removed  # part of each ratio is scale
    assert min(per_layer) > 1, per_layer  # every hidden layer's weights are smaller for LB
    for lr, e in eos_summary.items():
        assert e["first"] < 0.5 and e["reached_step"] is not None, (lr, e)
        assert 0.9 <= e["median"] <= 1.6, (lr, e)
