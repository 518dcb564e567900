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

if "google.colab" in sys.modules:  # on Colab: install the book's package, at this edition
    import subprocess

    repo, tag = "git+https://github.com/generalization-gap/book", "v0.2.0"
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if subprocess.run([*pip, f"{repo}@{tag}"]).returncode:  # the tag is not published yet
        subprocess.run([*pip, repo], check=True)
    # keep trained networks between sessions, on Google Drive (chapter 0): uncomment
    # import gaputils; gaputils.runtime.drive_cache()

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
# The SB and LB networks of chapter 1, for the seeds this mode measures (the count printed: the
# first five of ten in standard mode). Landscapes are evaluated on the first
# `budget.n_curvature` training images (and as many test images): the loss is the mean
# cross-entropy in eval mode, with BatchNorm's running statistics and no dropout.

# %%
tb = gu.runs.testbed_minimizers()
ds, runs, train, test, sb, lb = tb.ds, tb.runs, tb.train, tb.test, tb.sb, tb.lb
n = len(train[1])
print(f"{tb}; {gu.params.flat(sb).numel():,} parameters")

# %% [markdown]
# ## Keskar's parametric plot
#
# Walk along the straight line x(alpha) = alpha x_LB + (1 - alpha) x_SB, from alpha = -1 (past
# the SB minimizer) through 0 (SB) and 1 (LB) to 2 (past LB), and evaluate the loss and accuracy
# at each point, for the pair of seed 0 (`sb`, `lb`). The two networks were trained from the
# same initial weights, which makes their hidden units correspond; between networks from
# different initial weights, a mere permutation of the units could put a barrier on the line.
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
fig = gu.plots.interpolation(res, naive, title="seed 0: from the SB to the LB minimizer")

# %%
print(ls.describe_interpolation(res, naive))
norms = {k: float(gu.params.flat(net).norm()) for k, net in (("SB", sb), ("LB", lb))}
print(f"weight norms ||x||: SB {norms['SB']:.1f}, LB {norms['LB']:.1f}; a step of alpha = 1 "
      f"is {float((gu.params.flat(lb) - gu.params.flat(sb)).norm()):.1f} long")

# %% [markdown]
# Keskar et al. saw the loss rise much more steeply beyond the LB minimizer than beyond the SB one,
# and read it as "LB is sharper". Everything printed here is one pair, seed 0: a reading of one
# line, not yet a finding about LB (the next sections average over seeds). The printed losses
# compare the two ends of the line with the two minimizers themselves (alpha = 0 and 1; at every
# point, including these, with re-estimated statistics). Between the minimizers, the printed barrier
# is how far the loss rises above the higher of the two, and how far the training accuracy falls: a
# clearly positive barrier means the two minimizers are not linearly connected: no straight path
# of low loss joins them (a curved one may - Garipov et al., 2018, and Draxler et al., 2018, find
# such paths between minima of one network). (Frankle et al., 2020, measure the barrier in error
# rather than loss, mostly test error and above the mean of the two ends' errors, and call
# minimizers "linearly connected" when it stays within about 2%; the line after the barrier reads
# ours in training error, above the higher of the two ends - the same here, where both ends fit
# the training set.) With interpolated statistics the same midpoint looks
# different (printed), which is how much of the picture stale BatchNorm statistics would contribute.
# Outside [0, 1] the naive recipe can break down altogether: extrapolated running variances can turn
# negative, and the dotted line stops where the loss is no longer defined (the points are printed).
#
# The test curves tell a quieter story: compare the printed test loss and accuracy at the two
# minimizers - the difference in the training loss's shape need not show up as a difference in
# test loss. Two more cautions. This line is not a random direction: it is the difference
# between the two minimizers itself, one direction out of as many as the network has
# parameters. And it is not normalized: the LB minimizer's weights are smaller (the norms are
# printed), so the same step in alpha is a larger *relative* step around LB - exactly the
# objection this chapter's last section raises against raw directions.
#
# ## Random directions, filter-normalized
#
# To look around one minimizer we need directions that do not favour either network. A
# Gaussian direction has one problem: networks with BatchNorm are invariant to the scale of each
# filter, so a step of fixed length is a big step for a filter with small weights and a small
# one for a filter with large weights. Li et al. (2018) fix this by scaling each output filter
# (each row of a weight matrix, each output channel of a convolution) of the direction to the
# norm of the same filter of the weights, and by leaving biases and BatchNorm parameters alone;
# `gu.landscape.random_direction` does both by default. A step of t = 1 then changes every
# filter by exactly its own norm. The slices, planes and loss increases below keep each
# minimizer's BatchNorm running statistics at every perturbed point, as Li et al. do - unlike
# the interpolation above, which re-estimates them; the next section measures what that
# changes. The figure shows the seed-0 minimizers along five directions each.

