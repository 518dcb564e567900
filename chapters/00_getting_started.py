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
# # 0. Getting started
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/generalization-gap/book/blob/main/chapters/00_getting_started.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/generalization-gap/book/main?labpath=chapters%2F00_getting_started.ipynb)
#
# This book measures why neural networks trained with large batches test worse than the same
# networks trained with small batches, and what can be done about it. Every chapter runs real
# experiments through one small helper package, `gaputils`, with the same code on a laptop CPU
# and on a GPU. This chapter checks your setup: where the book runs, how big its experiments
# are, where the data comes from, and what a training run looks like.
#
# **What you will learn**
# - how to open the book in Jupyter Lab, Colab or Binder;
# - the three run modes (`smoke`, `standard`, `paper`) and how a chapter picks its sizes;
# - how `gaputils` finds the device and the data;
# - how to train a network with `gu.train.fit` and read its history.
#
# **Prerequisites**: Python and a first course in deep learning (SGD, cross-entropy,
# batch normalization). No GPU is needed.

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
import gaputils as gu

info = gu.setup(seed=0)
budget = gu.budget()

# %% [markdown]
# ## How to run the book
#
# **On your machine.** From a checkout of the book, one command installs everything, tells
# Jupyter Lab to open the chapters' `.py` sources as notebooks (paired with their `.ipynb`) and
# opens Lab; one runs the tests (every unit test, the browser tests, every chapter in smoke
# mode); one builds the HTML edition (every chapter executed in standard mode):
#
# ```bash
# pip install -e ".[dev]" && jupytext-config set-default-viewer python && jupyter lab
# pytest
# python book/build.py
# ```
#
# The last section of every chapter sets its key numbers beside the committed reference runs of
# the whole chapter (`python -m gaputils.reproduce` makes them).
#
# **On Colab.** The badge at the top of each chapter opens it; its first code cell installs
# `gaputils` at the version the chapter was written for, and torchvision downloads the data.
# Every machine runs `standard` mode unless you ask for another, a GPU included: `paper` mode's
# runs take hours. For `paper` mode, choose *Runtime -> Change runtime type -> GPU* and run
# `import os; os.environ["GAPUTILS_MODE"] = "paper"` before `import gaputils`.
#
# Colab forgets the cache of trained networks when its session ends, so every later chapter
# would train chapter 1's testbed again. Two ways round it: uncomment the line
# `gaputils.runtime.drive_cache()` in the first cell, which keeps the cache on your Google Drive
# (`GAPUTILS_CACHE` names the folder); or, in a cell, `!python -m gaputils.cache fetch --chapter 2`
# downloads and imports the networks chapter 2 uses from the book's release of this version,
# where the release carries such bundles (CONTRIBUTING.md says how they are made). With
# `GAPUTILS_NO_TRAIN=1`, a run missing from the cache is an error instead of a training run.
#
# **On Binder.** The Binder badge builds the book's environment (`environment.yml`, `apt.txt`,
# `postBuild`) with Fashion-MNIST installed from Debian's package; Binder gives a CPU, so the
# chapters run in `standard` mode.
#
# ## Notation
#
# | symbol | meaning |
# | --- | --- |
# | x | all weights of a network, as one vector of n numbers (`gu.params.flat`) |
# | f(x) | the training loss: mean cross-entropy over the training examples, in nats |
# | g, H | the gradient and the Hessian (n x n matrix of second derivatives) of f at x |
# | lambda_max | the largest eigenvalue of H: the curvature along the sharpest direction |
# | SB, LB | small and large batch: the two batch sizes compared, and the networks they train |
# | train - test gap | one network's training accuracy minus its test accuracy |
# | SB - LB difference | SB's test accuracy minus LB's, per seed: the gap of large-batch training |
# | eps | the size of the box of Keskar's sharpness (chapter 3) |
#
# The book keeps the two gaps apart: a network can have a large train - test gap with no
# difference between SB and LB, and chapter 1 measures both.
#
# ## Run modes
#
# A chapter never hard-codes a size. It asks `gu.budget()`, which answers for the current run
# mode. The mode comes from the environment variable `GAPUTILS_MODE`; without it, it is
# `standard` on every machine - on a GPU, `gu.setup` adds a line saying how to ask for `paper`
# and what it costs. The test suite sets `smoke`.

# %%
print(f"current mode: {gu.mode()}\n")
fields = ["model", "n_train", "sb", "lb", "epochs", "seeds", "n_curvature", "grid"]
print(f"{'':>12}" + "".join(f"{m:>18}" for m in gu.runtime.MODES))
for f in fields:
    row = [gu.budget(m).as_dict()["testbed"].get(f, gu.budget(m).as_dict().get(f))
           for m in gu.runtime.MODES]
    row = [f"{len(v)}: {v[0]}..{v[-1]}" if f == "seeds" else v for v in row]
    print(f"{f:>12}" + "".join(f"{str(v):>18}" for v in row))

