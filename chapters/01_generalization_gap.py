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
# # 1. The generalization gap
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/generalization-gap/book/blob/main/chapters/01_generalization_gap.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/generalization-gap/book/main?labpath=chapters%2F01_generalization_gap.ipynb)
#
# A network trained with a large batch can fit its training set as well as the same network
# trained with a small batch, from the same starting point, and still test worse. This chapter
# sets up the book's *testbed* - one setting, chosen in advance by a validation study as the one
# most likely to show it - measures the difference with paired statistics over seeds, and sets
# Keskar et al.'s own setting beside it.
# It then looks at the same runs against epochs, seconds and batch size.
#
# **What you will learn**
# - Keskar et al.'s experimental procedure and how to run it on a setting of your own;
# - the two gaps - train minus test, and small batch minus large batch - and how to keep them apart;
# - how to tell a difference from seed noise: paired differences, their standard error and a
#   t-interval, chosen settings validated without touching the test set;
# - why the comparison depends on what is held fixed: epochs, steps or seconds;
# - how to get the trained small- and large-batch minimizers that the later chapters study.
#
# **Prerequisites**: chapter 0 (modes, `gu.train.fit`).

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
import numpy as np

import gaputils as gu

gu.setup(seed=0)
budget = gu.budget()
testbed, keskar = budget.testbed, budget.keskar

# %% [markdown]
# ## Why large batches, and what goes wrong
#
# A larger batch gives a less noisy gradient and, on parallel hardware such as a GPU, costs barely
# more time per step than a small one (on a CPU, many times more): with ten times
# the batch, an epoch needs a tenth of the steps, so large batches promise to train in a fraction of
# the wall-clock time. Keskar et al. found that networks trained this way reach the same training
# accuracy but a lower test accuracy, and argued that large batches converge to *sharp* minima of
# the training loss while small batches find *flat* ones. This chapter measures the difference;
# chapters 2-4 measure the sharpness, and chapters 5-7 the remedies.
#
# Two quantities are called "the gap" in this literature, and the book keeps them apart:
#
# | name | what it is | labelled |
# | --- | --- | --- |
# | generalization gap of a run | its training accuracy minus its test accuracy | train - test |
# | large-batch gap | SB's test accuracy minus LB's, both from the same initial weights | SB - LB |
#
# where SB is the run with the small batch and LB the run with the large one. Keskar et al.'s claim
# is about the second: both runs fit the training set (train - test is then roughly one minus the
# test accuracy), yet SB - LB is positive.
#
# ## The experiment
#
# Keskar et al.'s procedure: one network, the same optimizer and learning rate for both
# methods, the same initial weights, a small batch (SB) of 256 and a large batch (LB) of 10% of
# the training set, both trained until the loss stops improving. We keep everything but the
# last point: both methods train for the same fixed number of epochs, long enough that both
# fit the training set - 99% training accuracy or more; the lowest of the testbed's runs is
# printed below (a cosine schedule brings the learning rate to zero at the end). Keeping the
# learning rate fixed across batch sizes is deliberate - it is the comparison the paper makes,
# and it handicaps LB, which takes far fewer steps (chapter 6 scales the learning rate and the
# number of steps instead). We run the procedure in two settings:

# %%
for setting in (testbed, keskar):
    print(setting.describe(), end="\n\n")

# %% [markdown]
# The first is the book's **testbed**: a narrow version of Keskar et al.'s convolutional
# network C1 (two 5 x 5 convolutions, each with batch normalization, ReLU and max pooling, then
# dense layers; here 8 and 16 channels and one dense layer of 128 units, no dropout). The second
# is Keskar et al.'s own setting - their network F1 (a five-layer perceptron with batch
# normalization) with Adam at 0.001 and LB = 10% of the training set - on as much Fashion-MNIST
# as a laptop affords in `standard` mode (the full training set and LB = 6,000 in `paper`
# mode). The sizes come from `budget.testbed` and `budget.keskar` (chapter 0).
#
# ## How the testbed was chosen
#
# An earlier version of this chapter used Keskar's setting alone, at `standard` mode's size. Its
# gap was within seed noise: with a few seeds, the paired differences changed sign (at full
# size, in `paper` mode, the F1 line below says whether that still holds). Single-seed screening
# runs on validation images showed the same for F1 with Adam or SGD, with 2,000 to 10,000
# training images, and pointed to three levers that make the small batch's advantage larger: a
# convolutional network (Keskar et al. report 2-5 points on CIFAR's convolutional networks,
# against 0.2 for F1 on MNIST), SGD with weight decay (a small batch takes many more decayed
# steps), and a small training set (the less data, the more the implicit regularization of small
# batches - the noise of their gradients steering the search - may matter; exercise 3 tests it).
# A *validation study* then compared candidate settings on 10,000 training images that no
# chapter trains on, never on the test set, under a rule written down before it ran. It ran in
# two rounds: the second (1,000 images, 80 epochs) was added after the first had been seen,
# under the same rule applied to both. Its committed result (written by
# `data/reference/ch01_selection.py`, shipped with gaputils in `gaputils/results/`; the
# validation difference is mean ± standard error over 3 seeds):

