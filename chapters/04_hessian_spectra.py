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
# - what a Hessian-vector product is and why it costs about two gradients;
# - power iteration and Lanczos, and how many products each needs;
# - the top eigenvalues, the trace and the spectral density of the SB and LB minimizers;
# - how lambda_max relates to chapter 3's sharpness across batch sizes;
# - the edge of stability: full-batch gradient descent keeps lambda_max near 2 / lr.
#
# **Prerequisites**: chapters 1 and 3.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the book's helper package first
    import subprocess

    url = "git+https://github.com/generalization-gap/book"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import gaputils as gu
from gaputils import hessian

gu.setup(seed=0)
budget = gu.budget()
ds = gu.experiments.dataset()
runs = gu.experiments.minimizers(ds)
train = gu.experiments.curvature_data(ds)
sb, lb = runs["SB"][0].model, runs["LB"][0].model

# %% [markdown]
# ## Hessian-vector products
#
# The Hessian H of the mean training loss f is an n x n matrix, n the number of parameters
# (printed below): too large to store for any real network. What we can afford is its action
# on a vector, H v: differentiate the gradient once more, in the direction v. Reverse-mode
# autodiff computes the gradient g with its graph kept, and a second backward pass through
# g . v gives H v - about the cost of two gradients. When the data fit in one chunk,
# `gu.hessian.HessianOperator` builds the gradient's graph once and every product is one
# backward pass through it. As everywhere in the book, the
# loss is taken in eval mode on `budget.n_curvature` training examples.

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
# The curvature along a random direction (printed last) is tiny: on average it is tr(H) / n,
# and we will see that the trace is a few large eigenvalues spread over n directions.
# The largest eigenvalue by power iteration takes five lines (read them with
# `hessian.power_iteration??`): apply H, normalize, repeat until the Rayleigh quotient stops
# changing. Lanczos builds the same Krylov space but keeps every
# vector, so it extracts far more from the same products: it returns several eigenvalues at
# once, and it stops on the residual ||H u - theta u||, not on a stalled estimate.

# %%
exact = hessian.top_eigenvalues(sb, train, k=1, tol=1e-6).values[0]  # float32's floor
for seed in range(3 if gu.mode() != "smoke" else 1):
    lam, products = hessian.power_iteration(sb, train, tol=1e-3, seed=seed)
    lz = hessian.top_eigenvalues(sb, train, k=1, tol=1e-3, seed=seed)
    print(f"start {seed}: power iteration {products:2d} products, error "
          f"{abs(lam - exact) / exact:.1e} | Lanczos {lz.n_hvp:2d} products, error "
          f"{abs(lz.values[0] - exact) / exact:.1e}")
print(f"converged value {exact:.5f}")

# %% [markdown]
# Compare the errors and the products (printed, a line per random start). Power iteration's count
# depends on the start, and its error is often larger than its tolerance: an estimate that has
# stopped moving is not necessarily a converged one, and power iteration converges slowly when
# the second eigenvalue is close to the first. Lanczos stops on a residual-based error estimate,
# so its error stays below the tolerance; for a given accuracy it needs fewer products (for a
# fixed number of products, its Krylov space contains the power iterate, so its estimate is
# at least as good). The difference grows with the number of eigenvalues wanted: power
# iteration must deflate and start over for each, Lanczos gets them from the same basis.
# `benchmarks/hessian.py` times `top_eigenvalues` against PyHessian, the library most readers
# would reach for, on this network and data, both at the same tolerance and at the same
# accuracy; the README of that folder lists the measured speed-ups.
#
# ## SB against LB: top eigenvalues and trace
#
# For every seed's SB and LB minimizer: the budget's `top_k` largest eigenvalues (Lanczos, tol
# 1e-3) and the trace (Hutch++, Rademacher probes, with its standard error).

# %%
k, probes = budget.top_k, 6 * budget.probes
top = {name: [hessian.top_eigenvalues(r.model, train, k=k).values for r in group]
       for name, group in runs.items()}
tr = {name: [hessian.trace(r.model, train, num_probes=probes) for r in group]
      for name, group in runs.items()}
