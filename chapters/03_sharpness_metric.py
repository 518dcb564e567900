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
# # 3. The sharpness metric
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/generalization-gap/book/blob/main/chapters/03_sharpness_metric.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/generalization-gap/book/main?labpath=chapters%2F03_sharpness_metric.ipynb)
#
# Keskar et al. turned "sharp" into a number: how much the training loss can rise inside a small
# box around the minimizer. Their code for it was never released. This chapter implements the
# metric so that it runs in seconds, reproduces their tables on our minimizers, and answers the
# three questions their reviewers asked about it - how sensitive it is, how well it predicts
# test accuracy, and what it has to do with the Hessian - before showing its blind spot.
#
# **What you will learn**
# - the epsilon-sharpness metric, in the full space and in random subspaces, and two ways to
#   solve its inner maximization;
# - how the metric depends on epsilon, the batch size and the learning rate;
# - how strongly it correlates with test accuracy, with a confidence interval;
# - its second-order expansion and why, at a real minimizer, the gradient term dominates;
# - why a rescaling that leaves the function unchanged changes the metric, and a fix.
#
# **Prerequisites**: chapters 1 and 2.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the book's helper package first
    import subprocess

    url = "git+https://github.com/generalization-gap/book"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np

import gaputils as gu
from gaputils import sharpness as sh

gu.setup(seed=0)
budget = gu.budget()
ds = gu.experiments.dataset()
runs = gu.experiments.minimizers(ds)
train = gu.experiments.curvature_data(ds)
sb, lb = runs["SB"][0].model, runs["LB"][0].model

# %% [markdown]
# ## The metric
#
# For a minimizer x of the training loss f, an n x p matrix A and a box
# C = { y : |y_i| <= eps (|(A+ x)_i| + 1) },
#
# $$\phi_{x,f}(\epsilon, A) = \frac{\max_{y \in C} f(x + A y) - f(x)}{1 + f(x)} \times 100 .$$
#
# With A = I (the full space) every parameter may move by eps times its own size plus eps: the
# box is relative for large weights and absolute for small ones. With a random n x p matrix
# (p = 100 in the paper) the search is restricted to a random p-dimensional subspace; ours has
# independent standard normal entries and `A+ x` is computed from the normal equations. f is
# the mean cross-entropy on `budget.n_curvature` training examples in eval mode.
#
# The inner maximization is a box-constrained problem in as many dimensions as the network has
# weights. Keskar et al. ran about ten iterations of L-BFGS-B. `gu.sharpness.keskar` offers that
# (`method="lbfgsb"`, SciPy, on the host in float64) and, by default, projected sign-gradient
# ascent on the device
# (`method="ascent"`): each step moves every coordinate to the side of the box its gradient
# points to, so the iterates hop between vertices of the box, where the maximum of a convex
# function lies. Both count one forward and one backward pass per evaluation.

# %%
rows = {}
for name, net in (("SB", sb), ("LB", lb)):
    for method, kw in (("ascent", {}), ("ascent, 3 starts", {"restarts": 3}),
                       ("lbfgsb", {"method": "lbfgsb"})):
        rows[name, method] = sh.keskar(net, train, eps=1e-3, max_iter=10, **kw)
print(f"{'':<4}{'method':<18}{'sharpness %':>12}{'f(x)':>9}{'||A y*||':>10}{'evals':>7}{'s':>7}")
for (name, method), r in rows.items():
    print(f"{name:<4}{method:<18}{r.value:>12.1f}{r.f0:>9.4f}{r.perturbation_norm:>10.3f}"
          f"{r.evaluations:>7}{r.seconds:>7.1f}")

# %%
for name in ("SB", "LB"):
    a, b = rows[name, "ascent"], rows[name, "lbfgsb"]
    print(f"{name}: L-BFGS-B / ascent value {b.value / a.value:.2f}, "
          f"time {b.seconds / a.seconds:.1f}x")
    share = rows[name, "ascent, 3 starts"].value / b.value
    print(f"{name}: ascent with 3 starts reaches {share:.0%} of the L-BFGS-B value")