# %%
selection = gu.reference.load("ch01_selection")
chosen = gu.selection.chosen_setting(selection["results"])
print(f"{selection['date']}, {selection['device']}; common to all: {selection['base']}\n")
print("rule:", selection["rule"], "\n")
print(gu.selection.selection_table(selection["results"]))
print(f"\nchosen: {chosen} = {selection['candidates'][chosen]}")
rows = gu.selection.selection_rows(selection["results"])
top = max(rows, key=lambda k: rows[k]["diff"].mean)
print(f"largest mean validation difference: {gu.stats.signed(rows[top]['diff'].mean)} points "
      f"({top}, {rows[top]['seconds']:.0f} s for five pairs); "
      f"{sum(r['diff'].mean >= 1 for r in rows.values())} of {len(rows)} candidates reach "
      "+1 point")
for name, r in gu.selection.time_only_rivals(selection["results"]).items():
    print(f"{name}: out on time alone, {r['over']:.1f} s over the limit by the mean pair "
          f"({r['median_seconds']:.0f} s by the median pair), with a higher lower end "
          f"({gu.stats.signed(r['diff'].lo)}) than the chosen one's "
          f"({gu.stats.signed(rows[chosen]['diff'].lo)}): the rule would otherwise prefer it")

# %% [markdown]
# The selection seeds (100-102) are not the seeds below (0-9), and the test set played no part in
# the choice, so the test numbers that follow are not inflated by the selection (the validation
# numbers of the chosen candidate are: picking the best of several is optimistic on average). Three
# caveats a reviewer would raise. Choosing the largest lower bound from three seeds favours a
# candidate whose standard error is small by chance. The time limit is measured in wall-clock
# seconds, and the last line above names any candidate that the limit alone kept out although the
# rule would have preferred it: in the committed study, one whose first run overlapped with another
# process on this shared machine, which put it just over the limit (the script's docstring has the
# details); by the median pair, which one stretched run moves less and which the timing section
# below uses, it would have been within the limit. The rule was applied as written, so the testbed
# is the chosen candidate and not that one - but their intervals (in the table) overlap almost
# entirely: the data do not prefer one to the other, only the rule does. And the limit was written
# for a chapter that trained five seeds (the table's seconds are for five pairs): the chapter now
# trains ten (see below why), which about doubles the chosen candidate's cost - the timing section
# prints what one run takes here.
#
# ## Small batch against large batch
#
# `gu.runs.minimizers()` trains SB and LB of the testbed for every seed, each pair from
# the same initial weights, and caches the results: the first run takes a few minutes on a
# CPU in `standard` mode (an hour and a half on two cores in `paper` mode, nearly all of it
# Keskar's full-size F1), later calls - here and in the later chapters - load the trained
# networks in a second.
# Keskar's setting runs the same way. In `paper` mode, when CIFAR-10 is on disk, Keskar's C1 on
# CIFAR-10 is added.

# %%
ds = testbed.load()
runs = {"testbed": gu.runs.minimizers(ds),
        "Keskar F1": gu.runs.minimizers(keskar.load(), setting=keskar)}
if gu.mode() == "paper" and gu.data.locate("cifar10"):
    c1 = keskar.replace(name="Keskar C1", model="C1", dataset="cifar10", lb=5000)
    runs["Keskar C1"] = gu.runs.minimizers(c1.load(), setting=c1)
