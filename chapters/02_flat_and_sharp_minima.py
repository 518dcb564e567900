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
# # 2. Flat and sharp minima
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/generalization-gap/book/blob/main/chapters/02_flat_and_sharp_minima.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/generalization-gap/book/main?labpath=chapters%2F02_flat_and_sharp_minima.ipynb)
#
# Keskar et al. explained the gap of chapter 1 by the shape of the training loss around the
# minimizers: the small batch ends in a wide, flat valley, the large batch in a narrow, sharp
# one. This chapter looks at that shape directly - along the line between the two minimizers,
# and along random directions - and shows which pictures can be trusted. A picture of a loss
# landscape depends on how the directions are scaled, so we also show how to make it mean
# something.
#
# **What you will learn**
# - Keskar's parametric plot, and how to treat BatchNorm when interpolating between networks;
# - filter-normalized random directions (Li et al., 2018) and 1-D and 2-D landscape slices;
# - a number for "sharper": the loss increase at a fixed normalized distance;
# - why raw slices can mislead: Dinh et al.'s rescaling changes them, not the function.
#
# **Prerequisites**: chapter 1 (its SB and LB minimizers are loaded from the cache, or trained
# when not there).

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the book's helper package first
    import subprocess

    url = "git+https://github.com/generalization-gap/book"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np

import gaputils as gu
from gaputils import landscape as ls

gu.setup(seed=0)
budget = gu.budget()

# %% [markdown]
# ## The minimizers and the data
#
# The SB and LB networks of chapter 1, for every seed. Landscapes are evaluated on the first
# `budget.n_curvature` training images (and as many test images): the loss is the mean
# cross-entropy in eval mode, with BatchNorm's running statistics and no dropout.

# %%
ds = gu.experiments.dataset()
runs = gu.experiments.minimizers(ds)
train = gu.experiments.curvature_data(ds)
test = gu.experiments.curvature_data(ds, split="test")
n = len(train[1])
sb, lb = runs["SB"][0].model, runs["LB"][0].model
print(f"{len(runs['SB'])} SB and {len(runs['LB'])} LB minimizers; landscapes on {n} examples")

# %% [markdown]
# ## Keskar's parametric plot
#
# Walk along the straight line x(alpha) = alpha x_LB + (1 - alpha) x_SB, from alpha = -1 (past
# the SB minimizer) through 0 (SB) and 1 (LB) to 2 (past LB), and evaluate the loss and accuracy
# at each point. The two networks were trained from the same initial weights, which is what
# makes the line between them meaningful.
#
# **BatchNorm.** The parameters are interpolated, but BatchNorm's running mean and variance are
# not parameters: they summarize the activations of the network they belong to. At each alpha
# we therefore re-estimate them on the training data with the interpolated weights
# (`bn="recompute"`, the default). The naive alternative - interpolating the statistics like the
# weights (`bn="interpolate"`) - is drawn once, dotted, to show why not.

# %%
alphas = np.linspace(-1, 2, budget.alphas)
res = ls.interpolate(sb, lb, train, test, alphas)
naive = ls.interpolate(sb, lb, train, alphas=alphas, bn="interpolate")
fig = gu.plots.interpolation(res, naive)

# %%
mid = int(np.argmin(np.abs(alphas - 0.5)))
side = {"SB side (alpha = -1)": 0, "LB side (alpha = 2)": -1}
for name, i in side.items():
    print(f"{name}: train loss {res['train_loss'][i]:.3f}, accuracy {res['train_acc'][i]:.1%}")
print(f"at alpha = {alphas[mid]:.2f}: train loss {res['train_loss'][mid]:.3f} with recomputed "
      f"BN statistics, {naive['train_loss'][mid]:.3f} with interpolated ones")
undefined = alphas[~np.isfinite(naive["train_loss"])]
print(f"interpolated statistics give no finite loss at {len(undefined)} of {len(alphas)} points"
      + (f", alpha in [{undefined.min():.2f}, {undefined.max():.2f}]" if len(undefined) else ""))