# %% [markdown]
# The first six rows are the book's *testbed* (`budget.testbed`, chapter 1): the network, the
# number of training images, the small and large batch (SB, LB), the epochs and the seeds (how
# many, first..last) of the SB-against-LB comparison that every later chapter measures. `smoke`
# proves the code runs in under a minute per chapter; `standard` shows the phenomena with error
# bars over seeds on Fashion-MNIST in at most ten minutes per chapter on two CPU cores; `paper`
# runs the same testbed (ten seeds, as in standard mode) but measures curvature on more examples,
# directions and grid points, and adds Keskar et al.'s own F1 setting at full size (`budget.keskar`:
# their batch sizes and epochs on the full training set) - on a GPU. Every mode uses Fashion-MNIST:
# the papers' MNIST and CIFAR are not on every machine, and `gu.data.load` reads them when they
# are, for runs of your own. The README lists how long each
# chapter took in each mode. To switch, set the variable before starting Jupyter
# (`GAPUTILS_MODE=standard jupyter lab`) or at the top of a notebook, before `import gaputils`:
# `import os; os.environ["GAPUTILS_MODE"] = "smoke"`.
#
# ## The device
#
# `gu.device()` picks a CUDA GPU, then Apple's MPS, then the CPU. Set `GAPUTILS_DEVICE` (for
# example to `cpu`) to override the choice. Data and models live on this device for the whole
# run: batches are drawn from tensors already there, not through a `DataLoader`.

# %%
device = gu.device()
print(f"computing on: {info['device']}")

# %% [markdown]
# ## The data
#
# The book's default dataset is Fashion-MNIST: 60,000 training and 10,000 test images of
# clothing, 28 x 28 grey levels, ten classes. It is harder than MNIST, so gaps between training
# and test accuracy are visible at CPU scale. `gu.data.load` looks for it in `$GAPUTILS_DATA`,
# in `data/`, and in `/usr/share/datasets/fashion-mnist` (Debian's and Ubuntu's package
# `dataset-fashion-mnist`), and otherwise downloads it with torchvision. It returns tensors on
# the device, normalized with the training set's per-channel mean and standard deviation.

# %%
testbed = budget.testbed
ds = testbed.load()
print(ds)
print(f"found in: {ds.source}; mean {ds.mean[0]:.4f}, std {ds.std[0]:.4f} (pixels in [0, 1])")
fig = gu.plots.image_grid(*ds.train, ds.classes, ds.mean, ds.std, n=16)

# %%
counts = ds.train[1].bincount(minlength=ds.num_classes).tolist()
for name, c in zip(ds.classes, counts, strict=True):
    print(f"{name:>12}: {c:5d} training images")

# %% [markdown]
# The images are small, centered and grey; shirts, pullovers and coats look alike, which is
# where most mistakes happen. In `standard` mode the chapters train on a random subset of the
# training set (the testbed's `n_train`), drawn with a fixed seed, so every chapter sees the same
# examples; the classes stay close to balanced, as the counts show.
#
# ## A first training run
#
# The testbed's network is a narrow version of Keskar et al.'s convolutional network C1: two
# 5 x 5 convolutions (8 and 16 channels), each followed by batch normalization, a ReLU and max
# pooling, then a dense layer of 128 units and the output layer. `gu.train.fit` trains it -
# here with the testbed's optimizer, SGD with momentum - and records the training and test loss
# and accuracy four times per epoch, the training time, and how far the weights moved from their
# initial values. In Jupyter a progress bar shows the run (it is switched off in smoke mode, and
# a static page such as the HTML edition does not show it).