elif gu.mode() == "paper":
    print("CIFAR-10 is not on disk (see the README's Data section): Keskar's C1 is left out\n")
print(gu.gaps.gap_table(runs))

# %% [markdown]
# Each row is mean ± standard deviation over seeds (ddof = 1); "train loss" is the final mean
# training cross-entropy, and steps and seconds are means over seeds too (the timing section below
# says why it prints medians). Runs of one seed share their initial weights (and, like every run,
# the test set), so the right comparison is the *paired* difference: for every seed, SB's test
# accuracy minus LB's; then the mean of those differences, its standard error sd / sqrt(n), and a
# Student-t interval on n - 1 degrees of freedom. Pairing removes what the two runs of a seed
# share - the starting point - and leaves the effect of the batch. The figure shows every seed's
# pair and the differences:

# %%
pairs = {k: (v["SB"], v["LB"]) for k, v in runs.items()}
diffs = {k: gu.gaps.difference(sb, lb).scaled(100) for k, (sb, lb) in pairs.items()}
fig = gu.plots.paired_runs(pairs, diffs)

# %%
sb_runs, lb_runs = runs["testbed"]["SB"], runs["testbed"]["LB"]
d = gu.gaps.difference(sb_runs, lb_runs).scaled(100)
train_min = min(r.final["train_acc"] for r in sb_runs + lb_runs)
test_se = 100 * gu.gaps.test_sampling_se(sb_runs, lb_runs, ds)
both = (d.se**2 + test_se**2) ** 0.5
print(f"Testbed: the lowest final training accuracy of any run is {train_min:.2%}; "
      f"{'every run fits' if train_min >= 0.99 else 'not every run fits'} the training set.")
loss = {k: np.mean([r.final["train_loss"] for r in rs]) for k, rs in (("SB", sb_runs),
                                                                        ("LB", lb_runs))}
print(f"Testbed: final training loss (mean over seeds) SB {loss['SB']:.4f}, LB {loss['LB']:.4f} "
      f"nats - LB's is x{loss['LB'] / loss['SB']:.1f} SB's.")
print(f"Testbed: SB - LB = {d}.\n  The interval " + (
    "excludes zero: SB's advantage is told apart from seed noise." if d.lo > 0 else
    "includes zero: with these seeds, SB's advantage is not told apart from seed noise."))
reach = "" if d.mean >= 1 else (f"; the interval reaches {d.hi:+.2f}, so a true difference of "
                                 "1 point is " + ("not ruled out" if d.hi >= 1 else "ruled out"))
print(f"  The book's bar: mean >= 1 point ({'met' if d.mean >= 1 else 'missed'}{reach}), t >= 5 "
      f"({'met' if d.t >= 5 else 'missed'}).")
print(f"  Test-set sampling adds a standard error of {test_se:.2f} points (the seed interval holds "
      f"the {len(ds.test[1]):,} test images fixed); both together: {both:.2f}, "
      f"t = {d.mean / both:.2f}.")

# %%
dk = gu.gaps.difference(*runs["Keskar F1"].values()).scaled(100)
noise = dk.lo <= 0 <= dk.hi
print(f"Keskar's setting: SB - LB = {dk}.\n  Its interval " + (
    "contains zero: on this data the difference is not told apart from seed noise." if noise
    else "excludes zero."))
_, paper_sb, paper_lb = gu.papers.KESKAR_TABLE2["F1"]
print(f"Keskar et al. report {paper_sb - paper_lb:+.2f} points for F1 on MNIST (means over their "
      "runs; no paired interval).")