# %%
dirs = {name: [ls.random_direction(net, seed=s) for s in range(budget.probes)]
        for name, net in (("SB", sb), ("LB", lb))}
lines = {name: [ls.line(net, d, train, span=1.0, n=budget.grid) for d in dirs[name]]
         for name, net in (("SB", sb), ("LB", lb))}
fig, ax = plt.subplots()
gu.plots.slices(ax, lines, colors=gu.plots.PAIR).set(
    yscale="log", title="seed-0 minimizers, filter-normalized directions")
fig.tight_layout()

# %% [markdown]
# Read the figure with its log scale in mind: the curve that starts lower (the minimizer with
# the lower training loss, printed above) falls and climbs through more decades near t = 0. A
# log axis shows ratios of losses, not how far the loss rises in nats - which the next section
# measures.
#
# ## A number for "sharper"
#
# A figure invites the eye; a number can be tested. For every SB and LB minimizer (every seed)
# we take `budget.probes` filter-normalized directions - the same random draws for SB and LB -
# and measure how much the training loss rises at t = 0.5, a step of half of each filter's
# norm: the mean over directions is a simple, averaged sharpness. Chapter 3 refines this into
# Keskar's worst-case metric. We measure it twice: with the minimizer's running statistics,
# and with the statistics re-estimated at every perturbed point.

# %%
distance = 0.5
rise, ratio = {}, {}
for bn in ("running", "recompute"):
    rise[bn] = {name: np.array([ls.loss_increase(r.model, train, distance, budget.probes,
                                                 bn=bn).mean() for r in group])
                for name, group in runs.items()}
    ratio[bn] = gu.stats.ratio_interval(rise[bn]["LB"], rise[bn]["SB"])
    r, lo, hi = ratio[bn]
    print(f"BN statistics {bn}: loss increase at t = {distance}: " + ", ".join(
        f"{k} {v.mean():.3f} ± {v.std(ddof=1):.3f}" for k, v in rise[bn].items())
        + f" nats (mean ± std, ddof = 1, over {len(runs['SB'])} seeds)\n  LB / SB (geometric "
        f"mean of the paired ratios) {r:.2f}, 95% CI [{lo:.2f}, {hi:.2f}]: the interval "
        + ("lies above 1" if lo > 1 else "includes 1"))

# %% [markdown]
# The printed ratios and their intervals say how much faster, along filter-normalized
# directions, the loss rises around the LB minimizers than around the SB ones; where the
# interval lies above 1, this is the sense in which, in our runs, the large batch ends in a
# sharper minimum. Compare the two lines: where the increases with re-estimated statistics
# are smaller, that part of the rise measured with frozen statistics came from the statistics
# going stale, not from the weights; the second ratio says whether the ordering survives
# without it. Note what this number is not: it is an average over random directions, not the
# worst case, and it is measured in units that depend on the normalization chosen. And the LB
# minimizers end at a higher training loss than the SB ones (chapter 1), so part of a larger rise
# may be how far training converged rather than the shape of the minimum - chapter 3 meets this
# again.
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
fig = gu.plots.planes(pl, title="seed-0 minimizers, the first two of the directions above")
print(f"one {budget.grid} x {budget.grid} plane on {n} examples: {seconds:.1f} s on {gu.device()}")
inner = np.ix_(np.abs(pl["SB"]["t"]) <= 0.5, np.abs(pl["SB"]["t"]) <= 0.5)
print("median training loss for |a|, |b| <= 0.5: " + ", ".join(
    f"{k} {np.median(v['loss'][inner]):.3f}" for k, v in pl.items())
    + f" (for comparison: ln {ds.num_classes} = {np.log(ds.num_classes):.2f}, a uniform guess)")