# %% [markdown]
# Keskar et al. saw the loss rise much more steeply beyond the LB minimizer than beyond the SB
# one, and read it as "LB is sharper". The printed losses at both ends of the line compare the two
# sides in our run. Between the minimizers the loss rises and falls again - there is a barrier,
# and the printed values in the middle show how much of it comes from stale BatchNorm statistics
# rather than from the weights. Outside [0, 1] the naive recipe breaks down altogether:
# extrapolated running variances can turn negative, and the dotted line stops where the loss is no
# longer defined (the count is printed). Keep in mind that this line is one direction out of about
# a hundred thousand (one per weight), and it is the one direction along which the two minimizers
# differ most.
#
# ## Random directions, filter-normalized
#
# To look around one minimizer we need directions that do not favour either network. A
# Gaussian direction has one problem: networks with BatchNorm are invariant to the scale of each
# filter, so a step of fixed length is a big step for a filter with small weights and a small
# one for a filter with large weights. Li et al. (2018) fix this by scaling each output filter
# (each row of a weight matrix) of the direction to the norm of the same filter of the weights,
# and by leaving biases and BatchNorm parameters alone; `gu.landscape.random_direction` does
# both by default. A step of t = 1 then changes every filter by about its own size.

# %%
dirs = {name: [ls.random_direction(net, seed=s) for s in range(budget.probes)]
        for name, net in (("SB", sb), ("LB", lb))}
lines = {name: [ls.line(net, d, train, span=1.0, n=budget.grid) for d in dirs[name]]
         for name, net in (("SB", sb), ("LB", lb))}
fig, ax = plt.subplots()
gu.plots.slices(ax, lines, colors=gu.plots.PAIR).set(yscale="log", title="filter-normalized")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## A number for "sharper"
#
# A figure invites the eye; a number can be tested. For every SB and LB minimizer (every seed)
# we take `budget.probes` filter-normalized directions and measure how much the training loss
# rises one half step away, at t = 0.5: the mean over directions is a simple, averaged
# sharpness. Chapter 3 refines this into Keskar's worst-case metric.

# %%
distance = 0.5
rise = {name: np.array([ls.loss_increase(r.model, train, distance, budget.probes).mean()
                        for r in group]) for name, group in runs.items()}
for name, v in rise.items():
    print(f"{name}: loss increase at t = {distance}: {v.mean():.4f} ± {v.std(ddof=1):.4f} nats "
          f"(mean ± std over {len(v)} seeds)")
ratio = rise["LB"].mean() / rise["SB"].mean()
print(f"LB / SB: {ratio:.2f}; LB - SB paired over seeds: {gu.stats.paired(rise['LB'], rise['SB'])}")

# %% [markdown]
# Along filter-normalized directions the LB minimizers rise faster than the SB ones by the
# printed ratio: this is the sense in which, in our runs, the large batch ends in a sharper
# minimum. Note what this number is not: it is an average over random directions, not the
# worst case, and it is measured in units that depend on the normalization chosen.
#
# ## Two-dimensional slices
#
# Two directions span a plane; its contour map is the picture usually shown in papers. Both
# minimizers on the same color scale, with the time it takes:

# %%
t0 = time.perf_counter()
pl = {name: ls.plane(net, dirs[name][0], dirs[name][1], train, span=1.0, n=budget.grid)
      for name, net in (("SB", sb), ("LB", lb))}
seconds = (time.perf_counter() - t0) / 2
fig = gu.plots.planes(pl)
print(f"one {budget.grid} x {budget.grid} plane on {n} examples: {seconds:.1f} s on {gu.device()}")

# %% [markdown]
# The contours around the LB minimizer are closer together: the same filter-normalized step
# costs more loss. The planes are cheap because the model is never copied: its parameters are
# one flat vector, each grid point is one fused vector update, and the weights are restored bit
# for bit at the end.
#
# ## What raw slices can and cannot tell
#
# Without filter normalization - here: a Gaussian direction scaled, as a whole, to the norm of
# the weights - a slice depends on how the weights happen to be distributed over the layers.
# Dinh et al. (2017) made this precise: in a ReLU network one can multiply one layer by a
# constant and undo it in the next, and get exactly the same function with an arbitrarily
# sharper or flatter minimum. With BatchNorm after every layer the undoing is even simpler
# (`gu.reparam.rescale`). We rescale the SB network's first layer by 10 and slice it again.