# %% [markdown]
# The printed lines are the chapter's result. The first says whether both methods fit the training
# set, the second compares the training losses (below), the third gives the paired interval - how
# large SB's advantage is and how sure we are of it - and whether it excludes zero. Before the
# study, the book set itself a bar for a testbed - at least 1 point and at least 5 paired standard
# errors - and the next line says which parts of it this run meets. The validation study is the
# reason to expect a difference near or below 1 point at this size: the one candidate there whose
# mean reached +1 point needed more seconds than the rule allows (printed under the table) - and
# with a lower end below the chosen one's, the rule would not have picked it anyway - and the others
# within the limit had smaller means or wider intervals.
#
# "Fits the training set" means accuracy. The training *loss* is another matter: the table above
# shows LB ending with a higher training loss than SB (the ratio is printed in the second line),
# after many fewer steps. Part of the difference may therefore be Hoffer et al.'s "too few updates"
# rather than the batch size itself - chapter 6 tests exactly that, by giving LB as many steps as
# SB.
#
# Compare the line for Keskar's own F1 setting: the paper reports 0.2 points for F1 on MNIST,
# as a difference of means without a paired interval, and the printed interval says whether
# our seeds (three; five in `paper` mode) can tell a difference of that size from zero. Our
# numbers differ from the paper's partly because data, sizes and training budget differ:
# Fashion-MNIST is harder than MNIST, our F1 trains on a 10,000-image subset for a fixed
# number of epochs in `standard` mode, and the testbed on the small subset printed at the top.
#
# Two limits of the interval: it counts the seeds as the only source of chance, while the test
# images are a sample too (the extra standard error printed above, from how often the two networks
# disagree); and with few seeds the t-interval is wide by construction - its critical value on the 9
# degrees of freedom of ten seeds is 2.26 rather than 1.96 (2.78 with five). A third limit is the
# machine. A run is reproducible on one machine, but CPUs of another kind pick other kernels for the
# same convolution, with other rounding, and after thousands of steps the same seed ends in a
# network that differs from this one about as much as another seed's would. Your interval may
# therefore lie a little left or right of the one you see here. With five seeds and a difference of
# under a point, whether it excluded zero changed from one machine to another; that is why the
# testbed trains ten seeds, in standard mode as in paper mode (the curvature chapters 2-4 measure
# the first five in standard mode). Mind that this was decided after five-seed intervals had been
# seen to vary: raising the number of seeds once results are known makes "excludes zero" a little
# more likely than the nominal 5% under no difference; how far the ten-seed interval printed above
# lies from zero says how much that can matter.
#
# ## Learning curves: against epochs and against time
#
# A reviewer of Keskar et al. asked what the learning curves look like against wall-clock time,
# not only against epochs. Both views, from the testbed's runs (mean over seeds, band of one
# standard deviation; time excludes the evaluation passes). The figure averages; the numbers
# printed under it are medians over seeds, which one run stretched by another process on the
# machine moves less:

# %%
groups = {f"SB ({testbed.sb})": [r.history for r in sb_runs],
          f"LB ({testbed.lb})": [r.history for r in lb_runs]}
fig = gu.plots.epochs_and_seconds(groups)

# %%
per_epoch = {k: np.median([h.seconds[-1] / h.epoch[-1] for h in hs]) for k, hs in groups.items()}
for k, hs in groups.items():
    print(f"{k}: {per_epoch[k]:.2f} s per epoch, {np.median([h.seconds[-1] for h in hs]):.1f} s "
          f"in all (medians over seeds); training loss {np.mean([h.train_loss[1] for h in hs]):.3f}"
          f" nats after {hs[0].epoch[1]:.0f} epochs")
sb_key, lb_key = groups
ratio = per_epoch[lb_key] / per_epoch[sb_key]
print(f"An epoch of LB takes {ratio:.2f}x the time of an epoch of SB on {gu.device()}: LB is "
      + ("cheaper" if ratio < 0.95 else "dearer" if ratio > 1.05 else "about as dear")
      + " per epoch")
t_lb, sb_then, lb_end = gu.gaps.equal_time(groups[sb_key], groups[lb_key])
print(f"When LB finishes (after {t_lb:.1f} s), SB of the same seed has a test accuracy of "
      f"{sb_then:.2%} (read between its records, {hs[0].epoch[1]:.0f} epochs apart); LB's final "
      f"is {lb_end:.2%} (medians over {len(hs)} seeds)")