corner = {k: v["loss"][[0, 0, -1, -1], [0, -1, 0, -1]] for k, v in pl.items()}
print("training loss at the four corners (|a| = |b| = 1): " + ", ".join(
    f"{k} {v.min():.2f} to {v.max():.2f}" for k, v in corner.items()))

# %% [markdown]
# Compare the two contour maps (seed 0 alone, like the interpolation) on their common colour
# scale (log scale, so SB's lower loss at its own minimum adds dark rings at the centre), and the
# printed median loss in the central square, where the networks still work: where LB's is
# higher, the same filter-normalized step costs more loss around the LB minimizer, as the
# averaged number above says. Far out, at the figure's corners, compare the printed corner
# losses with the uniform guess: where they exceed it, the corners show destroyed networks -
# worse than guessing - not the minimum. The planes are cheap because the model is never
# copied: its parameters are one flat vector, each grid point is one fused vector update, and
# the weights are restored bit for bit at the end.
#
# ## What raw slices can and cannot tell
#
# Without filter normalization - here: a Gaussian direction scaled, as a whole, to the norm of the
# weights - a slice depends on how the weights happen to be distributed over the layers. Dinh et al.
# (2017) made this precise: in a ReLU network one can multiply one layer by a constant and undo it
# in the next, and get exactly the same function with a minimum that looks as much sharper as one
# likes. With BatchNorm after a layer the undoing is even simpler: scale the BatchNorm's running
# mean by the same constant and its running variance and eps by its square (`gu.reparam.rescale`).
# We rescale the SB network's first layer by 10 and slice it again.

# %%
scaled = gu.reparam.rescale(copy.deepcopy(sb), layer=0, alpha=10.0)
print("same function:", np.allclose(gu.train.evaluate(scaled, *train),
                                     gu.train.evaluate(sb, *train), rtol=1e-4))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
change, up = {}, {}
for ax, norm in zip(axes, (False, True), strict=True):
    found = {k: [ls.line(net, ls.random_direction(net, filter_norm=norm, seed=s), train, 1.0,
                         budget.grid) for s in range(budget.probes)]
             for k, net in (("SB", sb), ("SB rescaled", scaled))}
    gu.plots.slices(ax, found, style=("-", "--")).set(yscale="log", title=f"filter_norm={norm}")
    if not norm:
        ax.set_xlabel("step along the direction (t, the direction scaled to ||x|| as a whole)")
    pairs = list(zip(found["SB"], found["SB rescaled"], strict=True))
    change[norm] = max(np.max(np.abs(b["loss"] / a["loss"] - 1)) for a, b in pairs)
    up[norm] = np.exp(np.mean([np.log(b["loss"] / a["loss"]) for a, b in pairs]))
fig.suptitle("the seed-0 SB minimizer and the same network rescaled")
fig.tight_layout()
share = {k: float(next(net.parameters()).detach().norm() ** 2 / gu.params.flat(net).norm() ** 2)
         for k, net in (("before", sb), ("after", scaled))}
print(f"first layer's share of ||x||^2: {share['before']:.1%} before, {share['after']:.1%} after")
print("largest relative change of a slice's loss through the rescaling: " + ", ".join(
    f"filter_norm={k}: {v:.1e}" for k, v in change.items()))
print("rescaled / original loss, geometric mean over directions and steps: " + ", ".join(
    f"filter_norm={k}: {v:.3g}" for k, v in up.items())
    + (" - without filter normalization the rescaled network looks "
       + ("sharper" if up[False] > 1 else "flatter")))

# %% [markdown]
# Left: with one global scale, the rescaled network looks sharper although it computes the same
# function (the printed change, and the printed ratio of its losses to the original's, above 1). Its
# first layer now holds a much larger share of the weight norm (printed), so a direction scaled to
# the total norm is longer, and in every other layer its steps are large compared with the weights
# there (the first layer, followed by BatchNorm, does not care about its own scale). Right: filter
# normalization scales each filter's step with that filter, so the rescaled network gives the same
# slices (its dashed line lies on the solid one; the printed change is rounding). This is why every
# landscape in this book is filter-normalized by default, and why chapter 3 needs a sharpness
# measure that is invariant to such rescalings.
#
# ## Explore
#
# Choose a minimizer, a direction seed, the span and the resolution; tick "2-D" for a plane.
# The figure below is the default; the controls redraw it when a Jupyter frontend is running.