# %%
scaled = gu.reparam.rescale(copy.deepcopy(sb), layer=0, alpha=10.0)
print("same function:", np.allclose(gu.train.evaluate(scaled, *train),
                                     gu.train.evaluate(sb, *train), rtol=1e-4))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, norm in zip(axes, (False, True), strict=True):
    found = {k: [ls.line(net, ls.random_direction(net, filter_norm=norm, seed=s), train, 1.0,
                         budget.grid) for s in range(budget.probes)]
             for k, net in (("SB", sb), ("SB rescaled", scaled))}
    gu.plots.slices(ax, found).set(yscale="log", title=f"filter_norm={norm}")
    ax.legend()
fig.tight_layout()

# %% [markdown]
# Left: with one global scale, the rescaled network looks much sharper although it computes the
# same function. Its first layer now holds most of the weight norm, so a direction scaled to the
# total norm is much longer, and in every other layer its steps are large compared with the
# weights there (the first layer, followed by BatchNorm, does not care about its own scale).
# Right: filter normalization scales each filter's step with that filter, so the rescaled
# network gives the same slices. This is why
# every landscape in this book is filter-normalized by default, and why chapter 3 needs a
# sharpness measure that is invariant to such rescalings.
#
# ## Explore
#
# Choose a minimizer, a direction seed, the span and the resolution; tick "2-D" for a plane.
# The figure below is the default; the controls redraw it when a Jupyter frontend is running.

# %%
box = gu.widgets.landscape_explorer({"SB": sb, "LB": lb}, train, span=1.0, n=budget.grid)

# %% [markdown]
# ## Summary
#
# 1. Along the line between the minimizers, the loss rises beyond each of them; Keskar et al.
#    read a steeper rise beyond LB as sharpness. Interpolating BatchNorm statistics distorts the
#    picture: re-estimate them at each point.
# 2. Random directions must be filter-normalized to compare networks: then the LB minimizers
#    are measurably sharper than the SB ones (the ratio above), averaged over directions and
#    seeds.
# 3. Unnormalized slices change under rescalings that leave the function unchanged (Dinh et
#    al.); filter-normalized ones do not.
#
# ## Exercises
#
# 1. Change `distance` to 0.25 and 1.0. Does the LB / SB ratio depend on it? Why would it?
# 2. Interpolate between two SB minimizers of different seeds (`runs["SB"][0]` and
#    `runs["SB"][1]`). Is there a barrier? What does that say about the line plot above?
# 3. Rescale the first layer by 0.1 instead of 10. What happens to the raw slices?
# 4. Evaluate the planes on test data instead of training data. Where is the test minimum?
#
# ## Further reading
#
# - Keskar, Mudigere, Nocedal, Smelyanskiy and Tang (2017). *On Large-Batch Training for Deep
#   Learning: Generalization Gap and Sharp Minima.* ICLR.
# - Li, Xu, Taylor, Studer and Goldstein (2018). *Visualizing the Loss Landscape of Neural
#   Nets.* NeurIPS.
# - Dinh, Pascanu, Bengio and Bengio (2017). *Sharp Minima Can Generalize For Deep Nets.* ICML.
# - Goodfellow, Vinyals and Saxe (2015). *Qualitatively characterizing neural network
#   optimization problems.* ICLR.

# %% tags=["remove-cell"]
# Check: LB sharper along filter-normalized directions (standard, paper); smoke: everything ran.
assert np.all(np.isfinite(res["train_loss"])) and pl["SB"]["loss"].shape == (budget.grid,) * 2
if gu.mode() != "smoke":
    assert rise["LB"].mean() > rise["SB"].mean(), rise
    assert rise["LB"].min() > rise["SB"].max(), "LB sharper for every seed"