ratio_ascent = rows["LB", "ascent"].value / rows["SB", "ascent"].value
ratio_lbfgsb = rows["LB", "lbfgsb"].value / rows["SB", "lbfgsb"].value
print(f"LB / SB: {ratio_ascent:.2f} with ascent, {ratio_lbfgsb:.2f} with L-BFGS-B")

# %% [markdown]
# The two solvers do not reach the same maximum from the same start: with the same number of
# evaluations, L-BFGS-B finds a higher point of the box than one ascent run (the printed value
# ratio) - the inner problem is not concave, and the ascent settles on a lower local maximum
# among the vertices. Restarting the ascent from random points of the box closes part or all
# of the difference (printed as a percentage of L-BFGS-B's value) at three times the cost, which
# is still less than L-BFGS-B's time: the ascent stays on the device and avoids SciPy's float64
# copies of a weight-long vector. Both solvers rank LB as sharper than SB (printed last). The
# tables below use one ascent run, the fastest; read its values as a lower estimate of the
# maximum.
#
# ## Keskar's Tables 3 and 4 on our minimizers
#
# Full space and a random 100-dimensional subspace, at the paper's two box sizes, for every SB
# and LB minimizer (every seed; each seed also draws its own subspace). Mean +- standard
# deviation over seeds (ddof = 1), and the 95% t-interval of LB - SB paired by seed (the two
# minimizers of a seed share their initial weights):

# %%
table = {}
for space, p in (("full space", None), (f"subspace p={budget.subspace_dim}", budget.subspace_dim)):
    for eps in (1e-3, 5e-4):
        for name, group in runs.items():
            table[space, eps, name] = np.array(
                [sh.keskar(r.model, train, eps=eps, subspace_dim=p, seed=r.seed).value
                 for r in group])
print(f"{'space':<20}{'eps':>8}{'SB':>18}{'LB':>18}{'LB/SB':>7}{'LB - SB, paired 95% CI':>26}")
for space, eps in dict.fromkeys((s, e) for s, e, _ in table):
    sbv, lbv = table[space, eps, "SB"], table[space, eps, "LB"]
    d = gu.stats.paired(lbv, sbv)
    print(f"{space:<20}{eps:>8.0e}{f'{sbv.mean():.2f} ± {sbv.std(ddof=1):.2f}':>18}"
          f"{f'{lbv.mean():.2f} ± {lbv.std(ddof=1):.2f}':>18}{lbv.mean() / sbv.mean():>7.1f}"
          f"{f'[{d.lo:+.2f}, {d.hi:+.2f}]':>26}")
print("Keskar et al., Table 3 (full space, eps 1e-3), F1 on MNIST: SB 1.23, LB 205.14")

# %% [markdown]
# In every row the LB minimizers are sharper than the SB ones; the last column says by how much.
# Our absolute values differ from the paper's - by orders of magnitude for SB - and they should
# be expected to: the metric depends on the network's weights (through the box), on the data,
# on how the inner problem is solved and on how many iterations it gets, and the paper's F1 was
# trained on MNIST to a much smaller training loss than ours on Fashion-MNIST. The ratio is the
# part that carries over: Keskar et al. found LB one to two orders of magnitude sharper in the
# full space; on our Fashion-MNIST F1 the factor is smaller (printed above).
#
# ## Question 1: how sensitive is the metric?
#
# **To epsilon.** The box size sets the scale of everything. Over two decades of eps:

# %%
eps_grid = np.geomspace(1e-7, 3e-3, 9)
curves = {name: [sh.keskar(net, train, eps=e).value for e in eps_grid]
          for name, net in (("SB", sb), ("LB", lb))}
fig, ax = plt.subplots()
for (name, vals), color in zip(curves.items(), gu.plots.PAIR, strict=True):
    ax.loglog(eps_grid, vals, "o-", color=color, label=name)
ax.loglog(eps_grid, curves["SB"][0] * eps_grid / eps_grid[0], "k:", label="slope 1 (linear)")
ax.set(xlabel="box size eps", ylabel="sharpness (%)", title="sharpness vs eps")
ax.legend()
fig.tight_layout()
ratios = np.array(curves["LB"]) / np.array(curves["SB"])
print("LB / SB at each eps:", np.round(ratios, 2))