# %%
net = testbed.build(ds)
print(net)
print(f"{gu.models.num_parameters(net):,} parameters")
steps_per_epoch = len(ds.train[1]) // testbed.sb
config = testbed.config(testbed.sb, seed=0, epochs=budget.intro_epochs,
                        eval_every=max(1, steps_per_epoch // 4))  # 4 records per epoch
print(config)
history = gu.train.fit(net, ds, config)
history

# %%
fig = gu.plots.learning_curves({f"{testbed.model}, batch {testbed.sb}": history})
final = history.final()
print(f"after {final['epoch']:.0f} epochs ({final['step']} steps, {final['seconds']:.1f} s of "
      f"training): train accuracy {final['train_acc']:.1%}, test accuracy "
      f"{final['test_acc']:.1%}, weights moved {final['weight_distance']:.1f} from their start")
gap = 100 * (final["train_acc"] - final["test_acc"])
print(f"train minus test accuracy: {gu.stats.signed(gap, 1)} points")

# %% [markdown]
# Dashed lines are the training set, solid lines the test set. The last printed line is the
# difference between training and test accuracy: once the network starts to fit its training
# set more closely than the distribution the set was drawn from, the dashed curves pull away
# from the solid ones and the difference grows. The rest of the book is about how that gap
# depends on the batch size. Chapter 1 trains to convergence with a small and a large batch and
# measures the difference.
#
# Long runs are cached: `gu.cache.fit_or_load(net, ds, config)` trains once and, on the next
# call with the same network, initial weights, data, configuration and mode, loads the result
# from the cache folder instead (`cache/`, or the folder `GAPUTILS_CACHE` names; `gu.setup`
# prints it). Later chapters reuse the minimizers that chapter 1 trained this way. They train
# their grids of runs with `gu.runs.train_runs`, which on a CPU trains each run on one thread and
# several side by side in worker processes, one per core (module `gu.workers`): a network this
# small gains little from a second thread (a testbed step of 32 images is as fast on one as on two,
# one of 500 about a sixth slower; `benchmarks/README.md`), so two runs at once get nearly twice as
# much done. `GAPUTILS_WORKERS=1` keeps them in the notebook's process, still on one thread.

# %% [markdown]
# ## Beside the reference runs
#
# The chapter's key numbers and curves from this run, beside the same ones from the committed
# reference runs of the whole chapter, each labelled with its device, mode and date: a
# standard-mode run on a CPU and, where one is committed, a full-scale paper-mode run
# (`python -m gaputils.reproduce --mode paper --chapter 0` makes one). The lines under the
# table say whether this run agrees with the reference run of its own mode -
# statistically, where a number has an interval - and what to conclude. Expect
# close, not identical, numbers: a seeded run repeats bit for bit only with the same processor,
# number of threads and library versions, because these set the order in which floating-point
# sums are added up, and the rounding differences grow over thousands of SGD steps. Numbers read
# far from a minimizer, such as a loss at the end of a long line or sharpness in a large box,
# can differ by more.

# %%
gu.reference.compare("00", {
    "train accuracy %": 100 * final["train_acc"], "test accuracy %": 100 * final["test_acc"],
    "optimizer steps": final["step"], "weight distance from the start": final["weight_distance"],
}, {"the first run": gu.reference.curve(history.epoch, [100 * a for a in history.test_acc],
                                        "epoch", "test accuracy (%)")})

# %% [markdown]
# ## Summary
#
# 1. `gu.setup(seed)` seeds every generator and reports the device, the mode, the data and the
#    cache folder; `gu.budget()` holds every size a chapter uses.
# 2. The mode (`smoke`, `standard`, `paper`) trades time for fidelity; it comes from
#    `GAPUTILS_MODE`, and is `standard` unless you ask for another.
# 3. `gu.data.load` returns normalized tensors on the device; `gu.train.fit` trains on them and
#    returns a `History` of losses, accuracies, times and weight distances.
#
# ## Exercises
#
# 1. Run this chapter with `GAPUTILS_MODE=smoke` and with `standard`. How do the sizes printed
#    in the mode table change, and how long does each take?
# 2. Train the same network with `batch_size=testbed.lb` for the same number of epochs. How
#    many optimizer steps does it take, and what test accuracy does it reach?
# 3. Replace SGD by Adam (`testbed.config(..., optimizer="adam", lr=1e-3)`). Which learns
#    faster here?
# 4. Call `gu.cache.fit_or_load` twice with the same configuration on a freshly built network
#    (after `gu.setup(0)`) and time both calls.
#
# ## Further reading
#
# - Keskar, Mudigere, Nocedal, Smelyanskiy and Tang (2017). *On Large-Batch Training for Deep
#   Learning: Generalization Gap and Sharp Minima.* ICLR.
# - Hoffer, Hubara and Soudry (2017). *Train longer, generalize better: closing the
#   generalization gap in large batch training of neural networks.* NeurIPS.
# - Xiao, Rasul and Vollgraf (2017). *Fashion-MNIST: a Novel Image Dataset for Benchmarking
#   Machine Learning Algorithms.* arXiv:1708.07747.

# %% tags=["remove-cell"]
# Check: the chapter ran, and outside smoke mode the first run learned.
assert not history.diverged and history.epoch[-1] == budget.intro_epochs
assert history.train_loss[-1] < history.train_loss[0]
if gu.mode() != "smoke":
    assert history.test_acc[-1] > 0.7, history  # chance is 0.1