# %%
box = gu.widgets.landscape_explorer({"SB (seed 0)": sb, "LB (seed 0)": lb}, train, span=1.0,
                                   n=budget.grid)

# %% [markdown]
# ## Beside the reference runs
#
# The chapter's key numbers and curves from this run, beside the same ones from the committed
# reference runs of the whole chapter, each labelled with its device, mode and date: a
# standard-mode run on a CPU and, where one is committed, a full-scale paper-mode run
# (`python -m gaputils.reproduce --mode paper --chapter 2` makes one). The lines under the
# table say whether this run agrees with the reference run of its own mode -
# statistically, where a number has an interval - and what to conclude.

# %%
gu.reference.compare("02", {
    "SB weight norm": norms["SB"], "LB weight norm": norms["LB"],
    "LB / SB loss rise, frozen BN": ratio["running"][0],
    "LB / SB loss rise, re-estimated BN": ratio["recompute"][0],
    "raw slice change after rescaling": change[False],
}, {"interpolation SB to LB": gu.reference.curve(alphas, res["train_loss"],
                                                "alpha (0: SB, 1: LB)", "training loss (nats)")})

# %% [markdown]
# ## Summary
#
# 1. Along the line between the minimizers, the loss rises beyond each of them; Keskar et al.
#    read a steeper rise beyond LB as sharpness. Interpolating BatchNorm statistics distorts the
#    picture: re-estimate them at each point.
# 2. Random directions must be filter-normalized to compare networks; then, in our runs, the
#    LB minimizers are sharper than the SB ones by the printed ratio and its interval,
#    averaged over directions and seeds, with or without re-estimated BatchNorm statistics.
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
# - Garipov, Izmailov, Podoprikhin, Vetrov and Wilson (2018). *Loss Surfaces, Mode Connectivity,
#   and Fast Ensembling of DNNs.* NeurIPS.
# - Draxler, Veschgini, Salmhofer and Hamprecht (2018). *Essentially No Barriers in Neural Network
#   Energy Landscape.* ICML.
# - Frankle, Dziugaite, Roy and Carbin (2020). *Linear Mode Connectivity and the Lottery Ticket
#   Hypothesis.* ICML.

# %% tags=["remove-cell"]
# Check: the loss rises beyond both minimizers and interpolated BN statistics distort the line;
# LB sharper along filter-normalized directions beyond seed noise, with frozen and with
# re-estimated statistics; the rescaling keeps the function and the filter-normalized slices
# and changes the raw ones (standard, paper); smoke: everything ran.
assert np.all(np.isfinite(res["train_loss"])) and pl["SB"]["loss"].shape == (budget.grid,) * 2
assert np.allclose(gu.train.evaluate(scaled, *train), gu.train.evaluate(sb, *train), rtol=1e-4)
assert change[True] < 1e-3, change  # the same function: the same filter-normalized slices
if gu.mode() != "smoke":
    i0, i1 = (int(np.argmin(np.abs(alphas - v))) for v in (0.0, 1.0))
    assert res["train_loss"][0] > res["train_loss"][i0], "loss rises beyond SB"
    assert res["train_loss"][-1] > res["train_loss"][i1], "loss rises beyond LB"
    mid = int(np.argmin(np.abs(alphas - 0.5)))
    at_mid = naive["train_loss"][mid]  # undefined or off by more than 10% at the midpoint
    assert not np.isfinite(at_mid) or abs(at_mid / res["train_loss"][mid] - 1) > 0.1, naive
    for bn, (_, lo, _) in ratio.items():
        assert lo > 1, (bn, ratio)
    assert change[False] > 0.5 and up[False] > 1, (change, up)  # raw: rescaled looks sharper
    assert norms["LB"] < norms["SB"], norms  # the LB minimizer's weights are smaller