# %% [markdown]
# Per epoch, a large batch takes fewer steps; the printed training losses at the first record after
# the start show how much progress each made by then (left panel for the whole run). Per epoch, the
# printed ratio says whether the large batch is also cheaper on this machine: fewer, bigger steps
# can use a processor better, since every step pays a fixed cost (launching the layers' kernels,
# the optimizer's update) however small its batch. On a CPU the book trains each run on one
# thread, several runs side by side (chapter 0); on one thread that fixed cost is small beside the
# convolutions of even 32 images, and the two batch sizes can come out about as dear per example
# (the ratio printed says which). The last printed line computes, seed by seed, what the right
# panel shows on average: at the moment LB finishes, where SB of the same seed had got to by then,
# read along the straight line between its two records around that moment. Times are wall-clock,
# which other processes on the machine (the run beside it among them) can stretch, hence medians
# over seeds - and the mean curves of the figure, and the means of the table, can lie off the
# medians where one run was stretched. On a GPU, where a batch of hundreds can cost barely more per
# step than a batch of 32, the time axis is expected to favour the large batch more than here -
# that is the whole appeal of large batches. The test-accuracy curves end apart by the difference
# measured above.
#
# ## The batch-size sweep at a fixed number of epochs
#
# Two points do not make a trend. We train the testbed's network with every batch size of the
# budget for the testbed's number of epochs, so that larger batches take fewer steps. (Chapter
# 6 holds the number of *steps* fixed instead, as Hoffer et al. propose.)

# %%
seeds = budget.sweep_seeds
sweep = gu.runs.train_runs(ds, budget.batch_sizes, seeds, epochs=budget.sweep_epochs)
tables = {f"{budget.sweep_epochs} epochs": gu.gaps.summarize(sweep)}
fig = gu.plots.batch_sweep(tables)
print(gu.gaps.sweep_table(tables))

# %% [markdown]
# Read the left panel with the middle one in mind: a run whose training accuracy is well
# below 100% has not converged, and its test accuracy says as much about under-training as
# about generalization. What the sweep shows:

# %%
table = tables[f"{budget.sweep_epochs} epochs"]
sizes = sorted(table)
best = max(sizes, key=lambda b: table[b]["test_acc"][0])
fitted = [b for b in sizes if table[b]["train_acc"][0] >= 0.99]
print(f"batch sizes with >= 99% mean training accuracy: {fitted or 'none'} of {sizes}")
ends = [b for b in (sizes[0], sizes[-1]) if b != best]
print(f"best mean test accuracy {table[best]['test_acc'][0]:.2%} at batch {best}; "
      + ", ".join(f"{table[b]['test_acc'][0]:.2%} at batch {b}" for b in ends))
acc = [table[b]["test_acc"][0] for b in sizes]
drops = [a >= b for a, b in zip(acc, acc[1:], strict=False)]
print(f"test accuracy falls or stays level at {sum(drops)} of the {len(drops)} steps from one "
      f"batch size to the next ({len(seeds)} seeds each)")

# %% [markdown]
# With two seeds per point (three in `paper` mode) the error bars are rough, and neighbouring
# batch sizes need not be told apart; the trend over the whole range and the testbed's
# comparison above (ten seeds) carry more weight. The right panel shows
# train - test, the first kind of gap: where a batch size fits the training set, it is 100
# minus the test accuracy (in points) and mirrors the left panel. Where it does not fit, the
# gap can shrink and the test accuracy can even rise, as for a network stopped early: that is
# why Keskar et al.'s comparison asks both batch sizes to fit the training set before their
# test accuracies are compared.
#
# ## Explore
#
# Pick a batch size and a learning rate and train the testbed's network for a few epochs. The
# figure right below is the default setting; the controls retrain in place when a Jupyter
# frontend is running.

# %%
box = gu.widgets.batch_size_explorer(ds, testbed, budget.batch_sizes, epochs=budget.intro_epochs)

# %% [markdown]
# ## Beside the reference runs
#
# The chapter's key numbers and curves from this run, beside the same ones from the committed
# reference runs of the whole chapter, each labelled with its device, mode and date: a
# standard-mode run on a CPU and, where one is committed, a full-scale paper-mode run
# (`python -m gaputils.reproduce --mode paper --chapter 1` makes one). The lines under the
# table say whether this run agrees with the reference run of its own mode -
# statistically, where a number has an interval - and what to conclude.

# %%
gu.reference.compare("01", {
    "testbed seeds": d.n, "testbed SB - LB test acc., pts": d.mean,
    "  95% CI low": d.lo, "  95% CI high": d.hi, "lowest train acc. %": 100 * train_min,
    "Keskar F1 SB - LB test acc., pts": dk.mean,
}, {"batch-size sweep": gu.reference.curve(sizes, [100 * a for a in acc], "batch size (log scale)",
                                           "test accuracy (%)", log_x=True)})