# %% [markdown]
# At the smallest eps both curves run parallel to the dotted line - they grow linearly with
# eps, and the metric measures the gradient, not the curvature (question 3). Over the middle
# decades they grow faster than linearly, which is the curvature's signature, and at the
# largest eps they bend over as the loss inside the box saturates. The LB / SB ratio therefore
# depends on the eps at which it is read (printed): a single eps can make the difference look
# small or large.
#
# **To the batch size.** Chapter 1's fixed-epoch sweep trained the testbed's network with every
# batch size of the budget from the same starting points; the sharpness of each of those
# networks (full space, eps = 1e-3):

# %%
sweep = gu.experiments.train_runs(ds, budget.batch_sizes, budget.sweep_seeds,
                                  epochs=budget.sweep_epochs)
sweep_sharp = np.array([sh.keskar(r.model, train, eps=1e-3).value for r in sweep])
batch = np.array([r.batch_size for r in sweep])
train_acc = np.array([r.final["train_acc"] for r in sweep])
fig, ax = plt.subplots()
ax.scatter(batch, sweep_sharp, c=train_acc, cmap="viridis")
ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="sharpness (%), eps 1e-3",
       title=f"{budget.sweep_epochs} epochs; colour: training accuracy")
fig.colorbar(ax.collections[0], label="training accuracy")
fig.tight_layout()
print("batch size vs sharpness:",
      gu.experiments.format_correlation(gu.experiments.rank_correlation(batch, sweep_sharp)))

# %% [markdown]
# The printed Kendall's tau measures how consistently sharpness grows with the batch size
# (1: perfectly, 0: not at all), with a p-value and a bootstrap interval. Mind the colour: at a
# fixed number of epochs the batch sizes also differ in how well they fit the training set, and
# the metric cannot tell the two effects apart.
#
# **To the learning rate.** SB and LB trained again at three learning rates around the
# budget's, for the sweep's number of epochs, from the same starting point:

# %%
lrs = budget.testbed.lr * np.array([1 / 3, 1, 3])
pair = [budget.testbed.sb, budget.testbed.lb]
by_lr = {lr: gu.experiments.train_runs(ds, pair, [0], epochs=budget.sweep_epochs, lr=float(lr))
         for lr in lrs}
for lr, pair in by_lr.items():
    vals = [sh.keskar(r.model, train, eps=1e-3).value for r in pair]
    print(f"lr {lr:.1e}: SB {vals[0]:8.1f}   LB {vals[1]:8.1f}   LB/SB {vals[1] / vals[0]:.2f}")

# %% [markdown]
# The learning rate moves the metric as much as the batch size does, and the LB / SB ratio
# changes with it (printed). This is one reason later work (Goyal et al., Smith et al.) speaks
# of the ratio of learning rate to batch size - the "temperature" of the noise - rather than the
# batch size alone.
#
# ## Question 2: does sharpness predict test accuracy?
#
# Across networks trained with different batch sizes, does the sharper one test worse? We pool
# the sweep above with the same sweep on a second network, the testbed's C1 at half the width
# (4 and 8 channels, a dense layer of 64), and compute rank correlations with confidence
# intervals.

# %%
narrow = gu.experiments.train_runs(ds, budget.batch_sizes, budget.sweep_seeds,
                                   epochs=budget.sweep_epochs,
                                   model_kwargs={"channels": (4, 8), "hidden": (64,),
                                                 "dropout": 0.0})
narrow_sharp = np.array([sh.keskar(r.model, train, eps=1e-3).value for r in narrow])
nets = {"C1 (8/16)": (sweep, sweep_sharp), "C1 narrow (4/8)": (narrow, narrow_sharp)}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, key, label in ((axes[0], "test_acc", "test accuracy"),
                       (axes[1], "gap", "train - test accuracy")):
    pts = {k: (v, [r.final["test_acc"] if key == "test_acc" else
                   r.final["train_acc"] - r.final["test_acc"] for r in rs])
           for k, (rs, v) in nets.items()}
    gu.plots.scatter_groups(ax, pts, "sharpness (%), eps 1e-3", label)