for name in runs:
    lmax = np.array([t[0] for t in top[name]])
    traces = np.array([t for t, _ in tr[name]])
    ses = np.array([se for _, se in tr[name]])
    print(f"{name}: lambda_max {lmax.mean():.3f} ± {lmax.std(ddof=1):.3f}, "
          f"trace {traces.mean():.2f} ± "
          f"{traces.std(ddof=1):.2f} over seeds (per-estimate standard error ≈ {ses.mean():.2f})")
for what, vals in (("lambda_max", {n: [t[0] for t in top[n]] for n in runs}),
                   ("trace", {n: [t for t, _ in tr[n]] for n in runs})):
    print(f"LB - SB {what}, paired over {len(runs['SB'])} seeds: "
          f"{gu.stats.paired(vals['LB'], vals['SB'])}")
ax = gu.plots.eigenvalue_bars({f"{k_} (seed 0)": top[k_][0] for k_ in runs},
                              colors=gu.plots.PAIR)

# %% [markdown]
# The LB minimizers have larger top eigenvalues and a larger trace than the SB ones (numbers
# above): in this sense Keskar et al.'s description holds for our networks. Note the standard
# error of the trace: Hutch++ uses all its probes, and the error says how much to trust the
# difference.
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
fig = gu.plots.spectra(dens, colors=gu.plots.PAIR)
top20 = {name: hessian.top_eigenvalues(r[0].model, train, k=2 * k).values
         for name, r in runs.items()}
for name, vals in top20.items():
    drops = vals[:-1] / vals[1:]
    print(f"{name}: among the top {2 * k}, the largest relative drop comes after eigenvalue "
          f"{np.argmax(drops) + 1} ({drops.max():.2f}x); {ds.num_classes} classes")

# %% [markdown]
# Both spectra are a tall bulk near zero - most directions are almost flat, some slightly
# negative - and a few outliers, drawn with the same broadening. The LB spectrum reaches much
# further right: its outliers are larger, which is what makes the minimizer sharper. Sagun et
# al. (2017) and Papyan (2019) linked the number of outliers to the number of classes (about
# one per class). The printed position of the largest relative drop among the top eigenvalues
# is a crude way to count them; compare it with the number of classes. In our standard-mode
# runs the largest drop comes after the first two or three eigenvalues, not after the tenth:
# beyond a few dominant outliers, the eigenvalues decay gradually (see the bar chart), and the
# clean "C outliers" picture does not show up in this BatchNorm network trained to a small
# loss on a subset of Fashion-MNIST.
#
# ## lambda_max and epsilon-sharpness across batch sizes
#
# Chapter 3 argued that for small eps the sharpness metric measures the gradient, and that the
# curvature enters at larger eps. Across the networks of chapter 1's sweep, how well does
# lambda_max track Keskar's metric at the paper's eps?

# %%
sweep = gu.experiments.train_runs(ds, budget.batch_sizes, budget.sweep_seeds,
                                  epochs=budget.sweep_epochs)
lmax = np.array([hessian.top_eigenvalues(r.model, train, k=1).values[0] for r in sweep])
sharp = np.array([gu.sharpness.keskar(r.model, train, eps=1e-3).value for r in sweep])
batch = np.array([r.batch_size for r in sweep])
fig, ax = plt.subplots()
points = ax.scatter(lmax, sharp, c=np.log2(batch), cmap="viridis")
ax.set(xscale="log", yscale="log", xlabel="lambda_max", ylabel="sharpness (%), eps 1e-3")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
fig.colorbar(points, label="log2(batch size)")
fig.tight_layout()
corr = gu.experiments.rank_correlation(lmax, sharp)
print("lambda_max vs sharpness:", gu.experiments.format_correlation(corr))

# %% [markdown]
# The rank correlation (printed, with its interval) says how consistently the two orderings
# agree. Both grow with the batch size here, but they are not the same quantity: the metric
# weights each coordinate by |x_i| + 1 and mixes in the gradient, lambda_max is the curvature
# along a single direction.
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
eos = {lr: gu.experiments.full_batch_gd(ds, lr, eos_steps, n=min(1000, len(ds.train[1])))
       for lr in (0.05, 0.1)}
fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(12, 4))
for i, (lr, (h, lams)) in enumerate(eos.items()):
    ax_l.plot(h.step, h.train_loss, color=f"C{i}", label=f"lr {lr}")
    ax_s.plot(h.step[1:], lams, color=f"C{i}", label=f"lr {lr}")
    ax_s.axhline(2 / lr, color=f"C{i}", ls="--", lw=1)
ax_l.set(xlabel="step", ylabel="training loss (nats)", yscale="log", title="loss")
ax_s.set(xlabel="step", ylabel="lambda_max", title="sharpness; dashed: 2 / lr")
ax_s.legend()
fig.tight_layout()
for lr, (h, lams) in eos.items():
    ratio = np.array(lams) * lr / 2
    reached = np.argmax(ratio >= 0.95) if np.any(ratio >= 0.95) else None
    where = f"from step {h.step[1:][reached]}" if reached is not None else "never reached"
    after = ratio[reached:] if reached is not None else ratio
    print(f"lr {lr}: 2/lr = {2 / lr:.0f}; lambda_max reached 95% of it {where}; afterwards "
          f"lambda_max / (2/lr) had median {np.median(after):.2f}, range "
          f"{after.min():.2f}-{after.max():.2f}")

# %% [markdown]
# For each learning rate lambda_max climbs to 2 / lr (dashed) within the first hundred steps and
# then oscillates around it and somewhat above - the printed median ratio - while the loss falls
# unevenly, with spikes where the sharpest direction is being overshot. Once the loss becomes
# small the sharpness can fall below 2 / lr again (the end of the larger learning rate's run), as
# the cross-entropy flattens out near zero loss. The sharpness that gradient descent ends in is
# set by its learning rate as much as by the data - one more reason to compare SB and LB at
# matched learning rates, and a thread chapter 7 picks up.
#
# ## Explore
#
# Redraw the spectra above with another broadening or number of eigenvalues (no new Hessian
# products are computed).

# %%
box = gu.widgets.spectrum_explorer(dens, {f"{k_} (seed 0)": v for k_, v in top20.items()})

# %% [markdown]
# ## Summary
#
# 1. A Hessian-vector product costs about two gradients; everything else is built from them.
# 2. Lanczos with full reorthogonalization needs fewer products than power iteration for the
#    same accuracy, and gives many eigenvalues from one basis.
# 3. Our LB minimizers have larger top eigenvalues and a larger trace than the SB ones; both
#    spectra are a bulk near zero plus a few outliers.
# 4. lambda_max and Keskar's sharpness rank the sweep's networks similarly but measure
#    different things.
# 5. Full-batch gradient descent drives lambda_max to about 2 / lr: the learning rate sets the
#    sharpness that training can sustain.
#
# ## Exercises
#
# 1. Compute the most negative eigenvalues (`which="smallest"`). How negative are they, and is
#    the minimizer a minimum?
# 2. Count the products Hutchinson needs for the same standard error as Hutch++.
# 3. Repeat the edge-of-stability run with momentum 0.9. Where does lambda_max settle?
#    (Cohen et al. give 2 (1 + beta) / lr.)
# 4. Compute the top eigenvalues on test data. Are the LB minimizers sharper there too?
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
# - Meyer, Musco, Musco and Woodruff (2021). *Hutch++: Optimal Stochastic Trace Estimation.*
# - Cohen, Kaur, Li, Kolter and Talwalkar (2021). *Gradient Descent on Neural Networks
#   Typically Occurs at the Edge of Stability.* ICLR.

# %% tags=["remove-cell"]
# Check: LB has the larger lambda_max and trace (standard, paper); smoke: everything ran.
assert all(np.all(np.isfinite(v)) for vs in top.values() for v in vs)
assert all(abs(np.trapezoid(d.density, d.grid) - 1) < 1e-2 for d in dens.values())
if gu.mode() != "smoke":
    assert np.mean([t[0] for t in top["LB"]]) > np.mean([t[0] for t in top["SB"]])
    assert np.mean([t for t, _ in tr["LB"]]) > np.mean([t for t, _ in tr["SB"]])