# %% [markdown]
# ## Summary
#
# 1. With Keskar et al.'s procedure - one optimizer and learning rate, one starting point per
#    seed - the book's testbed (a narrow C1 on a small Fashion-MNIST subset, SGD with weight
#    decay) fits the training set with both batch sizes; the paired interval above says how
#    much better the small batch tests in this run, and whether its seeds tell that apart
#    from seed noise.
# 2. Keskar's own F1 setting, at the size of the run mode, gives a difference that has to be
#    read against its interval (printed above): whether a gap shows up depends on the network,
#    the data size and the optimizer.
# 3. Runs that share their initial weights are compared by paired differences; report the
#    mean, the standard error, the t-interval and the number of seeds, and choose settings on
#    validation data, not on the test set.
# 4. What is held fixed matters: at a fixed number of epochs a larger batch takes fewer steps.
#    What an epoch costs at SB and at LB (printed above), and so the comparison per second,
#    depends on the hardware.
# 5. `gu.runs.minimizers()` returns the cached SB and LB networks of the testbed, used
#    in the chapters that follow.
#
# ## Exercises
#
# 1. Train the testbed with a constant learning rate (`testbed.replace(schedule="constant")`
#    passed as `setting=` to `gu.runs.minimizers`). Do SB and LB still fit the training
#    set? What happens to SB - LB?
# 2. Train the testbed with Adam at 0.001 (`optimizer="adam", lr=1e-3`, weight decay 0), as
#    Keskar et al. did. Is there still a difference beyond seed noise?
# 3. Double the training set (`n_train=4000`). Does SB - LB grow or shrink, and what does that
#    say about the testbed's choice of a small training set?
# 4. For Keskar's setting, how many seeds would the printed mean difference need to lie five
#    standard errors from zero - or, if it already does, how few would have sufficed? (The
#    standard deviation of the differences is the printed standard error times sqrt(n), and
#    the standard error falls like 1 / sqrt(n).)
#
# ## Further reading
#
# - Keskar, Mudigere, Nocedal, Smelyanskiy and Tang (2017). *On Large-Batch Training for Deep
#   Learning: Generalization Gap and Sharp Minima.* ICLR.
# - Hoffer, Hubara and Soudry (2017). *Train longer, generalize better: closing the
#   generalization gap in large batch training of neural networks.* NeurIPS.
# - Smith and Le (2018). *A Bayesian Perspective on Generalization and Stochastic Gradient
#   Descent.* ICLR.
# - Shallue, Lee, Antognini, Sohl-Dickstein, Frostig and Dahl (2019). *Measuring the Effects of
#   Data Parallelism on Neural Network Training.* JMLR.
# - Goyal et al. (2017). *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour.*

# %% tags=["remove-cell"]
# Check: the testbed's claim holds in standard and paper mode (the interval excludes zero); in
# smoke mode everything ran.
for r in [r for v in runs.values() for rs in v.values() for r in rs] + sweep:
    assert not r.history.diverged, r.history.message
assert len(sweep) == len(budget.batch_sizes) * len(seeds) and d.n == len(testbed.seeds)
if gu.mode() != "smoke":
    assert train_min >= 0.99, f"a testbed run did not fit the training set: {train_min:.4f}"
    assert loss["LB"] > loss["SB"]  # LB ends at a higher training loss (chapter 6's question)
if gu.mode() == "standard" and selection:
    picked = selection["candidates"][chosen]
    assert all(getattr(testbed, k) == v for k, v in picked.items()), (
        f"the testbed is not the validation study's choice {chosen}: {picked}")
# The claim: LB tests worse than SB on the testbed, beyond seed noise - asserted with the ten
# seeds of standard and paper mode. (With five seeds, whether the interval excluded zero
# varied between machines: CPU kernels round differently; two machines gave [+0.42, +1.47] and
# [-0.27, +1.82] for the same seeds.) The book's bar (>= 1 point and >= 5 standard errors) is
# printed, not asserted: the validation study found no candidate within the time that reaches it.
if gu.mode() in ("standard", "paper"):
    assert d.lo > 0, f"the testbed's difference is not told apart from seed noise: {d}"