fig.tight_layout()

# %%
for k, (rs, v) in nets.items():
    for key in ("test_acc", "gap"):
        y = [r.final["test_acc"] if key == "test_acc" else
             r.final["train_acc"] - r.final["test_acc"] for r in rs]
        c = gu.experiments.rank_correlation(v, y)
        print(f"{k:<22} vs {key:<9}: {gu.experiments.format_correlation(c)}")

# %% [markdown]
# Brackets are 95% bootstrap intervals. A negative tau against test accuracy means "sharper,
# worse"; a positive one against the gap means "sharper, larger gap". With a dozen networks per
# family the intervals are wide, so read the sign and the interval together: a correlation
# whose interval includes zero is not evidence either way. Jiang et al. (2020), with thousands
# of networks, found sharpness-type measures among the best predictors of generalization - but
# also that no measure works across every kind of change to the training.
#
# ## Question 3: what does the metric have to do with the Hessian?
#
# Write D = diag(|x_i| + 1) and z = eps D u with |u_i| <= 1. A Taylor expansion of f around x,
# with gradient g and Hessian H, gives
#
# $$\max_{z \in C} f(x+z) - f(x) = \epsilon \max_{\|u\|_\infty \le 1}
#   \Big[ (Dg)^\top u + \tfrac{\epsilon}{2}\, u^\top (DHD)\, u \Big] + O(\epsilon^3).$$
#
# - **First order.** The linear term is maximized at the vertex u = sign(g), where it equals
#   eps ||D g||_1. So as eps -> 0, phi / eps -> 100 ||D g||_1 / (1 + f): at small eps the
#   metric measures the weighted *gradient*, which is never exactly zero after finite training.
# - **Second order.** Only at an exact critical point (g = 0) does curvature lead:
#   phi ~ 50 eps^2 max_u u^T (DHD) u / (1 + f), and for the hypercube
#   lambda_max(DHD) <= max_u u^T (DHD) u <= n lambda_max(DHD) (take u = v / ||v||_inf for the
#   top eigenvector v). The metric is then a D-weighted measure of the top curvature - the link
#   chapter 4 makes with the Hessian's eigenvalues.
#
# `gu.sharpness.taylor_prediction` evaluates the first-order value and adds the curvature at the
# first-order vertex, (eps^2 / 2) (Ds)^T H (Ds) (one Hessian-vector product). Against the
# measured metric:

# %%
fig, ax = plt.subplots()
for (name, net), color in zip((("SB", sb), ("LB", lb)), gu.plots.PAIR, strict=True):
    pred = [sh.taylor_prediction(net, train, e) for e in eps_grid]
    for order, style in (("first_order", ":"), ("second_order", "--")):
        ax.loglog(eps_grid, [p[order] for p in pred], style, color=color,
                  label=f"{name}, {order.replace('_', ' ')}")
    ax.loglog(eps_grid, curves[name], "o", color=color, label=f"{name}, measured")
    print(f"{name}: measured / first order at eps = {eps_grid[0]:.0e}: "
          f"{curves[name][0] / pred[0]['first_order']:.3f}")
ax.set(xlabel="box size eps", ylabel="sharpness (%)", title="measured vs Taylor expansion")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# At the smallest eps the measured value equals the first-order prediction (the printed ratio is
# close to 1): the metric is the weighted gradient norm there. As eps grows, the curvature term
# takes over and the second-order line follows the measurements further; beyond that the box is
# too large for a quadratic model and the measured maximum exceeds both. Two consequences: the
# metric at the paper's eps mixes gradient and curvature, and comparing two minimizers trained
# to different training losses compares, in part, how well they were converged.
#
# ## The critique: a rescaling changes the metric, not the function
#
# Dinh et al. (2017) observed that sharpness measured in raw parameters can be changed at will
# without changing the network's function. Chapter 2 rescaled the first layer by 10 and undid
# it in the BatchNorm that follows; the function is the same, but Keskar's box
# eps (|x_i| + 1) does not scale with the weights. The adaptive metric (Kwon et al.'s ASAM box
# eps (|x_i| + eta) with a small eta) scales with them:

# %%
scaled = gu.reparam.rescale(copy.deepcopy(sb), layer=0, alpha=10.0)
for label, fn in (("keskar", sh.keskar), ("adaptive", sh.adaptive)):
    before, after = fn(sb, train, eps=1e-3).value, fn(scaled, train, eps=1e-3).value
    print(f"{label:<9} before {before:10.3f}   after rescaling {after:10.3f}   "
          f"ratio {after / before:.2f}")
ad = {k: np.array([sh.adaptive(r.model, train, eps=1e-3).value for r in g])
      for k, g in runs.items()}
print(f"adaptive sharpness: SB {ad['SB'].mean():.3f} ± {ad['SB'].std(ddof=1):.3f}, "
      f"LB {ad['LB'].mean():.3f} ± {ad['LB'].std(ddof=1):.3f}")

# %% [markdown]
# Keskar's value moves under a transformation that cannot change generalization; the adaptive
# value, with its small eta, barely moves (ratios printed). The adaptive metric still ranks our
# LB minimizers as sharper than the SB ones (last line), so the chapter's conclusion does not
# hinge on the scale of the weights. `gu.sharpness.average` is the average-case relative of
# both: the expected loss increase under Gaussian weight noise with the same per-coordinate
# scale.
#
# ## Summary
#
# 1. `gu.sharpness.keskar` computes Keskar et al.'s metric in seconds on a CPU, in the full space
#    or a random subspace; L-BFGS-B finds somewhat higher maxima, the device ascent is faster,
#    and both rank the minimizers alike.
# 2. In both spaces and at both of the paper's eps, our LB minimizers are sharper than the SB
#    ones (tables above), by a smaller factor than in the paper.
# 3. The metric depends on eps, the learning rate and how far training converged; at small eps
#    it measures the gradient, at larger eps the curvature.
# 4. Its correlation with test accuracy across batch sizes comes with wide intervals at this
#    scale; report them.
# 5. Raw sharpness is not invariant to rescalings that preserve the function; adaptive sharpness
#    is.
#
# ## Exercises
#
# 1. Rerun the ascent-vs-L-BFGS-B table with `max_iter=30`. Which solver gains more?
# 2. Compute the metric with `subspace_dim` 10, 100 and 1000. How does it scale with p?
# 3. Use the test set as f. Is the LB minimizer also sharper on data it was not trained on?
# 4. Show that `sh.average(net, train, sigma=eps)` grows like eps^2 at small eps, and explain
#    why it has no first-order term.
#
# ## Further reading
#
# - Keskar, Mudigere, Nocedal, Smelyanskiy and Tang (2017). *On Large-Batch Training for Deep
#   Learning: Generalization Gap and Sharp Minima.* ICLR.
# - Dinh, Pascanu, Bengio and Bengio (2017). *Sharp Minima Can Generalize For Deep Nets.* ICML.
# - Kwon, Kim, Park and Choi (2021). *ASAM: Adaptive Sharpness-Aware Minimization for
#   Scale-Invariant Learning of Deep Neural Networks.* ICML.
# - Jiang, Neyshabur, Mobahi, Krishnan and Bengio (2020). *Fantastic Generalization Measures and
#   Where to Find Them.* ICLR.
# - Byrd, Lu, Nocedal and Zhu (1995). *A Limited Memory Algorithm for Bound Constrained
#   Optimization.* SIAM J. Sci. Comput.

# %% tags=["remove-cell"]
# Check: LB sharper than SB in both spaces at both eps (standard, paper); smoke: it all ran.
assert all(np.all(np.isfinite(v)) for v in table.values())
assert len(sweep_sharp) == len(budget.batch_sizes) * len(budget.sweep_seeds)
if gu.mode() != "smoke":
    for space, eps in dict.fromkeys((s, e) for s, e, _ in table):
        assert table[space, eps, "LB"].mean() > table[space, eps, "SB"].mean(), (space, eps)
    assert ad["LB"].mean() > ad["SB"].mean()
